"""Training samples drawn inside the engine: rates, weights, determinism, whole grids."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from riskwarn.features.sample import (
    count_labelled,
    grid_sample,
    sample_rates,
    weighted_sample,
)
from riskwarn.models.frames import downsample_weights


@pytest.fixture(scope="module")
def engine():
    rng = np.random.default_rng(0)
    n_grids, n_dates = 400, 60
    dates = pd.date_range("2023-01-02", periods=n_dates, freq="W-MON")
    label = (rng.random(n_grids * n_dates) < 0.03).astype(float)
    label[-n_grids:] = np.nan  # the last date's window is not observed
    frame = pd.DataFrame(
        {
            "grid_id": np.tile([f"G{i:03d}" for i in range(n_grids)], n_dates),
            "as_of": np.repeat(dates, n_grids),
            "label_h1": pd.array(label, dtype="Float64").astype("Int8"),
        }
    )
    con = ibis.duckdb.connect()
    return con, con.create_table("rows", frame), frame


def test_rates_follow_the_models_own_down_sampling_rule():
    assert sample_rates(1_000, 10, 5_000).rate_negative == 1.0
    r = sample_rates(100_000, 2_000, 20_000)
    assert r.rate_positive == 1.0 and r.rate_negative == pytest.approx(18_000 / 98_000)
    assert r.expected_rows == 20_000
    # more positives than half the sample: both classes are sampled, half each
    r = sample_rates(100_000, 60_000, 20_000)
    assert r.rate_positive == pytest.approx(10_000 / 60_000)
    assert r.rate_negative == pytest.approx(10_000 / 40_000)
    # the in-memory rule is the same function
    target = np.r_[np.ones(2_000), np.zeros(98_000)]
    kept = downsample_weights(target, 20_000, seed=1) > 0
    assert kept[2_000:].mean() == pytest.approx(18_000 / 98_000, rel=0.05)


def test_the_weighted_sample_keeps_every_escalation_and_the_class_totals(engine):
    con, table, frame = engine
    n, positive = count_labelled(con, table, "label_h1")
    labelled = frame["label_h1"].notna()
    assert n == labelled.sum() and positive == (frame["label_h1"] == 1).sum()
    rates = sample_rates(n, positive, 4_000)
    kept = con.to_pandas(weighted_sample(table, "label_h1", rates, seed=3))
    assert len(kept) == pytest.approx(4_000, rel=0.1)
    assert kept["label_h1"].notna().all()  # unobserved windows are never sampled
    assert (kept["label_h1"] == 1).sum() == positive  # every escalation kept
    # each kept row weighs its inverse rate: the weights add up to each class's total
    for cls, total in ((1, positive), (0, n - positive)):
        assert kept.loc[kept["label_h1"] == cls, "sample_weight"].sum() == pytest.approx(
            total, rel=0.1
        )
    again = con.to_pandas(weighted_sample(table, "label_h1", rates, seed=3))
    key = ["grid_id", "as_of"]
    pd.testing.assert_frame_equal(
        kept.sort_values(key, ignore_index=True), again.sort_values(key, ignore_index=True)
    )
    other = con.to_pandas(weighted_sample(table, "label_h1", rates, seed=4))
    assert set(map(tuple, other[key].to_numpy())) != set(map(tuple, kept[key].to_numpy()))


def test_the_backtest_sample_is_whole_grids(engine):
    con, table, frame = engine
    picked = grid_sample(con, table, 50, seed=3)
    assert len(picked) == 50 == len(set(picked)) and picked == sorted(picked)
    assert picked == grid_sample(con, table, 50, seed=3)
    assert picked != grid_sample(con, table, 50, seed=4)
    # more grids asked for than there are: all of them
    assert grid_sample(con, table, 10_000, seed=3) == sorted(frame["grid_id"].unique())
