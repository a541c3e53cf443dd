"""Isotonic calibration that never claims certainty.

A plain isotonic fit gives each pooled block of scores the share of escalations in
it. The most extreme block is often small and, at long horizons, all positive, so
the fit says 1.0: certain escalation, which no early-warning score can promise (and
0.0 at the other end makes the log loss infinite). Each block's share is therefore
shrunk towards the overall rate with the weight of ``prior`` rows, a Beta prior:
``(escalations + prior * rate) / (rows + prior)``. Large blocks barely move; a block
of 30 escalated rows out of 30 becomes about 0.97 instead of 1. The shrunk shares
are pooled once more, so the map stays monotone.
"""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression

from riskwarn.errors import RiskwarnError


def _isotonic(x: np.ndarray, y: np.ndarray, weight: np.ndarray) -> IsotonicRegression:
    return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(
        x, y, sample_weight=weight
    )


def fit_isotonic(
    score: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None, prior: float = 1.0
) -> IsotonicRegression:
    """A monotone map from score to probability, each block shrunk towards the rate.

    Parameters
    ----------
    score : ndarray, shape (n_rows,)
    y : ndarray, shape (n_rows,)
        Labels in [0, 1] (a mean label per row is fine with ``sample_weight``).
    sample_weight : ndarray, shape (n_rows,) or None
        Rows each entry stands for.
    prior : float
        Pseudo-rows at the overall rate added to every block; 0 is the plain fit.

    Returns
    -------
    sklearn.isotonic.IsotonicRegression
        Fitted; ``predict`` gives probabilities strictly between 0 and 1 when
        ``prior > 0`` and the data hold both classes.
    """
    score = np.asarray(score, dtype=float)
    y = np.asarray(y, dtype=float)
    weight = np.ones_like(y) if sample_weight is None else np.asarray(sample_weight, float)
    if not (len(score) == len(y) == len(weight)) or len(y) == 0:
        raise RiskwarnError("calibration needs scores, labels and weights of the same length.")
    if not np.all(np.isfinite(weight)) or np.any(weight < 0) or weight.sum() <= 0:
        raise RiskwarnError("calibration weights must be finite, >= 0 and not all 0.")
    if prior < 0:
        raise RiskwarnError(f"the calibration prior must be >= 0, got {prior!r}.")
    # Tied scores pool in an isotonic fit anyway: one point per distinct score.
    distinct, inverse = np.unique(score, return_inverse=True)
    rows = np.bincount(inverse, weights=weight, minlength=len(distinct))
    events = np.bincount(inverse, weights=weight * y, minlength=len(distinct))
    mean = events / np.maximum(rows, np.finfo(float).tiny)
    plain = _isotonic(distinct, mean, rows)
    if prior == 0:
        return plain
    # Blocks are runs of equal fitted values (monotone, so equal values are adjacent).
    fitted = plain.predict(distinct)
    _, block = np.unique(fitted, return_inverse=True)
    block_rows = np.bincount(block, weights=rows)
    block_events = np.bincount(block, weights=events)
    rate = events.sum() / rows.sum()
    shrunk = (block_events + prior * rate) / (block_rows + prior)
    return _isotonic(distinct, shrunk[block], rows)
