"""The simulated time line: period edges, lengths and the checks on them."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskwarn.errors import RiskwarnError
from riskwarn.lunar import FIRST_YEAR, LAST_YEAR

US_PER_DAY = 86_400_000_000
US_PER_MINUTE = 60_000_000
# The last wage-arrears season that the Lunar New Year table covers may begin as early
# as 56 days before the earliest possible Lunar New Year (21 January) of the next year.
_SPAN_FIRST = dt.date(FIRST_YEAR, 1, 1)
_SPAN_LAST = dt.date(LAST_YEAR, 11, 26)


@dataclass(frozen=True)
class Timeline:
    """Periods ``[edges[t], edges[t + 1])`` for ``t = 0 .. n_periods - 1``.

    Attributes
    ----------
    edges : pd.DatetimeIndex, shape (n_periods + 1,)
        Tz-aware period boundaries; ``edges[-1]`` is the data extraction moment.
    edges_us : np.ndarray of int64, shape (n_periods + 1,)
        The same boundaries in microseconds since the epoch (UTC).
    edges_day : np.ndarray of float64, shape (n_periods + 1,)
        The boundaries in days since ``edges[0]``.
    days : np.ndarray of float64, shape (n_periods,)
        Period lengths in days (monthly periods differ in length).
    freq, timezone : str
        As given.
    """

    edges: pd.DatetimeIndex
    edges_us: np.ndarray
    edges_day: np.ndarray
    days: np.ndarray
    freq: str
    timezone: str

    @property
    def n_periods(self) -> int:
        return len(self.days)

    @property
    def start(self) -> pd.Timestamp:
        return self.edges[0]

    @property
    def end(self) -> pd.Timestamp:
        return self.edges[-1]


def make_timeline(start: str, n_periods: int, freq: str, timezone: str) -> Timeline:
    """Cut time into ``n_periods`` periods of ``freq`` from ``start`` snapped forward.

    ``start`` is read as local time of ``timezone`` (an aware ``start`` is converted),
    moved to midnight and then rolled forward to the first period boundary of ``freq``,
    so weekly periods start on the anchor weekday and monthly ones on the first.

    Raises
    ------
    RiskwarnError
        For an unknown time zone or freq, an unreadable start, periods that do not
        advance, or a span outside the Lunar New Year table (2000-2040).
    """
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise RiskwarnError(
            f"timezone {timezone!r} is not an IANA time zone (for example 'Asia/Shanghai')."
        ) from exc
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except (ValueError, TypeError) as exc:
        raise RiskwarnError(
            f"freq {freq!r} is not a pandas offset alias (for example 'W-MON', 'MS' or 'D')."
        ) from exc
    try:
        ts = pd.Timestamp(start)
    except (ValueError, TypeError) as exc:
        raise RiskwarnError(f"start {start!r} is not a date (for example '2021-01-04').") from exc
    ts = ts.tz_localize(timezone) if ts.tzinfo is None else ts.tz_convert(timezone)
    try:
        first = offset.rollforward(ts.normalize())
        edges = pd.date_range(first, periods=n_periods + 1, freq=offset).as_unit("us")
    except (ValueError, TypeError, OverflowError) as exc:
        raise RiskwarnError(f"freq {freq!r} cannot cut time into periods from {start}.") from exc
    edges_us = edges.asi8.astype(np.int64)
    if len(edges) != n_periods + 1 or np.any(np.diff(edges_us) <= 0):
        raise RiskwarnError(f"freq {freq!r} does not give periods of positive length.")
    if edges[0].date() < _SPAN_FIRST or edges[-1].date() > _SPAN_LAST:
        raise RiskwarnError(
            f"the simulated span {edges[0].date()} to {edges[-1].date()} must lie between "
            f"{_SPAN_FIRST} and {_SPAN_LAST}, because Lunar New Year dates are tabulated "
            f"for {FIRST_YEAR}-{LAST_YEAR}; choose another start or fewer periods."
        )
    edges_day = (edges_us - edges_us[0]) / US_PER_DAY
    return Timeline(
        edges=edges,
        edges_us=edges_us,
        edges_day=edges_day,
        days=np.diff(edges_day),
        freq=freq,
        timezone=timezone,
    )
