"""LightGBM models: deterministic, early-stopped on later dates, calibrated under sampling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskwarn.errors import RiskwarnError
from riskwarn.models.boosting import LightGBMCount, LightGBMEscalation, capacity
from riskwarn.models.frames import downsample_weights


def _panel(n_grids=300, n_dates=40, seed=0):
    """A synthetic frame where the risk rises with ``x`` (and ``noise`` is noise)."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2022-01-03", periods=n_dates, freq="W-MON", tz="Asia/Shanghai")
    frame = pd.DataFrame(
        {
            "grid_id": np.tile([f"G{i:04d}" for i in range(n_grids)], n_dates),
            "as_of": np.repeat(dates, n_grids),
            "x": rng.normal(size=n_grids * n_dates),
            "noise": rng.normal(size=n_grids * n_dates),
        }
    )
    rate = np.exp(-3.5 + 1.2 * frame["x"].to_numpy())
    count = rng.poisson(rate)
    frame["label_h1"] = (count > 0).astype(float)
    frame["count_h1"] = count.astype(float)
    return frame, (count > 0).astype(float), count.astype(float), -np.expm1(-rate)


def test_features_exclude_keys_and_labels():
    frame, y, _, _ = _panel(n_grids=50, n_dates=20)
    model = LightGBMEscalation(n_estimators=20).fit(frame, y)
    assert list(model.feature_names_in_) == ["x", "noise"]


def test_the_city_s_level_is_left_to_the_ensemble():
    """One value per date, which a steady history barely moves: not a tree's feature
    (the ensemble adds it to its log-odds), unless named in ``features``."""
    frame, y, count, _ = _panel(n_grids=50, n_dates=20)
    frame["city_all_n_trend_4_52"] = np.repeat(np.linspace(-0.2, 0.2, 20), 50)
    learner = LightGBMEscalation(n_estimators=20).fit(frame, y)
    twin = LightGBMCount(n_estimators=20).fit(frame, y, count)
    assert list(learner.feature_names_in_) == list(twin.feature_names_in_) == ["x", "noise"]
    named = LightGBMEscalation(n_estimators=20, features=["x", "city_all_n_trend_4_52"])
    assert list(named.fit(frame, y).feature_names_in_) == ["x", "city_all_n_trend_4_52"]


def test_fits_are_bit_for_bit_reproducible_and_seeded():
    frame, y, _, _ = _panel()
    a = LightGBMEscalation(random_state=1).fit(frame, y)
    b = LightGBMEscalation(random_state=1).fit(frame, y)
    assert a.booster_.model_to_string() == b.booster_.model_to_string()
    params = a.booster_.params
    assert params["deterministic"] and params["force_row_wise"] and params["num_threads"] in (1, 2)


def test_early_stopping_uses_the_latest_dates_and_learns_the_signal():
    frame, y, _, truth = _panel()
    model = LightGBMEscalation().fit(frame, y)
    assert model.early_stopped_
    assert 1 <= model.best_iteration_ < model.n_estimators
    p = model.predict_proba(frame)[:, 1]
    assert np.corrcoef(p, truth)[0, 1] > 0.8
    gain = model.feature_importance()
    assert gain.index[0] == "x"


def test_too_short_for_a_validation_window_uses_the_fallback_rounds():
    frame, y, _, _ = _panel(n_dates=10)
    model = LightGBMEscalation(validation_periods=13, fallback_rounds=17).fit(frame, y)
    assert not model.early_stopped_ and model.best_iteration_ == 17


def test_negative_down_sampling_keeps_probabilities_calibrated():
    frame, y, _, _ = _panel(n_grids=500, n_dates=40)
    full = LightGBMEscalation().fit(frame, y)
    sampled = LightGBMEscalation(max_rows=5_000).fit(frame, y)
    assert sampled.n_rows_trained_ < 6_000 and full.n_rows_trained_ == len(frame)
    base = y.mean()
    # the weight correction keeps the mean probability at the base rate
    assert sampled.predict_proba(frame)[:, 1].mean() == pytest.approx(base, rel=0.15)
    assert full.predict_proba(frame)[:, 1].mean() == pytest.approx(base, rel=0.1)


def test_poisson_regressor_predicts_expected_counts():
    frame, y, count, _ = _panel()
    model = LightGBMCount().fit(frame, y, count=count)
    expected = model.predict_expected(frame)
    assert expected.mean() == pytest.approx(count.mean(), rel=0.1)
    np.testing.assert_allclose(model.predict_proba(frame)[:, 1], -np.expm1(-expected))


def test_contributions_sum_to_the_raw_score():
    frame, y, _, _ = _panel(n_grids=100, n_dates=20)
    model = LightGBMEscalation(n_estimators=30).fit(frame, y)
    contrib = model.contributions(frame)
    assert list(contrib.columns) == ["x", "noise", "bias"]
    raw = np.log(model.predict_proba(frame)[:, 1] / model.predict_proba(frame)[:, 0])
    np.testing.assert_allclose(contrib.sum(axis=1), raw, atol=1e-6)


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda f, y, c: LightGBMEscalation(num_threads=-1).fit(f, y), "num_threads"),
        (lambda f, y, c: LightGBMEscalation().fit(f.drop(columns="as_of"), y), "as_of"),
        (lambda f, y, c: LightGBMEscalation().fit(f, y * 2), "0/1"),
        (lambda f, y, c: LightGBMCount().fit(f, y), "counts"),
        (lambda f, y, c: LightGBMCount().fit(f, y, count=c + 1), "disagree"),
        (
            lambda f, y, c: (
                LightGBMEscalation(n_estimators=5).fit(f, y).predict_proba(f.drop(columns="x"))
            ),
            "lacks",
        ),
    ],
)
def test_bad_input_is_a_clear_error(call, words):
    frame, y, count, _ = _panel(n_grids=50, n_dates=20)
    with pytest.raises(RiskwarnError, match=words):
        call(frame, y, count)


def test_fixed_rounds_skip_early_stopping():
    frame, y, count, _ = _panel(n_grids=100, n_dates=30)
    model = LightGBMCount(rounds=23).fit(frame, y, count=count)
    assert not model.early_stopped_ and model.booster_.current_iteration() == 23


@pytest.mark.parametrize("rate", [0.02, 0.3, 0.8])
def test_downsampling_never_keeps_more_than_max_rows_and_keeps_the_class_totals(rate):
    # Long horizons at city scale have more positives than max_rows: both classes
    # are then sampled, and the weights still add up to each class's full count.
    target = (np.random.default_rng(1).random(200_000) < rate).astype(float)
    weight = downsample_weights(target, 20_000, seed=3)
    kept = weight > 0
    assert kept.sum() == pytest.approx(20_000, rel=0.03)
    assert target[kept].sum() > 0 and (target[kept] == 0).sum() >= 9_000
    for cls in (0.0, 1.0):
        assert weight[target == cls].sum() == pytest.approx((target == cls).sum(), rel=0.03)
    np.testing.assert_array_equal(weight, downsample_weights(target, 20_000, seed=3))
    assert (downsample_weights(target[:500], 20_000, seed=3) == 1).all()


def test_every_fit_and_prediction_uses_the_same_thread_count():
    # LightGBM keeps its thread count process-wide: concurrent fits (the backtest's
    # n_jobs threads) with different counts segfault, so small fits use it too.
    model = LightGBMEscalation(num_threads=2)
    small, big = model._params(1_000, 50), model._params(5_000_000, 50_000)
    assert small["num_threads"] == big["num_threads"] == 2
    assert LightGBMEscalation(num_threads=1)._params(5_000_000, 50_000)["num_threads"] == 1
    with pytest.raises(RiskwarnError, match="num_threads"):
        LightGBMEscalation(num_threads=-1)._params(10, 1)


def test_capacity_follows_the_escalations_and_explicit_settings_win():
    assert capacity(300) == (4, 0.03) and capacity(1_000) == (4, 0.03)
    assert capacity(2_000) == capacity(10_000) == (7, 0.05)
    # tens of thousands of escalations (a 20,000-grid city): back to 0.1, for time
    assert capacity(40_000) == capacity(400_000) == (7, 0.1)
    assert 0.05 < capacity(20_000)[1] < 0.1
    leaves, rate = capacity(1_200)
    assert 4 < leaves < 7 and 0.03 < rate < 0.05
    # the rate stops at 0.05 while the leaves still grow
    assert capacity(1_400)[1] == capacity(1_900)[1] == 0.05 and capacity(1_400)[0] < 7
    model = LightGBMEscalation()
    small, big = model._params(5_000, 300), model._params(200_000, 8_000)
    assert (small["num_leaves"], small["learning_rate"], small["bagging_fraction"]) == (
        4,
        0.03,
        0.7,
    )
    assert (big["num_leaves"], big["learning_rate"]) == (7, 0.05) and "bagging_fraction" not in big
    fixed = LightGBMEscalation(num_leaves=15, learning_rate=0.2)._params(5_000, 300)
    assert (fixed["num_leaves"], fixed["learning_rate"]) == (15, 0.2)


def test_a_sample_drawn_outside_the_model_with_its_weights_stays_calibrated():
    """A province's training sample: negatives kept at 10 %, weighted 10, from outside."""
    frame, y, count, _ = _panel(n_grids=500, n_dates=40)
    keep = (y > 0) | (np.random.default_rng(5).random(len(y)) < 0.1)
    weight = np.where(y > 0, 1.0, 10.0)[keep]
    rows, y_s, c_s = frame[keep].reset_index(drop=True), y[keep], count[keep]
    base = y.mean()
    weighted = LightGBMEscalation().fit(rows, y_s, sample_weight=weight)
    unweighted = LightGBMEscalation().fit(rows, y_s)
    assert weighted.predict_proba(frame)[:, 1].mean() == pytest.approx(base, rel=0.15)
    # without the weights the probabilities are those of the sample, several times too high
    assert unweighted.predict_proba(frame)[:, 1].mean() > 3 * base
    counter = LightGBMCount().fit(rows, y_s, count=c_s, sample_weight=weight)
    assert counter.predict_expected(frame).mean() == pytest.approx(count.mean(), rel=0.15)
    with pytest.raises(RiskwarnError, match="sample_weight"):
        LightGBMEscalation().fit(rows, y_s, sample_weight=-weight)
    with pytest.raises(RiskwarnError, match="shape"):
        LightGBMEscalation().fit(rows, y_s, sample_weight=weight[:-1])


def _level_break(n_grids=300, n_dates=60, at=40, seed=0):
    """A monthly panel whose rate jumps 4.5-fold (in odds) at date ``at``, ``x`` the signal."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2020-01-01", periods=n_dates, freq="MS", tz="Asia/Shanghai")
    x = rng.normal(size=n_grids * n_dates)
    step = np.repeat(np.arange(n_dates) >= at, n_grids)
    p = 1 / (1 + np.exp(-(-3.0 + 1.5 * step + 0.8 * x)))
    y = (rng.random(len(x)) < p).astype(float)
    frame = pd.DataFrame({"as_of": np.repeat(dates, n_grids), "x": x})
    return frame, y, step


def test_time_decay_is_chosen_out_of_time_where_the_level_changed():
    frame, y, step = _level_break()
    auto = LightGBMEscalation().fit(frame, y)
    flat = LightGBMEscalation(half_life=None).fit(frame, y)
    # the validation window (after the break) prefers the decayed fit ...
    assert auto.half_life_ is not None and flat.half_life_ is None
    latest = frame["as_of"] == frame["as_of"].max()
    recent_rate = y[step].mean()
    # ... whose probabilities follow the new level, where equal weights average both
    assert auto.predict_proba(frame[latest])[:, 1].mean() == pytest.approx(recent_rate, rel=0.2)
    assert flat.predict_proba(frame[latest])[:, 1].mean() < 0.75 * recent_rate
    # the Poisson twin takes the classifier's decay with its rounds
    from riskwarn.models.catalogue import make_count_model

    assert make_count_model(1, like=auto).half_life == auto.half_life_


def test_the_count_twin_borrows_from_the_lightgbm_a_model_is_or_holds():
    from types import SimpleNamespace

    from riskwarn.models.baselines import HistoricalRateBaseline
    from riskwarn.models.catalogue import lightgbm_in

    frame, y, _, _ = _panel(seed=0)
    booster = LightGBMEscalation().fit(frame, y)
    assert lightgbm_in(booster) is booster
    # an ensemble's component, whatever its name or place
    fitted_ensemble = SimpleNamespace(components_={"hotspot": object(), "gbm": booster})
    assert lightgbm_in(fitted_ensemble) is booster
    assert lightgbm_in(SimpleNamespace(components_={"hotspot": object()})) is None
    assert lightgbm_in(HistoricalRateBaseline()) is None
    # the learner of the ensemble's own label, not the next period's, wherever it sits
    nxt = LightGBMEscalation(n_estimators=5, target="label_h1").fit(frame, y)
    both = SimpleNamespace(components_={"lightgbm_next": nxt, "lightgbm": booster})
    assert lightgbm_in(both) is booster
    assert lightgbm_in(SimpleNamespace(components_={"lightgbm_next": nxt})) is nxt


def test_no_time_decay_without_a_change_of_level():
    for seed in (0, 1, 2):
        frame, y, _, _ = _panel(seed=seed)
        assert LightGBMEscalation().fit(frame, y).half_life_ is None


def test_a_fixed_half_life_weights_recent_rows_and_a_bad_one_is_refused():
    frame, y, _ = _level_break()
    fixed = LightGBMEscalation(half_life=6).fit(frame, y)
    assert fixed.half_life_ == 6.0
    for bad in (0, -1, "soon"):
        with pytest.raises(RiskwarnError, match="half_life"):
            LightGBMEscalation(half_life=bad).fit(frame, y)


def test_a_target_column_is_learnt_instead_of_y_and_its_missing_rows_are_left_out():
    """The ensemble's next-period learner: ``target="label_h1"`` fits the frame's own
    label column whatever ``y`` says, exactly as a fit on that column would."""
    frame, y, _, _ = _panel(n_grids=100, n_dates=30)
    frame.loc[frame.index[-100:], "label_h1"] = np.nan  # the latest date: not known yet
    known = frame["label_h1"].notna().to_numpy()
    # y is a label of no use (a longer horizon's, here shuffled): the target decides
    shuffled = np.random.default_rng(5).permutation(y)
    by_target = LightGBMEscalation(random_state=2, target="label_h1").fit(frame, shuffled)
    direct = LightGBMEscalation(random_state=2).fit(frame[known], y[known])
    assert by_target.booster_.model_to_string() == direct.booster_.model_to_string()
    assert "label_h1" not in by_target.feature_names_in_
    # and it is not what a fit on y gives
    on_y = LightGBMEscalation(random_state=2).fit(frame, shuffled)
    assert on_y.booster_.model_to_string() != by_target.booster_.model_to_string()


def test_a_target_the_frame_lacks_or_a_count_model_given_one_is_a_clear_error():
    frame, y, count, _ = _panel(n_grids=50, n_dates=20)
    with pytest.raises(RiskwarnError, match="label_h2"):
        LightGBMEscalation(n_estimators=5, target="label_h2").fit(frame, y)
    with pytest.raises(RiskwarnError, match="no target"):
        LightGBMCount(target="label_h1").fit(frame, y, count=count)
