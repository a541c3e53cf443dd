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

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from riskwarn.errors import ConfigError


@dataclass(frozen=True)
class Primitive:
    kind: str  # wsum | cum | last | decay | ssq
    stream: str
    param: int = 0

    @property
    def column(self) -> str:
        return f"_{self.kind}__{self.stream}__{self.param}"


def _check_decay(prims: list[Primitive], n_periods: int) -> None:
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
