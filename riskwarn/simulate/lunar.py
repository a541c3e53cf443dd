"""Lunar New Year dates, hard-coded for 2015-2035.

The wage-arrears season of the simulator is the weeks before Lunar New Year, when
workers go home and unpaid wages come due. The dates follow the Chinese calendar
and have no simple formula, so they are listed.
"""

from __future__ import annotations

import datetime as dt

LUNAR_NEW_YEAR: dict[int, dt.date] = {
    2015: dt.date(2015, 2, 19),
    2016: dt.date(2016, 2, 8),
    2017: dt.date(2017, 1, 28),
    2018: dt.date(2018, 2, 16),
    2019: dt.date(2019, 2, 5),
    2020: dt.date(2020, 1, 25),
    2021: dt.date(2021, 2, 12),
    2022: dt.date(2022, 2, 1),
    2023: dt.date(2023, 1, 22),
    2024: dt.date(2024, 2, 10),
    2025: dt.date(2025, 1, 29),
    2026: dt.date(2026, 2, 17),
    2027: dt.date(2027, 2, 6),
    2028: dt.date(2028, 1, 26),
    2029: dt.date(2029, 2, 13),
    2030: dt.date(2030, 2, 3),
    2031: dt.date(2031, 1, 23),
    2032: dt.date(2032, 2, 11),
    2033: dt.date(2033, 1, 31),
    2034: dt.date(2034, 2, 19),
    2035: dt.date(2035, 2, 8),
}

FIRST_YEAR = min(LUNAR_NEW_YEAR)
LAST_YEAR = max(LUNAR_NEW_YEAR)


def lunar_new_year(year: int) -> dt.date:
    """Return the date of Lunar New Year (first day of the first lunar month) in ``year``.

    Raises
    ------
    KeyError
        When ``year`` is outside 2015-2035.
    """
    return LUNAR_NEW_YEAR[year]
