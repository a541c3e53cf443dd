"""Central intervals of the count whose coverage is measured, per risk band.

A model's own quantiles (:func:`~riskwarn.models.counts.hurdle_quantile`) are only
as right as its distribution. :class:`BandIntervals` calibrates them out of
sample, by nested split conformal prediction, separately in each risk band
(Mondrian conformal: the bands are equal-count bins of the score on the
calibration rows), so that a list's riskiest grids get intervals as honest as its
quiet ones.

The intervals of one pair of levels ``(lo, hi)`` form a nested family indexed by
``t >= 0``: ``[Q(t * lo), Q(1 - t * (1 - hi))]`` (``t = 1`` is the model's own
central interval; smaller ``t`` is wider). A row with count ``y`` is covered
exactly when ``t <= r(y) = min(F(y) / lo, (1 - F(y - 1)) / (1 - hi))``, its
conformity level. With ``n`` calibration rows in a band and
``k = floor((lo + 1 - hi) * (n + 1))``, the ``k``-th smallest ``r`` is the largest
``t`` that leaves at most ``k`` calibration rows out, so a new exchangeable row
is covered with probability at least ``hi - lo`` (Vovk's split conformal bound).
A band with too few rows for that (``k = 0``) uses every band's rows pooled; with
none at all the model's own interval (``t = 1``) is kept and says so
(``calibrated_`` False).

Calibration only widens (``t <= 1``): a grid's interval always holds its own
distribution's central interval. Narrowing a band's intervals below that would
use the band's over-coverage by whole numbers to give its riskiest grid, at 40 %
to escalate, the interval "0 to 0", which its own forecast rules out.

Counts are whole numbers, so coverage is not exact: a grid with
``P(N = 0) = 0.97`` has the interval "0", which covers 97 % of such grids; the
backtest reports coverage beside the nominal level and by how much it exceeds it.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator

from riskwarn.config import ForecastConfig, check_quantiles, quantile_column
from riskwarn.errors import RiskwarnError
from riskwarn.models.counts import hurdle_cdf, hurdle_quantile

DEFAULT_QUANTILES = ForecastConfig().quantiles


def interval_pairs(quantiles) -> list[tuple[float, float]]:
    """The central intervals among the levels: each ``q < 0.5`` paired with ``1 - q``."""
    levels = check_quantiles(quantiles)
    present = {round(q, 9) for q in levels}
    return [(q, round(1 - q, 9)) for q in levels if q < 0.5 and round(1 - q, 9) in present]


def conformity_levels(count, score, rate, dispersion, lo: float, hi: float) -> np.ndarray:
    """``r(y)`` of each row, shape (n_rows,): the largest ``t`` whose interval covers it."""
    y = np.asarray(count, dtype=float)
    at = hurdle_cdf(y, score, rate, dispersion)
    below = hurdle_cdf(y - 1, score, rate, dispersion)
    return np.minimum(at / lo, (1.0 - below) / (1.0 - hi))


def conformal_level(r: np.ndarray, miss: float) -> float | None:
    """The ``k``-th smallest conformity level, ``k = floor(miss * (n + 1))``; None if ``k = 0``."""
    r = np.sort(np.asarray(r, dtype=float)[np.isfinite(r)])
    k = int(np.floor(miss * (len(r) + 1) + 1e-9))
    if k < 1:
        return None
    # just below the k-th value: r >= t must hold for it (the upper end is strict)
    return float(r[k - 1]) * (1.0 - 1e-9)


def scaled_interval(t, score, rate, dispersion, lo: float, hi: float):
    """``(lower, upper)``, each shape (n_rows,), of the interval at level ``t`` (per row)."""
    t = np.asarray(t, dtype=float)
    lower = hurdle_quantile(np.clip(t * lo, 0.0, 0.5), score, rate, dispersion)
    upper = hurdle_quantile(np.clip(1.0 - t * (1.0 - hi), 0.5, 1.0), score, rate, dispersion)
    return lower, upper


class BandIntervals(BaseEstimator):
    """Mondrian split-conformal calibration of central count intervals by risk band.

    Parameters
    ----------
    quantiles : tuple of float
        The levels of ``[forecast] quantiles``; each pair ``(q, 1 - q)`` is a central
        interval that is calibrated, other levels are the model's own quantiles.
    n_bands : int
        Equal-count bands of the calibration scores.

    Attributes
    ----------
    edges_ : ndarray, shape (n_edges,)
        Inner band edges on the score (``np.searchsorted`` assigns a band).
    levels_ : dict
        Per pair, keyed ``"lo-hi"``: the level ``t <= 1`` of each band (pooled where a
        band is too small).
    calibrated_ : bool
        False when there were no calibration rows (the model's own intervals).
    n_calibration_ : int
    """

    def __init__(self, quantiles: tuple[float, ...] = DEFAULT_QUANTILES, n_bands: int = 5) -> None:
        self.quantiles = quantiles
        self.n_bands = n_bands

    @staticmethod
    def _key(lo: float, hi: float) -> str:
        return f"{lo:g}-{hi:g}"

    def fit(self, score, count, rate, dispersion=0.0) -> BandIntervals:
        """Calibrate on out-of-sample rows, each shape (n_rows,) (``dispersion`` may be scalar).

        Rows whose count or rate is missing are left out.
        """
        pairs = interval_pairs(self.quantiles)
        if int(self.n_bands) < 1:
            raise RiskwarnError(f"n_bands must be >= 1, got {self.n_bands!r}.")
        s, y, mu, a = np.broadcast_arrays(
            *(np.asarray(v, dtype=float) for v in (score, count, rate, dispersion))
        )
        ok = np.isfinite(s) & np.isfinite(y) & np.isfinite(mu) & np.isfinite(a)
        s, y, mu, a = s[ok], y[ok], mu[ok], a[ok]
        self.n_calibration_ = int(len(s))
        self.calibrated_ = bool(len(s))
        inner = np.arange(1, int(self.n_bands)) / int(self.n_bands)
        self.edges_ = np.unique(np.quantile(s, inner)) if len(s) else np.zeros(0)
        band = np.searchsorted(self.edges_, s, side="right")
        self.levels_ = {}
        for lo, hi in pairs:
            r = conformity_levels(y, s, mu, a, lo, hi)
            miss = lo + 1.0 - hi
            pooled = conformal_level(r, miss)
            pooled = 1.0 if pooled is None else pooled
            levels = []
            for b in range(len(self.edges_) + 1):
                t = conformal_level(r[band == b], miss)
                levels.append(min(pooled if t is None else t, 1.0))
            self.levels_[self._key(lo, hi)] = np.asarray(levels)
        return self

    def band(self, score) -> np.ndarray:
        """The risk band of each score, shape (n_rows,), 0 = the lowest."""
        return np.searchsorted(self.edges_, np.asarray(score, dtype=float), side="right")

    def predict(self, score, rate, dispersion=0.0) -> dict[str, np.ndarray]:
        """The quantile columns (``events_q{NN}``), each shape (n_rows,)."""
        if not hasattr(self, "levels_"):
            raise RiskwarnError("BandIntervals is not fitted: call fit first.")
        score = np.asarray(score, dtype=float)
        band = self.band(score)
        calibrated = {}
        for lo, hi in interval_pairs(self.quantiles):
            t = self.levels_[self._key(lo, hi)][band]
            lower, upper = scaled_interval(t, score, rate, dispersion, lo, hi)
            calibrated[quantile_column(lo)], calibrated[quantile_column(hi)] = lower, upper
        # a level without its pair is the model's own quantile
        return {
            quantile_column(q): calibrated[quantile_column(q)]
            if quantile_column(q) in calibrated
            else hurdle_quantile(q, score, rate, dispersion)
            for q in check_quantiles(self.quantiles)
        }
