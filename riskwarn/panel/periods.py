"""Periods and as-of dates: time cut into ``[start, next)`` by the config's ``freq``.

A score *as of* boundary ``s_p`` uses only periods ``< p``; its label window is
periods ``p .. p + horizon - 1``. Timestamps handed to the engines are naive local
time of the configured zone, so period arithmetic is the same on every engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis.expr.types as ir
import numpy as np
import pandas as pd
from pandas.tseries.offsets import Day, MonthBegin, QuarterBegin, Week, YearBegin

from riskwarn.config import Config
from riskwarn.data.gaps import extraction_gaps
from riskwarn.errors import ConfigError, RiskwarnError

_SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class PeriodIndex:
    """The periods of a dataset.

    Attributes
    ----------
    freq : str
        Pandas offset alias.
    boundaries : pd.DatetimeIndex, shape (n_boundaries,)
        Naive local period starts ``s_0 < s_1 < …``, the last one at or after ``end``.
    end : pd.Timestamp
        Naive local moment the data ends; periods that end after it are incomplete.
    """

    freq: str
    boundaries: pd.DatetimeIndex
    end: pd.Timestamp

    @property
    def start(self) -> pd.Timestamp:
        return self.boundaries[0]

    @property
    def n_complete(self) -> int:
        """Periods ``[s_q, s_{q+1})`` that end at or before ``end``."""
        return int((self.boundaries[1:] <= self.end).sum())

    @property
    def as_of_dates(self) -> pd.DatetimeIndex:
        """Every valid as-of boundary: ``s_1 … s_{n_complete}`` (each has history)."""
        return self.boundaries[1 : self.n_complete + 1]

    def index_of(self, as_of: object) -> int:
        """Period index ``p`` of an as-of boundary ``s_p``; a clear error if it is not one."""
        t = pd.Timestamp(as_of)
        if t.tzinfo is not None:
            raise RiskwarnError(f"as_of {as_of!r}: give a local date without a time zone.")
        valid = self.as_of_dates
        if len(valid) == 0:
            raise RiskwarnError(
                "the data holds no complete period, so there is no as-of date to build."
            )
        if t not in valid:
            raise RiskwarnError(
                f"as_of {t:%Y-%m-%d %H:%M} is not a valid as-of date: as-of dates are the "
                f"starts of periods ({_boundary_words(self.freq)}), from "
                f"{valid[0]:%Y-%m-%d} to {valid[-1]:%Y-%m-%d} in this data; the nearest "
                f"{_nearest(valid, t)}."
            )
        return int(self.boundaries.get_loc(t))

    def period_expr(self, ts: ir.TimestampValue) -> ir.IntegerValue:
        """Engine-neutral period index of naive local timestamps ``ts``."""
        offset = pd.tseries.frequencies.to_offset(self.freq)
        months = _months_per_period(offset)
        if months:
            y0, m0 = self.start.year, self.start.month
            return ((ts.year() - y0) * 12 + (ts.month() - m0)) // months
        seconds = _seconds_per_period(offset)
        s0 = int((self.start - pd.Timestamp(0)) // pd.Timedelta(seconds=1))
        return (ts.epoch_seconds() - s0) // seconds

    def period_of(self, ts: pd.Series) -> np.ndarray:
        """Period index of naive local pandas timestamps (reference for tests)."""
        return np.searchsorted(self.boundaries.to_numpy(), ts.to_numpy(), side="right") - 1


def _months_per_period(offset) -> int:
    if isinstance(offset, MonthBegin):
        return offset.n
    if isinstance(offset, QuarterBegin):
        return 3 * offset.n
    if isinstance(offset, YearBegin):
        return 12 * offset.n
    return 0


def _seconds_per_period(offset) -> int:
    if isinstance(offset, Week) and offset.weekday is not None:
        return 7 * offset.n * _SECONDS_PER_DAY
    if isinstance(offset, Day):
        return offset.n * _SECONDS_PER_DAY
    raise ConfigError(
        f"[data] freq {offset.freqstr!r} is not supported for panels; use days ('D', '7D'), "
        "anchored weeks ('W-MON', '2W-MON'), months ('MS'), quarters ('QS') or years ('YS')."
    )


def _local_naive(value: str | None, timezone: str) -> pd.Timestamp | None:
    if value is None:
        return None
    t = pd.Timestamp(value)
    return t.tz_convert(timezone).tz_localize(None) if t.tzinfo else t


def make_period_index(
    freq: str, first_event: pd.Timestamp, last_event: pd.Timestamp, *, start=None, end=None
) -> PeriodIndex:
    """Periods from the boundary at or before ``start``/``first_event`` to ``end``.

    Without ``end``, the data is taken to end with the period holding ``last_event``.
    All timestamps are naive local time.
    """
    offset = pd.tseries.frequencies.to_offset(freq)
    if not _months_per_period(offset):
        _seconds_per_period(offset)  # raises for unsupported freqs
    begin = pd.Timestamp(start if start is not None else first_event).normalize()
    if isinstance(offset, (Week, MonthBegin, QuarterBegin, YearBegin)):
        # Anchored offsets: snap back to the anchor (a Monday, the 1st of a month…).
        base = type(offset)(n=1, **_anchor_kwargs(offset))
        begin = base.rollback(begin)
    stop = pd.Timestamp(end) if end is not None else None
    horizon = stop if stop is not None else pd.Timestamp(last_event)
    if horizon < begin:
        raise RiskwarnError(
            f"the data's end ({horizon}) is before its first period ({begin:%Y-%m-%d})."
        )
    bounds = [begin]
    while bounds[-1] <= horizon:
        bounds.append(bounds[-1] + offset)
    if stop is None:
        stop = bounds[-1]  # the period holding the latest event counts as complete
    else:
        while len(bounds) > 1 and bounds[-2] >= stop:
            bounds.pop()
    return PeriodIndex(freq=freq, boundaries=pd.DatetimeIndex(bounds), end=stop)


def _anchor_kwargs(offset) -> dict:
    if isinstance(offset, Week):
        return {"weekday": offset.weekday}
    if isinstance(offset, QuarterBegin):
        return {"startingMonth": offset.startingMonth}
    if isinstance(offset, YearBegin):
        return {"month": offset.month}
    return {}


def period_index_for(event_times: list[pd.Series], config: Config) -> PeriodIndex:
    """The period index of a dataset from its event timestamps (tz-aware Series)."""
    tz = config.data.timezone
    stamps = [s.dropna() for s in event_times if s is not None and s.notna().any()]
    if not stamps and config.data.start is None:
        raise RiskwarnError(
            "the event tables hold no accepted events (none in the files, or every row "
            "quarantined: `riskwarn validate --quarantine DIR` says why), so there is no "
            "period to build features for. Correct the rows the quarantine lists; set "
            "[data] start and end only to build an empty panel on purpose."
        )
    first = min(s.min() for s in stamps).tz_convert(tz).tz_localize(None) if stamps else None
    last = max(s.max() for s in stamps).tz_convert(tz).tz_localize(None) if stamps else None
    start = _local_naive(config.data.start, tz)
    end = _local_naive(config.data.end, tz)
    return make_period_index(
        config.data.freq,
        first if first is not None else start,
        last if last is not None else end,
        start=start,
        end=end,
    )


_WEEKDAYS = {
    "MON": "Monday",
    "TUE": "Tuesday",
    "WED": "Wednesday",
    "THU": "Thursday",
    "FRI": "Friday",
    "SAT": "Saturday",
    "SUN": "Sunday",
}


def _boundary_words(freq: str) -> str:
    """What a period start is, in words: "a Monday for W-MON", "the 1st of a month for MS"."""
    code = str(freq).upper()
    if code.startswith("W-") and code[2:] in _WEEKDAYS:
        return f"a {_WEEKDAYS[code[2:]]} for {freq}"
    if code == "W":
        return f"a Sunday for {freq}"
    if code == "MS":
        return f"the 1st of a month for {freq}"
    if code.startswith("QS"):
        return f"the 1st of a quarter for {freq}"
    return f"period boundaries of freq {freq!r}"


def _nearest(valid: pd.DatetimeIndex, t: pd.Timestamp) -> str:
    i = int(valid.searchsorted(t))
    near = [valid[j] for j in (i - 1, i) if 0 <= j < len(valid)]
    if len(near) == 1:
        return f"is {near[0]:%Y-%m-%d}"
    return f"are {near[0]:%Y-%m-%d} and {near[1]:%Y-%m-%d}"


def unobserved_periods(
    periods: PeriodIndex,
    times: dict[str, pd.Series],
    missing: tuple[str, ...] = (),
) -> dict[str, np.ndarray]:
    """Per event table, the complete periods it did not observe (sorted indices).

    A period is unobserved for a table where :func:`riskwarn.data.gaps.extraction_gaps`
    says so (no row at all, city-wide, in a busy table); and, for every table, the
    periods that hold a date of ``missing`` (``[data] missing_periods``).

    Parameters
    ----------
    periods : PeriodIndex
    times : dict of str to Series
        Per table, its events' naive local event times.
    missing : tuple of str
        Dates; the periods that hold them are unobserved in every table.
    """
    n = periods.n_complete
    listed = np.zeros(n, dtype=bool)
    for date in missing:
        p = int(periods.period_of(pd.Series([pd.Timestamp(date)]))[0])
        if 0 <= p < n:
            listed[p] = True
    out = {}
    for name, ts in times.items():
        index = periods.period_of(ts.dropna())
        counts = np.bincount(index[(index >= 0) & (index < n)], minlength=n)[:n]
        out[name] = np.flatnonzero(extraction_gaps(counts) | listed)
    return out


def describe_gaps(periods: PeriodIndex, unobserved: dict[str, np.ndarray]) -> list[str]:
    """One line per event table with unobserved periods, for reports and warnings."""
    out = []
    starts = periods.boundaries
    for name, idx in unobserved.items():
        if len(idx):
            shown = ", ".join(f"{starts[i]:%Y-%m-%d}" for i in idx[:4])
            out.append(
                f"{name} has no rows at all in {len(idx)} period(s) ({shown}"
                f"{' …' if len(idx) > 4 else ''}): read as not observed (an extraction "
                "gap), so labels whose window covers them are missing, not 0."
            )
    return out
