"""Event streams: per grid and period, how many events of each kind.

A stream is one count (or integer sum) per ``(grid_idx, period)``, keyed by the
period of the date that makes it known: a petition counts as received in the period
of ``received_at`` and as closed in the period of ``closed_at``. Every feature is
built from streams, so reading a case's state as of ``t`` only through its dates is
enforced here, once.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from riskwarn.config import LabelConfig
from riskwarn.labels.build import escalation_rows
from riskwarn.panel.tables import PanelData, known_period

TOTALS = ("pet_n", "dis_n", "inc_n", "esc_n")
#: The stream of interventions started for a grid (the optional ``interventions`` table).
INTERVENTIONS = "itv_n"
_CATEGORY_COLUMN = {"petitions": "category", "disputes": "category", "incidents": "type"}
PREFIX = {"petitions": "pet", "disputes": "dis", "incidents": "inc"}
WORD = {
    "petitions": ("petitions", "信访件"),
    "disputes": ("disputes", "矛盾纠纷"),
    "incidents": ("incidents", "事件"),
}


@dataclass(frozen=True)
class Stream:
    """One stream: ``value(table)`` is summed per grid and ``period_column``."""

    name: str
    table: str
    period_column: str
    value: Callable[[ir.Table], ir.IntegerValue]
    en: str
    zh: str
    kind: str = "count"  # count | category | hours


def slug(value: str) -> str:
    """A column-safe name for a category: letters and digits of any script, '_' else."""
    s = unicodedata.normalize("NFKC", str(value)).strip().lower()
    s = re.sub(r"[^\w]+", "_", s, flags=re.UNICODE).strip("_")
    return s or "blank"


def category_vocabulary(
    data: PanelData, top: int, before: int | None = None
) -> dict[str, list[str]]:
    """The ``top`` most frequent categories (types) per event table, ties by name.

    ``before`` (a period index) counts only events of the periods before it: the
    columns a forecast made then could have had, so that which categories get a
    column is not learnt from the future.
    """
    vocab = {}
    for name, table in data.events.items():
        col = _CATEGORY_COLUMN.get(name)
        if col is None or top == 0:
            continue
        if before is not None:
            table = table.filter(known_period(table, "period") < int(before))
        counts = (
            table.group_by(table[col].cast("string").name("value"))
            .aggregate(n=table[col].count())
            .order_by([ibis.desc("n"), "value"])
            .limit(top)
        )
        vocab[name] = [str(v) for v in data.con.to_pyarrow(counts)["value"].to_pylist()]
    return vocab


def _count(t: ir.Table) -> ir.IntegerValue:
    return t["grid_idx"].notnull().cast("int64")


def _flag(pred: Callable[[ir.Table], ir.BooleanValue]) -> Callable[[ir.Table], ir.IntegerValue]:
    return lambda t: pred(t).fill_null(False).cast("int64")


def _hours(start: str, stop: str) -> Callable[[ir.Table], ir.IntegerValue]:
    # Whole hours keep sums exact (and identical on every engine and in any order).
    return lambda t: ((t[stop].epoch_seconds() - t[start].epoch_seconds()) // 3600).cast("int64")


def _category_streams(name: str, categories: list[str]) -> list[Stream]:
    col, prefix = _CATEGORY_COLUMN[name], PREFIX[name]
    word_en, word_zh = WORD[name]
    label = "type" if col == "type" else "category"
    # A category that is itself called 'other' joins the bucket of categories
    # outside the vocabulary rather than getting a second 'other' column.
    categories = [c for c in categories if slug(c) != "other"]
    out, used = [], set()
    for cat in categories:
        key = slug(cat)
        while key in used:
            key += "_"
        used.add(key)
        out.append(
            Stream(
                f"{prefix}_{label[:3]}_{key}",
                name,
                "period",
                _flag(lambda t, c=cat: t[col].cast("string") == c),
                f"{word_en} of {label} '{cat}'",
                f"“{cat}”类{word_zh}",
                "category",
            )
        )
    out.append(
        Stream(
            f"{prefix}_{label[:3]}_other",
            name,
            "period",
            _flag(
                lambda t: (
                    ~t[col].cast("string").isin(categories) if categories else t[col].notnull()
                )
            ),
            f"{word_en} of any other {label}",
            f"其他类别{word_zh}",
            "category",
        )
    )
    return out


def define_streams(
    columns: dict[str, list[str]], vocabulary: dict[str, list[str]], label: LabelConfig
) -> list[Stream]:
    """All streams the present tables and columns support, in a fixed order."""
    has = lambda table, col: table in columns and col in columns[table]  # noqa: E731
    s: list[Stream] = []
    if "petitions" in columns:
        s.append(Stream("pet_n", "petitions", "period", _count, "petitions received", "信访件数"))
        s += _category_streams("petitions", vocabulary.get("petitions", []))
        if has("petitions", "group_size"):
            # Without the column every petition has the contract's default of one
            # person: a group-petition count would be a constant 0, not a feature.
            s.append(
                Stream("pet_group", "petitions", "period", _flag(lambda t: t["group_size"] >= 2),
                       "group petitions (2 or more people)", "多人信访件数(2人及以上)")
            )  # fmt: skip
        if has("petitions", "is_repeat"):
            s.append(
                Stream("pet_repeat", "petitions", "period", _flag(lambda t: t["is_repeat"]),
                       "repeat petitions", "重复信访件数")
            )  # fmt: skip
        if has("petitions", "level"):
            s.append(
                Stream("pet_above_town", "petitions", "period", _flag(lambda t: t["level"] >= 3),
                       "petitions taken above the town level", "越过乡镇一级的信访件数")
            )  # fmt: skip
        if has("petitions", "closed_at"):
            s.append(Stream("pet_closed", "petitions", "closed_period", _count,
                            "petitions closed", "办结的信访件数"))  # fmt: skip
            s.append(Stream("pet_close_hours", "petitions", "closed_period",
                            _hours("received_at", "closed_at"), "hours to close petitions",
                            "信访办结用时(小时)", "hours"))  # fmt: skip
            if has("petitions", "satisfied"):
                s.append(
                    Stream("pet_unsatisfied", "petitions", "closed_period",
                           _flag(lambda t: t["satisfied"] == False),  # noqa: E712
                           "closed petitions with a dissatisfied petitioner",
                           "办结后不满意的信访件数")
                )  # fmt: skip
    if "disputes" in columns:
        s.append(Stream("dis_n", "disputes", "period", _count, "disputes reported", "矛盾纠纷件数"))
        s += _category_streams("disputes", vocabulary.get("disputes", []))
        if has("disputes", "resolved_at"):
            s.append(Stream("dis_resolved", "disputes", "resolved_period", _count,
                            "disputes resolved", "化解的矛盾纠纷件数"))  # fmt: skip
            s.append(Stream("dis_resolve_hours", "disputes", "resolved_period",
                            _hours("reported_at", "resolved_at"), "hours to resolve disputes",
                            "矛盾纠纷化解用时(小时)", "hours"))  # fmt: skip
    if "incidents" in columns:
        s.append(Stream("inc_n", "incidents", "period", _count, "incidents", "事件数"))
        s += _category_streams("incidents", vocabulary.get("incidents", []))
        if has("incidents", "severity"):
            s.append(Stream("inc_sev2plus", "incidents", "period",
                            _flag(lambda t: t["severity"] >= 2),
                            "incidents of severity 2 or more", "二级及以上事件数"))  # fmt: skip
    if "interventions" in columns:
        s.append(Stream(INTERVENTIONS, "interventions", "period", _count,
                        "interventions for the area (visits, legal aid, services)",
                        "针对本网格的工作措施(走访调解、法律援助、服务)"))  # fmt: skip
    s.append(
        Stream(
            "esc_n", "*", "period", _count,
            "escalations (as the label defines them)", "升级事件数(按标签定义)",
        )
    )  # fmt: skip
    return s


def _grouped(streams: list[Stream]) -> dict[tuple[str, str], list[Stream]]:
    groups: dict[tuple[str, str], list[Stream]] = {}
    for st in streams:
        if st.name != "esc_n":
            groups.setdefault((st.table, st.period_column), []).append(st)
    return groups


def source_rows(data: PanelData, streams: list[Stream], label: LabelConfig) -> list[ir.Table]:
    """One row-level table per source ``(table, period column)``.

    Columns ``grid_idx``, ``period`` (of the source's date), ``known``
    (:func:`~riskwarn.panel.tables.known_period`: from the end of which period the row
    is known) and one value per stream of the source. The escalation stream comes
    last, from the label's rows.
    """
    out = []
    for (table, period_col), members in _grouped(streams).items():
        t = data.events[table]
        rows = t.filter(t[period_col].notnull())
        out.append(
            rows.select(
                "grid_idx",
                period=rows[period_col].cast("int32"),
                known=known_period(rows, period_col),
                **{st.name: st.value(rows).cast("int64") for st in members},
            )
        )
    if any(st.name == "esc_n" for st in streams):
        out.append(escalation_rows(data, label).mutate(esc_n=ibis.literal(1, "int64")))
    return out


def _values(rows: ir.Table) -> list[str]:
    return [c for c in rows.columns if c not in ("grid_idx", "period", "known")]


def stream_sources(
    data: PanelData, streams: list[Stream], label: LabelConfig, known_by: int | None = None
) -> list[ir.Table]:
    """One table per source ``(table, period column)``: ``grid_idx, period, <streams>``.

    Rows exist only for grid-periods with events. ``known_by`` (a panel row ``q``)
    keeps only the rows known as of ``s_{q+1}``: what a forecast made then saw.
    Sources are kept apart: the in-memory kernel and the one-date build aggregate
    each on its own, which is much cheaper than one wide union; the window kernel
    stacks them to join the dense panel once.
    """
    out = []
    for rows in source_rows(data, streams, label):
        if known_by is not None:
            rows = rows.filter(rows["known"] <= int(known_by))
        aggs = {name: rows[name].sum().cast("int64") for name in _values(rows)}
        out.append(rows.group_by(["grid_idx", "period"]).aggregate(**aggs))
    return out


def late_sources(data: PanelData, streams: list[Stream], label: LabelConfig) -> list[ir.Table]:
    """Per source, the rows known only after their own period ended.

    ``grid_idx, period, known, <streams>`` summed per ``(grid_idx, period, known)``,
    only where ``known > period``; empty list when no table has ``recorded_at``.
    """
    if not data.has_delays:
        return []
    out = []
    for rows in source_rows(data, streams, label):
        late = rows.filter(rows["known"] > rows["period"])
        aggs = {name: late[name].sum().cast("int64") for name in _values(late)}
        out.append(late.group_by(["grid_idx", "period", "known"]).aggregate(**aggs))
    return out


def known_latest(
    data: PanelData, streams: list[Stream], label: LabelConfig, names: set[str]
) -> list[ir.Table]:
    """For the streams in ``names``: per grid and period ``known``, the latest period
    of a row with a positive value that became known then.

    ``grid_idx, known, <stream>`` (missing where no such row): the running maximum
    over ``known <= q`` is the latest period with events as known at row ``q``.
    """
    out = []
    for rows in source_rows(data, streams, label):
        cols = [c for c in _values(rows) if c in names]
        if cols:
            aggs = {
                c: ibis.ifelse(rows[c] > 0, rows["period"], ibis.null("int32")).max() for c in cols
            }
            out.append(rows.group_by(["grid_idx", "known"]).aggregate(**aggs))
    return out
