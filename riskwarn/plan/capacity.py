"""Capacity and stability: the grids a town's teams take this period (``in_plan``).

A plan is chosen per capacity group (the whole city, or each town or district with
``[watchlist] capacity_by``), by risk, each group filling at most its own capacity: a
town without capacity left never pulls in another town's grids. It is kept stable:

- a grid that entered the plan stays ``hold_periods`` periods, unless its score falls
  below ``exit_ratio`` times the group's cut-off (the score of the grid ranked at its
  capacity): the exit rule, for a risk that fell far;
- after its hold a grid stays unless a grid outside the plan has a score more than
  ``enter_margin`` times its own (hysteresis): a challenger must clearly exceed the
  weakest grid in the plan, not edge past it.

With ``hold_periods = 0`` and ``enter_margin = 1`` the plan is the top of each group by
score, every period afresh. Tiers are not touched: dashboards keep them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskwarn.errors import RiskwarnError
from riskwarn.scoring.files import grids_by_id

#: The group of grids without a town (or district) when the capacity is per group.
NO_GROUP = "(none)"


@dataclass(frozen=True)
class PlanRule:
    """How many grids a plan holds and how it moves.

    Parameters
    ----------
    capacity : int or dict
        Grids per period: one number (for the city, or for each group), or a number
        per group name (groups not named get 0).
    capacity_by : str or None
        ``"town"`` or ``"district"``: the capacity applies per group; None: city-wide.
    hold_periods : int
        Periods a grid stays once in the plan (0: no hold).
    exit_ratio : float
        A held grid leaves early when its score is below this share of its group's
        cut-off score.
    enter_margin : float
        A grid past its hold is replaced only by a score above this multiple of its own.
    """

    capacity: int | dict[str, int]
    capacity_by: str | None = None
    hold_periods: int = 0
    exit_ratio: float = 0.5
    enter_margin: float = 1.2

    def capacity_of(self, group: str) -> int:
        if isinstance(self.capacity, dict):
            return int(self.capacity.get(group, 0))
        return int(self.capacity)


def grid_groups(grids: pd.DataFrame, by: str, grid_ids) -> np.ndarray:
    """Each of ``grid_ids``' value of the grids table's ``by`` column (missing: not in the
    table, or no value; :func:`choose_plan` makes those :data:`NO_GROUP`)."""
    return grids_by_id(grids)[by].reindex(pd.Index(grid_ids).astype(str)).to_numpy()


def choose_plan(
    current: pd.DataFrame,
    rule: PlanRule,
    previous: pd.DataFrame | None = None,
    *,
    periods_since: np.ndarray | None = None,
) -> pd.DataFrame:
    """Choose this period's plan.

    Parameters
    ----------
    current : DataFrame, shape (n_grids, 2 or 3)
        ``grid_id``, ``score`` and, with ``rule.capacity_by``, ``group`` (missing
        groups are :data:`NO_GROUP`).
    rule : PlanRule
    previous : DataFrame or None, shape (n_planned, 1)
        ``grid_id`` of the grids in the previous period's plan.
    periods_since : ndarray of int, shape (n_planned,)
        For each row of ``previous``: periods since that grid entered the plan (1 for
        a grid that entered in the previous period).

    Returns
    -------
    DataFrame, shape (n_grids, 3)
        ``grid_id``, ``in_plan`` (bool) and ``plan_periods`` (periods in the plan,
        counting this one; 0 outside), in the order of ``current``.
    """
    if current["grid_id"].duplicated().any():
        raise RiskwarnError("a plan is for one list of grids; a grid appears twice.")
    ids = current["grid_id"].astype(str).to_numpy()
    score = current["score"].to_numpy(dtype=float)
    if rule.capacity_by is None:
        groups = np.zeros(len(ids), dtype=object)
    else:
        groups = current["group"].astype(object).where(current["group"].notna(), NO_GROUP)
        groups = groups.astype(str).to_numpy(dtype=object)
    since = {}
    if previous is not None and len(previous):
        held = np.ones(len(previous), dtype=int) if periods_since is None else periods_since
        since = dict(zip(previous["grid_id"].astype(str), np.asarray(held, dtype=int), strict=True))
    in_plan = np.zeros(len(ids), dtype=bool)
    periods = np.zeros(len(ids), dtype=np.int32)
    for group in pd.unique(groups):
        rows = np.flatnonzero(groups == group)
        capacity = rule.capacity_of(group)
        if capacity <= 0:
            continue
        chosen = _group_plan(ids[rows], score[rows], capacity, rule, since)
        in_plan[rows[chosen]] = True
        periods[rows[chosen]] = [since.get(ids[r], 0) + 1 for r in rows[chosen]]
    return pd.DataFrame({"grid_id": ids, "in_plan": in_plan, "plan_periods": periods})


def _group_plan(
    ids: np.ndarray, score: np.ndarray, capacity: int, rule: PlanRule, since: dict
) -> np.ndarray:
    """Positions (into ``ids``) of one group's plan."""
    order = np.lexsort((ids, -score))  # by score, ties by grid id
    if len(ids) <= capacity:
        return order
    cutoff = score[order[capacity - 1]]
    member = np.array([g in since for g in ids])
    stay = np.array([since.get(g, 0) for g in ids])
    fell_far = score < rule.exit_ratio * cutoff
    held = member & (stay < rule.hold_periods) & ~fell_far
    held_pos = [p for p in order if held[p]][:capacity]
    left = capacity - len(held_pos)
    if left <= 0:
        return np.array(held_pos, dtype=int)
    # the rest by score, a grid already in the plan (past its hold) with the advantage
    # of the margin: a challenger must clearly exceed it
    open_pos = np.flatnonzero(~held)
    adjusted = score[open_pos] * np.where(
        member[open_pos] & ~fell_far[open_pos], rule.enter_margin, 1.0
    )
    pick = open_pos[np.lexsort((ids[open_pos], -adjusted))[:left]]
    return np.concatenate([np.array(held_pos, dtype=int), pick])
