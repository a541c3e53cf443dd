"""The hurdle count: P(N >= 1) from the score, the shape from the count model's rate."""

from __future__ import annotations

import math

import numpy as np
import pytest

from riskwarn.models.counts import hurdle_expected, truncated_mean


def test_truncated_mean_by_hand():
    # lam = 1: 1 / (1 - e^-1) = 1.58198; lam = 2: 2 / (1 - e^-2) = 2.31304
    got = truncated_mean(np.array([0.0, 1e-9, 1.0, 2.0, np.nan]))
    assert got[0] == 1.0 and got[1] == pytest.approx(1.0, abs=1e-8)
    assert got[2] == pytest.approx(1 / (1 - math.exp(-1)), rel=1e-12)
    assert got[3] == pytest.approx(2.313035285, rel=1e-9)
    assert np.isnan(got[4])
    # either side of the switch to the series: the series 1 + lam/2 + lam^2/12
    for lam in (0.99e-6, 1.01e-6):
        assert truncated_mean(np.array([lam]))[0] == pytest.approx(
            1 + lam / 2 + lam**2 / 12, abs=1e-12
        )


def test_hurdle_expected_is_never_below_the_score_and_agrees_with_a_poisson():
    rng = np.random.default_rng(0)
    score, rate = rng.random(1000), rng.exponential(2.0, 1000)
    e = hurdle_expected(score, rate)
    assert (e >= score).all()
    # where the score is the Poisson's own P(N >= 1), the mean is the Poisson's
    lam = np.array([0.05, 0.7, 3.0, 12.0])
    np.testing.assert_allclose(hurdle_expected(-np.expm1(-lam), lam), lam, rtol=1e-12)
    # the demo's contradiction: 32.1 % and 0.22 expected becomes 0.321 * 1.11 = 0.357
    assert hurdle_expected(np.array([0.321]), np.array([0.22]))[0] == pytest.approx(
        0.321 * 0.22 / (1 - math.exp(-0.22))
    )
    assert np.isnan(hurdle_expected(np.array([0.5]), np.array([np.nan]))[0])


def test_monotone_in_horizon_caps_each_horizon_by_the_next_and_keeps_the_label_horizon():
    from riskwarn.models.horizons import monotone_in_horizon

    p = np.array(
        [
            [0.1, 0.2, 0.3, 0.4],  # rises: unchanged
            [0.3, 0.2, 0.4, 0.5],  # one crossing: h1 capped at h2's 0.2
            [0.6, 0.3, 0.3, 0.2],  # falls all the way: every horizon at h4's 0.2
            [0.2, 0.5, 0.1, 0.6],  # h2 capped at h3's 0.1, then h1 at 0.1
        ]
    )
    got = monotone_in_horizon(p)
    np.testing.assert_allclose(got[0], p[0])
    np.testing.assert_allclose(got[1], [0.2, 0.2, 0.4, 0.5])
    np.testing.assert_allclose(got[2], [0.2] * 4)
    np.testing.assert_allclose(got[3], [0.1, 0.1, 0.1, 0.6])
    assert (np.diff(got, axis=1) >= 0).all()
    np.testing.assert_array_equal(got[:, -1], p[:, -1])  # the ranking horizon is untouched
