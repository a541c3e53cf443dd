"""Lunar New Year dates, hard-coded for 2000-2040.

Lunar New Year shapes the year of petitions and disputes: wage arrears come due in
the weeks before it, when workers go home. The simulator drives its wage-arrears
season from it and the calendar features count periods to it. The dates follow the
Chinese calendar and have no simple formula, so they are listed.
"""

from __future__ import annotations

import datetime as dt

LUNAR_NEW_YEAR: dict[int, dt.date] = {
    2000: dt.date(2000, 2, 5),
    2001: dt.date(2001, 1, 24),
    2002: dt.date(2002, 2, 12),
    2003: dt.date(2003, 2, 1),
    2004: dt.date(2004, 1, 22),
    2005: dt.date(2005, 2, 9),
    2006: dt.date(2006, 1, 29),
    2007: dt.date(2007, 2, 18),
    2008: dt.date(2008, 2, 7),
    2009: dt.date(2009, 1, 26),
    2010: dt.date(2010, 2, 14),
    2011: dt.date(2011, 2, 3),
    2012: dt.date(2012, 1, 23),
    2013: dt.date(2013, 2, 10),
    2014: dt.date(2014, 1, 31),
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
    2036: dt.date(2036, 1, 28),
    2037: dt.date(2037, 2, 15),
    2038: dt.date(2038, 2, 4),
    2039: dt.date(2039, 1, 24),
    2040: dt.date(2040, 2, 12),
}

FIRST_YEAR = min(LUNAR_NEW_YEAR)
LAST_YEAR = max(LUNAR_NEW_YEAR)


def lunar_new_year(year: int) -> dt.date:
    """Return the date of Lunar New Year (first day of the first lunar month) in ``year``.

    Raises
    ------
    KeyError
        When ``year`` is outside 2000-2040.
    """
    return LUNAR_NEW_YEAR[year]
