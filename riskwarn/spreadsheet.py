"""CSV cells that a spreadsheet would run as a formula, made plain text.

Policy staff open riskwarn's CSV files in Excel or WPS, which treat a cell that
starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return, which some
versions skip before such a sign) as a formula: a grid id such as
``=HYPERLINK("…","click")`` would run. Following the OWASP rule, such a text cell
is written with a leading ``'``, which spreadsheets show as text and do not store.
Numbers are left alone (``-3`` in a numeric column is a number, not a formula), and
only CSV output is changed: Parquet and JSON keep the exact value.
"""

from __future__ import annotations

import os

import pandas as pd

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: object) -> object:
    """``value`` with a leading ``'`` if it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(_TRIGGERS):
        return "'" + value
    return value


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names cannot start a formula.

    Parameters
    ----------
    frame : DataFrame, shape (n_rows, n_columns)

    Returns
    -------
    DataFrame, same shape: text cells (object and string columns, categories
    included) that start with ``= + - @``, a tab or a carriage return get a
    leading ``'``; other cells are unchanged.
    """
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype(object)
        elif not (values.dtype == object or pd.api.types.is_string_dtype(values.dtype)):
            continue
        out[column] = values.map(neutralise_cell, na_action="ignore")
    out.columns = [neutralise_cell(c) for c in out.columns]
    return out


def write_csv(frame: pd.DataFrame, path: str | os.PathLike, **options) -> None:
    """``frame.to_csv(path, index=False, encoding="utf-8", **options)``, formulas neutralised."""
    neutralise_formulas(frame).to_csv(path, index=False, encoding="utf-8", **options)
