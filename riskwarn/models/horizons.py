"""Risk over the horizon: P(an escalation within h periods) never falls as h grows.

The backtest fits one direct model per horizon, and two such models can cross: a
grid may get 0.30 within two weeks and 0.28 within three, which no forecast can
mean. Each grid's curve over ``h = 1..H`` is replaced by its least-squares
non-decreasing fit (isotonic regression along the horizons: crossing neighbours are
pooled to their mean, a curve that already rises is unchanged), so no horizon is
favoured over another.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def monotone_in_horizon(p: np.ndarray) -> np.ndarray:
    """The least-squares non-decreasing fit of each row, shape (n_rows, n_horizons).

    Uses the min-max form of isotonic regression, ``x_i = max_{j <= i} min_{k >= i}
    mean(p_j .. p_k)``, vectorised over rows (horizons are few).
    """
    p = np.asarray(p, dtype=float)
    n, H = p.shape
    c = np.concatenate([np.zeros((n, 1)), np.cumsum(p, axis=1)], axis=1)
    out = np.empty_like(p)
    for i in range(H):
        best = np.full(n, -np.inf)
        for j in range(i + 1):
            low = np.full(n, np.inf)
            for k in range(i, H):
                low = np.minimum(low, (c[:, k + 1] - c[:, j]) / (k + 1 - j))
            best = np.maximum(best, low)
        out[:, i] = best
    return out


def reconcile_horizons(predictions: pd.DataFrame) -> pd.DataFrame:
    """Backtest predictions with every grid's scores non-decreasing over horizons.

    Rows of one ``model, grid_id, as_of`` that have every horizon are reconciled
    (a row whose later windows are not labelled yet has no curve to fix).
    ``expected_events`` keeps its ratio to the score (the hurdle's conditional mean,
    :mod:`riskwarn.models.counts`), so it stays at or above the score.
    """
    horizons = sorted(predictions["horizon"].unique())
    if len(horizons) < 2:
        return predictions
    keys = ["model", "grid_id", "as_of"]
    wide = predictions.pivot_table(
        index=keys, columns="horizon", values="score", observed=True, aggfunc="first"
    ).dropna()
    if wide.empty:
        return predictions
    fixed = pd.DataFrame(
        monotone_in_horizon(wide.to_numpy()), index=wide.index, columns=wide.columns
    )
    new = fixed.stack().rename("_new").reset_index()
    out = predictions.merge(new, on=[*keys, "horizon"], how="left", sort=False)
    changed = out["_new"].notna()
    old = out["score"].to_numpy()
    score = np.where(changed, out["_new"].to_numpy(), old)
    expected = out["expected_events"].to_numpy(dtype=float)
    ratio = np.divide(expected, old, out=np.full_like(expected, np.nan), where=old > 0)
    expected = np.where(
        changed & (old > 0), score * ratio, np.where(changed, np.fmax(expected, score), expected)
    )
    out["score"] = score
    out["expected_events"] = np.where(np.isnan(out["expected_events"]), np.nan, expected)
    return out.drop(columns="_new")
