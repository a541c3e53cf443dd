"""Escalation counts per grid and period, and the labels for horizons 1..H.

For the row as of ``s_p`` (panel row ``q = p - 1``) and horizon ``h``:
``count_h{h}`` is the number of escalation events in periods ``p .. p + h - 1`` and
``label_h{h}`` is 1 when that count is positive. Both are missing when the window
is not fully observed: it reaches past the data's last complete period, or it holds
a period that a table the label reads did not observe (an extraction gap,
:func:`~riskwarn.panel.periods.unobserved_periods`): no rows there is not no
escalation.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import numpy as np

from riskwarn.config import LabelConfig
from riskwarn.labels.rules import applicable_label, escalation_predicate
from riskwarn.panel.tables import PanelData, known_period


def escalation_rows(data: PanelData, label: LabelConfig) -> ir.Table:
    """``grid_idx, period, known``: one row per escalation event.

    ``period`` places the event (labels count by it); ``known`` is the period from
    whose end on it is known (:func:`~riskwarn.panel.tables.known_period`), which is
    what a feature counting past escalations may use.
    """
    parts = [
        t.filter(escalation_predicate(t, name, label)).select(
            "grid_idx", "period", known=known_period(t, "period")
        )
        for name, t in data.events.items()
        if any(r.table == name for r in label.any_of)
    ]
    if not parts:
        zero = ibis.literal(0, "int32")
        parts = [data.grids.select("grid_idx", period=zero, known=zero).limit(0)]
    union = parts[0]
    for p in parts[1:]:
        union = union.union(p, distinct=False)
    return union


def escalation_events(data: PanelData, label: LabelConfig) -> ir.Table:
    """``grid_idx, period, esc_n``: escalation events per grid and period (non-zero rows)."""
    union = escalation_rows(data, label)
    return union.group_by(["grid_idx", "period"]).aggregate(
        esc_n=union["grid_idx"].count().cast("int64")
    )


def label_gaps(data: PanelData, label: LabelConfig) -> np.ndarray:
    """Per complete period, whether a table the label reads did not observe it, shape (n,)."""
    gaps = np.zeros(data.periods.n_complete, dtype=bool)
    for name in {r.table for r in label.any_of}:
        gaps[data.unobserved.get(name, np.array([], dtype=int))] = True
    return gaps


def unobserved_rows(gaps: np.ndarray | None, horizon: int) -> list[int]:
    """Panel rows ``q`` whose window ``q+1 .. q+horizon`` holds an unobserved period."""
    if gaps is None or not gaps.any():
        return []
    c = np.concatenate([[0], np.cumsum(gaps.astype(np.int64))])
    q = np.arange(len(gaps))
    upper = np.minimum(q + horizon, len(gaps) - 1) + 1
    lower = np.minimum(q + 1, len(gaps))
    return [int(x) for x in q[(c[upper] - c[lower]) > 0]]


def check_label(data: PanelData, label: LabelConfig) -> tuple[LabelConfig, list[str]]:
    """The label as this dataset can evaluate it, and warnings (see ``applicable_label``)."""
    return applicable_label(label, {name: list(t.columns) for name, t in data.events.items()})


def label_columns_window(
    panel: ir.Table, horizon: int, n_complete: int, gaps: np.ndarray | None = None
) -> dict[str, ir.Value]:
    """Label expressions on a dense panel with ``esc_n`` (0-filled) and ``period``.

    ``gaps``: :func:`label_gaps`, the periods whose labels cannot be observed.
    """
    out = {}
    for h in range(1, horizon + 1):
        win = ibis.window(group_by="grid_idx", order_by="period", rows=(1, h))
        future = panel["esc_n"].sum().over(win)
        observed = panel["period"] + h <= n_complete - 1
        blind = unobserved_rows(gaps, h)
        if blind:
            observed = observed & ~panel["period"].isin(blind)
        count = ibis.ifelse(observed, future.fill_null(0), ibis.null("int64"))
        out[f"count_h{h}"] = count.cast("int32")
        out[f"label_h{h}"] = (count > 0).cast("int8")
    return out


def with_single_labels(data: PanelData, label: LabelConfig, base: ir.Table, q: int) -> ir.Table:
    """Add the label columns for panel row ``q`` (as of ``s_{q+1}``) to ``base`` (one row per grid)."""
    p, n_complete = q + 1, data.periods.n_complete
    esc = escalation_events(data, label)
    future = esc.filter((esc["period"] >= p) & (esc["period"] < p + label.horizon))
    sums = {
        f"_c{h}": ibis.ifelse(future["period"] < p + h, future["esc_n"], 0).sum()
        for h in range(1, label.horizon + 1)
    }
    joined = base.left_join(future.group_by("grid_idx").aggregate(**sums), "grid_idx")
    cols = {}
    gaps = label_gaps(data, label)
    for h in range(1, label.horizon + 1):
        if p + h - 1 <= n_complete - 1 and not gaps[p : p + h].any():
            count = joined[f"_c{h}"].fill_null(0).cast("int32")
            cols[f"count_h{h}"] = count
            cols[f"label_h{h}"] = (count > 0).cast("int8")
        else:
            cols[f"count_h{h}"] = ibis.null("int32")
            cols[f"label_h{h}"] = ibis.null("int8")
    return joined.select(*base.columns, **cols)


def array_labels(
    esc: np.ndarray, horizon: int, n_complete: int, gaps: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """In-memory twin of :func:`label_columns_window` on dense counts (n_grids, n_periods).

    ``count_h{h}`` at row ``q`` sums periods ``q+1 .. q+h``; NaN when ``q + h`` is past
    the last complete period.
    """
    n_grids, n_periods = esc.shape
    c = np.concatenate([np.zeros((n_grids, 1), dtype=np.int64), np.cumsum(esc, axis=1)], axis=1)
    out = {}
    q = np.arange(n_periods)
    for h in range(1, horizon + 1):
        observed = q + h <= n_complete - 1
        upper = np.minimum(q + h, n_periods - 1) + 1
        counts = (c[:, upper] - c[:, q + 1]).astype(np.float64)
        counts[:, ~observed] = np.nan
        counts[:, unobserved_rows(gaps, h)] = np.nan
        out[f"count_h{h}"] = counts.ravel()
    return out


def escalation_counts(data: PanelData, label: LabelConfig) -> np.ndarray:
    """Escalations per grid and complete period, shape (n_grids, n_complete).

    NaN in the periods a table the label reads did not observe (no rows there is not
    no escalation); 0 where a grid had none.
    """
    n_grids, n_complete = data.n_grids, data.periods.n_complete
    esc = escalation_events(data, label)
    rows = esc.filter(esc["period"] < n_complete).to_pyarrow()
    out = np.zeros((n_grids, n_complete))
    grid = rows["grid_idx"].to_numpy().astype(np.int64)
    period = rows["period"].to_numpy().astype(np.int64)
    out[grid, period] = rows["esc_n"].to_numpy()
    out[:, label_gaps(data, label)] = np.nan
    return out
