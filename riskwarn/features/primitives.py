"""Primitives over streams, compiled for a whole panel or for one as-of date.

Every feature is arithmetic on a few primitives of a stream ``c_q`` (events in
period ``q``), read at panel row ``q`` (the row as of ``s_{q+1}``):

- ``wsum(s, w)``  = sum of ``c`` over periods ``q-w+1 .. q``
- ``cum(s)``      = sum of ``c`` over all periods ``<= q``
- ``last(s)``     = the latest period ``<= q`` with ``c > 0`` (missing if none)
- ``decay(s, h)`` = sum of ``c_r * 0.5 ** ((q - r) / h)`` over ``r <= q``
- ``ssq(s, w)``   = sum of ``c**2`` over periods ``q-w+1 .. q``

The *panel* form uses window functions over the dense zero-filled grid x period
table, where ROWS windows are time windows on every engine. The *single* form
aggregates the sparse stream rows for one as-of date, which is what scoring needs
and is far cheaper. Integer primitives are equal in both forms; ``decay`` agrees to
floating-point rounding. ``tests/test_features.py`` checks both.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np

from riskwarn.errors import ConfigError


@dataclass(frozen=True)
class Primitive:
    kind: str  # wsum | cum | last | decay | ssq
    stream: str
    param: int = 0

    @property
    def column(self) -> str:
        return f"_{self.kind}__{self.stream}__{self.param}"


def check_decay(prims: list[Primitive], n_periods: int) -> None:
    for p in prims:
        # The panel form scales by 2 ** (q / h); keep it far from float64 overflow.
        if p.kind == "decay" and n_periods / p.param > 900:
            raise ConfigError(
                f"[features] half-life {p.param} is too short for {n_periods} periods; "
                "use a longer half-life or a coarser freq."
            )


def panel_primitives(panel: ir.Table, prims: list[Primitive]) -> dict[str, ir.Value]:
    """Window-function form over a dense panel with 0-filled stream columns and ``period``."""
    by = {"group_by": "grid_idx", "order_by": "period"}
    cumulative = ibis.window(rows=(None, 0), **by)
    out: dict[str, ir.Value] = {}
    q = panel["period"]
    for p in prims:
        c = panel[p.stream]
        if p.kind == "wsum":
            out[p.column] = (
                c if p.param == 1 else c.sum().over(ibis.window(rows=(-(p.param - 1), 0), **by))
            )
        elif p.kind == "ssq":
            out[p.column] = (c * c).sum().over(ibis.window(rows=(-(p.param - 1), 0), **by))
        elif p.kind == "cum":
            out[p.column] = c.sum().over(cumulative)
        elif p.kind == "last":
            out[p.column] = ibis.ifelse(c > 0, q, ibis.null("int32")).max().over(cumulative)
        elif p.kind == "decay":
            lam = 0.5 ** (1.0 / p.param)
            grow = ibis.literal(lam, "float64") ** (-q.cast("float64"))
            shrink = ibis.literal(lam, "float64") ** q.cast("float64")
            out[p.column] = (c.cast("float64") * grow).sum().over(cumulative) * shrink
        else:  # pragma: no cover - kinds are fixed above
            raise ValueError(p.kind)
    return out


def single_primitives(streams: ir.Table, prims: list[Primitive], q: int) -> dict[str, ir.Value]:
    """Aggregation form for panel row ``q``; ``streams`` must hold only periods ``<= q``."""
    out: dict[str, ir.Value] = {}
    period = streams["period"]
    for p in prims:
        c = streams[p.stream]
        if p.kind == "wsum":
            out[p.column] = ibis.ifelse(period > q - p.param, c, 0).sum()
        elif p.kind == "ssq":
            out[p.column] = ibis.ifelse(period > q - p.param, c * c, 0).sum()
        elif p.kind == "cum":
            out[p.column] = c.sum()
        elif p.kind == "last":
            out[p.column] = ibis.ifelse(c > 0, period, ibis.null("int32")).max()
        elif p.kind == "decay":
            lam = 0.5 ** (1.0 / p.param)
            weight = ibis.literal(lam, "float64") ** (q - period).cast("float64")
            out[p.column] = (c.cast("float64") * weight).sum()
        else:  # pragma: no cover
            raise ValueError(p.kind)
    return out


def filled(kind: str) -> bool:
    """Whether a grid with no stream rows has a known value 0 for this kind (not missing)."""
    return kind != "last"


def dense_counts(
    flat: np.ndarray,
    values: np.ndarray,
    n_grids: int,
    n_periods: int,
    *,
    dtype: type = np.int32,
    fill: float = 0,
) -> np.ndarray:
    """A (n_grids, n_periods) array from sparse rows (``fill`` where there is none).

    ``flat`` is each row's ``grid_idx * n_periods + period`` (rows of later periods
    already dropped; each grid-period at most once, as an aggregated source has it)
    and ``values`` its count.
    """
    out = np.full(n_grids * n_periods, fill, dtype=dtype)
    out[flat] = values
    return out.reshape(n_grids, n_periods)


@contextlib.contextmanager
def small_pages() -> Iterator[None]:
    """Ask NumPy not to request transparent huge pages while the panel is built.

    With the kernel's default ``defrag = madvise``, every fresh array NumPy marks for
    huge pages may wait for memory compaction: on this machine 20-40 ms per 21 MB
    array instead of about 9 ms, and the panel makes over a hundred of them. The
    setting is process-wide in NumPy, so it is restored on exit.
    """
    setter = getattr(np._core.multiarray, "_set_madvise_hugepage", None)
    if setter is None:  # pragma: no cover - a NumPy without the switch
        yield
        return
    previous = setter(False)
    try:
        yield
    finally:
        setter(previous)


def array_primitives(streams: dict[str, np.ndarray], prims: list[Primitive]):
    """The panel form computed in memory on dense (n_grids, n_periods) int32 arrays.

    Same definitions as :func:`panel_primitives` (the window-function form, which an
    engine such as Spark runs); cumulative sums along the period axis make every
    window one subtraction, so the whole panel takes seconds instead of one window
    pass per feature. Yields ``(column, flat array in (grid_idx, period) order)`` one
    primitive at a time, so the caller can hand each over before the next is made.
    """
    by_stream: dict[str, list[Primitive]] = {}
    for p in prims:
        by_stream.setdefault(p.stream, []).append(p)
    for stream, group in by_stream.items():
        c = streams[stream]
        cum = sq = None
        for p in group:
            if p.kind in ("wsum", "cum") and (p.kind == "cum" or p.param > 1) and cum is None:
                cum = np.cumsum(c, axis=1, dtype=np.int32)
            if p.kind == "ssq" and sq is None:
                sq = np.cumsum(c * c, axis=1, dtype=np.int32)
            if p.kind == "wsum":
                res = c if p.param == 1 else trailing_sums(cum, p.param)
            elif p.kind == "ssq":
                res = trailing_sums(sq, p.param)
            elif p.kind == "cum":
                res = cum
            elif p.kind == "last":
                # -1 marks "no event yet" (the caller turns it into a missing value).
                periods = np.arange(c.shape[1], dtype=np.int32)
                res = np.maximum.accumulate(np.where(c > 0, periods, np.int32(-1)), axis=1)
            elif p.kind == "decay":
                lam = 0.5 ** (1.0 / p.param)
                # Accumulate in float64, store float32: the feature is float32 anyway.
                res = np.empty(c.shape, dtype=np.float32)
                acc = np.zeros(c.shape[0], dtype=np.float64)
                for q in range(c.shape[1]):
                    acc *= lam
                    acc += c[:, q]
                    res[:, q] = acc
            else:  # pragma: no cover
                raise ValueError(p.kind)
            yield p.column, res.ravel()


def trailing_sums(cum: np.ndarray, w: int) -> np.ndarray:
    """Trailing ``w``-period sums from cumulative sums along axis 1."""
    res = np.empty_like(cum)
    res[:, :w] = cum[:, :w]
    np.subtract(cum[:, w:], cum[:, :-w], out=res[:, w:])
    return res
