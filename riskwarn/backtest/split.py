"""The rolling-origin split: one immutable object drives every backtest.

For each test as-of date ``t`` the models may learn only from rows whose label
window has closed before ``t``: an as-of ``s`` with horizon ``h`` is usable when
``s + h periods <= t`` (the last ``h`` periods before ``t`` are the gap). Models are
refitted every ``refit_every`` periods; the test dates in between reuse the model
fitted at the first date of their block.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd

from riskwarn.errors import ConfigError


@dataclass(frozen=True)
class Fold:
    """One refit: train on as-of dates ``<= train_until``, score ``test_as_of``."""

    train_until: pd.Timestamp
    test_as_of: tuple[pd.Timestamp, ...]


@dataclass(frozen=True)
class RollingOriginSplit:
    """Rolling-origin evaluation over period-boundary as-of dates.

    Parameters
    ----------
    horizon : int
        Label horizon in periods (the gap between training labels and a test date).
    start, end : date-like or None
        First and last test as-of date; ``end`` defaults to the last date whose label
        window is fully observed.
    step : int
        Periods between test dates.
    refit_every : int
        Periods between refits.
    """

    horizon: int
    start: object = None
    end: object = None
    step: int = 1
    refit_every: int = 4

    def folds(self, as_of_dates: pd.DatetimeIndex, n_labelled: int) -> list[Fold]:
        """The folds for a dataset.

        Parameters
        ----------
        as_of_dates : DatetimeIndex, shape (n_dates,)
            Every as-of date of the panel, ascending, one period apart.
        n_labelled : int
            How many of them (from the first) have a fully observed label window.
        """
        for name in ("horizon", "step", "refit_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"[backtest] {name} must be a whole number >= 1, got {value!r}.")
        dates = pd.DatetimeIndex(as_of_dates)
        first = self._position(dates, self.start, "start", default=0)
        last = self._position(dates, self.end, "end", default=n_labelled - 1)
        if last > n_labelled - 1:
            raise ConfigError(
                f"[backtest] end {dates[last]:%Y-%m-%d} has no observed label yet; the last "
                f"labelled as-of date is {dates[n_labelled - 1]:%Y-%m-%d}."
            )
        if first > last:
            raise ConfigError("[backtest] start is after end: there is nothing to test.")
        if first - self.horizon < 0:
            raise ConfigError(
                f"[backtest] start {dates[first]:%Y-%m-%d} leaves no training rows: with "
                f"horizon {self.horizon} the first test date must be at least "
                f"{dates[min(self.horizon, len(dates) - 1)]:%Y-%m-%d}."
            )
        tests = list(range(first, last + 1, self.step))
        folds, block = [], []
        for p in tests:
            if block and p - block[0] >= self.refit_every:
                folds.append(self._fold(dates, block))
                block = []
            block.append(p)
        folds.append(self._fold(dates, block))
        return folds

    def _fold(self, dates: pd.DatetimeIndex, block: list[int]) -> Fold:
        return Fold(dates[block[0] - self.horizon], tuple(dates[p] for p in block))

    @staticmethod
    def _position(dates: pd.DatetimeIndex, value: object, name: str, default: int) -> int:
        if value is None:
            return default
        t = pd.Timestamp(value)
        if t.tzinfo is not None and dates.tz is None:
            t = t.tz_localize(None)
        elif t.tzinfo is None and dates.tz is not None:
            # A naive date in the config is local time, as everywhere in riskwarn.
            t = t.tz_localize(dates.tz)
        elif t.tzinfo is not None:
            t = t.tz_convert(dates.tz)
        if t not in dates:
            raise ConfigError(
                f"[backtest] {name} = {value!r} is not an as-of date of the data (period "
                f"boundaries from {dates[0]:%Y-%m-%d} to {dates[-1]:%Y-%m-%d})."
            )
        return int(dates.get_loc(t))

    def split(self, as_of_dates: pd.DatetimeIndex, n_labelled: int) -> Iterator[Fold]:
        yield from self.folds(as_of_dates, n_labelled)
