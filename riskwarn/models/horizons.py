"""Risk over the horizon: P(an escalation within h periods) never falls as h grows.

The backtest fits one direct model per horizon, and two such models can cross: a
grid may get 0.30 within two weeks and 0.28 within three, which no forecast can
mean. The label horizon's score is the ranking (the watchlist's, calibrated, what
the backtest is judged on) and stays as it is; each shorter horizon's score is
capped by the one after it (a running minimum from the label horizon down), so a
curve that already rises is unchanged and the watchlist's score, its expected
events and its interval are those of the model that scored them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def curve_columns(horizon: int) -> list[str]:
    """``["risk_h1", …, "risk_h{horizon}"]``: the risk curve's columns in a watchlist."""
    return [f"risk_h{h}" for h in range(1, int(horizon) + 1)]


def monotone_in_horizon(p: np.ndarray) -> np.ndarray:
    """Each row capped from the right, shape (n_rows, n_horizons): non-decreasing.

    ``out[:, -1] = p[:, -1]`` and ``out[:, i] = min(p[:, i], out[:, i + 1])``.
    """
    p = np.asarray(p, dtype=float)
    return np.minimum.accumulate(p[:, ::-1], axis=1)[:, ::-1]


def horizon_curves(predictions: pd.DataFrame) -> pd.DataFrame:
    """Each ``model, grid_id, as_of``'s scores by horizon, shape (n_curves, n_horizons).

    Only the curves that have every horizon (a row whose later windows are not
    labelled yet has no curve).
    """
    return predictions.pivot_table(
        index=["model", "grid_id", "as_of"],
        columns="horizon",
        values="score",
        observed=True,
        aggfunc="first",
    ).dropna()


def reconcile_horizons(predictions: pd.DataFrame) -> pd.DataFrame:
    """Backtest predictions with every grid's scores non-decreasing over horizons.

    Rows of one ``model, grid_id, as_of`` that have every horizon are reconciled
    (a row whose later windows are not labelled yet has no curve to fix). Only the
    score changes: the expected events and quantiles follow from it and the count
    shape (:mod:`riskwarn.models.counts`).
    """
    horizons = sorted(predictions["horizon"].unique())
    if len(horizons) < 2:
        return predictions
    keys = ["model", "grid_id", "as_of"]
    wide = horizon_curves(predictions)
    if wide.empty:
        return predictions
    fixed = pd.DataFrame(
        monotone_in_horizon(wide.to_numpy()), index=wide.index, columns=wide.columns
    )
    new = fixed.stack().rename("_new").reset_index()
    out = predictions.merge(new, on=[*keys, "horizon"], how="left", sort=False)
    out["score"] = np.where(out["_new"].notna(), out["_new"].to_numpy(), out["score"].to_numpy())
    return out.drop(columns="_new")
