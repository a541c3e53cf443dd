"""The rolling-origin split: gaps, refits, defaults and bad settings."""

from __future__ import annotations

import pandas as pd
import pytest

from riskwarn.backtest.split import RollingOriginSplit
from riskwarn.errors import ConfigError

DATES = pd.date_range("2023-01-02", periods=30, freq="W-MON")


def test_every_test_date_trains_only_on_closed_labels():
    split = RollingOriginSplit(horizon=4, start=DATES[10], end=DATES[20], step=1, refit_every=4)
    folds = split.folds(DATES, n_labelled=26)
    tested = [t for f in folds for t in f.test_as_of]
    assert tested == list(DATES[10:21])
    for fold in folds:
        for t in fold.test_as_of:
            # the training as-of s has its window [s, s + 4 periods) closed by t
            assert fold.train_until + 4 * pd.offsets.Week(weekday=0) <= t
    # refits at 10, 14, 18: blocks of four periods
    assert [f.test_as_of[0] for f in folds] == [DATES[10], DATES[14], DATES[18]]
    assert folds[0].train_until == DATES[6]


def test_step_and_default_end():
    split = RollingOriginSplit(horizon=1, start=DATES[5], step=3, refit_every=6)
    folds = split.folds(DATES, n_labelled=29)
    tested = [t for f in folds for t in f.test_as_of]
    assert tested == list(DATES[5:29:3])  # up to the last labelled date
    assert all(len(f.test_as_of) <= 2 for f in folds)


def test_split_is_immutable():
    split = RollingOriginSplit(horizon=1)
    with pytest.raises(AttributeError):
        split.horizon = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs,words",
    [
        ({"horizon": 4, "start": DATES[2]}, "no training rows"),
        ({"horizon": 1, "start": "2023-01-04"}, "not an as-of date"),
        ({"horizon": 1, "start": DATES[10], "end": DATES[5]}, "start is after end"),
        ({"horizon": 1, "start": DATES[5], "end": DATES[29]}, "no observed label"),
        ({"horizon": 1, "step": 0}, "step must be"),
    ],
)
def test_bad_settings_are_config_errors(kwargs, words):
    with pytest.raises(ConfigError, match=words):
        RollingOriginSplit(**kwargs).folds(DATES, n_labelled=26)


def test_naive_and_offset_dates_name_the_same_local_boundary():
    dates = pd.date_range("2021-01-11", periods=20, freq="W-MON", tz="Asia/Shanghai")
    for start in ("2021-03-01", "2021-03-01T00:00:00+08:00", "2021-02-28T16:00:00Z"):
        folds = RollingOriginSplit(horizon=1, start=start).folds(dates, 20)
        assert folds[0].test_as_of[0] == dates[7]
