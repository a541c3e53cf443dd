"""The calibrated ensemble: honest windows, sensible weights, calibration, fallback."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit
from sklearn.base import BaseEstimator

from riskwarn.backtest.metrics import expected_calibration_error
from riskwarn.errors import RiskwarnError
from riskwarn.models.ensemble import CalibratedEnsemble


class ColumnModel(BaseEstimator):
    """Scores one column through a fixed, deliberately miscalibrated logistic curve."""

    def __init__(self, column="x", scale=1.0, shift=-2.0):
        self.column = column
        self.scale = scale
        self.shift = shift

    def fit(self, X, y):
        self.dates_seen_ = pd.DatetimeIndex(X["as_of"].unique()).sort_values()
        return self

    def predict_proba(self, X):
        p = expit(self.shift + self.scale * X[self.column].to_numpy(dtype=float))
        return np.column_stack([1 - p, p])


def _panel(n_grids=400, n_dates=60, seed=0):
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2022-01-03", periods=n_dates, freq="W-MON", tz="Asia/Shanghai")
    n = n_grids * n_dates
    signal = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "grid_id": np.tile([f"G{i:04d}" for i in range(n_grids)], n_dates),
            "as_of": np.repeat(dates, n_grids),
            "good": signal + 0.3 * rng.normal(size=n),
            "weak": signal + 3.0 * rng.normal(size=n),
            "noise": rng.normal(size=n),
        }
    )
    y = (rng.random(n) < expit(-3.0 + 1.0 * signal)).astype(float)
    return frame, y


def _ensemble(**kw):
    return CalibratedEnsemble(
        components={"good": ColumnModel("good", scale=3.0), "noise": ColumnModel("noise")},
        baselines={"weak": ColumnModel("weak"), "noise_b": ColumnModel("noise")},
        robust=(),  # the prior: the baseline with the best out-of-time AP
        **kw,
    )


def test_no_block_is_scored_by_components_that_saw_it():
    frame, y = _panel()
    # refit=False keeps the components fitted for the latest block: they show its cut.
    e = _ensemble(horizon=2, window_periods=8, refit=False).fit(frame, y)
    assert e.mode_ == "stacked"
    dates = pd.DatetimeIndex(frame["as_of"].unique()).sort_values()
    seen = e.components_["good"].dates_seen_
    # 60 dates: the latest block is the last 8 (52..59); as of 50 a 2-period label
    # window closes at 52, so the components were fitted on dates 0..50
    assert seen.max() == dates[50] and len(seen) == 51
    blocks = [e.windows_[k] for k in sorted(e.windows_)]
    assert len(blocks) == 3
    for block in blocks:
        fit_last = pd.Timestamp(block["fit"][1])
        first, last = (pd.Timestamp(t) for t in block["scored"])
        assert dates.get_loc(first) - dates.get_loc(fit_last) == 2  # the horizon
        assert dates.get_loc(last) - dates.get_loc(first) == 7
    assert pd.Timestamp(blocks[-1]["scored"][1]) == dates[-1]
    # refit=True (the default) refits the components on every row once weighed.
    refit = _ensemble(horizon=2, window_periods=8).fit(frame, y)
    assert len(refit.components_["good"].dates_seen_) == 60


def test_big_blocks_need_one_block_small_data_pools_several():
    frame, y = _panel()
    assert len(_ensemble(target_positives=50).fit(frame, y).windows_) == 1
    assert len(_ensemble(target_positives=10**6).fit(frame, y).windows_) == 3


def test_a_useless_stack_is_replaced_by_the_best_baseline():
    """Components that carry no signal get (next to) no weight: the ensemble ranks as the baseline."""
    frame, y = _panel(n_grids=200, n_dates=60)
    e = CalibratedEnsemble(
        components={"noise": ColumnModel("noise"), "noise2": ColumnModel("noise", shift=-1)},
        baselines={"good": ColumnModel("good")},
        robust=(),  # the prior: the baseline with the best out-of-time AP
        prior_strength=0.0,
    ).fit(frame, y)
    noise = e.weights_.get("noise", 0.0) + e.weights_.get("noise2", 0.0)
    assert noise < 0.1 * e.weights_["good"], e.weights_
    # components under 1 % of the weight are not kept
    assert set(e.components_) == {n for n, w in e.weights_.items() if n != "intercept"}
    test, _ = _panel(n_grids=200, n_dates=10, seed=2)
    p = e.predict_proba(test)[:, 1]
    base = e.components_[e.best_baseline_].predict_proba(test)[:, 1]
    assert pd.Series(p).corr(pd.Series(base), method="spearman") > 0.99


def test_weights_favour_the_informative_component_and_the_best_baseline_is_chosen():
    frame, y = _panel()
    e = _ensemble().fit(frame, y)
    assert e.best_baseline_ == "weak"
    assert e.weights_["good"] > 5 * max(e.weights_.get("noise", 0.0), 1e-3)
    assert all(w >= 0 for k, w in e.weights_.items() if k != "intercept")


def test_calibrated_out_of_time():
    frame, y = _panel(n_grids=600, n_dates=80)
    e = _ensemble(method="platt").fit(frame, y)
    test, y_test = _panel(n_grids=600, n_dates=20, seed=1)
    raw = e.components_["good"].predict_proba(test)[:, 1]
    p = e.predict_proba(test)[:, 1]
    # the component alone is far off (shift -2, scale 3); the ensemble is calibrated
    assert expected_calibration_error(y_test, raw) > 0.05
    # (the shift to the latest block's rate costs a little on a panel without drift:
    # that block's rate carries its sampling noise)
    assert expected_calibration_error(y_test, p) < 0.015
    assert e.calibration_ == "platt"


def test_isotonic_when_the_calibration_window_holds_enough_escalations():
    frame, y = _panel()
    e = _ensemble(method="auto", isotonic_min_positives=10).fit(frame, y)
    assert e.calibration_ == "isotonic"
    p = e.predict_proba(frame)[:, 1]
    assert np.all((p >= 0) & (p <= 1))


def test_small_windows_lean_on_the_robust_prior():
    frame, y = _panel(n_grids=40, n_dates=60)
    strong = _ensemble(prior_strength=1e6).fit(frame, y)
    assert strong.weights_[strong.best_baseline_] == pytest.approx(1.0, abs=1e-3)
    assert strong.weights_.get("good", 0.0) == pytest.approx(0.0, abs=1e-3)
    free = _ensemble(prior_strength=0.0).fit(frame, y)
    assert free.weights_["good"] > strong.weights_.get("good", 0.0)


def test_too_little_data_falls_back_to_the_first_baseline_fitted_on_everything():
    frame, y = _panel(n_grids=30, n_dates=6)
    e = _ensemble().fit(frame, y)
    assert e.mode_ == "fallback" and e.best_baseline_ == "weak"
    expected = e.components_["weak"].predict_proba(frame)
    np.testing.assert_array_equal(e.predict_proba(frame), expected)


def test_bad_settings_are_clear_errors():
    frame, y = _panel(n_grids=20, n_dates=10)
    with pytest.raises(RiskwarnError, match="baseline"):
        CalibratedEnsemble(components={"g": ColumnModel()}).fit(frame, y)
    with pytest.raises(RiskwarnError, match="method"):
        _ensemble(method="beta").fit(frame, y)
    with pytest.raises(RiskwarnError, match="as_of"):
        _ensemble().fit(frame.drop(columns="as_of"), y)


def test_the_stack_earns_its_share_by_the_evidence():
    """Few escalations leave the prior most of the say; many give it to the stack."""
    frame, y = _panel()
    shares = [_ensemble(prior_positives=k).fit(frame, y).blend_ for k in (10**6, 100, 0.01)]
    assert shares[0] < 0.01 < shares[1] < 0.99 < shares[2]
    # A label window of h periods counts each escalation h times: less evidence.
    one, four = (_ensemble(horizon=h).fit(frame, y).blend_ for h in (1, 4))
    assert four < one


def _level_change(factor, n_grids=600, n_dates=60, seed=0):
    """The panel with the escalation rate multiplied by ``factor`` from date 50 on."""
    frame, _ = _panel(n_grids=n_grids, n_dates=n_dates, seed=seed)
    rng = np.random.default_rng(seed + 10)
    dates = pd.DatetimeIndex(frame["as_of"]).unique().sort_values()
    after = (frame["as_of"] >= dates[50]).to_numpy()
    signal = frame["good"].to_numpy()
    logit_p = -3.0 + 1.0 * signal + np.where(after, np.log(factor), 0.0)
    return frame, (rng.random(len(frame)) < expit(logit_p)).astype(float), after


def test_probabilities_follow_the_latest_level():
    frame, y, after = _level_change(2.0)
    shifted = _ensemble(method="platt", window_periods=10, recent_level=True).fit(frame, y)
    pooled = _ensemble(method="platt", window_periods=10).fit(frame, y)
    test, y_test, _ = _level_change(2.0, n_dates=60, seed=3)
    late = (test["as_of"] >= pd.DatetimeIndex(test["as_of"]).unique().sort_values()[50]).to_numpy()
    rate = y_test[late].mean()
    p_shifted = shifted.predict_proba(test[late])[:, 1].mean()
    p_pooled = pooled.predict_proba(test[late])[:, 1].mean()
    # the pooled blocks straddle the change and lag it; the shift meets the new rate
    assert abs(np.log(p_shifted / rate)) < 0.1 < abs(np.log(p_pooled / rate))
    assert shifted.level_shift_ > 0 and pooled.level_shift_ == 0.0
    # ranks do not change: a shift on the log-odds scale is monotone
    a, b = shifted.predict_proba(test)[:, 1], pooled.predict_proba(test)[:, 1]
    assert np.array_equal(np.argsort(a, kind="stable"), np.argsort(b, kind="stable"))


def test_by_default_the_probability_is_the_weighted_pool_of_the_components():
    """No recalibration on the blocks: the components' log-odds, averaged, at the training rate."""
    frame, y = _panel()
    e = _ensemble().fit(frame, y)
    assert e.calibration_ == "none" and e.level_shift_ == 0.0
    weights = {n: w for n, w in e.weights_.items() if n != "intercept"}
    assert sum(weights.values()) == pytest.approx(1.0)
    test, _ = _panel(n_grids=50, n_dates=5, seed=4)
    logits = sum(
        w * np.log(q / (1 - q))
        for n, w in weights.items()
        for q in [e.components_[n].predict_proba(test)[:, 1]]
    )
    assert np.allclose(e.predict_proba(test)[:, 1], expit(e.weights_["intercept"] + logits))
    # the components are miscalibrated (shift -2, scale 3); the intercept gives the
    # pool the training rows' rate (all of them: fewer than level_rows)
    rate = (y.sum() + 0.5) / (len(y) + 1)
    assert e.predict_proba(frame)[:, 1].mean() == pytest.approx(rate, rel=1e-4)
    assert abs(expit(logits).mean() / rate - 1) > 0.2
    # a sample of the rows sets nearly the same level
    sampled = _ensemble(level_rows=len(frame) // 2).fit(frame, y)
    assert sampled.weights_["intercept"] == pytest.approx(e.weights_["intercept"], abs=0.1)


def test_the_city_s_level_moves_every_grid_s_log_odds_by_its_weight():
    """The city's recent events against its long run (one value per date) is added to
    the pooled log-odds times ``level_weight``; the intercept still meets the training
    rate; without the column, or with weight 0, nothing is added."""
    frame, y = _panel()
    level = np.repeat(np.linspace(-0.3, 0.3, 60), 400)
    with_level = frame.assign(city_all_n_trend_4_52=level)
    e = _ensemble().fit(with_level, y)
    assert e.level_column_ == "city_all_n_trend_4_52" and e.level_weight == 0.5
    rate = (y.sum() + 0.5) / (len(y) + 1)
    assert e.predict_proba(with_level)[:, 1].mean() == pytest.approx(rate, rel=1e-4)
    test, _ = _panel(n_grids=50, n_dates=5, seed=4)
    low, high = test.assign(city_all_n_trend_4_52=0.0), test.assign(city_all_n_trend_4_52=0.7)
    gap = logit(e.predict_proba(high)[:, 1]) - logit(e.predict_proba(low)[:, 1])
    np.testing.assert_allclose(gap, 0.5 * 0.7, rtol=1e-9)
    # a missing value adds nothing (a date before the data had a long run)
    missing = test.assign(city_all_n_trend_4_52=np.nan)
    np.testing.assert_allclose(e.predict_proba(missing), e.predict_proba(low), rtol=1e-12)
    for other in (_ensemble(level_weight=0.0).fit(with_level, y), _ensemble().fit(frame, y)):
        assert other.level_column_ is None
        np.testing.assert_array_equal(other.predict_proba(high), other.predict_proba(low))
    # a model fitted with the column needs it to score
    with pytest.raises(RiskwarnError, match="city_all_n_trend_4_52"):
        e.predict_proba(test)


def test_the_latest_level_sits_on_top_of_the_pool_level():
    """Without recalibration the shift to the latest block adds to the pool's own level."""
    frame, y, _ = _level_change(2.0)
    test, y_test, _ = _level_change(2.0, n_dates=60, seed=3)
    late = (test["as_of"] >= pd.DatetimeIndex(test["as_of"]).unique().sort_values()[50]).to_numpy()
    rate = y_test[late].mean()
    e = _ensemble(window_periods=10, recent_level=True).fit(frame, y)
    assert e.calibration_ == "none" and e.level_shift_ > 0
    assert abs(np.log(e.predict_proba(test[late])[:, 1].mean() / rate)) < 0.1


def test_models_already_fitted_on_the_same_rows_are_reused_not_refitted():
    X, y = _panel(n_grids=200, n_dates=40)
    plain = _ensemble().fit(X, y)
    good = ColumnModel("good", scale=3.0).fit(X, y)
    other = ColumnModel("weak", scale=2.0).fit(X, y)  # "weak" with other parameters
    reused = _ensemble().fit(X, y, fitted={"good": good, "weak": other})
    assert reused.components_["good"] is good
    if "weak" in reused.components_:
        assert reused.components_["weak"] is not other  # not the same model: refitted
    np.testing.assert_array_equal(plain.predict_proba(X), reused.predict_proba(X))
    assert plain.weights_ == reused.weights_


def test_the_prior_trusts_the_learner_and_the_models_of_recent_activity_present():
    """Equal prior weights on LightGBM, the hotspots and the diffusion present; none on
    the others (a static rate that ranks below LightGBM, the Hawkes fit however good)."""
    frame, y = _panel()
    e = CalibratedEnsemble(
        components={
            "lightgbm": ColumnModel("good", scale=3.0),
            "graph_diffusion": ColumnModel("weak"),
            "graph_hawkes": ColumnModel("good", scale=2.0),
        },
        baselines={"shrunk_rate": ColumnModel("weak"), "hotspot": ColumnModel("noise")},
    ).fit(frame, y)
    third = pytest.approx(1 / 3)
    assert e.prior_ == {
        "lightgbm": third,
        "graph_diffusion": third,
        "graph_hawkes": 0.0,
        "shrunk_rate": 0.0,
        "hotspot": third,
    }


def test_a_row_scores_the_same_alone_as_among_many():
    """The pool must not depend on the batch: a matrix product over many rows sums in
    another order than over one, and its last bits differ."""
    frame, y = _panel()
    e = CalibratedEnsemble(
        components={f"c{k}": ColumnModel("good", scale=1.0 + 0.37 * k) for k in range(5)},
        baselines={"weak": ColumnModel("weak"), "noise_b": ColumnModel("noise")},
        robust=("c0", "c1", "c2", "c3", "c4", "weak"),
        prior_strength=1e6,  # every one of them weighted
    ).fit(frame, y)
    assert len(e.components_) >= 4
    rows = frame.iloc[:500]
    whole = e.predict_proba(rows)[:, 1]
    alone = np.array([e.predict_proba(rows.iloc[[i]])[0, 1] for i in range(len(rows))])
    np.testing.assert_array_equal(alone, whole)


def test_a_baseline_that_outranks_every_robust_model_joins_the_prior():
    """A short history: the long-run rate ranks better out of time than the learner
    and the hotspot, so the prior trusts it beside them."""
    frame, y = _panel()

    def fit(learner):
        return CalibratedEnsemble(
            components={"lightgbm": ColumnModel(learner)},
            baselines={"shrunk_rate": ColumnModel("weak"), "hotspot": ColumnModel("noise")},
        ).fit(frame, y)

    outranked = fit("noise")
    assert outranked.best_baseline_ == "shrunk_rate"
    third = pytest.approx(1 / 3)
    assert outranked.prior_ == {"lightgbm": third, "shrunk_rate": third, "hotspot": third}
    # the same rate, the best baseline again, but ranking below the learner: not trusted
    outranking = fit("good")
    assert outranking.best_baseline_ == "shrunk_rate"
    assert outranking.prior_ == {"lightgbm": 0.5, "shrunk_rate": 0.0, "hotspot": 0.5}


class TargetModel(ColumnModel):
    """A component that learns one of the frame's label columns (as lightgbm_next)."""

    def __init__(self, column="x", scale=1.0, shift=-2.0, target="label_h1"):
        super().__init__(column, scale, shift)
        self.target = target

    def fit(self, X, y):
        self.learnt_ = X[self.target].to_numpy(dtype=float)
        return super().fit(X, y)


def test_a_component_that_learns_a_label_column_the_frame_lacks_is_left_out_and_said():
    frame, y = _panel()
    e = CalibratedEnsemble(
        components={"good": ColumnModel("good", scale=3.0), "next": TargetModel("good")},
        baselines={"weak": ColumnModel("weak")},
        robust=("good", "next"),
        horizon=2,
    )
    alone = e.fit(frame, y)
    assert alone.skipped_ == {"next": "X has no 'label_h1' column to learn"}
    assert "next" not in alone.prior_ and "next" not in alone.components_
    with_label = frame.assign(label_h1=y)
    both = CalibratedEnsemble(**e.get_params(deep=False)).fit(with_label, y)
    assert both.skipped_ == {} and both.prior_["next"] == pytest.approx(0.5)
    np.testing.assert_array_equal(both.components_["next"].learnt_, y)


def test_the_ensemble_learns_the_next_period_beside_its_horizon_from_two_periods_on():
    from riskwarn.models.boosting import LightGBMEscalation
    from riskwarn.models.catalogue import NEXT_PERIOD, make_model

    one = make_model("ensemble", horizon=1, graph=None, seed=3)
    assert NEXT_PERIOD not in one.components
    four = make_model("ensemble", horizon=4, graph=None, seed=3)
    nxt = four.components[NEXT_PERIOD]
    assert isinstance(nxt, LightGBMEscalation)
    assert (nxt.target, nxt.gap, nxt.random_state) == ("label_h1", 1, 3)
    assert four.components["lightgbm"].target is None
    assert ("lightgbm", NEXT_PERIOD) in four.robust  # one robust slot, shared


def test_with_many_escalation_windows_the_other_label_s_learner_is_not_fitted():
    """Big data: the learner of the label's own windows has enough of them, and the
    next period's would cost a fit per block (a 20,000-grid backtest over budget)."""
    frame, y = _panel()
    with_label = frame.assign(label_h1=y)
    params = dict(
        components={"good": ColumnModel("good", scale=3.0), "next": TargetModel("good")},
        baselines={"weak": ColumnModel("weak")},
        robust=("good", "next"),
        horizon=2,
    )
    windows = y.sum() / 2
    few = CalibratedEnsemble(**params, other_label_below=windows + 1).fit(with_label, y)
    assert few.skipped_ == {} and "next" in few.components_
    many = CalibratedEnsemble(**params, other_label_below=windows).fit(with_label, y)
    assert list(many.skipped_) == ["next"] and "other_label_below" in many.skipped_["next"]
    assert "next" not in many.prior_ and many.prior_["good"] == pytest.approx(1.0)
