"""``riskwarn inspect``: read a city's raw export folder, propose a starter config, profile it.

The proposal maps each table's columns to the contract's by name (Chinese and
English synonyms, then close spellings), the city's words for statuses and grid
types to contract values, and guesses ``freq``, the time zone and label rules from
what the data holds. The profile counts rows per table per period, finds periods
in which a table has no rows at all city-wide (likely extraction gaps, not quiet
periods), grids with no events, duplicate ids, and how much of each optional
column is filled. Only the columns the proposal maps are read.
"""

from __future__ import annotations

import difflib
import json
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from riskwarn.data.contract import EVENT_TABLES, RECORDED, TABLES, identifies_person
from riskwarn.data.gaps import extraction_gaps
from riskwarn.data.parse import parse_timestamp, present
from riskwarn.data.read import find_table_files, read_header, read_raw_table

# When a row entered the system (any event table).
_RECORDED = (
    "录入时间",
    "入库时间",
    "系统录入时间",
    "填报时间",
    "创建时间",
    "recorded",
    "entered_at",
)
# What city exports call each contract column (besides the contract's own name).
SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "grids": {
        "grid_id": ("网格编码", "网格编号", "网格代码", "网格id", "grid code", "gridid", "grid"),
        "name": ("网格名称", "网格名", "名称"),
        "population": ("常住人口", "人口", "人口数", "户籍人口", "pop"),
        "area_km2": ("面积", "面积平方公里", "面积km2", "area", "area km2"),
        "grid_type": ("网格类型", "类型", "网格类别", "type"),
        "town": ("乡镇", "街道", "乡镇街道", "所属乡镇", "所属街道", "镇街"),
        "district": ("区县", "所属区县", "区", "县"),
        "lon": ("经度", "longitude", "lng"),
        "lat": ("纬度", "latitude"),
        "geometry_wkt": ("边界", "几何", "wkt", "geometry"),
    },
    "adjacency": {
        "grid_a": ("网格a", "网格1", "起点网格"),
        "grid_b": ("网格b", "网格2", "相邻网格"),
        "weight": ("权重",),
    },
    "petitions": {
        "case_id": ("信访件编号", "件编号", "编号", "信访编号", "案件编号", "id"),
        "grid_id": ("所属网格", "网格编码", "网格编号", "网格"),
        "received_at": ("登记时间", "受理时间", "来访时间", "信访时间", "登记日期", "received"),
        "category": ("信访类别", "问题类别", "类别", "问题分类", "内容分类"),
        "channel": ("信访渠道", "渠道", "来源", "信访形式"),
        "group_size": ("人数", "信访人数", "来访人数", "联名人数"),
        "is_repeat": ("是否重复", "重复信访", "是否重复件"),
        "level": ("层级", "信访层级", "级别"),
        "closed_at": ("办结时间", "办结日期", "结案时间"),
        "outcome": ("办理结果", "处理结果", "结果"),
        "satisfied": ("是否满意", "满意", "满意度"),
        "recorded_at": _RECORDED,
    },
    "disputes": {
        "case_id": ("纠纷编号", "案件编号", "编号", "id"),
        "grid_id": ("所属网格", "网格编码", "网格编号", "网格"),
        "reported_at": ("受理时间", "登记时间", "上报时间", "报告时间", "受理日期"),
        "category": ("纠纷类别", "纠纷类型", "类别", "类型"),
        "parties": ("当事方数", "当事人数", "涉及人数"),
        "status": ("调处状态", "状态", "化解状态", "办理状态"),
        "resolved_at": ("化解时间", "调处时间", "办结时间", "结案时间"),
        "amount": ("涉及金额", "金额", "标的额"),
        "recorded_at": _RECORDED,
    },
    "incidents": {
        "event_id": ("事件编号", "编号", "id"),
        "grid_id": ("所属网格", "网格编码", "网格编号", "网格"),
        "occurred_at": ("发生时间", "事发时间", "发生日期", "时间"),
        "type": ("事件类型", "类型", "类别"),
        "severity": ("等级", "事件等级", "严重程度", "级别"),
        "participants": ("参与人数", "涉及人数", "人数"),
        "recorded_at": _RECORDED,
    },
    "interventions": {
        "intervention_id": ("措施编号", "干预编号", "工作编号", "编号", "id"),
        "grid_id": ("所属网格", "网格编码", "网格编号", "网格"),
        "started_at": ("开始时间", "开展时间", "走访时间", "实施时间", "开始日期"),
        "kind": ("措施类型", "工作类型", "干预类型", "类型"),
        "ended_at": ("结束时间", "结束日期", "完成时间"),
        "team": ("工作组", "团队", "调解组", "责任单位"),
        "note_code": ("备注代码", "代码"),
    },
}
# The city's words for contract values, where the contract names the values.
WORDS: dict[tuple[str, str], dict[str, str]] = {
    ("disputes", "status"): {
        "已化解": "resolved", "化解": "resolved", "调解成功": "resolved", "已办结": "resolved",
        "未化解": "unresolved", "调解失败": "unresolved", "调解中": "in_progress",
        "办理中": "in_progress", "处理中": "in_progress", "已移交": "referred",
        "移交": "referred", "转办": "referred", "不详": "unknown", "未知": "unknown",
    },
    ("interventions", "kind"): {
        "调解": "mediation", "矛盾调解": "mediation", "走访调解": "mediation",
        "法律援助": "legal_aid", "法律服务": "legal_aid", "服务": "services",
        "便民服务": "services", "民生服务": "services", "检查": "inspection",
        "排查": "inspection", "隐患排查": "inspection", "其他": "other",
    },
    ("grids", "grid_type"): {
        "城镇": "urban", "城市": "urban", "社区": "urban", "农村": "rural", "乡村": "rural",
        "村": "rural", "工业园区": "industrial", "园区": "industrial", "工业": "industrial",
    },
}  # fmt: skip


def _norm(text: str) -> str:
    return "".join(
        ch for ch in unicodedata.normalize("NFKC", str(text)).strip().lower() if ch.isalnum()
    )


def propose_columns(table: str, header: list[str]) -> dict[str, str]:
    """Contract column → the file's column, for the columns a name tells.

    The contract's own name first, then a synonym, then a close spelling of either
    (difflib, ratio ≥ 0.8); each file column is used once, required columns first.
    A column that looks personal is never proposed.
    """
    spec = TABLES[table]
    free = {_norm(h): h for h in header if not identifies_person(table, h)}
    out: dict[str, str] = {}
    order = [*spec.required, *(c for c in spec.column_names if c not in spec.required)]
    for rule in ("exact", "synonym", "close"):
        for column in order:
            if column in out:
                continue
            names = [column, *SYNONYMS.get(table, {}).get(column, ())]
            wanted = [_norm(n) for n in names]
            found = None
            if rule == "exact":
                found = free.get(_norm(column))
            elif rule == "synonym":
                found = next((free[w] for w in wanted if w in free), None)
            else:
                for w in wanted:
                    close = difflib.get_close_matches(w, list(free), n=1, cutoff=0.8)
                    if close:
                        found = free[close[0]]
                        break
            if found is not None:
                out[column] = found
                free.pop(_norm(found))
    return {c: out[c] for c in spec.column_names if c in out}


@dataclass
class TableProfile:
    """What ``inspect`` found in one table."""

    table: str
    file: str
    encoding: str | None
    columns: dict[str, str]
    unmapped: list[str]
    missing_required: list[str]
    rows: int = 0
    duplicates: int = 0
    filled: dict[str, float] = field(default_factory=dict)
    per_period: pd.Series | None = None
    empty: list[str] = field(default_factory=list)
    """Periods (starts) with no row at all, city-wide, between the first and the last."""
    gaps: list[str] = field(default_factory=list)
    """Those of ``empty`` read as extraction gaps (:func:`~riskwarn.data.gaps.extraction_gaps`)."""
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    unknown_values: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Inspection:
    """The proposal and the profile of a raw folder."""

    tables: dict[str, TableProfile]
    other_files: list[str]
    freq: str
    timezone: str
    label_rules: list[dict]
    grids_without_events: int | None
    notes: list[str] = field(default_factory=list)

    def config_toml(self) -> str:
        """The proposed starter config as TOML text (every table's mapping, edits welcome)."""
        q = lambda v: json.dumps(v, ensure_ascii=False)  # noqa: E731  (TOML basic strings)
        lines = [
            "# Starter config proposed by `riskwarn inspect`: check every line, then run",
            "# riskwarn validate --data DIR --config THIS_FILE",
            "",
            "[data]",
            f"freq = {q(self.freq)}",
            f"timezone = {q(self.timezone)}",
        ]
        for name, t in self.tables.items():
            renamed = {c: city for c, city in t.columns.items() if c != city}
            if renamed:
                lines += ["", f"[data.columns.{name}]"]
                lines += [f"{c} = {q(city)}" for c, city in renamed.items()]
            if t.unmapped:
                lines.append(f"# not mapped (ignored): {', '.join(t.unmapped)}")
            if t.missing_required:
                lines.append(f"# REQUIRED but not found, map them: {', '.join(t.missing_required)}")
            if t.gaps:
                lines.append(
                    f"# {name}: no rows at all in {', '.join(t.gaps[:6])}"
                    f"{' …' if len(t.gaps) > 6 else ''}: read as extraction gaps (labels over "
                    "them are missing); add others to [data] missing_periods"
                )
        for name, t in self.tables.items():
            for column, words in t.values.items():
                lines += ["", f"[data.values.{name}.{column}]"]
                lines += [f"{q(k)} = {q(v)}" for k, v in words.items()]
            for column, unknown in t.unknown_values.items():
                lines.append(
                    f"# {name}.{column}: values with no contract meaning yet: "
                    + ", ".join(unknown[:10])
                )
        lines += ["", "[label]", "horizon = 4"]
        if self.label_rules:
            for rule in self.label_rules:
                lines += ["[[label.any_of]]"] + [f"{k} = {q(v)}" for k, v in rule.items()]
        else:
            lines.append(
                "# no severity or group size column: write a label rule ([[label.any_of]])"
            )
        return "\n".join(lines) + "\n"


# Below this many events per grid and week, over at least two years, a week holds too
# few events per grid to learn from and months are proposed.
_SPARSE_PER_WEEK = 0.5


def _guess_freq(times: pd.Series, n_grids: int = 0) -> tuple[str, str | None]:
    """The period to propose, and why when it is not the default.

    ``MS`` when every event sits on the first of a month at midnight (a monthly
    export), or when the events are sparse (fewer than ``_SPARSE_PER_WEEK`` per grid
    and week) over two years or more; else ``W-MON``. A single year stays weekly:
    twelve months are too few periods to train and test on.
    """
    t = times.dropna()
    if len(t) and ((t.dt.day == 1) & (t.dt.hour == 0) & (t.dt.minute == 0)).all():
        return "MS", None
    if len(t) and n_grids > 0:
        weeks = (t.max() - t.min()) / pd.Timedelta(weeks=1)
        rate = len(t) / (n_grids * max(weeks, 1.0))
        if weeks >= 104 and rate < _SPARSE_PER_WEEK:
            return "MS", (
                f'freq = "MS" is proposed: {rate:.2f} events per grid and week over '
                f"{weeks / 52.18:.1f} years, so a month gives each grid a few events to learn "
                'from where most of its weeks would be empty; freq = "W-MON" works too, '
                "for weekly lists."
            )
    return "W-MON", None


def _delay_note(table: str, when: pd.Series, recorded: pd.Series, timezone: str) -> list[str]:
    """How late the rows of a table were recorded, in one line (none without values)."""
    stamps, _ = parse_timestamp(recorded, timezone)
    days = ((stamps - when).dt.total_seconds() / 86400).dropna()
    days = days[days >= 0]
    if days.empty:
        return []
    late = float((days >= 1).mean())
    return [
        f"{table}: {late:.0%} of rows were recorded a day or more after they happened "
        f"(90 % within {days.quantile(0.9):.0f} days, the longest {days.max():.0f}); "
        f"a forecast as of t uses only the rows recorded before t."
    ]


def inspect_folder(
    folder: str | Path,
    *,
    encoding: str | None = None,
    sheets: dict[str, str] | None = None,
    timezone: str = "Asia/Shanghai",
    progress: Callable[[str], None] | None = None,
) -> Inspection:
    """Propose a config for a raw folder and profile its tables.

    Parameters
    ----------
    folder : path
        Contract file names (``grids.csv``, ``petitions.xlsx``, …) with the city's
        own headers and words.
    encoding : str, optional
        ``[data] encoding``; default: detected per file.
    sheets : dict, optional
        ``[data.sheets]``: the worksheet of each ``.xlsx`` table.
    timezone : str
        The zone naive times are read in (the proposal keeps it).
    progress : callable, optional
        Called with each table's name before it is read.
    """
    files, other = find_table_files(folder)
    sheets = dict(sheets or {})
    tables: dict[str, TableProfile] = {}
    times: dict[str, pd.Series] = {}
    notes: list[str] = []
    grid_ids: set[str] = set()
    event_grids: set[str] = set()
    for name in ["grids", "adjacency", *EVENT_TABLES, "interventions"]:
        if name not in files:
            continue
        if progress:
            progress(name)
        path = files[name]
        header_raw, enc = read_header(path, encoding, sheets.get(name))
        spec = TABLES[name]
        columns = propose_columns(name, header_raw)
        personal = [h for h in header_raw if identifies_person(name, h)]
        unmapped = [h for h in header_raw if h not in columns.values() and h not in personal]
        missing = [c for c in spec.required if c not in columns]
        profile = TableProfile(
            name,
            str(path),
            enc,
            columns,
            unmapped,
            missing,
        )
        if personal:
            notes.append(
                f"{path.name}: column(s) {', '.join(personal)} identify people; delete them "
                "or pass --drop-pii to validate (they were not read)."
            )
        tables[name] = profile
        if missing:
            continue
        raw = read_raw_table(
            name, path, drop_pii=True, encoding=encoding, columns=columns, sheet=sheets.get(name)
        )
        frame = raw.frame
        profile.rows = len(frame)
        if spec.id_column and spec.id_column in frame:
            ids = frame[spec.id_column].dropna().astype(str)
            profile.duplicates = int(ids.duplicated().sum())
        for c in frame.columns:
            if c not in spec.required:
                profile.filled[c] = float(present(frame[c]).mean()) if len(frame) else 0.0
        for (table, column), words in WORDS.items():
            if table != name or column not in frame:
                continue
            seen = sorted(set(frame[column].dropna().astype(str).str.strip()) - {""})
            allowed = spec.column(column).allowed
            known = {w: words[w] for w in seen if w in words}
            if known:
                profile.values[column] = known
            ok = set(allowed) if allowed else set(words.values())
            unknown = [w for w in seen if w not in words and w not in ok]
            if unknown:
                profile.unknown_values[column] = unknown
        if name == "grids":
            grid_ids = set(frame["grid_id"].dropna().astype(str))
        if spec.time_column and name in EVENT_TABLES:
            event_grids |= set(frame["grid_id"].dropna().astype(str))
            times[name], _ = parse_timestamp(frame[spec.time_column], timezone)
            if RECORDED in frame:
                notes.extend(_delay_note(name, times[name], frame[RECORDED], timezone))
    freq, why = (
        _guess_freq(pd.concat(list(times.values())), len(grid_ids)) if times else ("W-MON", None)
    )
    if why:
        notes.append(why)
    # Rows per period and city-wide gaps, on the guessed frequency.
    for name, stamps in times.items():
        local = stamps.dropna().dt.tz_localize(None)
        if local.empty:
            continue
        period = local.dt.to_period("M" if freq == "MS" else "W-SUN").dt.start_time
        counts = period.value_counts().sort_index()
        step = "MS" if freq == "MS" else "W-MON"
        full = pd.date_range(counts.index.min(), counts.index.max(), freq=step)
        counts = counts.reindex(full, fill_value=0)
        tables[name].per_period = counts
        tables[name].empty = [f"{d:%Y-%m-%d}" for d in counts.index[counts == 0]]
        gaps = extraction_gaps(counts.to_numpy())
        tables[name].gaps = [f"{d:%Y-%m-%d}" for d in counts.index[gaps]]
    rules = []
    if "incidents" in tables and "severity" in tables["incidents"].columns:
        rules.append({"table": "incidents", "column": "severity", "op": ">=", "value": 3})
    if "petitions" in tables and "group_size" in tables["petitions"].columns:
        rules.append({"table": "petitions", "column": "group_size", "op": ">=", "value": 5})
    silent = len(grid_ids - event_grids) if grid_ids else None
    return Inspection(tables, other, freq, timezone, rules, silent, notes)
