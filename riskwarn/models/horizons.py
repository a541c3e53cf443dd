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

from dataclasses import dataclass

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


@dataclass(frozen=True)
class HorizonCurves:
    """Each ``model, grid_id, as_of``'s scores by horizon, as arrays.

    Attributes
    ----------
    scores : ndarray, shape (n_curves, n_horizons)
        NaN where a curve lacks a horizon (its later windows are not labelled yet).
    model : Categorical, shape (n_curves,)
        Each curve's model.
    row_curve, row_column : ndarray, shape (n_rows,)
        Each prediction row's curve and horizon column.
    """

    scores: np.ndarray
    model: pd.Categorical
    row_curve: np.ndarray
    row_column: np.ndarray

    @property
    def complete(self) -> np.ndarray:
        """The curves with every horizon, shape (n_curves,)."""
        return ~np.isnan(self.scores).any(axis=1)


def horizon_curves(predictions: pd.DataFrame) -> HorizonCurves:
    """Each ``model, grid_id, as_of``'s scores by horizon.

    Built from integer codes, not a pivot table: a city's backtest has tens of
    millions of rows. A key that occurs twice at one horizon keeps its first row.
    """
    # key = (model * n_grids + grid) * n_dates + date, built one column at a time
    key = np.zeros(len(predictions), dtype=np.int64)
    n_keys = 1.0
    for column in ("model", "grid_id", "as_of"):
        code, uniques = pd.factorize(predictions[column], sort=False)
        size = max(len(uniques), 1)
        key *= size
        key += code
        n_keys *= size
        if column == "model":
            models = [str(name) for name in uniques]
            model_of_row = code.astype(np.int16 if size < 2**15 else np.int64)
        del code
    if n_keys <= 2 * len(key):
        # dense already (every model scores every grid at every date, or nearly):
        # the key is the curve's position, and a missing curve is one of NaNs
        row_curve = key
    else:
        row_curve, _ = pd.factorize(key, sort=False)
        del key
    row_column, horizons = pd.factorize(predictions["horizon"], sort=True)
    n_curves = int(row_curve.max()) + 1 if len(row_curve) else 0
    scores = np.full((n_curves, len(horizons)), np.nan)
    # reversed, so that the first of two rows with one key and horizon is kept
    scores[row_curve[::-1], row_column[::-1]] = predictions["score"].to_numpy(dtype=float)[::-1]
    model_code = np.zeros(n_curves, dtype=np.int64)
    model_code[row_curve] = model_of_row
    model = pd.Categorical.from_codes(model_code, categories=models)
    return HorizonCurves(scores, model, row_curve, row_column)


def reconcile_horizons(predictions: pd.DataFrame) -> pd.DataFrame:
    """Backtest predictions with every grid's scores non-decreasing over horizons.

    Rows of one ``model, grid_id, as_of`` that have every horizon are reconciled
    (a row whose later windows are not labelled yet has no curve to fix). Only the
    score changes: the expected events and quantiles follow from it and the count
    shape (:mod:`riskwarn.models.counts`). Returns ``predictions`` itself, its
    ``score`` column replaced.
    """
    if predictions["horizon"].nunique() < 2:
        return predictions
    curves = horizon_curves(predictions)
    fixed = curves.scores.copy()
    complete = curves.complete
    fixed[complete] = monotone_in_horizon(fixed[complete])
    new = fixed[curves.row_curve, curves.row_column]
    reconciled = complete[curves.row_curve]
    predictions["score"] = np.where(reconciled, new, predictions["score"].to_numpy(dtype=float))
    return predictions
