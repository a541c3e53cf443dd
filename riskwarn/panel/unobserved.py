"""What each event table did not observe: extraction gaps, city-wide and in a town.

The panel's own rule (:func:`riskwarn.panel.periods.unobserved_periods`) makes the
labels over a city-wide gap missing. Found once per validation, the same result
words the report's lines, names a town whose export stopped (which that rule does
not see) and tells ``score`` of a gap just before its as-of date.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskwarn.config import Config
from riskwarn.data.contract import TABLES
from riskwarn.errors import RiskwarnError
from riskwarn.panel.periods import (
    PeriodIndex,
    describe_gaps,
    period_index_for,
    unobserved_periods,
)


@dataclass(frozen=True)
class Unobserved:
    """The panel's periods, each event table's unobserved periods (sorted indices, the
    panel's own rule) and its events' naive local times."""

    periods: PeriodIndex
    periods_of: dict[str, np.ndarray]
    times: dict[str, pd.Series]


def unobserved(dataset, config: Config) -> Unobserved | None:
    """The periods each event table did not observe (None: the tables hold no event)."""
    times = {
        name: frame[TABLES[name].time_column]
        .dt.tz_convert(config.data.timezone)
        .dt.tz_localize(None)
        for name, frame in dataset.events.items()
    }
    if not any(len(t) for t in times.values()):
        return None
    periods = period_index_for(
        [f[TABLES[n].time_column] for n, f in dataset.events.items()], config
    )
    return Unobserved(
        periods, unobserved_periods(periods, times, config.data.missing_periods), times
    )


def gap_report_lines(dataset, gaps: Unobserved | None) -> list[str]:
    """The validation report's lines on extraction gaps (the panel's own rule), and on
    gaps in one town only, which the panel's city-wide rule does not see."""
    if gaps is None:
        return []
    return describe_gaps(gaps.periods, gaps.periods_of) + _town_gaps(dataset, gaps)


TOWN_GAP_EVENTS = 10.0


def _empty_runs(counts, observed) -> np.ndarray:
    """Periods in runs of two or more empty ``observed`` periods over which
    ``counts``' median expects at least :data:`TOWN_GAP_EVENTS` rows, shape (n,) of bool."""

    counts = np.asarray(counts)
    median = float(np.median(counts[observed])) if observed.any() else 0.0
    out = np.zeros(len(counts), dtype=bool)
    if median <= 0:
        return out
    empty = (counts == 0) & observed
    start = None
    for i, e in enumerate([*empty, False]):
        if e and start is None:
            start = i
        elif not e and start is not None:
            if i - start >= 2 and (i - start) * median >= TOWN_GAP_EVENTS:
                out[start:i] = True
            start = None
    return out


def _town_gaps(dataset, gaps: Unobserved) -> list[str]:
    """Periods in which a town has no row of a table although it is busy in that table.

    A district that moved to a new system mid-year exports nothing for its towns for a
    while: a run of two or more empty periods in a town that expects
    ``TOWN_GAP_EVENTS`` rows or more over the run (its median per period times the
    run's length; all empty by chance then has a probability under e^-10). A single
    empty period is not enough among a city's hundreds of towns × periods: on a
    simulated 2,000-grid city one busy town had an empty week around the New Year. The labels of
    those grids then read 0, not missing, so the user is told and shown the fix
    (``[data] missing_periods``, city-wide).
    """
    grids = dataset.grids
    if "town" not in grids or grids["town"].nunique(dropna=True) < 2:
        return []
    town_of = grids.set_index("grid_id")["town"]
    periods = gaps.periods
    n = periods.n_complete
    lines = []
    for name, frame in dataset.events.items():
        index = periods.period_of(gaps.times[name])
        towns = frame["grid_id"].map(town_of)
        keep = (index >= 0) & (index < n) & towns.notna().to_numpy()
        counts = pd.crosstab(towns[keep], index[keep]).reindex(columns=range(n), fill_value=0)
        citywide = np.zeros(n, dtype=bool)
        citywide[gaps.periods_of.get(name, [])] = True
        for town, row in counts.iterrows():
            gap = _empty_runs(row.to_numpy(), ~citywide)
            if gap.any():
                days = [f"{periods.boundaries[i]:%Y-%m-%d}" for i in np.flatnonzero(gap)]
                lines.append(
                    f"{name} has no rows at all from town {town} in {len(days)} period(s) "
                    f"({', '.join(days[:4])}{' …' if len(days) > 4 else ''}) although the "
                    f"town has {np.median(row.to_numpy()):.0f} per period as a rule: an export "
                    "gap in part of the city? Its grids' labels there read 0 (the gap rule "
                    "is city-wide); if those periods were not exported, list them in "
                    "[data] missing_periods (labels over them are then missing everywhere)."
                )
    return lines


def recent_gaps(gaps: Unobserved | None, config: Config, as_of) -> list[dict]:
    """The extraction gaps among the periods just before ``as_of``, per event table.

    A feature counts an unobserved period's events as none (labels treat it as
    missing, features cannot: the grid's history is what it is), so a watchlist
    scored just after a gap understates the recent activity of the tables it hit.
    "Just before" is the longest decay half-life of ``[features]``.

    Returns
    -------
    list of dict
        ``{"table", "periods" (their start dates), "of" (periods looked at), "as_of"}``;
        :func:`gap_line` words one. ``gaps``: :func:`unobserved` of the scored data.
    """
    if gaps is None:
        return []
    periods = gaps.periods
    try:
        p = periods.index_of(as_of)
    except RiskwarnError:
        return []
    span = max((*config.features.half_lives, 1))
    out = []
    for name, idx in gaps.periods_of.items():
        recent = idx[(idx >= p - span) & (idx < p)]
        if len(recent):
            out.append(
                {
                    "table": name,
                    "periods": [f"{periods.boundaries[i]:%Y-%m-%d}" for i in recent],
                    "of": span,
                    "as_of": f"{pd.Timestamp(as_of):%Y-%m-%d}",
                }
            )
    return out


def gap_line(gap: dict) -> str:
    """One of :func:`recent_gaps`' gaps in a sentence."""
    days = gap["periods"]
    shown = ", ".join(days[:4]) + (" …" if len(days) > 4 else "")
    return (
        f"{gap['table']} has no rows at all in {len(days)} of the {gap['of']} periods before "
        f"{gap['as_of']} ({shown}): an extraction gap, whose events the features count as "
        f"none, so this watchlist understates the recent {gap['table']} of every grid. Score "
        "again when the export covers those periods."
    )
