"""Plans over a backtest: recall at capacity against churn, for a sweep of stability rules.

For each rule the plan is chosen date by date over the backtest's test dates, as
``riskwarn score`` would have chosen it week after week (each date's plan from that
date's scores and the plan before it), and scored against the labels:

- ``recall``: escalations in planned grid-periods / all escalations (pooled over dates);
- ``reached``: escalations in planned grid-periods per date;
- ``jaccard``: |plan_t ∩ plan_{t-1}| / |plan_t ∪ plan_{t-1}|, mean over consecutive dates;
- ``replaced``: share of plan_t not in plan_{t-1};
- ``displacement``: mean |rank_t − rank_{t-1}| (ranks in the whole list) of the grids
  in plan_t.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from riskwarn.plan.capacity import PlanRule, choose_plan

#: The stability settings a backtest sweeps: holds, and the exit rule on or off.
SWEEP_HOLDS = (0, 1, 2, 4, 8)
SWEEP_EXITS = (0.5, 0.0)


def plan_over_time(rows: pd.DataFrame, rule: PlanRule, *, step: int = 1) -> pd.DataFrame:
    """The plan at every as-of date of ``rows``, each from the one before.

    Parameters
    ----------
    rows : DataFrame, shape (n_rows, 3 or 4)
        ``grid_id, as_of, score`` (and ``group`` with ``rule.capacity_by``) of one
        model and horizon.
    rule : PlanRule
    step : int
        Periods between consecutive as-of dates (a hold counts periods).

    Returns
    -------
    DataFrame
        ``as_of, grid_id, in_plan, plan_periods, rank`` for every row.
    """
    out = []
    previous, since = None, None
    for as_of, day in rows.groupby("as_of", sort=True):
        day = day.reset_index(drop=True)
        plan = choose_plan(day, rule, previous, periods_since=since)
        plan["as_of"] = as_of
        order = np.lexsort((day["grid_id"].astype(str).to_numpy(), -day["score"].to_numpy()))
        rank = np.empty(len(day), dtype=np.int32)
        rank[order] = np.arange(1, len(day) + 1)
        plan["rank"] = rank
        out.append(plan)
        kept = plan[plan["in_plan"]]
        previous = kept[["grid_id"]]
        since = kept["plan_periods"].to_numpy() * step - (step - 1)
    return pd.concat(out, ignore_index=True)


def plan_metrics(plans: pd.DataFrame, labels: pd.DataFrame) -> dict:
    """Recall and churn of a sequence of plans (see the module docstring).

    Parameters
    ----------
    plans : DataFrame
        :func:`plan_over_time` output.
    labels : DataFrame
        ``as_of, grid_id, label`` (1 = an escalation within the horizon).
    """
    merged = plans.merge(labels, on=["as_of", "grid_id"], how="left", validate="1:1")
    label = merged["label"].fillna(0).to_numpy(dtype=float)
    planned = merged["in_plan"].to_numpy(dtype=bool)
    dates = sorted(merged["as_of"].unique())
    total = float(label.sum())
    jaccard, replaced, displacement = [], [], []
    before, before_rank = None, None
    for as_of in dates:
        day = merged[merged["as_of"] == as_of]
        now = set(day.loc[day["in_plan"], "grid_id"])
        ranks = dict(zip(day["grid_id"], day["rank"], strict=True))
        if before is not None and (now or before):
            jaccard.append(len(now & before) / len(now | before))
            replaced.append(len(now - before) / len(now) if now else 0.0)
            moved = [abs(ranks[g] - before_rank[g]) for g in now if g in before_rank]
            if moved:
                displacement.append(float(np.mean(moved)))
        before, before_rank = now, ranks
    return {
        "recall": float(label[planned].sum() / total) if total else float("nan"),
        "reached": float(label[planned].sum() / len(dates)) if dates else float("nan"),
        "jaccard": float(np.mean(jaccard)) if jaccard else float("nan"),
        "replaced": float(np.mean(replaced)) if replaced else float("nan"),
        "displacement": float(np.mean(displacement)) if displacement else float("nan"),
        "planned_per_date": float(planned.sum() / len(dates)) if dates else 0.0,
    }


def stability_sweep(rows: pd.DataFrame, rule: PlanRule, *, step: int = 1) -> list[dict]:
    """:func:`plan_metrics` for every hold of :data:`SWEEP_HOLDS` and exit rule of
    :data:`SWEEP_EXITS`, the configured rule's other settings kept; the configured
    rule itself is marked ``configured``.

    Parameters
    ----------
    rows : DataFrame
        ``grid_id, as_of, score, label`` (and ``group``) of one model and horizon.
    """
    labels = rows[["as_of", "grid_id", "label"]]
    settings = {(h, e) for h in SWEEP_HOLDS for e in SWEEP_EXITS}
    settings.add((rule.hold_periods, rule.exit_ratio))
    out = []
    for hold, exit_ratio in sorted(settings):
        variant = replace(rule, hold_periods=hold, exit_ratio=exit_ratio)
        plans = plan_over_time(rows, variant, step=step)
        out.append(
            {
                "hold_periods": hold,
                "exit_ratio": exit_ratio,
                "enter_margin": rule.enter_margin,
                "configured": hold == rule.hold_periods and exit_ratio == rule.exit_ratio,
                **plan_metrics(plans, labels),
            }
        )
    return out
