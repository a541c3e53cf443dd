"""One count distribution from a calibrated probability and a count model's rate.

The score ``p = P(N >= 1)`` comes from the calibrated classifier (it ranks the
grids); the count model's Poisson rate ``lam`` gives the shape of the count once
there is one. Together they are a hurdle model: ``P(N = 0) = 1 - p`` and, given
``N >= 1``, ``N`` is zero-truncated Poisson with rate ``lam``. Its mean
``E[N] = p * lam / (1 - exp(-lam))`` is never below ``p`` (a count of at least one
happens with probability ``p``), which two separate models cannot promise. Where the
count model agrees with the score (``p = 1 - exp(-lam)``, as in the Hawkes models)
``E[N] = lam``, unchanged.
"""

from __future__ import annotations

import numpy as np


def truncated_mean(rate: np.ndarray) -> np.ndarray:
    """Mean of a zero-truncated Poisson, ``lam / (1 - exp(-lam))``, shape of ``rate``.

    1 at ``lam = 0`` (the limit), NaN where ``rate`` is NaN; always >= 1.
    """
    lam = np.asarray(rate, dtype=float)
    out = np.full(lam.shape, np.nan)
    ok = np.isfinite(lam)
    small = ok & (lam < 1e-6)
    big = ok & ~small
    out[small] = 1.0 + np.maximum(lam[small], 0.0) / 2.0  # series: 1 + lam/2 + ...
    out[big] = lam[big] / -np.expm1(-lam[big])
    return out


def hurdle_expected(score: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """``E[N]`` of the hurdle model, shape (n_rows,); NaN where ``rate`` is NaN.

    Parameters
    ----------
    score : array, shape (n_rows,)
        ``P(N >= 1)``, in [0, 1].
    rate : array, shape (n_rows,)
        The count model's Poisson rate (its expected count), >= 0.
    """
    return np.asarray(score, dtype=float) * truncated_mean(rate)
