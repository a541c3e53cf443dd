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
from scipy.stats import rankdata

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


def mean_defined(values: ArrayLike) -> float:
    """Mean of the defined (finite) values; NaN, without a warning, when none is.

    Top-k metrics are undefined on a date without escalations: such dates are
    skipped in a mean rather than counted as zero.
    """
    v = _arr(values)
    return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")


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
    ranks = rankdata(s, method="average")
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


TOP_K_NAMES = ("precision", "recall", "missed", "pai", "pei_star", "ndcg")


def top_k_metrics(
    y: ArrayLike,
    count: ArrayLike,
    score: ArrayLike,
    k_values,
    area: ArrayLike | None = None,
) -> dict[float, dict[str, float]]:
    """Every top-k metric of one snapshot for each k, from a single ranking.

    Parameters
    ----------
    y, count, score : array-like, shape (n_grids,)
    k_values : iterable of float
        Shares of grids.
    area : array-like, shape (n_grids,), optional
        Grid areas for PAI; every grid is one unit without them.

    Returns
    -------
    dict
        ``{k: {"precision", "recall", "missed", "pai", "pei_star", "ndcg"}}``, each as
        the function of the same name gives it.
    """
    y, c, s = _arr(y), _arr(count), _arr(score)
    a = np.ones(len(c)) if area is None else _arr(area)
    _check(y, c, s, a)
    order = ranking(s)
    n_pos, n_events, total_area = y.sum(), c.sum(), a.sum()
    best_counts = np.sort(c)[::-1]
    gain = np.log1p(c)
    best_gain = np.sort(gain)[::-1]
    out = {}
    for k in k_values:
        n = top_k_size(len(s), k)
        top = order[:n]
        hits, events = y[top].sum(), c[top].sum()
        recall = hits / n_pos if n_pos else float("nan")
        discount = 1.0 / np.log2(np.arange(2, n + 2))
        best, ideal = best_counts[:n].sum(), (best_gain[:n] * discount).sum()
        out[k] = {
            "precision": float(hits / n),
            "recall": float(recall),
            "missed": float(1.0 - recall),
            "pai": float((events / n_events) / (a[top].sum() / total_area))
            if n_events
            else float("nan"),
            "pei_star": float(events / best) if best > 0 else float("nan"),
            "ndcg": float((gain[top] * discount).sum() / ideal) if ideal > 0 else float("nan"),
        }
    return out


def _one(metric: str, y, count, score, k, area=None) -> float:
    return top_k_metrics(y, count, score, (k,), area)[k][metric]


def precision_at_k(y: ArrayLike, score: ArrayLike, k: float) -> float:
    """Positives in the top k / size of the top k."""
    return _one("precision", y, y, score, k)


def recall_at_k(y: ArrayLike, score: ArrayLike, k: float) -> float:
    """Positives in the top k / all positives (NaN without positives)."""
    return _one("recall", y, y, score, k)


def missed_escalation_rate(y: ArrayLike, score: ArrayLike, k: float) -> float:
    """Share of positives outside the top k: 1 - recall@k."""
    return _one("missed", y, y, score, k)


def pai_at_k(count: ArrayLike, score: ArrayLike, k: float, area: ArrayLike | None = None) -> float:
    """Predictive accuracy index: (events in top k / all events) / (area of top k / all area).

    Without areas every grid counts as one unit of area.
    """
    return _one("pai", count, count, score, k, area)


def pei_star_at_k(count: ArrayLike, score: ArrayLike, k: float) -> float:
    """Events in the top k / events in the best possible k grids (PEI*)."""
    return _one("pei_star", count, count, score, k)


def ndcg_at_k(count: ArrayLike, score: ArrayLike, k: float) -> float:
    """Normalised discounted cumulative gain of the top k with gain log1p(count)."""
    return _one("ndcg", count, count, score, k)


def brier_skill(y: ArrayLike, p: ArrayLike, p_reference: ArrayLike) -> float:
    """1 - Brier(p) / Brier(reference): above 0 means better than the reference."""
    ref = brier(y, p_reference)
    return float(1.0 - brier(y, p) / ref) if ref > 0 else float("nan")


# -- count forecasts -----------------------------------------------------------------
# A count forecast is given by its CDF on 0..K, ``cdf`` of shape (n, K + 1) with
# ``cdf[i, j] = P(N_i <= j)``; K is chosen by the caller so that every row's CDF has
# reached 1 (to the precision wanted) and K >= every observed count.


def crps_counts(cdf: ArrayLike, count: ArrayLike) -> np.ndarray:
    """CRPS of each row's count forecast, shape (n,): ``sum_j (F(j) - 1{y <= j})**2``.

    For a count the CRPS is the ranked probability score over 0, 1, 2, …; a point
    forecast's CRPS is its absolute error. Lower is better.
    """
    F = np.asarray(cdf, dtype=float)
    y = _arr(count)
    if F.ndim != 2 or len(F) != len(y):
        raise ValueError(f"cdf must have shape (n, K + 1) with n = {len(y)}, got {F.shape}")
    if len(y) and y.max() > F.shape[1] - 1:
        raise ValueError("the CDF must reach every observed count (K >= max(count))")
    step = (np.arange(F.shape[1])[None, :] >= y[:, None]).astype(float)
    return ((F - step) ** 2).sum(axis=1)


def interval_coverage(lower: ArrayLike, upper: ArrayLike, count: ArrayLike) -> float:
    """Share of rows with ``lower <= count <= upper`` (NaN without rows)."""
    lo, hi, y = _arr(lower), _arr(upper), _arr(count)
    _check(lo, hi, y)
    return float(np.mean((lo <= y) & (y <= hi))) if len(y) else float("nan")


def interval_score(lower: ArrayLike, upper: ArrayLike, count: ArrayLike, miss: float) -> float:
    """Mean interval score of central ``(1 - miss)`` intervals (Gneiting and Raftery 2007).

    ``(u - l) + (2 / miss) * (l - y) * [y < l] + (2 / miss) * (y - u) * [y > u]``:
    width plus a penalty for each miss, by how far it missed. Lower is better.
    """
    if not 0 < miss < 1:
        raise ValueError(f"miss is the share outside the interval, in (0, 1), got {miss}")
    lo, hi, y = _arr(lower), _arr(upper), _arr(count)
    _check(lo, hi, y)
    if not len(y):
        return float("nan")
    score = (hi - lo) + 2 / miss * (lo - y) * (y < lo) + 2 / miss * (y - hi) * (y > hi)
    return float(score.mean())


def pit_mass(below: ArrayLike, at: ArrayLike, low: float, high: float) -> np.ndarray:
    """Chance that each row's randomised PIT lies in ``[low, high]``, shape (n,).

    For a count the randomised PIT is uniform on ``[F(y - 1), F(y)]`` (Czado,
    Gneiting and Held 2009); ``below`` is ``F(y - 1)``, ``at`` is ``F(y)``. The mean
    over rows is what a randomised PIT histogram shows in expectation, without the
    noise of the draw.
    """
    b, a = _arr(below), _arr(at)
    _check(b, a)
    overlap = np.clip(np.minimum(a, high) - np.maximum(b, low), 0.0, None)
    width = a - b
    # a point mass (F(y - 1) = F(y)): the PIT is that point, counted in [low, high)
    # (and in the last bin when it is 1)
    point = ((b >= low) & ((b < high) | ((high >= 1) & (b <= high)))).astype(float)
    return np.where(width > 0, overlap / np.where(width > 0, width, 1.0), point)


def pit_histogram(below: ArrayLike, at: ArrayLike, n_bins: int = 10) -> np.ndarray:
    """Share of the randomised PIT in each of ``n_bins`` equal bins of [0, 1], shape (n_bins,).

    Flat at ``1 / n_bins`` for a calibrated forecast; a U shape means too narrow,
    a hump too wide, a slope a biased level.
    """
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    b, a = _arr(below), _arr(at)
    if not len(b):
        return np.full(n_bins, np.nan)
    masses = [pit_mass(b, a, edges[i], edges[i + 1]) for i in range(n_bins)]
    return np.array([m.mean() for m in masses])


def skill(value: float, reference: float) -> float:
    """``1 - value / reference`` for a lower-is-better score: above 0 beats the reference."""
    if not np.isfinite(reference) or reference <= 0 or not np.isfinite(value):
        return float("nan")
    return float(1.0 - value / reference)
