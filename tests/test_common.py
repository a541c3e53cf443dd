"""Checks every model must pass (category_encoders style): one loop over all models."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError

from riskwarn.config import MODEL_NAMES
from riskwarn.models.catalogue import make_count_model, make_model
from riskwarn.models.scorer import EscalationScorer
from riskwarn.models.state import model_from_state, model_state
from tests.conftest import check_ignores_later_rows, simulated_features

# the ensemble at a longer horizon also learns the next period (label_h1) beside it
MODELS = [*MODEL_NAMES, "ensemble_h2", "lightgbm_count", "scorer"]
# A grid's long-run rate is a parameter learnt in fit: it reads no feature at all.
GRID_RATE_MODELS = ("shrunk_rate",)


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    _, f, graph = simulated_features(tmp_path_factory.mktemp("common_city"), 49, 60, seed=3)
    return f[f["label_h1"].notna()].reset_index(drop=True), graph


def _model(name, graph, seed=0):
    if name == "lightgbm_count":
        return make_count_model(1, seed=seed)
    if name == "scorer":
        return EscalationScorer(graph=graph, horizon=1, seed=seed)
    if name == "ensemble_h2":
        return make_model("ensemble", horizon=2, graph=graph, seed=seed)
    return make_model(name, horizon=1, graph=graph, seed=seed)


def _fit(model, X):
    h = int(getattr(model, "horizon", 1))
    if h > 1:  # the rows whose longer window is complete (every later one has label_h1)
        X = X[X[f"label_h{h}"].notna()]
    y = X[f"label_h{h}"].astype(int).to_numpy()
    if "count" in inspect.signature(model.fit).parameters:
        return model.fit(X, y, count=X[f"count_h{h}"].to_numpy(dtype=float))
    return model.fit(X, y)


@pytest.mark.parametrize("name", MODELS)
def test_model_contract(name, city):
    frame, graph = city
    model = _model(name, graph)
    params = model.get_params(deep=False)
    assert set(params) == set(inspect.signature(type(model)).parameters)
    clone(model)  # __init__ only stores parameters, so clone reproduces it
    with pytest.raises(NotFittedError):
        model.predict_proba(frame)
    before = frame.copy(deep=True)
    assert _fit(model, frame) is model
    pd.testing.assert_frame_equal(frame, before)  # inputs left unchanged
    assert any(k.endswith("_") and not k.startswith("_") for k in vars(model))
    p = model.predict_proba(frame)
    assert p.shape == (len(frame), 2) and np.all((p >= 0) & (p <= 1))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    pd.testing.assert_frame_equal(frame, before)
    if hasattr(model, "predict_expected"):
        e = model.predict_expected(frame)
        assert e.shape == (len(frame),) and np.all(e >= 0)


@pytest.mark.parametrize("name", MODELS)
def test_model_is_reproducible_and_ignores_rows_after_its_training_window(name, city):
    frame, graph = city
    cut = frame["as_of"].sort_values().unique()[40]
    a, d = check_ignores_later_rows(lambda rows: _fit(_model(name, graph), rows), frame, cut)
    late = (frame["as_of"] >= cut).to_numpy()
    if name not in GRID_RATE_MODELS:
        assert not np.array_equal(a[late], d[late])  # the change was seen


class _LooksAtTheBatch(BaseEstimator):
    """A model that leaks: it scores a row against the mean of the batch it is given."""

    def fit(self, X, y):
        self.fitted_ = True
        return self

    def predict_proba(self, X):
        x = X["esc_n_w1"].to_numpy(dtype=float)
        p = expit(x - x.mean())
        return np.column_stack([1 - p, p])


def test_the_later_rows_check_catches_a_model_that_looks_ahead(city):
    frame, _ = city
    dates = frame["as_of"].sort_values().unique()
    y = frame["label_h1"].astype(int).to_numpy()
    with pytest.raises(AssertionError):
        check_ignores_later_rows(lambda rows: _LooksAtTheBatch().fit(rows, y), frame, dates[40])
    # (a training split that lets later rows in is caught by the backtest's own test:
    # tests/test_backtest.py::test_a_fold_s_scores_ignore_every_row_after_its_test_dates)


@pytest.mark.parametrize("name", MODELS)
def test_model_scores_do_not_depend_on_row_order(name, city):
    frame, graph = city
    model = _fit(_model(name, graph), frame)
    shuffled = frame.sample(frac=1.0, random_state=1)
    p = model.predict_proba(frame)[:, 1]
    q = pd.Series(model.predict_proba(shuffled)[:, 1], index=shuffled.index)
    np.testing.assert_allclose(q.sort_index().to_numpy(), p, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", [n for n in MODELS if n not in ("persistence", *GRID_RATE_MODELS)])
def test_model_needs_its_features_and_says_which(name, city):
    frame, graph = city
    model = _fit(_model(name, graph), frame)
    with pytest.raises(Exception, match="lacks|needs|missing") as info:
        model.predict_proba(
            frame.drop(columns=["esc_n_w52", "pet_n_w4", "esc_n_w1", "pet_group_w4"])
        )
    assert type(info.value).__name__ == "RiskwarnError"


SKLEARN_CHECKS = (
    "check_no_attributes_set_in_init",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_estimator_cloneable",
    "check_do_not_raise_errors_in_init_or_set_params",
)


@pytest.mark.parametrize("check", SKLEARN_CHECKS)
@pytest.mark.parametrize("name", MODELS)
def test_scikit_learn_parameter_checks(name, check, city):
    """The estimator checks that do not need numeric arrays (ours take feature frames)."""
    from sklearn.utils import estimator_checks

    _, graph = city
    getattr(estimator_checks, check)(name, _model(name, graph))


@pytest.mark.parametrize("name", MODELS)
def test_model_round_trips_through_plain_data_without_pickle(name, city):
    frame, graph = city
    model = _fit(_model(name, graph), frame)
    state, boosters = model_state(model)
    # Through JSON text, as the model artifact stores it.
    text = json.dumps(state, allow_nan=False)
    assert "pickle" not in text
    back = model_from_state(json.loads(text), dict(boosters), graph)
    assert type(back) is type(model)
    np.testing.assert_array_equal(back.predict_proba(frame), model.predict_proba(frame))
    if hasattr(model, "predict_expected"):
        np.testing.assert_array_equal(back.predict_expected(frame), model.predict_expected(frame))
    assert back.get_params(deep=False).keys() == model.get_params(deep=False).keys()
    # A state is plain data: the same model gives the same text.
    again, _ = model_state(back)
    assert json.dumps(again, sort_keys=True) == json.dumps(state, sort_keys=True)
