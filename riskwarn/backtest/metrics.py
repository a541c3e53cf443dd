"""Early-warning metrics as pure functions on arrays of one evaluation snapshot.

Conventions (DESIGN.md, "Backtest and metrics"):

- ``y`` is the binary label, ``count`` the number of label events, ``score`` the
  ranking score (a probability for the calibration metrics), all shape (n_grids,).
- ``k`` is a *share* of grids; the top k are the ``max(1, round(k * n))`` highest
  scores. Ties are broken by position (earlier first), so results are deterministic.
- A metric that is undefined on the rows given (no positives, no events) is NaN,
  never 0: an undefined precision is not a bad one.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

EPS = 1e-15


def _arr(x: ArrayLike, dtype=float) -> np.ndarray:
    a = np.asarray(x, dtype=dtype)
    if a.ndim != 1:
        raise ValueError(f"expected a 1-d array, got shape {a.shape}")
    return a


def _check(*arrays: np.ndarray) -> None:
    n = {len(a) for a in arrays}
    if len(n) != 1:
        raise ValueError(f"arrays have different lengths: {sorted(n)}")


def ranking(score: ArrayLike) -> np.ndarray:
    """Positions sorted by descending score; ties keep their original order."""
    s = _arr(score)
    return np.lexsort((np.arange(len(s)), -s))


def top_k_size(n: int, k: float) -> int:
    """How many grids the top ``k`` share of ``n`` grids is (at least one)."""
    if not 0 < k <= 1:
        raise ValueError(f"k is a share of grids in (0, 1], got {k}")
    return max(1, int(round(k * n)))


def top_k_mask(score: ArrayLike, k: float) -> np.ndarray:
    """Boolean mask, shape (n,), of the grids in the top ``k`` share."""
    order = ranking(score)
    mask = np.zeros(len(order), dtype=bool)
    mask[order[: top_k_size(len(order), k)]] = True
    return mask


def average_precision(y: ArrayLike, score: ArrayLike) -> float:
    """Mean of the precision at each positive, over distinct score thresholds.

    Tied scores enter together (as scikit-learn does), so the order of tied grids
    does not change the result.
    """
    y, s = _arr(y), _arr(score)
    _check(y, s)
    n_pos = y.sum()
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-s, kind="stable")
    y_sorted, s_sorted = y[order], s[order]
    last_of_tie = np.r_[s_sorted[1:] != s_sorted[:-1], True]
    tp = np.cumsum(y_sorted)[last_of_tie]
    seen = np.arange(1, len(y) + 1)[last_of_tie]
    precision = tp / seen
    recall_gain = np.diff(np.r_[0.0, tp]) / n_pos
    return float((precision * recall_gain).sum())


def roc_auc(y: ArrayLike, score: ArrayLike) -> float:
    """Probability that a random positive outranks a random negative (ties count half)."""
    y, s = _arr(y), _arr(score)
    _check(y, s)
    n_pos, n_neg = y.sum(), len(y) - y.sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    # Mid-ranks handle ties: the Mann-Whitney U statistic.
    order = np.argsort(s, kind="stable")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    starts = np.r_[0, np.flatnonzero(sorted_s[1:] != sorted_s[:-1]) + 1]
    ends = np.r_[starts[1:], len(s)]
    for a, b in zip(starts, ends, strict=True):
        ranks[order[a:b]] = (a + b + 1) / 2
    u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def brier(y: ArrayLike, p: ArrayLike) -> float:
    """Mean squared error of the probabilities."""
    y, p = _arr(y), _arr(p)
    _check(y, p)
    return float(np.mean((p - y) ** 2)) if len(y) else float("nan")


def log_loss(y: ArrayLike, p: ArrayLike) -> float:
    """Mean negative log-likelihood; probabilities are kept inside [1e-15, 1 - 1e-15]."""
    y, p = _arr(y), np.clip(_arr(p), EPS, 1 - EPS)
    _check(y, p)
    if not len(y):
        return float("nan")
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def expected_calibration_error(y: ArrayLike, p: ArrayLike, n_bins: int = 10) -> float:
    """ECE over ``n_bins`` equal-mass bins of the sorted probabilities.

    Sum over bins of (bin share of rows) × |mean label − mean probability|.
    """
    y, p = _arr(y), _arr(p)
    _check(y, p)
    if not len(y):
        return float("nan")
    order = np.argsort(p, kind="stable")
    total = 0.0
    for idx in np.array_split(order, min(n_bins, len(y))):
        total += len(idx) / len(y) * abs(y[idx].mean() - p[idx].mean())
    return float(total)


def precision_at_k(y: ArrayLike, score: ArrayLike, k: float) -> float:
    """Positives in the top k / size of the top k."""
    y = _arr(y)
    mask = top_k_mask(score, k)
    _check(y, mask)
    return float(y[mask].sum() / mask.sum())


def recall_at_k(y: ArrayLike, score: ArrayLike, k: float) -> float:
    """Positives in the top k / all positives (NaN without positives)."""
    y = _arr(y)
    mask = top_k_mask(score, k)
    _check(y, mask)
    return float(y[mask].sum() / y.sum()) if y.sum() else float("nan")


def missed_escalation_rate(y: ArrayLike, score: ArrayLike, k: float) -> float:
    """Share of positives outside the top k: 1 - recall@k."""
    return 1.0 - recall_at_k(y, score, k)


def pai_at_k(count: ArrayLike, score: ArrayLike, k: float, area: ArrayLike | None = None) -> float:
    """Predictive accuracy index: (events in top k / all events) / (area of top k / all area).

    Without areas every grid counts as one unit of area.
    """
    c = _arr(count)
    a = np.ones(len(c)) if area is None else _arr(area)
    mask = top_k_mask(score, k)
    _check(c, a, mask)
    if c.sum() == 0:
        return float("nan")
    return float((c[mask].sum() / c.sum()) / (a[mask].sum() / a.sum()))


def pei_star_at_k(count: ArrayLike, score: ArrayLike, k: float) -> float:
    """Events in the top k / events in the best possible k grids (PEI*)."""
    c = _arr(count)
    mask = top_k_mask(score, k)
    _check(c, mask)
    best = np.sort(c)[::-1][: mask.sum()].sum()
    return float(c[mask].sum() / best) if best > 0 else float("nan")


def ndcg_at_k(count: ArrayLike, score: ArrayLike, k: float) -> float:
    """Normalised discounted cumulative gain of the top k with gain log1p(count)."""
    c = _arr(count)
    _check(c, _arr(score))
    n = top_k_size(len(c), k)
    discount = 1.0 / np.log2(np.arange(2, n + 2))
    gain = np.log1p(c)
    dcg = (gain[ranking(score)[:n]] * discount).sum()
    ideal = (np.sort(gain)[::-1][:n] * discount).sum()
    return float(dcg / ideal) if ideal > 0 else float("nan")


def brier_skill(y: ArrayLike, p: ArrayLike, p_reference: ArrayLike) -> float:
    """1 - Brier(p) / Brier(reference): above 0 means better than the reference."""
    ref = brier(y, p_reference)
    return float(1.0 - brier(y, p) / ref) if ref > 0 else float("nan")
