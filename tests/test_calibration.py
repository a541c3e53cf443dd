import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from riskwarn.errors import RiskwarnError
from riskwarn.models.calibration import fit_isotonic


def test_each_block_is_shrunk_towards_the_rate_by_hand():
    # plain fit: blocks {1, 2} -> 0 and {3, 4} -> 1; rate 0.5, one pseudo-row each
    iso = fit_isotonic(np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.0, 0.0, 1.0, 1.0]))
    np.testing.assert_allclose(iso.predict([1.0, 2.0, 3.0, 4.0]), [1 / 6, 1 / 6, 5 / 6, 5 / 6])


def test_an_all_positive_top_block_is_not_certain():
    rng = np.random.default_rng(0)
    score = rng.normal(size=5000)
    y = (rng.random(5000) < 1 / (1 + np.exp(-4 * score))).astype(float)
    score[-30:], y[-30:] = 10.0 + np.arange(30), 1.0  # 30 extreme rows, all escalated
    score[:30], y[:30] = -10.0 - np.arange(30), 0.0
    p = fit_isotonic(score, y).predict(score)
    assert p.max() < 1.0 and p.min() > 0.0
    plain = IsotonicRegression(out_of_bounds="clip").fit(score, y).predict(score)
    assert plain.max() == 1.0  # what the prior prevents
    assert np.all(np.diff(p[np.argsort(score)]) >= 0)  # still monotone
    # large blocks barely move
    middle = (plain > 0.2) & (plain < 0.8)
    assert np.max(np.abs(p[middle] - plain[middle])) < 0.02


def test_prior_zero_is_the_plain_fit_and_weights_count_as_rows():
    rng = np.random.default_rng(1)
    score = rng.integers(0, 20, 3000).astype(float)
    y = (rng.random(3000) < score / 25).astype(float)
    plain = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(score, y)
    ours = fit_isotonic(score, y, prior=0.0)
    np.testing.assert_allclose(ours.predict(np.arange(20.0)), plain.predict(np.arange(20.0)))
    doubled = fit_isotonic(np.r_[score, score], np.r_[y, y], prior=2.0)
    weighted = fit_isotonic(score, y, sample_weight=np.full(3000, 2.0), prior=2.0)
    np.testing.assert_allclose(weighted.predict(np.arange(20.0)), doubled.predict(np.arange(20.0)))


@pytest.mark.parametrize(
    "args",
    [
        (np.array([]), np.array([])),
        (np.array([1.0, 2.0]), np.array([1.0])),
        (np.array([1.0, 2.0]), np.array([0.0, 1.0]), np.array([1.0])),
        (np.array([1.0, 2.0]), np.array([0.0, 1.0]), np.array([0.0, 0.0])),
        (np.array([1.0, 2.0]), np.array([0.0, 1.0]), np.array([1.0, -1.0])),
        (np.array([1.0, 2.0]), np.array([0.0, 1.0]), np.array([1.0, np.nan])),
    ],
)
def test_bad_input_is_a_clear_error(args):
    with pytest.raises(RiskwarnError):
        fit_isotonic(*args)


def test_a_negative_prior_is_refused():
    with pytest.raises(RiskwarnError, match="prior"):
        fit_isotonic(np.array([1.0, 2.0]), np.array([0.0, 1.0]), prior=-1.0)
