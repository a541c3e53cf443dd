"""The plan on a watchlist: ``in_plan`` and ``plan_periods`` for every grid.

``in_plan`` is True for exactly the grids the teams can take this period
(:mod:`riskwarn.plan.capacity`), False for the others, and missing (no plan made)
without ``[watchlist] capacity``; ``plan_periods`` counts the periods a planned grid
has been in the plan, this one included. The previous plan comes from the folder's
history (the latest earlier as-of date), so a rerun of a date gives the same plan.
"""

from __future__ import annotations

import pandas as pd

from riskwarn.config import WatchlistConfig
from riskwarn.errors import RiskwarnError
from riskwarn.plan.capacity import PlanRule, choose_plan, grid_groups

PLAN_COLUMNS = ("in_plan", "plan_periods")


def plan_rule(settings: WatchlistConfig) -> PlanRule | None:
    """The configured plan rule, or None without a capacity."""
    if settings.capacity is None:
        return None
    return PlanRule(
        capacity=settings.capacity,
        capacity_by=settings.capacity_by,
        hold_periods=settings.hold_periods,
        exit_ratio=settings.exit_ratio,
        enter_margin=settings.enter_margin,
    )


def check_plan_groups(settings: WatchlistConfig, grids: pd.DataFrame) -> None:
    """An error before scoring when the capacity is by a column the grids lack."""
    by = settings.capacity_by
    if settings.capacity is not None and by is not None and by not in grids.columns:
        raise RiskwarnError(
            f"[watchlist] capacity_by = {by!r}, but the grids table has no {by!r} column: add "
            "it to grids, or remove capacity_by for one city-wide capacity."
        )


def periods_between(before: pd.Timestamp, after: pd.Timestamp, freq: str) -> int:
    """Period boundaries from ``before`` to ``after`` (1 for consecutive periods)."""
    steps = pd.date_range(before, after, freq=freq)
    return max(1, len(steps) - (1 if len(steps) and steps[0] == before else 0))


def plan_columns(
    every: pd.DataFrame,
    grids: pd.DataFrame | None,
    settings: WatchlistConfig,
    previous: pd.DataFrame | None,
    freq: str,
) -> pd.DataFrame:
    """``grid_id, in_plan, plan_periods`` of every grid of one as-of date.

    Parameters
    ----------
    every : DataFrame, shape (n_grids, >= 3)
        ``grid_id, as_of, score`` of every grid scored.
    grids : DataFrame or None
        The grids table (its ``town`` / ``district`` for a capacity by group).
    settings : WatchlistConfig
    previous : DataFrame or None
        The previous watchlist's history rows (``grid_id, as_of, in_plan,
        plan_periods`` where it had a plan).
    freq : str
        The period (pandas offset alias), to count periods since the previous list.
    """
    rule = plan_rule(settings)
    n = len(every)
    if rule is None:
        return pd.DataFrame(
            {
                "grid_id": every["grid_id"].astype(str).to_numpy(),
                "in_plan": pd.array([pd.NA] * n, dtype="boolean"),
                "plan_periods": pd.array([pd.NA] * n, dtype="Int16"),
            }
        )
    current = every[["grid_id", "score"]].copy()
    current["grid_id"] = current["grid_id"].astype(str)
    if rule.capacity_by is not None:
        check_plan_groups(settings, grids)
        current["group"] = grid_groups(grids, rule.capacity_by, current["grid_id"])
    held, since = None, None
    if previous is not None and "in_plan" in previous.columns and len(previous):
        kept = previous[previous["in_plan"].fillna(False).astype(bool)]
        if len(kept):
            gap = periods_between(
                pd.Timestamp(previous["as_of"].iloc[0]), pd.Timestamp(every["as_of"].iloc[0]), freq
            )
            held = kept[["grid_id"]].astype(str)
            since = kept["plan_periods"].fillna(1).to_numpy(dtype=int) + gap - 1
    plan = choose_plan(current, rule, held, periods_since=since)
    return pd.DataFrame(
        {
            "grid_id": plan["grid_id"].to_numpy(),
            "in_plan": pd.array(plan["in_plan"].to_numpy(), dtype="boolean"),
            "plan_periods": pd.array(plan["plan_periods"].to_numpy(), dtype="Int16"),
        }
    )


def with_plan(watchlist: pd.DataFrame, plan: pd.DataFrame) -> pd.DataFrame:
    """The watchlist with ``in_plan`` and ``plan_periods`` after ``tier``."""
    by_id = plan.set_index("grid_id")
    ids = watchlist["grid_id"].astype(str)
    out = watchlist.drop(columns=[c for c in PLAN_COLUMNS if c in watchlist.columns])
    position = list(out.columns).index("tier") + 1
    for offset, name in enumerate(PLAN_COLUMNS):
        values = by_id[name].reindex(ids).array
        out.insert(position + offset, name, values)
    return out
