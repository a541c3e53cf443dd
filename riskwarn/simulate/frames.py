"""Fast builders for the columns of the simulated tables.

Millions of rows make Python-level string formatting and object arrays the slow
part of the simulator, so string columns are built with Arrow kernels (a take from a
small vocabulary, zero-padded ids) and timestamps straight from int64 microseconds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def take_strings(
    values: Sequence[str | None] | np.ndarray, codes: np.ndarray
) -> pd.api.extensions.ExtensionArray:
    """``values[codes]`` as a pandas ``str`` array; ``None`` in ``values`` gives a missing cell.

    Parameters
    ----------
    values : sequence of str or None, shape (k,)
    codes : np.ndarray of int, shape (m,)

    Returns
    -------
    pandas string array, shape (m,)
    """
    vocab = pa.array(list(values), type=pa.large_string())
    return pd.array(vocab.take(pa.array(np.asarray(codes, dtype=np.int64))), dtype="str")


def sequential_ids(prefix: str, m: int, min_width: int = 7) -> pd.api.extensions.ExtensionArray:
    """``prefix`` + 1..m zero-padded to a common width, e.g. ``P0000001``.

    Returns
    -------
    pandas string array, shape (m,)
    """
    width = max(min_width, len(str(m)))
    digits = pc.utf8_lpad(pc.cast(pa.array(np.arange(1, m + 1)), pa.string()), width, "0")
    return pd.array(pc.binary_join_element_wise(pa.scalar(prefix), digits, ""), dtype="str")


def timestamps(us: np.ndarray, tz: str, missing: np.ndarray | None = None) -> pd.DatetimeIndex:
    """Epoch microseconds to tz-aware ``datetime64[us, tz]``; ``missing`` rows become NaT.

    Parameters
    ----------
    us : np.ndarray of int64, shape (m,)
    tz : str
    missing : np.ndarray of bool, shape (m,), optional

    Returns
    -------
    pd.DatetimeIndex, shape (m,)
    """
    v = np.array(us, dtype=np.int64, copy=True)
    if missing is not None:
        v[missing] = np.iinfo(np.int64).min  # the NaT sentinel of datetime64
    return pd.DatetimeIndex(v.view("M8[us]")).tz_localize("UTC").tz_convert(tz)


def iso_strings(ts: pd.Series) -> pd.Series:
    """Tz-aware timestamps as ISO 8601 text with offset, e.g. ``2023-03-06T14:05:00+08:00``.

    Missing timestamps give missing strings (an empty CSV cell). Sub-second parts are
    dropped; the simulator records whole minutes.

    Parameters
    ----------
    ts : pd.Series of datetime64[*, tz], shape (m,)

    Returns
    -------
    pd.Series of str, shape (m,)
    """
    missing = ts.isna().to_numpy()
    utc_us = ts.dt.as_unit("us").array.asi8
    wall_us = ts.dt.tz_localize(None).dt.as_unit("us").array.asi8
    offset_min = np.where(missing, 0, (wall_us - utc_us) // 60_000_000)
    uniq, inverse = np.unique(offset_min, return_inverse=True)
    labels = [f"{'-' if o < 0 else '+'}{abs(o) // 60:02d}:{abs(o) % 60:02d}" for o in uniq]
    wall = pa.array(wall_us, type=pa.timestamp("us"), mask=missing)
    text = pc.replace_substring(
        pc.cast(wall, pa.timestamp("s"), safe=False).cast(pa.string()), " ", "T", max_replacements=1
    )
    offsets = pa.array(labels, type=pa.string()).take(pa.array(inverse.ravel()))
    joined = pc.binary_join_element_wise(text, offsets, "")
    return pd.Series(pd.array(joined, dtype="str"), index=ts.index, name=ts.name)
