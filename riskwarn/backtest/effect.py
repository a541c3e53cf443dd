"""The effect of interventions on escalations, from the plan's own capacity cut-off.

A plan under capacity makes a comparison possible without withholding help from
anyone: in each list, the grids that just made it into the plan and those that just
missed it had nearly the same risk, so the difference in what happened to them next
estimates what the intervention did there (a regression discontinuity on rank).

For each dated list after the first, the *candidates* are the grids that were not in
the plan of the list before (a grid kept in the plan was not chosen this time).
Within each capacity group (one town, or the whole city), candidates are ordered by
score; the ``k`` that entered the plan are inside the cut-off. A candidate's
``distance`` is ``k + 0.5 - position``: ``0.5, 1.5, ...`` inside, ``-0.5, -1.5, ...``
outside. The outcome is the number of escalations in the period the list was made
for. Later periods are left out on purpose: the grids just outside are the next
ones to enter, so a longer window would compare treated with soon-treated grids.

The estimate is local linear on each side of the cut-off (triangular weights within
``bandwidth`` ranks). With the interventions table, the treatment is an intervention
that started in the list's period, and the jump in escalations is divided by the
jump in the share treated (a fuzzy design: a team may not reach every grid in the
plan, or may go where the list did not say). The effect is relative: the change in
expected escalations of a treated grid at the cut-off, ``-0.3`` for a 30 % fall.
Its interval comes from a bootstrap that resamples grids (a grid's lists are not
independent of each other).

The estimate holds at the cut-off (for grids of about the plan's weakest risk) and
for the mix of intervention kinds the plan used there. One cut-off alone cannot tell
kinds apart: with two or more, each is also compared with the untreated grids (the
others' grids left out), which holds only if the kind a grid got near the cut-off did
not depend on its risk.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from riskwarn.errors import RiskwarnError

#: Columns of :func:`cutoff_rows`.
CUTOFF_COLUMNS = ("as_of", "grid_id", "group", "distance", "entered", "treated", "escalations")
# The sufficient statistics of a weighted local-linear fit of escalations and of the
# treatment on distance, per side: sums of w, w*d, w*d^2, w*y, w*d*y, w*t, w*d*t.
_N_STATS = 7


class NoEffectEstimate(RiskwarnError):
    """The data cannot support an estimate of the effect (the message says why)."""


@dataclass(frozen=True)
class EffectEstimate:
    """An effect estimate at the plan's cut-off.

    Attributes
    ----------
    effect : float
        Relative change in expected escalations in the period an intervention starts,
        for a grid at the cut-off (``-0.3``: 30 % fewer).
    low, high : float
        The bootstrap interval of ``effect`` at ``level``.
    level : float
    design : {"sharp", "fuzzy"}
        Sharp where the cut-off alone decided who was treated.
    jump : float
        Escalations per grid-period, treated minus untreated, at the cut-off.
    baseline : float
        Escalations per grid-period of an untreated grid at the cut-off.
    first_stage : float
        Jump in the share of grids treated at the cut-off (1 when sharp).
    bandwidth : int
        Ranks each side of the cut-off used.
    n_lists : int
        Lists that had a cut-off (at least one grid entered and one did not).
    n_inside, n_outside : int
        Grid-periods within the bandwidth on each side.
    events_inside, events_outside : int
        Escalations in those grid-periods.
    n_grids : int
        Grids among them (the bootstrap resamples these).
    kinds : dict of str to int
        Interventions started inside the bandwidth, by kind.
    n_boot : int
        Bootstrap replicates (those where the estimate existed).
    by_kind : dict of str to dict
        With two kinds or more: per kind, the estimate (:meth:`as_dict`) comparing the
        grids given that kind with the untreated ones, or ``{"reason": ...}``. It
        assumes that which kind a grid near the cut-off got did not depend on its risk.
    """

    effect: float
    low: float
    high: float
    level: float
    design: str
    jump: float
    baseline: float
    first_stage: float
    bandwidth: int
    n_lists: int
    n_inside: int
    n_outside: int
    events_inside: int
    events_outside: int
    n_grids: int
    kinds: dict[str, int] = field(default_factory=dict)
    n_boot: int = 0
    by_kind: dict[str, dict] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def cutoff_rows(
    lists: pd.DataFrame,
    outcomes: pd.DataFrame,
    interventions: pd.DataFrame | None = None,
    *,
    freq: str,
    groups: pd.Series | None = None,
) -> pd.DataFrame:
    """The candidates of every list, placed around that list's cut-off.

    Parameters
    ----------
    lists : DataFrame, shape (n_list_rows, >= 4)
        Dated lists: ``grid_id, as_of`` (tz-aware period starts), ``score`` (higher is
        riskier) and ``in_plan`` (bool), one row per grid and list.
    outcomes : DataFrame, shape (n_cells, 3)
        ``grid_id, as_of`` (the period start) and ``escalations`` in that period;
        periods that were not observed have no row (or a missing count).
    interventions : DataFrame, optional
        ``grid_id, started_at`` (tz-aware) and ``kind``. Without it the treatment is
        entering the plan.
    freq : str
        The period (pandas offset alias).
    groups : Series, optional
        Capacity group per grid id (``capacity_by``); default one group.

    Returns
    -------
    DataFrame, shape (n_candidates, 8)
        :data:`CUTOFF_COLUMNS` plus ``kind`` (of the intervention started, else
        missing), for the candidates of lists with a cut-off and an observed outcome.
    """
    need = {"grid_id", "as_of", "score", "in_plan"}
    if missing := sorted(need - set(lists.columns)):
        raise NoEffectEstimate(
            f"the lists lack {missing}: the effect needs each list's scores and which "
            "grids were in the plan (in_plan), as riskwarn score keeps them under history/."
        )
    if len(lists) and lists["in_plan"].isna().all():
        raise NoEffectEstimate(
            "the lists have no plan (in_plan is empty in every one): they were scored "
            "without a capacity, so no grid was just inside or just outside a cut-off. "
            "Set [watchlist] capacity for riskwarn score, and act on its plan."
        )
    rows = lists[["grid_id", "as_of", "score", "in_plan"]].copy()
    rows["grid_id"] = rows["grid_id"].astype(str)
    rows = rows[rows["score"].notna() & rows["in_plan"].notna()]
    rows["in_plan"] = rows["in_plan"].astype(bool)
    rows["group"] = "all" if groups is None else _group_of(rows["grid_id"], groups)
    dates = np.sort(rows["as_of"].unique())
    offset = pd.tseries.frequencies.to_offset(freq)
    starts = _interventions_by_period(interventions, rows["as_of"].dt.tz)
    by_date = {date: part for date, part in rows.groupby("as_of", sort=False)}
    parts = []
    for before, as_of in zip(dates[:-1], dates[1:], strict=True):
        prev, now = by_date[before], by_date[as_of]
        held = set(prev.loc[prev["in_plan"], "grid_id"])
        cand = now[~now["grid_id"].isin(held)].sort_values(
            ["group", "score", "grid_id"], ascending=[True, False, True], kind="stable"
        )
        if cand.empty:
            continue
        position = cand.groupby("group").cumcount().to_numpy() + 1
        entered = cand["in_plan"].to_numpy()
        k = cand.groupby("group")["in_plan"].transform("sum").to_numpy()
        size = cand.groupby("group")["in_plan"].transform("size").to_numpy()
        part = cand.assign(distance=k + 0.5 - position, entered=entered)
        part = part[(k > 0) & (k < size)]  # a group where all or none entered has no cut-off
        if part.empty:
            continue
        if starts is None:
            part = part.assign(treated=part["entered"], kind=pd.NA)
        else:
            end = pd.Timestamp(as_of) + offset
            window = starts[(starts["started_at"] >= as_of) & (starts["started_at"] < end)]
            first = window.drop_duplicates("grid_id").set_index("grid_id")["kind"]
            part = part.assign(
                treated=part["grid_id"].isin(first.index).to_numpy(),
                kind=part["grid_id"].map(first),
            )
        parts.append(part)
    columns = [*CUTOFF_COLUMNS, "kind"]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    out = pd.concat(parts, ignore_index=True)
    counts = outcomes[["grid_id", "as_of", "escalations"]].astype({"grid_id": str})
    out = out.merge(counts, on=["grid_id", "as_of"], how="inner")
    out = out[out["escalations"].notna()]
    return out[columns].reset_index(drop=True)


def _group_of(grid_id: pd.Series, groups: pd.Series) -> np.ndarray:
    lookup = pd.Series(groups.to_numpy(), index=groups.index.astype(str))
    return grid_id.map(lookup).fillna("(no group)").astype(str).to_numpy()


def _interventions_by_period(interventions: pd.DataFrame | None, zone) -> pd.DataFrame | None:
    if interventions is None:
        return None
    out = interventions[["grid_id", "started_at", "kind"]].copy()
    out["grid_id"] = out["grid_id"].astype(str)
    out["started_at"] = out["started_at"].dt.tz_convert(zone)
    return out.sort_values(["started_at", "grid_id"], kind="stable")


def estimate_effect(
    rows: pd.DataFrame,
    *,
    bandwidth: int | None = None,
    level: float = 0.9,
    n_boot: int = 999,
    seed: int = 0,
    min_rows: int = 30,
    min_events: int = 30,
    by_kind: bool = True,
) -> EffectEstimate:
    """The relative effect at the cut-off, with its grid-bootstrap interval.

    Parameters
    ----------
    rows : DataFrame, shape (n_candidates, >= 7)
        :func:`cutoff_rows`.
    bandwidth : int, optional
        Ranks each side of the cut-off; default the median number of grids that
        entered a list (its capacity), at least 2.
    level : float
        Of the interval, in (0, 1).
    n_boot : int
        Bootstrap replicates (>= 99).
    seed : int
        The bootstrap's seed: the same rows and seed give the same interval.
    min_rows, min_events : int
        Each side needs ``min_rows`` grid-periods within the bandwidth, the outside
        ``min_events`` escalations (the baseline), and both together twice that: with
        fewer, a local line's interval runs from "all prevented" to "doubled", which
        is no estimate.
    by_kind : bool
        Also estimate each kind apart where there are two or more (same bandwidth).

    Returns
    -------
    EffectEstimate

    Raises
    ------
    NoEffectEstimate
        Where the rows cannot support an estimate, saying why in plain words.
    """
    if not 0 < level < 1:
        raise RiskwarnError(f"level must be in (0, 1), got {level!r}.")
    if n_boot < 99:
        raise RiskwarnError(f"n_boot must be at least 99, got {n_boot!r}.")
    if rows.empty:
        raise NoEffectEstimate(
            "no list had a cut-off to compare across: the effect needs at least two "
            "consecutive dated lists where some grids entered the plan and others did not."
        )
    n_lists = int(rows[["as_of", "group"]].drop_duplicates()["as_of"].nunique())
    entered = rows[rows["distance"] > 0].groupby(["as_of", "group"]).size()
    default = max(2, int(np.median(entered)))
    # what would help: more lists, or (below the default) a wider bandwidth
    more = f"a longer history of lists is needed (these are {n_lists})" + (
        f", or a wider --bandwidth (the default here is {default})"
        if bandwidth is not None and bandwidth < default
        else ""
    )
    if bandwidth is None:
        bandwidth = default
    if int(bandwidth) < 1:
        raise RiskwarnError(f"bandwidth must be at least 1 rank, got {bandwidth!r}.")
    h = int(bandwidth)
    d = rows["distance"].to_numpy(dtype=np.float64)
    near = np.abs(d) < h
    part = rows[near]
    d = d[near]
    w = 1.0 - np.abs(d) / h
    y = part["escalations"].to_numpy(dtype=np.float64)
    t = part["treated"].to_numpy(dtype=np.float64)
    inside = d > 0
    n_in, n_out = int(inside.sum()), int((~inside).sum())
    ev_in, ev_out = int(y[inside].sum()), int(y[~inside].sum())
    if min(n_in, n_out) < min_rows:
        raise NoEffectEstimate(
            f"too few grid-periods near the cut-off ({n_in} just inside, {n_out} just "
            f"outside within {h} ranks; at least {min_rows} each are needed): {more}."
        )
    if ev_out < min_events or ev_in + ev_out < 2 * min_events:
        raise NoEffectEstimate(
            f"too few escalations near the cut-off ({ev_in} just inside, {ev_out} just "
            f"outside; at least {min_events} outside and {2 * min_events} in all are "
            f"needed) to tell an effect from chance: {more}."
        )
    codes, grids = pd.factorize(part["grid_id"].astype(str))
    stats = _grid_stats(codes, len(grids), d, w, y, t, inside)
    point = _solve(stats.sum(axis=0, keepdims=True))
    effect, jump, baseline, first = (float(v[0]) for v in point)
    if not np.isfinite(first) or first < 0.2:
        raise NoEffectEstimate(
            f"the share of grids treated hardly changes at the cut-off ({first:+.2f}): the "
            "lists did not decide where the teams went, so the cut-off says nothing about "
            "the effect."
        )
    if not np.isfinite(baseline) or baseline <= 0:
        raise NoEffectEstimate(
            "the untreated escalation rate at the cut-off is not positive, so a relative "
            "effect is not defined: a longer history of lists is needed."
        )
    if effect <= -1:
        raise NoEffectEstimate(
            f"the fit near the cut-off is unstable: it puts the treated grids' escalations "
            f"below zero ({100 * effect:+.0f}%), which cannot be; a longer history of lists "
            "or a wider --bandwidth is needed."
        )
    rng = np.random.default_rng(seed)
    draws = []
    for start in range(0, n_boot, 100):
        size = min(100, n_boot - start)
        weights = rng.multinomial(len(grids), np.full(len(grids), 1.0 / len(grids)), size=size)
        boot = _solve(np.einsum("bg,gsk->bsk", weights.astype(np.float64), stats))
        # a resample without a jump in treatment or an untreated escalation to compare
        # with has no estimate; one whose line runs below zero escalations treated
        # counts as all of them prevented (-100 %), the most an effect can be
        ok = np.isfinite(boot[0]) & (boot[2] > 0) & (boot[3] > 0)
        draws.append(np.maximum(boot[0][ok], -1.0))
    sample = np.concatenate(draws)
    if len(sample) < 0.9 * n_boot:
        raise NoEffectEstimate(
            "the estimate is unstable: in more than one resample in ten of the grids "
            "there was no jump in treatment or no escalation to compare with; a longer "
            "history of lists is needed."
        )
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(sample, [alpha, 1.0 - alpha])
    kinds = part.loc[(part["treated"].to_numpy(dtype=bool)) & part["kind"].notna(), "kind"]
    counts = kinds.astype(str).value_counts().sort_index()
    apart = {}
    if by_kind and len(counts) > 1:
        settings = dict(level=level, n_boot=n_boot, seed=seed, min_rows=min_rows)
        for kind in counts.index:
            apart[str(kind)] = _one_kind(rows, str(kind), h, min_events, settings)
    return EffectEstimate(
        effect=effect,
        low=float(low),
        high=float(high),
        level=float(level),
        design="sharp" if _is_sharp(part) else "fuzzy",
        jump=jump,
        baseline=baseline,
        first_stage=first,
        bandwidth=h,
        n_lists=n_lists,
        n_inside=n_in,
        n_outside=n_out,
        events_inside=ev_in,
        events_outside=ev_out,
        n_grids=len(grids),
        kinds={str(k): int(v) for k, v in counts.items()},
        n_boot=len(sample),
        by_kind=apart,
    )


def _one_kind(rows: pd.DataFrame, kind: str, bandwidth: int, min_events: int, settings) -> dict:
    """The effect of one kind: its grids against the untreated, the others left out."""
    given = rows["kind"].astype("string") == kind
    other = rows["treated"].to_numpy(dtype=bool) & ~given.fillna(False).to_numpy()
    sub = rows[~other].assign(treated=given[~other].fillna(False).to_numpy())
    try:
        est = estimate_effect(
            sub, bandwidth=bandwidth, min_events=min_events, by_kind=False, **settings
        )
    except NoEffectEstimate as exc:
        return {"reason": str(exc)}
    return {k: v for k, v in est.as_dict().items() if k != "by_kind"}


def _is_sharp(part: pd.DataFrame) -> bool:
    treated = part["treated"].to_numpy(dtype=bool)
    return bool(np.array_equal(treated, part["distance"].to_numpy() > 0))


def _grid_stats(codes, n_grids, d, w, y, t, inside) -> np.ndarray:
    """Per grid and side, the sums of the local-linear fits, shape (n_grids, 2, 7)."""
    out = np.zeros((n_grids, 2, _N_STATS))
    side = inside.astype(np.int64)  # 0 outside, 1 inside
    for k, value in enumerate((w, w * d, w * d * d, w * y, w * d * y, w * t, w * d * t)):
        np.add.at(out[:, :, k], (codes, side), value)
    return out


def _intercept(s0, s1, s2, sy, sdy):
    """The intercept at distance 0 of a weighted line (a mean where the line is not defined)."""
    det = s0 * s2 - s1 * s1
    with np.errstate(divide="ignore", invalid="ignore"):
        line = (s2 * sy - s1 * sdy) / det
        mean = sy / s0
    return np.where(det > 1e-9 * np.maximum(s0 * s2, 1e-300), line, mean)


def _solve(stats: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``effect, jump, baseline, first_stage`` per row of summed stats (n, 2, 7)."""
    s = [stats[:, :, k] for k in range(_N_STATS)]
    ay = _intercept(s[0], s[1], s[2], s[3], s[4])
    at = _intercept(s[0], s[1], s[2], s[5], s[6])
    first = at[:, 1] - at[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        jump = (ay[:, 1] - ay[:, 0]) / first
        baseline = ay[:, 0] - at[:, 0] * jump
        effect = jump / baseline
    return effect, jump, baseline, first
