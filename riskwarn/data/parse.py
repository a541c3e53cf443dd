"""Vectorised parsing of raw cells into contract types.

Every parser returns ``(typed, bad)``: the typed Series (missing where the cell is
empty or could not be parsed) and a boolean mask of cells that were present but
could not be parsed. Nothing is clipped or filled here; a bad cell becomes a row
error downstream, never a silent zero.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import shapely

from riskwarn.data.contract import Kind

# An explicit offset (or Z) after a time of day; a bare date such as 2023-01-02
# must not be mistaken for a negative offset.
_AWARE = r"[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$"
_TRUE = {"true", "t", "yes", "y", "1", "是"}
_FALSE = {"false", "f", "no", "n", "0", "否"}
TIME_UNIT = "us"


def present(raw: pd.Series) -> pd.Series:
    """Cells that hold a value: not null and, for text, not blank."""
    mask = raw.notna()
    if _is_text(raw):
        mask &= raw.astype("string").str.strip().ne("").fillna(False)
    return mask.astype(bool)


def _is_text(s: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(s.dtype) or s.dtype == object


def _result(typed: pd.Series, raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    bad = present(raw) & typed.isna()
    return typed, bad.astype(bool)


def parse_str(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Text as pandas ``string``; numbers from Parquet become their decimal text."""
    s = raw.astype("string")
    s = s.where(present(raw))
    return s, pd.Series(False, index=raw.index)


def parse_float(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_bool_dtype(raw.dtype):
        typed = pd.Series(np.nan, index=raw.index, dtype="Float64")
    elif pd.api.types.is_numeric_dtype(raw.dtype):
        typed = raw.astype("Float64")
    else:
        typed = pd.to_numeric(raw.astype("string").str.strip(), errors="coerce").astype("Float64")
    # inf is not a measurement; treat it as unparseable rather than a huge value.
    typed = typed.where(~np.isinf(typed.astype(float).fillna(0.0)))
    return _result(typed, raw)


def parse_int(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    as_float, _ = parse_float(raw)
    values = as_float.astype(float)
    integral = np.isfinite(values) & (np.floor(values) == values) & (np.abs(values) < 2**53)
    typed = as_float.where(pd.Series(integral, index=raw.index)).astype("Int64")
    return _result(typed, raw)


def parse_bool(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_bool_dtype(raw.dtype):
        return raw.astype("boolean"), pd.Series(False, index=raw.index)
    text = raw.astype("string").str.strip().str.lower()
    typed = pd.Series(pd.NA, index=raw.index, dtype="boolean")
    typed[text.isin(_TRUE).fillna(False)] = True
    typed[text.isin(_FALSE).fillna(False)] = False
    return _result(typed, raw)


# Year-first dates as Chinese exports write them: 2023/5/6 14:30, 2023.5.6,
# 2023年5月6日, 2023年5月6日 14时30分, 2023-5-6 14:30:05 (and ISO 8601 itself).
_YEAR_FIRST = re.compile(
    r"^(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?"
    r"(?:(?:\s+|T)(?P<H>\d{1,2})\s*[:时点]\s*(?P<M>\d{1,2})\s*分?"
    r"(?:\s*[:]?\s*(?P<S>\d{1,2}(?:[.,]\d+)?)\s*秒?)?)?$"
)
# 20230506 and 202305061430(00): digits only, year first.
_COMPACT = re.compile(
    r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})(?:(?P<H>\d{2})(?P<M>\d{2})(?P<S>\d{2})?)?$"
)
# A month alone, as monthly exports date their rows: 2021年2月, 2021/2, 2021.02 (the
# first of the month; ISO 8601's 2021-02 is read so by pandas already).
_YEAR_MONTH = re.compile(r"^(?P<y>\d{4})\s*(?:年|[/.])\s*(?P<m>\d{1,2})\s*月?$")
_PLAIN_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
# Day and month first in either order (5/6/2023, 06-05-23): no rule tells them apart.
_AMBIGUOUS = re.compile(r"^\d{1,2}\s*[-/.]\s*\d{1,2}\s*[-/.]\s*\d{2,4}(?:[\sT].*)?$")


def _iso(text: pd.Series) -> pd.Series:
    """The year-first forms of :data:`_YEAR_FIRST` and :data:`_COMPACT` as ISO 8601 text."""
    out = text.copy()
    # Plain ISO 8601 (what riskwarn itself writes) needs no rewriting: the common case
    # at scale skips the two extracts below.
    other = ~text.str.match(_PLAIN_ISO).fillna(False).astype(bool)
    if not other.any():
        return out
    text = text[other]
    for pattern in (_YEAR_FIRST, _COMPACT):
        parts = text.str.extract(pattern)
        hit = parts["y"].notna()
        if not hit.any():
            continue
        p = parts[hit]
        iso = p["y"] + "-" + p["m"].str.zfill(2) + "-" + p["d"].str.zfill(2)
        timed = p["H"].notna()
        clock = "T" + p["H"].str.zfill(2) + ":" + p["M"].str.zfill(2)
        clock = clock + (":" + p["S"].str.replace(",", ".").str.zfill(2)).fillna("")
        out[hit[hit].index] = iso.where(~timed, iso + clock)
    parts = text.str.extract(_YEAR_MONTH)
    hit = parts["y"].notna() & parts["m"].astype(float).between(1, 12)
    if hit.any():
        p = parts[hit]
        out[hit[hit].index] = p["y"] + "-" + p["m"].str.zfill(2) + "-01"
    return out


def ambiguous_dates(raw: pd.Series) -> pd.Series:
    """Cells whose date puts day and month first, in an order no rule can tell (5/6/2023)."""
    if not _is_text(raw):
        return pd.Series(False, index=raw.index)
    text = raw.astype("string").str.strip()
    return (present(raw) & text.str.match(_AMBIGUOUS).fillna(False)).astype(bool)


def parse_timestamp(raw: pd.Series, timezone: str) -> tuple[pd.Series, pd.Series]:
    """Dates and times to tz-aware timestamps in ``timezone``.

    ISO 8601, and the year-first forms of Chinese exports: ``2023/5/6 14:30``,
    ``2023.5.6``, ``2023年5月6日`` (with ``14时30分`` or ``14:30``), ``20230506``.
    Naive values are local time of ``timezone``; values with an offset are
    converted to it; one column may mix both. A naive local time that does not
    exist or is ambiguous (DST changes) is unparseable, not guessed; so is a date
    with day and month first (:func:`ambiguous_dates`): never a silent swap.
    """
    out = pd.Series(pd.NaT, index=raw.index, dtype=f"datetime64[{TIME_UNIT}, {timezone}]")
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        out[:] = raw.dt.tz_convert(timezone).dt.as_unit(TIME_UNIT)
        return out, pd.Series(False, index=raw.index)
    if pd.api.types.is_datetime64_dtype(raw.dtype):
        local = raw.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
        out[:] = local.dt.as_unit(TIME_UNIT)
        return _result(out, raw)
    text = raw.astype("string").str.strip()
    ok = present(raw)
    aware = text.str.contains(_AWARE, regex=True).fillna(False).astype(bool) & ok
    naive = ok & ~aware
    if aware.any():
        parsed = pd.to_datetime(text[aware], format="ISO8601", utc=True, errors="coerce")
        out[aware] = parsed.dt.tz_convert(timezone).dt.as_unit(TIME_UNIT)
    if naive.any():
        parsed = pd.to_datetime(_iso(text[naive]), format="ISO8601", errors="coerce")
        if isinstance(parsed.dtype, pd.DatetimeTZDtype):  # defensive: pandas inferred a zone
            local = parsed.dt.tz_convert(timezone)
        else:
            local = parsed.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
        out[naive] = local.dt.as_unit(TIME_UNIT)
    return _result(out, raw)


def parse_wkt(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Keep valid polygon WKT as text; anything else is unparseable."""
    text, _ = parse_str(raw)
    ok = text.notna()
    geoms = np.full(len(text), None, dtype=object)
    if ok.any():
        geoms[ok.to_numpy()] = shapely.from_wkt(
            text[ok].to_numpy(dtype=object), on_invalid="ignore"
        )
    kinds = shapely.get_type_id(geoms)  # -1 for None; 3 polygon, 6 multipolygon
    good = np.isin(kinds, (3, 6))
    typed = text.where(pd.Series(good, index=raw.index))
    return _result(typed, raw)


def parse_column(raw: pd.Series, kind: Kind, timezone: str) -> tuple[pd.Series, pd.Series]:
    """Dispatch on the contract kind of a column."""
    if kind == "timestamp":
        return parse_timestamp(raw, timezone)
    return {
        "str": parse_str,
        "int": parse_int,
        "float": parse_float,
        "bool": parse_bool,
        "wkt": parse_wkt,
    }[kind](raw)


KIND_TEXT = {
    "str": "text",
    "int": "a whole number",
    "float": "a number",
    "bool": "true/false",
    "timestamp": "a date-time (ISO 8601, 2023/5/6 14:30, 2023年5月6日, 20230506 or a month "
    "alone, 2023年5月, a local time that exists)",
    "wkt": "a polygon in WKT",
}
