"""The plan over a backtest: which model and capacity, and the stability sweep."""

from __future__ import annotations

import math

import pandas as pd
from matplotlib.figure import Figure

from riskwarn.config import Config
from riskwarn.plan.capacity import PlanRule, grid_groups
from riskwarn.plan.churn import stability_sweep
from riskwarn.plan.watchlist import plan_rule

#: Without ``[watchlist] capacity`` the sweep plans this share of the grids, city-wide.
DEFAULT_SHARE = 0.05


def backtest_plan(predictions: pd.DataFrame, grids: pd.DataFrame, config: Config) -> dict | None:
    """The stability sweep of the deployed model at the label horizon (or None: nothing
    to plan, e.g. no labelled rows).

    Parameters
    ----------
    predictions : DataFrame
        The backtest's ``predictions.parquet`` rows.
    grids : DataFrame
        The grids table (``town`` / ``district`` for a capacity by group).
    config : Config

    Returns
    -------
    dict
        ``model, horizon, capacity, capacity_by, note, step`` and ``sweep`` (one record
        per setting: :func:`riskwarn.plan.churn.stability_sweep`).
    """
    models = [str(m) for m in predictions["model"].unique()]
    model = config.train.model if config.train.model in models else None
    model = model or ("ensemble" if "ensemble" in models else (models[0] if models else None))
    horizon = config.label.horizon
    if model is None:
        return None
    rows = predictions[
        (predictions["model"] == model)
        & (predictions["horizon"] == horizon)
        & predictions["label"].notna()
    ][["grid_id", "as_of", "score", "label"]].copy()
    if rows.empty:
        return None
    rows["grid_id"] = rows["grid_id"].astype(str)
    rule = plan_rule(config.watchlist)
    note = "the configured [watchlist] capacity"
    if rule is not None and rule.capacity_by is not None and rule.capacity_by not in grids:
        rule, why = None, f"the grids have no {rule.capacity_by!r} column"
    else:
        why = "no [watchlist] capacity set"
    if rule is None:
        n_grids = rows["grid_id"].nunique()
        capacity = max(1, math.ceil(DEFAULT_SHARE * n_grids))
        note = f"{why}: {capacity} grids ({100 * DEFAULT_SHARE:g} % of {n_grids}), city-wide"
        w = config.watchlist
        rule = PlanRule(
            capacity=capacity,
            hold_periods=w.hold_periods,
            exit_ratio=w.exit_ratio,
            enter_margin=w.enter_margin,
        )
    if rule.capacity_by is not None:
        rows["group"] = grid_groups(grids, rule.capacity_by, rows["grid_id"])
    step = config.backtest.step
    return {
        "model": model,
        "horizon": int(horizon),
        "capacity": rule.capacity,
        "capacity_by": rule.capacity_by,
        "note": note,
        "step": int(step),
        "sweep": stability_sweep(rows, rule, step=step),
    }


def recall_churn_plot(plan: dict) -> Figure:
    """Recall at capacity against the share of the plan replaced per period, one point
    per stability setting (holds joined by a line per exit rule)."""
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot()
    sweep = pd.DataFrame(plan["sweep"])
    for exit_ratio, part in sweep.groupby("exit_ratio", sort=True):
        part = part.sort_values("hold_periods")
        label = "exit rule off" if exit_ratio == 0 else f"exit below {exit_ratio:g}× the cut-off"
        ax.plot(part["replaced"], part["recall"], marker="o", label=label)
        for row in part.itertuples():
            ax.annotate(f"hold {row.hold_periods}", (row.replaced, row.recall), fontsize=7)
    chosen = sweep[sweep["configured"]]
    ax.scatter(chosen["replaced"], chosen["recall"], s=120, facecolors="none", edgecolors="k")
    ax.set_xlabel("share of the plan replaced per period")
    ax.set_ylabel("recall at capacity")
    ax.set_title(f"{plan['model']}, horizon {plan['horizon']}: recall against churn")
    ax.legend(fontsize=8)
    return fig
