"""Baselines on hand-made rows: what each one learns and predicts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskwarn.errors import RiskwarnError
from riskwarn.models.baselines import (
    GraphHotspotBaseline,
    HistoricalRateBaseline,
    HotspotBaseline,
    PersistenceBaseline,
)


def test_persistence_learns_the_two_rates():
    X = pd.DataFrame({"esc_n_w1": [0, 0, 0, 0, 1, 2]})
    y = [0, 0, 0, 1, 1, 0]
    m = PersistenceBaseline().fit(X, y)
    assert (m.rate_quiet_, m.rate_escalated_) == (0.25, 0.5)
    p = m.predict_proba(pd.DataFrame({"esc_n_w1": [3, 0]}))
    np.testing.assert_allclose(p, [[0.5, 0.5], [0.75, 0.25]])


def test_persistence_with_no_escalated_training_rows_uses_the_overall_rate():
    m = PersistenceBaseline().fit(pd.DataFrame({"esc_n_w1": [0, 0, 0, 0]}), [0, 1, 0, 0])
    assert m.rate_escalated_ == 0.25


def test_isotonic_baselines_are_monotone_in_their_score():
    X = pd.DataFrame({"esc_n_w52": [0, 0, 1, 1, 2, 3, 5, 8]})
    y = [0, 0, 0, 1, 0, 1, 1, 1]
    m = HistoricalRateBaseline().fit(X, y)
    p = m.predict_proba(pd.DataFrame({"esc_n_w52": [0, 1, 2, 4, 100]}))[:, 1]
    # plain isotonic blocks {0}: 0/2, {1, 2}: 1/3, {3, 5, 8}: 3/3, each shrunk towards
    # the rate 1/2 by one pseudo-row: 0.5/3, 1.5/4, 3.5/4 (never exactly 0 or 1)
    np.testing.assert_allclose(p, [1 / 6, 0.375, 0.375, 0.875, 0.875])
    X2 = pd.DataFrame({"pet_n_w4": [1, 2], "dis_n_w4": [0, 1], "inc_n_w4": [0, 3]})
    assert HotspotBaseline().fit(X2, [0, 1])._score(X2).tolist() == [1, 6]


def test_graph_hotspot_adds_the_neighbour_means_and_nothing_for_an_island():
    X = pd.DataFrame(
        {
            "pet_n_w4": [1, 2],
            "inc_n_w4": [0, 1],
            "nbr_mean_pet_n_w4": [0.5, np.nan],
            "nbr_mean_inc_n_w4": [1.0, np.nan],
        }
    )
    assert GraphHotspotBaseline().fit(X, [0, 1])._score(X).tolist() == [2.5, 3.0]
    with pytest.raises(RiskwarnError, match="no grid graph"):
        GraphHotspotBaseline().fit(X[["pet_n_w4", "inc_n_w4"]], [0, 1])


@pytest.mark.parametrize(
    "X,y,words",
    [
        (pd.DataFrame({"other": [1]}), [1], "needs the feature"),
        (pd.DataFrame({"esc_n_w1": [1, 0]}), [1, 2], "0/1"),
        (pd.DataFrame({"esc_n_w1": [1, 0]}), [1, np.nan], "0/1"),
        (pd.DataFrame({"esc_n_w1": [1, 0]}), [1], "same"),
    ],
)
def test_bad_inputs_are_clear_errors(X, y, words):
    with pytest.raises(RiskwarnError, match=words):
        PersistenceBaseline().fit(X, y)
