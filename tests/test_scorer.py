"""EscalationScorer: the probability, expected events and reasons a watchlist shows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import logit

from riskwarn.errors import RiskwarnError
from riskwarn.models.scorer import HAWKES_PARTS, EscalationScorer
from tests.conftest import simulated_features


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    _, f, graph = simulated_features(tmp_path_factory.mktemp("scorer_city"), 64, 80, seed=5)
    train = f[f["label_h1"].notna()].reset_index(drop=True)
    last = f[f["as_of"] == f["as_of"].max()].reset_index(drop=True)
    return train, last, graph


def _fit(train, graph, **params):
    scorer = EscalationScorer(graph=graph, horizon=1, **params)
    return scorer.fit(train, train["label_h1"].to_numpy(), count=train["count_h1"].to_numpy())


def test_score_has_one_row_per_grid_with_probability_expected_events_and_reasons(city):
    train, last, graph = city
    scorer = _fit(train, graph)
    out = scorer.score(last)
    assert len(out) == len(last) == last["grid_id"].nunique()
    assert list(out.columns[:4]) == ["grid_id", "as_of", "score", "expected_events"]
    np.testing.assert_array_equal(out["score"], scorer.predict_proba(last)[:, 1])
    assert (out["expected_events"] > 0).all()
    assert [c for c in out.columns if c.startswith("reason_")] == [
        f"reason_{i}_{part}"
        for i in (1, 2, 3)
        for part in ("feature", "value", "contribution", "usual", "about", "about_value")
    ]
    # Reasons are positive and ordered, and the riskiest grids have some.
    c = out[["reason_1_contribution", "reason_2_contribution", "reason_3_contribution"]]
    assert (c.fillna(1.0) > 0).all().all()
    assert (c["reason_1_contribution"].fillna(0) >= c["reason_2_contribution"].fillna(0)).all()
    assert (c["reason_2_contribution"].fillna(0) >= c["reason_3_contribution"].fillna(0)).all()
    top = out.nlargest(5, "score")
    assert top["reason_1_feature"].notna().all()
    known = set(scorer.feature_names_in_) | set(HAWKES_PARTS.values())
    assert set(out["reason_1_feature"].dropna()) <= known
    # A reason's value is the grid's own feature value.
    row = out.dropna(subset=["reason_1_feature"]).iloc[0]
    if row["reason_1_feature"] in last.columns:
        grid = last.set_index("grid_id").loc[row["grid_id"]]
        assert row["reason_1_value"] == pytest.approx(float(grid[row["reason_1_feature"]]))


def test_lightgbm_reasons_add_up_to_its_log_odds(city):
    train, last, graph = city
    scorer = _fit(train, graph, model="lightgbm")
    contribution, _ = scorer.contributions(last)
    booster = scorer.model_
    bias = booster.contributions(last)["bias"].to_numpy()
    p = scorer.predict_proba(last)[:, 1]
    np.testing.assert_allclose(contribution.sum(axis=1) + bias, logit(p), rtol=1e-6, atol=1e-6)


def test_hawkes_reasons_split_its_lift_over_the_background(city):
    train, last, graph = city
    scorer = _fit(train, graph, model="graph_hawkes")
    contribution, value = scorer.contributions(last)
    assert list(contribution.columns) == list(HAWKES_PARTS.values())
    parts = scorer.model_.parts(last)
    total = parts.sum(axis=1)
    lift = logit(-np.expm1(-total)) - logit(-np.expm1(-parts["background"]))
    np.testing.assert_allclose(contribution.sum(axis=1), lift, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(value["hawkes_neighbours"], parts["neighbours"])


def test_a_grid_with_no_events_scores_low_and_its_own_history_is_no_reason(city):
    train, last, graph = city
    scorer = _fit(train, graph, model="graph_hawkes")
    quiet = last.copy()
    counts = [c for c in quiet.columns if c.startswith(("esc_", "pet_", "dis_", "inc_"))]
    riskiest = int(scorer.score(last)["score"].idxmax())
    quiet.loc[riskiest, counts] = 0.0
    before, after = scorer.score(last), scorer.score(quiet)
    assert after.loc[riskiest, "score"] < before.loc[riskiest, "score"]
    reasons = after.loc[riskiest, ["reason_1_feature", "reason_2_feature", "reason_3_feature"]]
    assert "hawkes_own" not in set(reasons.dropna())
    assert "hawkes_own" in set(before[["reason_1_feature", "reason_2_feature"]].stack())


def test_scoring_data_without_a_training_feature_is_a_clear_error(city):
    train, last, graph = city
    scorer = _fit(train, graph)
    with pytest.raises(RiskwarnError, match="lacks 1 feature.*dis_open"):
        scorer.score(last.drop(columns=["dis_open"]))


def test_fit_needs_counts_for_the_expected_events(city):
    train, _, graph = city
    with pytest.raises(RiskwarnError, match="counts"):
        EscalationScorer(graph=graph).fit(train, train["label_h1"].to_numpy())


def test_one_grid_scores(tmp_path):
    # Seed 5: the one grid escalates 7 times in 104 weeks (a grid that never
    # escalates cannot train a model; that is the ensemble's fallback's job).
    _, f, graph = simulated_features(tmp_path, 1, 104, seed=5)
    train = f[f["label_h1"].notna()].reset_index(drop=True)
    assert train["label_h1"].sum() > 0
    scorer = EscalationScorer(graph=graph, horizon=1).fit(
        train, train["label_h1"].to_numpy(), count=train["count_h1"].to_numpy()
    )
    out = scorer.score(f[f["as_of"] == f["as_of"].max()])
    assert len(out) == 1 and 0 < out.loc[0, "score"] < 1
    assert isinstance(out, pd.DataFrame)


@pytest.mark.parametrize("model", ["lightgbm", "graph_hawkes", "graph_diffusion", "ensemble"])
def test_a_grid_scores_the_same_whatever_else_the_request_holds(city, model):
    # The graph models read the neighbour aggregates of each row, which the feature
    # builder computed over every grid: one grid, a few, all give the same per-row
    # outputs. (Computing them from the rows sent, as before, fails this test.)
    train, last, graph = city
    scorer = _fit(train, graph, model=model)

    def scored(rows: pd.DataFrame) -> pd.DataFrame:
        out = scorer.score(rows).set_index("grid_id").astype(object)
        return out.where(out.notna(), None)  # a missing reason: None whatever the dtype

    full = scored(last)
    few = scored(last.iloc[::7])
    pd.testing.assert_frame_equal(few, full.loc[few.index])
    grid = str(last["grid_id"].iloc[3])
    alone = scored(last[last["grid_id"].astype(str) == grid])
    pd.testing.assert_frame_equal(alone, full.loc[[grid]])


def test_one_distribution_calibrated_intervals_and_a_rising_risk_curve(city):
    """score <= expected events, the interval from the same distribution, widened by
    out-of-sample rows; the risk curve never falls and ends at the score."""
    train, last, graph = city
    train2 = train[train["label_h2"].notna()].reset_index(drop=True)
    y2 = train2["label_h2"].to_numpy()
    count2 = train2["count_h2"].to_numpy()
    plain = EscalationScorer(graph=graph, horizon=2, model="lightgbm").fit(train2, y2, count=count2)
    dist = plain.predict_distribution(last)
    assert list(dist.columns) == ["score", "expected_events", "events_q10", "events_q90"]
    assert (dist["score"] <= dist["expected_events"] + 1e-12).all()
    assert (dist["events_q10"] <= dist["events_q90"]).all()
    # q90 is at least 1 exactly where P(N = 0) = 1 - score is below 0.9
    np.testing.assert_array_equal(dist["events_q90"] >= 1, dist["score"] > 0.1)
    assert not plain.intervals_.calibrated_
    # out-of-sample rows whose counts exceed the model's intervals widen them
    heavy = dist.assign(
        count=dist["events_q90"] + 3, count_rate=plain.counter_.predict_expected(last)
    )
    heavy["count_dispersion"] = plain.counter_.dispersion_
    wide = EscalationScorer(graph=graph, horizon=2, model="lightgbm").fit(
        train2, y2, count=count2, calibration=heavy
    )
    assert wide.intervals_.calibrated_
    assert (wide.predict_distribution(last)["events_q90"] >= dist["events_q90"]).all()
    assert (wide.predict_distribution(last)["events_q90"] > dist["events_q90"]).any()
    # the risk curve: NaN for h1 without curve labels; with them, rising, ending at the score
    assert plain.predict_curve(last)["risk_h1"].isna().all()
    curved = EscalationScorer(graph=graph, horizon=2, model="lightgbm").fit(
        train2, y2, count=count2, curve_labels={1: train2["label_h1"].to_numpy()}
    )
    curve = curved.predict_curve(last)
    assert list(curve.columns) == ["risk_h1", "risk_h2"]
    np.testing.assert_allclose(curve["risk_h2"], curved.predict_proba(last)[:, 1])
    assert curve["risk_h1"].notna().all() and (curve["risk_h1"] <= curve["risk_h2"] + 1e-12).all()
    assert (curve["risk_h1"] < curve["risk_h2"]).mean() > 0.5  # a shape, not a copy
    scored = curved.score(last)
    assert {"events_q10", "events_q90", "risk_h1", "risk_h2"} <= set(scored.columns)
    with pytest.raises(RiskwarnError, match="curve_labels"):
        EscalationScorer(graph=graph, horizon=2, model="lightgbm").fit(
            train2, y2, count=count2, curve_labels={2: y2}
        )


def test_the_risk_curve_s_next_period_model_is_the_ensemble_s_own_learner(city):
    """train fits it once: the curve's horizon-1 LightGBM and the ensemble's
    next-period learner are one fit on the same rows and labels, bit for bit the
    booster a fit of its own gives; and it survives the model's state."""
    from riskwarn.models.catalogue import NEXT_PERIOD, make_model
    from riskwarn.models.state import model_from_state, model_state

    train, last, graph = city
    train2 = train[train["label_h2"].notna()].reset_index(drop=True)
    y1 = train2["label_h1"].to_numpy()
    scorer = EscalationScorer(graph=graph, horizon=2, model="ensemble").fit(
        train2, train2["label_h2"].to_numpy(), count=train2["count_h2"].to_numpy(),
        curve_labels={1: y1},
    )  # fmt: skip
    assert scorer.curve_["1"] is scorer.model_.components_[NEXT_PERIOD]
    own = make_model("lightgbm", horizon=1, graph=None, seed=scorer.seed).fit(train2, y1)
    assert scorer.curve_["1"].booster_.model_to_string() == own.booster_.model_to_string()
    # other labels than the learner's column: a fit of its own
    other = EscalationScorer(graph=graph, horizon=2, model="ensemble").fit(
        train2, train2["label_h2"].to_numpy(), count=train2["count_h2"].to_numpy(),
        curve_labels={1: 1 - y1},
    )  # fmt: skip
    assert other.curve_["1"] is not other.model_.components_[NEXT_PERIOD]
    state, boosters = model_state(scorer)
    back = model_from_state(state, boosters, graph)
    np.testing.assert_array_equal(back.predict_curve(last), scorer.predict_curve(last))
