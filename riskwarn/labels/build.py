"""Escalation counts per grid and period, and the labels for horizons 1..H.

For the row as of ``s_p`` (panel row ``q = p - 1``) and horizon ``h``:
``count_h{h}`` is the number of escalation events in periods ``p .. p + h - 1`` and
``label_h{h}`` is 1 when that count is positive. Both are missing when the window
is not fully observed (it reaches past the data's last complete period).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from riskwarn.config import LabelConfig
from riskwarn.labels.rules import check_rules, escalation_predicate
from riskwarn.panel.tables import PanelData


def escalation_events(data: PanelData, label: LabelConfig) -> ir.Table:
    """``grid_idx, period, esc_n``: escalation events per grid and period (non-zero rows)."""
    parts = [
        t.filter(escalation_predicate(t, name, label)).select("grid_idx", "period")
        for name, t in data.events.items()
        if any(r.table == name for r in label.any_of)
    ]
    if not parts:
        empty = data.grids.select("grid_idx", period=ibis.literal(0, "int32")).limit(0)
        parts = [empty]
    union = parts[0]
    for p in parts[1:]:
        union = union.union(p, distinct=False)
    return union.group_by(["grid_idx", "period"]).aggregate(esc_n=ibis._.count())


def check_label(data: PanelData, label: LabelConfig) -> list[str]:
    """Validate the label spec against the loaded dataset; returns warnings."""
    return check_rules(label, {name: list(t.columns) for name, t in data.events.items()})


def label_columns_window(panel: ir.Table, horizon: int, n_complete: int) -> dict[str, ir.Value]:
    """Label expressions on a dense panel with ``esc_n`` (0-filled) and ``period``."""
    out = {}
    for h in range(1, horizon + 1):
        win = ibis.window(group_by="grid_idx", order_by="period", rows=(1, h))
        future = panel["esc_n"].sum().over(win)
        observed = panel["period"] + h <= n_complete - 1
        count = ibis.ifelse(observed, future.fill_null(0), ibis.null("int64"))
        out[f"count_h{h}"] = count.cast("int32")
        out[f"label_h{h}"] = (count > 0).cast("int8")
    return out


def label_columns_single(esc: ir.Table, p: int, horizon: int, n_complete: int) -> dict:
    """Aggregations over ``esc`` (grid_idx, period, esc_n) for one as-of index ``p``."""
    out = {}
    for h in range(1, horizon + 1):
        inside = (esc["period"] >= p) & (esc["period"] <= p + h - 1)
        out[f"count_h{h}"] = ibis.ifelse(inside, esc["esc_n"], 0).sum()
    return out


def finish_single_labels(table: ir.Table, p: int, horizon: int, n_complete: int) -> dict:
    out = {}
    for h in range(1, horizon + 1):
        observed = p + h - 1 <= n_complete - 1
        count = table[f"count_h{h}"].fill_null(0) if observed else ibis.null("int64")
        out[f"count_h{h}"] = ibis.literal(None, "int32") if not observed else count.cast("int32")
        out[f"label_h{h}"] = (count > 0).cast("int8") if observed else ibis.literal(None, "int8")
    return out
