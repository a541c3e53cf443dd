"""One count distribution per grid: a calibrated hurdle on a zero-truncated negative binomial.

The score ``p = P(N >= 1)`` comes from the calibrated classifier (it ranks the
grids); the count model's rate ``mu`` and a dispersion ``alpha`` give the shape of
the count once there is one. Together they are a hurdle model:

- ``P(N = 0) = 1 - p``;
- given ``N >= 1``, ``N`` is zero-truncated negative binomial with mean parameter
  ``mu`` and variance ``mu + alpha * mu**2`` (``alpha = 0`` is the Poisson), so a
  grid with one escalation may well have several: escalations come in clusters.

Its mean ``E[N] = p * mu / (1 - P0)``, with ``P0 = (1 + alpha * mu) ** (-1 / alpha)``
the untruncated chance of zero, is never below ``p`` (a count of at least one
happens with probability ``p``), which two separate models cannot promise. Where
the count model agrees with the score (``p = 1 - P0``, as in the Hawkes models),
``E[N] = mu``, unchanged. Quantiles and the CDF come from the same three numbers,
so the score, the expected events and the interval never contradict each other.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, stats

# Below this the negative binomial is the Poisson to machine precision.
_POISSON = 1e-8
# Rates below this: the truncated distribution is a point mass at 1.
_TINY = 1e-8


def _broadcast(*arrays):
    return np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in arrays))


def untruncated_zero(rate, dispersion=0.0) -> np.ndarray:
    """``P0``, the chance of no event under the untruncated count, shape of ``rate``."""
    mu, alpha = _broadcast(rate, dispersion)
    nb = alpha > _POISSON
    safe = np.where(nb, alpha, 1.0)
    return np.where(nb, np.exp(-np.log1p(safe * mu) / safe), np.exp(-mu))


def _positive_mass(mu: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``1 - P0`` without cancellation for small rates."""
    nb = alpha > _POISSON
    safe = np.where(nb, alpha, 1.0)
    return np.where(nb, -np.expm1(-np.log1p(safe * mu) / safe), -np.expm1(-mu))


def truncated_mean(rate, dispersion=0.0) -> np.ndarray:
    """Mean of the zero-truncated count, ``mu / (1 - P0)``, shape of ``rate``.

    1 at ``mu = 0`` (the limit), NaN where ``rate`` is NaN; always >= 1.
    """
    mu, alpha = _broadcast(rate, dispersion)
    out = np.full(mu.shape, np.nan)
    ok = np.isfinite(mu)
    small = ok & (mu < 1e-6)
    big = ok & ~small
    # series: 1 + (1 + alpha) * mu / 2 + ...
    out[small] = 1.0 + (1.0 + alpha[small]) * np.maximum(mu[small], 0.0) / 2.0
    out[big] = mu[big] / _positive_mass(mu[big], alpha[big])
    return out


def hurdle_expected(score, rate, dispersion=0.0) -> np.ndarray:
    """``E[N]`` of the hurdle model, shape (n_rows,); NaN where ``rate`` is NaN.

    Parameters
    ----------
    score : array, shape (n_rows,)
        ``P(N >= 1)``, in [0, 1].
    rate : array, shape (n_rows,)
        The count model's rate ``mu`` (its expected count), >= 0.
    dispersion : float or array, shape (n_rows,)
        ``alpha`` >= 0 (0: Poisson).
    """
    return np.asarray(score, dtype=float) * truncated_mean(rate, dispersion)


def _untruncated_cdf(y: np.ndarray, mu: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    nb = alpha > _POISSON
    size = 1.0 / np.where(nb, alpha, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_nb = size / (size + mu)
        return np.where(nb, stats.nbinom.cdf(y, size, p_nb), stats.poisson.cdf(y, mu))


def hurdle_cdf(y, score, rate, dispersion=0.0) -> np.ndarray:
    """``F(y) = P(N <= y)`` of the hurdle model.

    Parameters
    ----------
    y : array, shape (n_rows,) or (n_rows, n_values)
        Counts (integers; negative ones give 0).
    score, rate, dispersion : array, shape (n_rows,) (or scalars)

    Returns
    -------
    ndarray, the shape of ``y``; NaN where ``rate`` is NaN.
    """
    y = np.asarray(y, dtype=float)
    columns = [np.asarray(a, dtype=float) for a in (score, rate, dispersion)]
    if y.ndim == 2:
        columns = [a[:, None] if a.ndim == 1 else a for a in columns]
    y, p, mu, alpha = _broadcast(y, *columns)
    p0 = untruncated_zero(mu, alpha)
    mass = _positive_mass(mu, alpha)
    tiny = mass < _TINY
    with np.errstate(divide="ignore", invalid="ignore"):
        truncated = (_untruncated_cdf(y, mu, alpha) - p0) / np.where(tiny, 1.0, mass)
    truncated = np.where(tiny, 1.0, np.clip(truncated, 0.0, 1.0))  # tiny: all mass at 1
    out = np.where(y < 0, 0.0, np.where(y < 1, 1.0 - p, 1.0 - p + p * truncated))
    return np.where(np.isnan(mu) | np.isnan(p), np.nan, out)


def hurdle_quantile(q, score, rate, dispersion=0.0) -> np.ndarray:
    """The ``q``-quantile ``min{y : F(y) >= q}`` of the hurdle model, shape (n_rows,).

    ``q`` is a level in [0, 1] or one per row. 0 where ``q <= 1 - p``; otherwise
    the truncated count's quantile at ``(q - (1 - p)) / p``. NaN where ``rate`` is NaN.
    """
    level, p, mu, alpha = _broadcast(q, score, rate, dispersion)
    if ((level < 0) | (level > 1)).any():
        raise ValueError("a quantile level is in [0, 1]")
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p) & np.isfinite(mu)
    zero = ok & (level <= 1.0 - p)
    out[zero] = 0.0
    rest = ok & ~zero
    if rest.any():
        pr, m, a = p[rest], np.maximum(mu[rest], 0.0), alpha[rest]
        t = np.clip((level[rest] - (1.0 - pr)) / pr, 0.0, 1.0)
        p0 = untruncated_zero(m, a)
        # F_untruncated(y) >= P0 + t (1 - P0); a level of 1 has no finite quantile
        s = np.minimum(p0 + t * _positive_mass(m, a), 1.0 - 1e-12)
        nb = a > _POISSON
        size = 1.0 / np.where(nb, a, 1.0)
        y = np.where(
            nb,
            stats.nbinom.ppf(s, size, size / (size + m)),
            stats.poisson.ppf(s, np.maximum(m, 1e-300)),
        )
        out[rest] = np.maximum(np.nan_to_num(y, nan=1.0), 1.0)
    return out


def fit_dispersion(count, rate, max_rows: int = 50_000, seed: int = 0) -> float:
    """Maximum-likelihood ``alpha`` of the zero-truncated negative binomial.

    Fitted on the rows with at least one event (what the truncated part models),
    given each row's rate. 0 (the Poisson) when there are fewer than 10 such rows or
    the Poisson is as likely; at most ``e**3``.

    Parameters
    ----------
    count : array, shape (n_rows,)
        Observed events per row (NaN rows are ignored).
    rate : array, shape (n_rows,)
        The count model's rate for each row.
    max_rows : int
        Above this many positive rows, a seeded random subset is used.
    """
    y, mu = _broadcast(count, rate)
    keep = np.isfinite(y) & np.isfinite(mu) & (y >= 1)
    y, mu = y[keep], np.maximum(mu[keep], 1e-9)
    if len(y) < 10:
        return 0.0
    if len(y) > max_rows:
        pick = np.random.default_rng(seed).choice(len(y), max_rows, replace=False)
        y, mu = y[pick], mu[pick]

    def loss(log_alpha: float) -> float:
        alpha = np.exp(log_alpha)
        size = 1.0 / alpha
        ll = stats.nbinom.logpmf(y, size, size / (size + mu)) - np.log(
            _positive_mass(mu, np.full_like(mu, alpha))
        )
        return -float(np.sum(ll))

    poisson = -float(np.sum(stats.poisson.logpmf(y, mu) - np.log(-np.expm1(-mu))))
    best = optimize.minimize_scalar(loss, bounds=(-8.0, 3.0), method="bounded")
    if not best.success or best.fun >= poisson - 1e-9:
        return 0.0
    return float(np.exp(best.x))


def hurdle_cdf_table(score, rate, dispersion, top: int) -> np.ndarray:
    """``F(0), F(1), …, F(top)`` of each row, shape (n_rows, top + 1).

    The same distribution as :func:`hurdle_cdf`, from log-probabilities in closed
    form (log-gamma), which is many times faster than a CDF call per cell when
    whole backtests are scored.
    """
    from scipy.special import gammaln

    p, mu, alpha = (a[:, None] for a in _broadcast(score, rate, dispersion))
    mu = np.maximum(mu, 1e-300)
    k = np.arange(int(top) + 1, dtype=float)[None, :]
    nb = alpha > _POISSON
    r = 1.0 / np.where(nb, alpha, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_nb = (
            gammaln(k + r)
            - gammaln(r)
            - gammaln(k + 1)
            - r * np.log1p(mu / r)
            + k * np.log(mu / (r + mu))
        )
        log_poisson = -mu + k * np.log(mu) - gammaln(k + 1)
    pmf = np.exp(np.where(nb, log_nb, log_poisson))
    untruncated = np.minimum(np.cumsum(pmf, axis=1), 1.0)
    p0 = pmf[:, :1]
    mass = _positive_mass(mu, alpha)
    tiny = mass < _TINY
    truncated = np.where(
        tiny, 1.0, np.clip((untruncated - p0) / np.where(tiny, 1.0, mass), 0.0, 1.0)
    )
    out = np.where(k < 1, 1.0 - p, 1.0 - p + p * truncated)
    return np.where(np.isnan(mu) | np.isnan(p), np.nan, out)
