"""Reporting delays in the whole-panel build: what each as-of date had not yet seen.

With ``recorded_at``, a row counts in its own period but is known only from the end
of the period it was recorded in (:func:`~riskwarn.panel.tables.known_period`). The
one-date build simply drops the rows not yet known. The whole panel computes every
primitive on the complete counts, then takes away, at each panel row ``q``, the rows
still *pending* there (own period ``<= q <`` known period): the corrections below
are exact for the linear primitives (``wsum``, ``cum``, ``decay``) and for ``ssq``
(``(c - u)^2 = c^2 - (2cu - u^2)``). ``last`` is not a sum; it is rebuilt from
:func:`~riskwarn.features.streams.known_latest` instead. Both kernels (in memory and
window functions) apply the same corrections, computed here in the engine.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from riskwarn.features.primitives import Primitive, dense_counts
from riskwarn.panel.tables import PanelData, put_table


def _rows_table(data: PanelData, n: int) -> ir.Table:
    frame = pd.DataFrame({"q": np.arange(n, dtype=np.int32)})
    return put_table(data.con, f"rw_pending_rows_{n}", frame)


def pending_corrections(
    data: PanelData, late: ir.Table, full: ir.Table, prims: list[Primitive]
) -> ir.Table | None:
    """What to subtract from each primitive of one source at the rows where some of
    its rows are still pending.

    Parameters
    ----------
    data : PanelData
    late : ibis Table
        :func:`~riskwarn.features.streams.late_sources` of one source:
        ``grid_idx, period, known, <streams>``.
    full : ibis Table
        The same source's complete counts, ``grid_idx, period, <streams>``
        (needed for ``ssq``).
    prims : list of Primitive
        The plan's primitives; those of this source's streams other than ``last``
        get a column.

    Returns
    -------
    ibis Table or None
        ``grid_idx, period, <primitive column>...`` with one row per grid and panel
        row that has pending rows; ``None`` when no primitive reads this source.
    """
    streams = [c for c in late.columns if c not in ("grid_idx", "period", "known")]
    mine = [p for p in prims if p.stream in streams and p.kind != "last"]
    if not mine:
        return None
    n = data.periods.n_complete
    rows = _rows_table(data, n)
    spread = late.join(
        rows, [rows["q"] >= late["period"], rows["q"] < late["known"], rows["q"] < n]
    )
    # Pending per (grid, row, own period): several recording periods may share it.
    pending = spread.group_by(["grid_idx", "q", "period"]).aggregate(
        **{f"_u_{s}": spread[s].sum() for s in streams}
    )
    squared = sorted({p.stream for p in mine if p.kind == "ssq"})
    if squared:
        counts = full.select(_g="grid_idx", _p="period", **{f"_c_{s}": full[s] for s in squared})
        joined = pending.left_join(
            counts,
            [pending["grid_idx"] == counts["_g"], pending["period"] == counts["_p"]],
        )
        pending = joined.select(*pending.columns, *(f"_c_{s}" for s in squared))
    lag = (pending["q"] - pending["period"]).cast("int32")
    out = {}
    for p in mine:
        u = pending[f"_u_{p.stream}"]
        if p.kind == "wsum":
            out[p.column] = ibis.ifelse(lag < p.param, u, 0).sum()
        elif p.kind == "cum":
            out[p.column] = u.sum()
        elif p.kind == "decay":
            lam = ibis.literal(0.5 ** (1.0 / p.param), "float64")
            out[p.column] = (u.cast("float64") * lam ** lag.cast("float64")).sum()
        elif p.kind == "ssq":
            c = pending[f"_c_{p.stream}"].fill_null(0)
            out[p.column] = ibis.ifelse(lag < p.param, 2 * c * u - u * u, 0).sum()
        else:  # pragma: no cover - kinds are fixed in primitives
            raise ValueError(p.kind)
    return (
        pending.group_by(["grid_idx", pending["q"].name("period")])
        .aggregate(**out)
        .order_by(["grid_idx", "period"])
    )


def latest_known_arrays(
    data: PanelData, tables: list[ir.Table], n_grids: int, n_periods: int
) -> dict[str, np.ndarray]:
    """``last`` as known at every panel row, from :func:`known_latest` tables.

    Returns flat int32 arrays in ``(grid_idx, period)`` order, -1 where no row is
    known yet (the caller masks those as missing, as :func:`array_primitives` does).
    """
    out = {}
    for table in tables:
        got = data.con.to_pyarrow(table)
        known = got["known"].to_numpy().astype(np.int64)
        keep = known < n_periods
        flat = got["grid_idx"].to_numpy().astype(np.int64)[keep] * n_periods + known[keep]
        for name in got.column_names[2:]:
            values = got[name].to_numpy(zero_copy_only=False)[keep]
            have = ~pd.isna(values)
            dense = dense_counts(flat[have], values[have], n_grids, n_periods, fill=-1)
            out[name] = np.maximum.accumulate(dense, axis=1).ravel()
    return out
