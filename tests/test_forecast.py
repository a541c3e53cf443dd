"""One count distribution per grid: its CDF and quantiles, the metrics of count
forecasts, the conformal intervals by risk band, and the risk curve."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from riskwarn.backtest import metrics as m
from riskwarn.backtest.forecast import _cdf_parts, forecast_metrics, monotone_share
from riskwarn.backtest.intervals import rolling_intervals
from riskwarn.backtest.split import Fold
from riskwarn.config import ConfigError, ForecastConfig, check_quantiles, quantile_column
from riskwarn.models.counts import (
    fit_dispersion,
    hurdle_cdf,
    hurdle_cdf_table,
    hurdle_expected,
    hurdle_quantile,
    truncated_mean,
)
from riskwarn.models.horizons import reconcile_horizons
from riskwarn.models.intervals import (
    BandIntervals,
    conformal_level,
    conformity_levels,
    interval_pairs,
    scaled_interval,
)

# -- the distribution ------------------------------------------------------------------


def test_hurdle_cdf_and_quantiles_by_hand():
    # Poisson shape, mu = 1: P(1 | N >= 1) = e^-1 / (1 - e^-1) = 0.581977
    F = hurdle_cdf(np.array([[0, 1]]), np.array([0.3]), np.array([1.0]))
    np.testing.assert_allclose(F[0], [0.7, 0.7 + 0.3 * 0.5819767068693265], rtol=1e-12)
    # alpha = 1, mu = 1 is geometric: P0 = 1/2, P(1) = 1/4, P(2) = 1/8; truncated 1/2, 1/4
    p, mu, a = np.array([0.4]), np.array([1.0]), np.array([1.0])
    F = hurdle_cdf(np.array([[-1, 0, 1, 2, 3]]), p, mu, a)[0]
    np.testing.assert_allclose(F, [0.0, 0.6, 0.8, 0.9, 0.95], rtol=1e-12)
    assert hurdle_expected(p, mu, a)[0] == pytest.approx(0.4 * 2.0)  # truncated mean 2
    assert truncated_mean(mu, a)[0] == pytest.approx(2.0)
    got = [hurdle_quantile(q, p, mu, a)[0] for q in (0.1, 0.6, 0.7, 0.85, 0.94)]
    assert got == [0, 0, 1, 2, 3]
    assert np.isnan(hurdle_quantile(0.5, p, np.array([np.nan]))[0])
    with pytest.raises(ValueError):
        hurdle_quantile(1.5, p, mu)


def test_quantiles_cdf_table_and_mean_agree_on_random_rows():
    rng = np.random.default_rng(4)
    n = 400
    p, mu = rng.random(n), rng.gamma(1.5, 1.5, n)
    alpha = np.where(rng.random(n) < 0.5, 0.0, rng.gamma(1.0, 0.8, n))
    table = hurdle_cdf_table(p, mu, alpha, 300)
    np.testing.assert_allclose(
        table, hurdle_cdf(np.tile(np.arange(301), (n, 1)), p, mu, alpha), atol=1e-12
    )
    # E[N] = sum over y of P(N > y); never below P(N >= 1)
    mean = (1 - table).sum(axis=1)
    np.testing.assert_allclose(mean, hurdle_expected(p, mu, alpha), rtol=1e-6)
    assert (hurdle_expected(p, mu, alpha) >= p - 1e-12).all()
    for q in (0.05, 0.3, 0.8, 0.97):
        y = hurdle_quantile(q, p, mu, alpha).astype(int)
        rows = np.arange(n)
        assert (table[rows, y] >= q - 1e-12).all()  # F(Q(q)) >= q
        below = np.where(y > 0, table[rows, np.maximum(y - 1, 0)], 0.0)
        assert (below < q).all()  # and Q(q) is the smallest such count


def test_fit_dispersion_recovers_the_tail_and_says_poisson_for_poisson_counts():
    rng = np.random.default_rng(0)
    mu = rng.gamma(2.0, 1.0, 20_000)
    heavy = rng.poisson(rng.gamma(1 / 0.7, 0.7 * mu))  # negative binomial, alpha 0.7
    assert fit_dispersion(heavy, mu) == pytest.approx(0.7, rel=0.15)
    assert fit_dispersion(rng.poisson(mu), mu) < 0.05
    assert fit_dispersion(np.array([1, 2, 0, 3]), np.ones(4)) == 0.0  # too few positives


# -- metrics of count forecasts, by hand -------------------------------------------------


def test_crps_of_counts_by_hand():
    point_at_zero = np.ones((1, 3))
    assert m.crps_counts(point_at_zero, [2])[0] == 2.0  # a point forecast: its absolute error
    half = np.array([[0.5, 1.0, 1.0], [0.5, 1.0, 1.0]])  # P(0) = P(1) = 1/2
    np.testing.assert_allclose(m.crps_counts(half, [0, 1]), [0.25, 0.25])
    with pytest.raises(ValueError, match="every observed count"):
        m.crps_counts(half, [0, 3])


def test_crps_and_pit_parts_reach_each_rows_own_tail():
    # quiet rows, a busy one, heavy tails (the last one's first guess of its reach
    # falls short: tabulated again), a Poisson, and a count far beyond its forecast
    score = np.array([0.02, 0.5, 0.9, 0.6, 0.3, 0.99, 0.9])
    rate = np.array([0.05, 2.0, 30.0, 3.0, 0.5, 1.0, 10.0])
    alpha = np.array([0.0, 0.3, 0.1, 5.0, 8.0, 0.0, 3.0])
    count = np.array([0.0, 1.0, 25.0, 40.0, 0.0, 60.0, 2.0])
    crps, below, at = _cdf_parts(score, rate, alpha, count)
    k = np.arange(4001)[None, :]
    full = hurdle_cdf(np.broadcast_to(k, (7, 4001)), score, rate, alpha)
    assert (full[:, -1] > 1 - 1e-9).all()  # the brute force reaches the tail
    want = ((full - (k >= count[:, None])) ** 2).sum(axis=1)
    np.testing.assert_allclose(crps, want, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(at, hurdle_cdf(count, score, rate, alpha), atol=1e-9)
    np.testing.assert_allclose(below, hurdle_cdf(count - 1, score, rate, alpha), atol=1e-9)


def test_interval_score_coverage_pit_and_skill_by_hand():
    lo, hi, y = np.array([0, 0, 1]), np.array([2, 2, 1]), np.array([5, 1, 0])
    # widths 2, 2, 0; misses: 5 is 3 above, 0 is 1 below; 2 / 0.2 = 10 per unit missed
    assert m.interval_score(lo, hi, y, 0.2) == pytest.approx((2 + 30 + 2 + 0 + 10) / 3)
    assert m.interval_coverage(lo, hi, y) == pytest.approx(1 / 3)
    assert math.isnan(m.interval_coverage([], [], []))
    # randomised PIT uniform on [0.2, 0.6]: all of it in [0.1, 0.9], a quarter in [0.5, 1]
    assert m.pit_mass([0.2], [0.6], 0.1, 0.9)[0] == pytest.approx(1.0)
    assert m.pit_mass([0.2], [0.6], 0.5, 1.0)[0] == pytest.approx(0.25)
    assert m.pit_mass([0.3], [0.3], 0.0, 0.5)[0] == 1.0  # a point: counted where it is
    np.testing.assert_allclose(m.pit_histogram([0.0], [1.0]), np.full(10, 0.1))
    hist = m.pit_histogram([0.0, 0.9], [0.5, 1.0])
    np.testing.assert_allclose(hist, [0.1] * 5 + [0] * 4 + [0.5])
    assert m.skill(0.5, 1.0) == pytest.approx(0.5)
    assert math.isnan(m.skill(0.5, 0.0))
    with pytest.raises(ValueError):
        m.interval_score(lo, hi, y, 1.5)


# -- conformal intervals ---------------------------------------------------------------------


def test_quantile_names_and_pairs():
    assert [quantile_column(q) for q in (0.1, 0.9, 0.05, 0.025, 0.5)] == [
        "events_q10",
        "events_q90",
        "events_q05",
        "events_q02_5",
        "events_q50",
    ]
    assert interval_pairs((0.9, 0.1, 0.5)) == [(0.1, 0.9)]
    assert interval_pairs((0.05, 0.1, 0.9, 0.95)) == [(0.05, 0.95), (0.1, 0.9)]
    for bad in ([0.0, 0.9], [0.1, 0.1], ["x"], [True, 0.9]):
        with pytest.raises(ConfigError):
            check_quantiles(bad)


def test_conformity_level_is_exactly_where_the_interval_stops_covering():
    # the geometric hurdle of the hand test: F(0..3) = 0.6, 0.8, 0.9, 0.95
    p, mu, a = np.full(3, 0.4), np.ones(3), np.ones(3)
    r = conformity_levels(np.array([0, 1, 2]), p, mu, a, 0.1, 0.9)
    # y = 0: min(0.6 / 0.1, 1 / 0.1); y = 1: min(8, 0.4 / 0.1); y = 2: min(9, 0.2 / 0.1)
    np.testing.assert_allclose(r, [6.0, 4.0, 2.0])
    rng = np.random.default_rng(1)
    n = 3000
    p, mu = rng.random(n), rng.gamma(1.5, 2.0, n)
    alpha = rng.gamma(1.0, 0.5, n)
    y = hurdle_quantile(rng.random(n), p, mu, alpha)
    r = conformity_levels(y, p, mu, alpha, 0.1, 0.9)
    for t in (0.3, 0.7, 1.0):
        lower, upper = scaled_interval(np.full(n, t), p, mu, alpha, 0.1, 0.9)
        covered = (lower <= y) & (y <= upper)
        clear = np.abs(r - t) > 1e-9
        np.testing.assert_array_equal(covered[clear], (t < r)[clear])


def test_conformal_level_by_hand():
    r = np.arange(1, 11) / 10  # 10 rows; miss 0.2: k = floor(0.2 * 11) = 2
    assert conformal_level(r, 0.2) == pytest.approx(0.2)
    assert conformal_level(r[:3], 0.2) is None  # k = floor(0.8) = 0: too few rows


def _draw(rng, n, alpha):
    p = rng.beta(0.6, 3.0, n)
    mu = rng.gamma(2.0, 1.0, n)
    return p, mu, hurdle_quantile(rng.random(n), p, mu, alpha)


def test_band_intervals_cover_in_every_band_where_the_model_is_too_narrow():
    rng = np.random.default_rng(2)
    n = 40_000
    p, mu = rng.uniform(0.05, 0.95, n), rng.gamma(2.0, 3.0, n)
    y = hurdle_quantile(rng.random(n), p, mu, 3.0)  # the truth is heavy-tailed …
    half = len(p) // 2
    fitted = BandIntervals(n_bands=5).fit(p[:half], y[:half], mu[:half], 0.0)  # … the model not
    assert fitted.calibrated_ and len(fitted.edges_) == 4
    assert (fitted.levels_["0.1-0.9"] <= 1.0).all()  # it only ever widens
    out = fitted.predict(p[half:], mu[half:], 0.0)
    test = y[half:]
    band = fitted.band(p[half:])
    raw_hi = hurdle_quantile(0.9, p[half:], mu[half:])
    calibrated = (out["events_q10"] <= test) & (test <= out["events_q90"])
    raw = test <= raw_hi
    top = band == 4
    assert raw[top].mean() < 0.75  # the model's own interval misses in the riskiest band
    for b in range(5):
        assert calibrated[band == b].mean() >= 0.78, b
    assert calibrated.mean() <= 0.87  # widened where needed, not everywhere
    assert (out["events_q90"] >= raw_hi).all()


def test_band_intervals_without_calibration_rows_are_the_models_own():
    rng = np.random.default_rng(3)
    p, mu, _ = _draw(rng, 500, 0.5)
    fitted = BandIntervals().fit([], [], [], [])
    assert not fitted.calibrated_
    out = fitted.predict(p, mu, 0.5)
    np.testing.assert_array_equal(out["events_q90"], hurdle_quantile(0.9, p, mu, 0.5))
    np.testing.assert_array_equal(out["events_q10"], hurdle_quantile(0.1, p, mu, 0.5))
    with pytest.raises(Exception, match="not fitted"):
        BandIntervals().predict(p, mu)


def _backtest_rows(seed=0, n_grids=60, n_dates=20, horizon=2):
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=n_dates, freq="W-MON")
    rows = []
    for d in dates:
        p, mu, y = _draw(rng, n_grids, 1.0)
        rows.append(
            pd.DataFrame(
                {
                    "model": "lightgbm",
                    "grid_id": [f"G{i}" for i in range(n_grids)],
                    "as_of": d,
                    "horizon": horizon,
                    "score": p,
                    "label": (y > 0).astype(int),
                    "count": y,
                    "expected_events": hurdle_expected(p, mu, 0.0),
                    "count_rate": mu,
                    "count_dispersion": 0.0,
                    "naive_rate": np.full(n_grids, 0.5),
                }
            )
        )
    frame = pd.concat(rows, ignore_index=True)
    folds = [
        Fold(train_until=dates[i - horizon], test_as_of=tuple(dates[i : i + 4]))
        for i in range(4, n_dates, 4)
    ]
    return frame, folds, pd.DatetimeIndex(dates)


def test_rolling_intervals_calibrate_each_fold_only_on_labels_closed_before_it():
    frame, folds, dates = _backtest_rows()
    forecast = ForecastConfig(calibration_periods=52)
    out = rolling_intervals(frame, folds, dates, forecast)
    first = out["as_of"].isin(folds[0].test_as_of)
    assert not out.loc[first, "interval_calibrated"].any()  # nothing before the first fold
    assert out.loc[out["as_of"].isin(folds[1].test_as_of), "interval_calibrated"].all()
    # A fold's intervals do not move when what happened at or after its start changes,
    # nor the last h dates before it (their label windows were still open).
    f = 2
    start = dates.get_loc(folds[f].test_as_of[0])
    future = frame["as_of"] >= dates[start - 2 + 1]
    changed = frame.copy()
    changed.loc[future, "count"] = changed.loc[future, "count"] + 5
    again = rolling_intervals(changed, folds, dates, forecast)
    rows = out["as_of"].isin(folds[f].test_as_of)
    np.testing.assert_array_equal(out.loc[rows, "events_q90"], again.loc[rows, "events_q90"])
    # … while the closed windows before it do move them
    past = frame["as_of"] <= dates[start - 2]
    earlier = frame.copy()
    earlier.loc[past, "count"] = earlier.loc[past, "count"] + 5
    moved = rolling_intervals(earlier, folds, dates, forecast)
    assert (moved.loc[rows, "events_q90"] > out.loc[rows, "events_q90"]).any()


def test_forecast_metrics_by_hand_and_by_band():
    dates = pd.to_datetime(["2024-01-01"] * 4)
    pred = pd.DataFrame(
        {
            "model": "m",
            "grid_id": ["a", "b", "c", "d"],
            "as_of": dates,
            "horizon": 1,
            "score": [0.5, 0.5, 0.1, 0.1],
            "label": [1, 0, 0, 1],
            "count": [1, 0, 0, 2],
            # a rate so small the truncated count is 1: P(0) = 1 - p, P(1) = p
            "count_rate": 1e-12,
            "count_dispersion": 0.0,
            "naive_rate": 1e-12,
            "events_q10": [0, 0, 0, 0],
            "events_q90": [1, 1, 0, 0],
            "interval_calibrated": True,
        }
    )
    pred["expected_events"] = hurdle_expected(pred["score"], pred["count_rate"])
    out = forecast_metrics(pred, pd.Series({"a": "urban", "b": "urban", "c": "rural"}))
    (record,) = out["overall"]
    # CRPS: p = 0.5 rows: (0.5 - 0)^2 for y = 1 and (0.5 - 1)^2 for y = 0;
    # p = 0.1: y = 0 gives 0.1^2; y = 2 gives 0.9^2 + 1^2
    assert record["crps"] == pytest.approx((0.25 + 0.25 + 0.01 + 0.81 + 1.0) / 4)
    # the naive forecast is a point at 0: its CRPS is the count
    assert record["crps_naive"] == pytest.approx(3 / 4)
    assert record["crps_skill"] == pytest.approx(1 - record["crps"] / 0.75)
    assert record["coverage_80"] == pytest.approx(3 / 4)  # d's 2 is above its 0
    assert record["coverage_80_excess"] == pytest.approx(3 / 4 - 0.8)
    assert record["score_le_expected_share"] == 1.0
    bands = {b["group"].split(":")[0]: b for b in out["by_band"]}
    assert set(bands) == {"1", "2", "3", "4"}  # four rows, at most five bands
    kinds = {r["group"]: r for r in out["by_grid_type"]}
    assert kinds["urban"]["coverage_80"] == 1.0 and kinds["unknown"]["coverage_80"] == 0.0
    assert len(out["pit"][0]["histogram"]) == 10
    assert sum(out["pit"][0]["histogram"]) == pytest.approx(1.0)


def test_monotone_share_counts_curves_that_fall():
    base = {"model": "m", "as_of": pd.Timestamp("2024-01-01")}
    pred = pd.DataFrame(
        [
            {**base, "grid_id": "a", "horizon": 1, "score": 0.1},
            {**base, "grid_id": "a", "horizon": 2, "score": 0.2},
            {**base, "grid_id": "b", "horizon": 1, "score": 0.3},
            {**base, "grid_id": "b", "horizon": 2, "score": 0.2},
        ]
    )
    assert monotone_share(pred) == {"m": 0.5}


def test_reconcile_horizons_caps_each_curve_from_the_label_horizon_down():
    day = pd.Timestamp("2024-01-01")
    rows = [
        ("m", "a", 1, 0.3),
        ("m", "a", 2, 0.2),
        ("m", "a", 3, 0.25),  # falls, then rises
        ("m", "b", 1, 0.1),
        ("m", "b", 2, 0.2),
        ("m", "b", 3, 0.3),  # already rises
        ("n", "a", 1, 0.5),
        ("n", "a", 2, 0.4),
        ("n", "a", 3, 0.1),  # another model
        ("m", "c", 1, 0.4),
        ("m", "c", 2, 0.3),  # no label-horizon row: no curve
    ]
    pred = pd.DataFrame(rows, columns=["model", "grid_id", "horizon", "score"]).assign(as_of=day)
    pred["model"] = pd.Categorical(pred["model"])
    got = reconcile_horizons(pred.copy())["score"].to_numpy()
    want = [0.2, 0.2, 0.25, 0.1, 0.2, 0.3, 0.1, 0.1, 0.1, 0.4, 0.3]
    np.testing.assert_allclose(got, want)
    assert monotone_share(pred) == {"m": 0.5, "n": 0.0}
