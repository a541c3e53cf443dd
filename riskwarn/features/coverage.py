"""Windows that span an extraction gap, flagged: how many of their periods a table
did not observe.

A count over the last 52 weeks that holds two weeks of an extraction gap is two
weeks short, not a quieter grid. Such counts are not made missing (every grid would
lose its long windows for a year after one bad week); instead each table with a gap
gets one feature, the number of periods of the longest window that it did not
observe (:func:`~riskwarn.panel.periods.unobserved_periods`), the same for every
grid, so that a model can tell a short window from a quiet one. Which tables get the
column is part of the vocabulary, like the categories: decided by the gaps before
the first forecast, and carried by a model's manifest to the data it scores.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskwarn.config import FeaturesConfig
from riskwarn.features.manifest import FeatureInfo
from riskwarn.features.primitives import trailing_sums
from riskwarn.features.streams import PREFIX, WORD

VOCABULARY_KEY = "coverage"


def coverage_window(features: FeaturesConfig) -> int:
    """The window the flag counts over: the longest of the count windows."""
    return max(features.windows)


def column(table: str, window: int) -> str:
    return f"{PREFIX[table]}_unobserved_w{window}"


def observed_column(stream: str, window: int) -> str:
    """The calendar column of a stream's observed periods in a trailing window."""
    return f"_observed_{stream}_w{window}"


def gap_tables(unobserved: dict[str, np.ndarray], before: int | None = None) -> list[str]:
    """Tables with an unobserved period (before period ``before``, if given)."""
    out = []
    for name, idx in unobserved.items():
        idx = np.asarray(idx)
        if (idx < before).any() if before is not None else len(idx):
            out.append(name)
    return sorted(out)


def coverage_info(table: str, window: int) -> FeatureInfo:
    en, zh = WORD[table]
    return FeatureInfo(
        column(table, window),
        "coverage",
        window,
        f"periods with no {en} recorded city-wide (an extraction gap) in the last {window} periods",
        f"最近{window}期内全市无{zh}记录的期数(数据缺失)",
    )


def _unobserved_in_window(n_complete: int, idx, window: int) -> np.ndarray:
    """Per panel row ``q``, shape (n_complete,): how many of the periods ``idx`` fall
    in ``q-window+1 .. q``."""
    gap = np.zeros((1, n_complete), dtype=np.int32)
    idx = np.asarray(idx, dtype=np.int64)
    gap[0, idx[idx < n_complete]] = 1
    return trailing_sums(np.cumsum(gap, axis=1), window)[0]


def coverage_frame(
    n_complete: int, unobserved: dict[str, np.ndarray], tables: list[str], window: int
) -> pd.DataFrame:
    """One row per panel row ``period = q``: unobserved periods in ``q-window+1 .. q``.

    Returns
    -------
    DataFrame, shape (n_complete, 1 + len(tables))
    """
    out = {"period": np.arange(n_complete, dtype=np.int32)}
    for name in tables:
        out[column(name, window)] = _unobserved_in_window(
            n_complete, unobserved.get(name, []), window
        )
    return pd.DataFrame(out)


def observed_frame(
    n_complete: int, unobserved: dict[str, np.ndarray], streams: dict[str, str], windows
) -> pd.DataFrame:
    """One row per panel row ``period = q``: the periods of ``q-w+1 .. q`` that each
    stream's table observed (within the data: the first rows have shorter windows).

    Parameters
    ----------
    streams : dict of str to str
        Stream name (``pet_n``) to its table (``petitions``).
    windows : iterable of int

    Returns
    -------
    DataFrame, shape (n_complete, 1 + len(streams) * len(windows))
        Columns ``period`` and :func:`observed_column` names.
    """
    period = np.arange(n_complete, dtype=np.int32)
    out = {"period": period}
    for stream, table in streams.items():
        for w in windows:
            in_data = np.minimum(period + 1, w)
            gaps = _unobserved_in_window(n_complete, unobserved.get(table, []), w)
            out[observed_column(stream, w)] = (in_data - gaps).astype(np.int32)
    return pd.DataFrame(out)
