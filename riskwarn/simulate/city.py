"""``simulate_city``: the whole simulated dataset, computed in memory."""

from __future__ import annotations

import operator
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from riskwarn.errors import RiskwarnError
from riskwarn.simulate.events import build_events
from riskwarn.simulate.frames import take_strings, timestamps
from riskwarn.simulate.layout import build_layout
from riskwarn.simulate.params import LevelBreak, SimulationParams
from riskwarn.simulate.periods import make_timeline
from riskwarn.simulate.process import run_dynamics
from riskwarn.simulate.shocks import draw_shocks


@dataclass(frozen=True, eq=False)
class SimulatedCity:
    """A simulated dataset: the five input tables plus the truth behind them.

    Attributes
    ----------
    grids : pd.DataFrame, shape (n_grids, 10)
    adjacency : pd.DataFrame, shape (n_pairs, 3)
        Queen contiguity, each undirected pair once, ``grid_a < grid_b``.
    petitions, disputes, incidents : pd.DataFrame
        Event tables with exactly the contract columns, sorted by time.
    truth : pd.DataFrame, shape (n_grids * n_periods, 5)
        ``grid_id, period_start, probability, expected, escalations``: the true
        probability of at least one escalation in the period given everything before
        its start, the expected count and the realised count. Not model input.
    start, end : pd.Timestamp
        Tz-aware first period start and data extraction moment (``start`` plus
        ``n_periods`` periods); every event lies in ``[start, end)``.
    freq : str
    seed : int
    timezone : str
    params : SimulationParams
    summary : dict
        Headline figures (rows per table, escalation base rate, ...).
    """

    grids: pd.DataFrame
    adjacency: pd.DataFrame
    petitions: pd.DataFrame
    disputes: pd.DataFrame
    incidents: pd.DataFrame
    truth: pd.DataFrame
    start: pd.Timestamp
    end: pd.Timestamp
    freq: str
    seed: int
    timezone: str = "Asia/Shanghai"
    params: SimulationParams = field(default_factory=SimulationParams)
    summary: dict[str, Any] = field(default_factory=dict)
    #: The city's own interventions (``params.interventions``), or None.
    interventions: pd.DataFrame | None = None
    #: The risk signal its lists ranked by, shape (n_grids, n_periods), or None.
    plan_signal: np.ndarray | None = None

    @property
    def n_grids(self) -> int:
        return len(self.grids)

    @property
    def n_periods(self) -> int:
        return len(self.truth) // max(len(self.grids), 1)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The input tables by contract name (``truth`` is not one of them); the
        ``interventions`` table only where the city acted."""
        tables = {
            "grids": self.grids,
            "adjacency": self.adjacency,
            "petitions": self.petitions,
            "disputes": self.disputes,
            "incidents": self.incidents,
        }
        if self.interventions is not None:
            tables["interventions"] = self.interventions
        return tables

    def plan_lists(self) -> Iterator[tuple[pd.Timestamp, pd.DataFrame]]:
        """The list the city acted on in each period, as ``riskwarn score`` keeps its own.

        Yields ``(period start, rows)``, one row per grid: ``grid_id, as_of, rank`` (1 =
        highest signal), ``tier`` (none: the city's lists have no tiers), ``score`` (the
        signal on a 0-1 scale by a logistic map; a ranking, not a probability),
        ``in_plan`` (being treated in the period) and ``plan_periods`` (periods in the
        plan so far, this one included). Nothing without a policy.
        """
        if self.plan_signal is None:
            return
        n, n_t = self.plan_signal.shape
        treated = self.truth["treated"].to_numpy(dtype=bool).reshape(n, n_t)
        starts = self.truth["period_start"].iloc[:n_t]
        grid_ids = self.grids["grid_id"].astype(str).to_numpy()
        run = np.zeros(n, dtype=np.int64)
        for t in range(n_t):
            run = np.where(treated[:, t], run + 1, 0)
            signal = self.plan_signal[:, t]
            order = np.argsort(-signal, kind="stable")
            rank = np.empty(n, dtype=np.int64)
            rank[order] = np.arange(1, n + 1)
            as_of = starts.iloc[t]
            yield (
                as_of,
                pd.DataFrame(
                    {
                        "grid_id": grid_ids,
                        "as_of": pd.Series([as_of] * n, dtype=starts.dtype),
                        "rank": rank,
                        "tier": pd.array([pd.NA] * n, dtype="Int8"),
                        "score": 1.0 / (1.0 + np.exp(-(signal - 3.0))),
                        "in_plan": treated[:, t],
                        "plan_periods": run,
                    }
                ),
            )


def _count(value: object, name: str) -> int:
    """A whole number >= 1, or a RiskwarnError naming the argument."""
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)
    except TypeError:
        raise RiskwarnError(f"{name} must be a whole number >= 1, got {value!r}.") from None
    if number < 1:
        raise RiskwarnError(f"{name} must be a whole number >= 1, got {number}.")
    return number


def _check_break(brk: LevelBreak | None, n_periods: int) -> None:
    """A break must start inside the span, after at least one period without it."""
    if brk is None:
        return
    if not isinstance(brk, LevelBreak):
        raise RiskwarnError(f"level_break must be a LevelBreak or None, got {brk!r}.")
    at = brk.at
    if n_periods < 2:
        raise RiskwarnError(
            "a level break needs at least 2 periods (one before it, one from it on), "
            f"got n_periods = {n_periods}."
        )
    if isinstance(at, bool) or not isinstance(at, int | np.integer) or not 1 <= at < n_periods:
        raise RiskwarnError(
            "the level break's period (LevelBreak.at, --break-at) must be a 0-based period "
            f"index from 1 to n_periods - 1 = {n_periods - 1}, so that at least period 0 "
            f"comes before it, got {at!r}."
        )
    factor = brk.factor
    if (
        isinstance(factor, bool)
        or not isinstance(factor, int | float | np.floating)
        or not np.isfinite(factor)
        or factor <= 0
    ):
        raise RiskwarnError(
            "the level break's factor (LevelBreak.factor, --break-factor) must be a finite "
            f"number > 0, got {factor!r}."
        )


def _rate_factor(brk: LevelBreak | None, n_periods: int) -> np.ndarray | None:
    """Per-period multiplier of every event rate, shape (n_periods,), or None (no break)."""
    if brk is None:
        return None
    factor = np.ones(n_periods)
    factor[int(brk.at) :] = float(brk.factor)
    return factor


def _check_params(params: SimulationParams) -> None:
    d = params.dynamics
    if d.a_self < 0 or d.a_neighbours < 0 or d.a_self + d.a_neighbours >= 1:
        raise RiskwarnError(
            "self-excitation must be stable: a_self and a_neighbours must be >= 0 with a sum "
            f"below 1, got {d.a_self} and {d.a_neighbours}."
        )
    decays = (d.excitation_decay, d.precursor_decay, d.grievance_decay)
    if not all(0 < v < 1 for v in decays):
        raise RiskwarnError(f"decay factors must lie strictly between 0 and 1, got {decays}.")
    if not 0 <= d.tension_persistence < 1 or not 0 <= d.tension_diffusion <= 1:
        raise RiskwarnError(
            "tension_persistence must lie in [0, 1) and tension_diffusion in [0, 1]."
        )


def simulate_city(
    n_grids: int = 400,
    n_periods: int = 156,
    seed: int = 0,
    freq: str = "W-MON",
    start: str = "2021-01-04",
    timezone: str = "Asia/Shanghai",
    *,
    params: SimulationParams | None = None,
) -> SimulatedCity:
    """Simulate a city of grids and its petitions, disputes and incidents.

    Pure computation (no files); the same arguments give identical frames.

    Parameters
    ----------
    n_grids : int
        Number of grids (>= 1).
    n_periods : int
        Number of periods (>= 1).
    seed : int
        Seed of the single ``numpy.random.default_rng`` behind every draw.
    freq : str
        Pandas offset alias of the period length, e.g. ``"W-MON"``, ``"MS"``, ``"D"``.
        Rates are per day times period length, so any period length gives sensible data.
    start : str
        First day; snapped forward to the first period boundary of ``freq``.
    timezone : str
        IANA time zone of all timestamps.
    params : SimulationParams, optional
        Mechanism parameters; defaults give a weekly escalation base rate of 1-3 %.
        ``params.level_break`` (a :class:`LevelBreak`) multiplies every event rate from
        a period on; ``truth`` stays the true probability across it.

    Returns
    -------
    SimulatedCity
        ``grids`` (n_grids rows), ``adjacency``, the three event tables and ``truth``
        (n_grids * n_periods rows).

    Raises
    ------
    RiskwarnError
        For ``n_grids < 1``, ``n_periods < 1``, an unknown ``freq`` or time zone, a
        span outside 2000-2040, or a level break outside periods ``1 .. n_periods - 1``
        or with a factor that is not > 0.
    """
    n_grids = _count(n_grids, "n_grids")
    n_periods = _count(n_periods, "n_periods")
    params = params or SimulationParams()
    _check_params(params)
    _check_break(params.level_break, n_periods)
    timeline = make_timeline(start, n_periods, freq, timezone)
    rng = np.random.default_rng(seed)

    layout = build_layout(n_grids, rng, params.layout)
    shocks = draw_shocks(timeline, layout.grid_type, layout.periurban, rng, params.shocks)
    dyn = run_dynamics(
        timeline,
        layout.grid_type,
        layout.population,
        layout.adj,
        shocks,
        rng,
        params.dynamics,
        params.events,
        _rate_factor(params.level_break, n_periods),
        policy=params.interventions,
        # its own stream: the city's draws are those of a city that does nothing
        policy_rng=np.random.default_rng([seed, 20]),
    )
    events = build_events(
        timeline, layout.grid_ids, layout.grid_type, dyn, shocks, rng, params.events
    )

    # Truth, grid-major like a (grid_id, period_start) panel index.
    truth = pd.DataFrame(
        {
            "grid_id": take_strings(layout.grid_ids, np.repeat(np.arange(n_grids), n_periods)),
            "period_start": timestamps(np.tile(timeline.edges_us[:-1], n_grids), timezone),
            "probability": -np.expm1(-dyn.mu.ravel()),
            "expected": dyn.mu.ravel(),
            "escalations": dyn.escalations.ravel(),
        }
    )
    interventions = None
    if params.interventions is not None:
        truth["treated"] = dyn.treated.ravel()
        truth["untreated_probability"] = -np.expm1(-dyn.untreated_mu.ravel())
        interventions = _intervention_rows(
            dyn.interventions, layout, timeline, params.interventions, timezone
        )
    summary = _summary(
        events.petitions, events.disputes, events.incidents, truth, dyn.backlog, shocks
    )
    return SimulatedCity(
        grids=layout.grids,
        adjacency=layout.adjacency,
        petitions=events.petitions,
        disputes=events.disputes,
        incidents=events.incidents,
        truth=truth,
        start=timeline.start,
        end=timeline.end,
        freq=freq,
        seed=seed,
        timezone=timezone,
        params=params,
        summary=summary,
        interventions=interventions,
        plan_signal=dyn.signal,
    )


def _intervention_rows(chosen, layout, timeline, policy, timezone: str) -> pd.DataFrame:
    """One row per grid chosen per period: started at 09:00 on the period's first day."""
    grids = np.concatenate([g for g, _ in chosen]) if chosen else np.array([], dtype=int)
    periods = np.concatenate([np.full(len(g), t) for g, t in chosen]) if chosen else grids
    order = np.lexsort((grids, periods))
    grids, periods = grids[order], periods[order]
    hour_us = 3_600_000_000
    start = timeline.edges_us[periods] + 9 * hour_us
    last = np.minimum(periods + policy.periods, timeline.n_periods)
    end = timeline.edges_us[last] - hour_us
    towns = layout.grids["town"].astype(str).to_numpy()
    return pd.DataFrame(
        {
            "intervention_id": [f"V{i + 1:07d}" for i in range(len(grids))],
            "grid_id": take_strings(layout.grid_ids, grids),
            "started_at": timestamps(start, timezone),
            "kind": policy.kind,
            "ended_at": timestamps(end, timezone),
            "team": [f"{town} team" for town in towns[grids]],
        }
    )


def _summary(
    petitions: pd.DataFrame,
    disputes: pd.DataFrame,
    incidents: pd.DataFrame,
    truth: pd.DataFrame,
    backlog: np.ndarray,
    shocks: Any,
) -> dict[str, Any]:
    n_cells = len(truth)
    events = len(petitions) + len(disputes) + len(incidents)
    return {
        "rows": {
            "petitions": len(petitions),
            "disputes": len(disputes),
            "incidents": len(incidents),
        },
        "events_total": events,
        "events_per_grid_period": events / n_cells,
        "escalations_total": int(truth["escalations"].sum()),
        "escalation_base_rate": float((truth["escalations"] > 0).mean()),
        "mean_probability": float(truth["probability"].mean()),
        "severe_incidents": int((incidents["severity"] >= 3).sum()),
        "collective_petitions": int((petitions["group_size"] >= 5).sum()),
        "repeat_petition_share": float(petitions["is_repeat"].mean()) if len(petitions) else 0.0,
        "open_disputes_at_end": int(disputes["resolved_at"].isna().sum()),
        "mean_dispute_backlog": float(backlog.mean()),
        "projects": int(shocks.n_projects),
    }


def params_dict(params: SimulationParams) -> dict[str, Any]:
    """Parameters as plain JSON-ready nested dicts (tuples become lists)."""
    return asdict(params)
