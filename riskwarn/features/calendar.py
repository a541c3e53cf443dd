"""Calendar features of the as-of dates: week, month, days to Lunar New Year."""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskwarn.lunar import LUNAR_NEW_YEAR


def calendar_frame(as_of: pd.DatetimeIndex) -> pd.DataFrame:
    """One row per panel row ``period = q`` (as of ``as_of[q]``).

    ``days_to_lunar_new_year`` counts to the next Lunar New Year on or after the
    as-of date; it is missing outside the calendar's years (2000-2040).
    """
    dates = pd.DatetimeIndex(as_of).normalize()
    lny = pd.DatetimeIndex(sorted(pd.Timestamp(d) for d in LUNAR_NEW_YEAR.values()))
    pos = lny.searchsorted(dates)
    inside = (pos < len(lny)) & (dates >= lny[0] - pd.Timedelta(days=366))
    nxt = lny[np.minimum(pos, len(lny) - 1)]
    days = (nxt - dates).days.to_numpy().astype("float64")
    return pd.DataFrame(
        {
            "period": np.arange(len(dates), dtype=np.int32),
            "as_of": pd.DatetimeIndex(as_of),
            "week_of_year": dates.isocalendar().week.to_numpy().astype(np.int32),
            "month_of_year": dates.month.to_numpy().astype(np.int32),
            "days_to_lunar_new_year": np.where(inside, days, np.nan),
        }
    )
