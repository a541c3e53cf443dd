"""Checks every model must pass (category_encoders style): one loop over all models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from riskwarn.config import Config, DataConfig
from riskwarn.data.validate import load_dataset
from riskwarn.features.build import build_features
from riskwarn.models.baselines import BASELINES
from riskwarn.simulate import simulate_city, write_city

MODELS = {name: cls for name, cls in BASELINES.items()}


@pytest.fixture(scope="module")
def frame(tmp_path_factory):
    folder = tmp_path_factory.mktemp("common_city")
    sim = simulate_city(n_grids=49, n_periods=60, seed=3)
    write_city(sim, folder)
    config = Config(
        data=DataConfig(end=sim.end.tz_convert("Asia/Shanghai").tz_localize(None).isoformat())
    )
    f = build_features(load_dataset(folder, config), config, labels=True)
    return f[f["label_h1"].notna()].reset_index(drop=True)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_contract(name, frame):
    model = MODELS[name]()
    params = model.get_params()
    assert clone(model).get_params() == params  # __init__ only stores parameters
    with pytest.raises(NotFittedError):
        model.predict_proba(frame)
    X, y = frame, frame["label_h1"].astype(int).to_numpy()
    before = X.copy(deep=True)
    assert model.fit(X, y) is model
    pd.testing.assert_frame_equal(X, before)  # inputs left unchanged
    assert any(k.endswith("_") and not k.startswith("_") for k in vars(model))
    p = model.predict_proba(X)
    assert p.shape == (len(X), 2) and np.all((p >= 0) & (p <= 1))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    pd.testing.assert_frame_equal(X, before)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_is_reproducible_and_ignores_rows_after_its_training_window(name, frame):
    cut = frame["as_of"].sort_values().unique()[40]
    train = frame[frame["as_of"] < cut]
    y = train["label_h1"].astype(int).to_numpy()
    a = MODELS[name]().fit(train, y).predict_proba(frame)
    b = MODELS[name]().fit(train, y).predict_proba(frame)
    np.testing.assert_array_equal(a, b)
    # Later rows, however wild, change nothing that was fitted on earlier ones.
    wild = frame.copy()
    late = wild["as_of"] >= cut
    for col in wild.select_dtypes("number").columns:
        wild[col] = wild[col].where(~late, wild[col] * 7 + 3)
    c = MODELS[name]().fit(wild[wild["as_of"] < cut], y).predict_proba(frame)
    np.testing.assert_array_equal(a, c)
    # Scoring is row by row: later rows in the same batch do not move earlier scores.
    d = MODELS[name]().fit(train, y).predict_proba(wild)
    np.testing.assert_array_equal(a[~late.to_numpy()], d[~late.to_numpy()])
    assert not np.array_equal(a[late.to_numpy()], d[late.to_numpy()])  # the change was seen
