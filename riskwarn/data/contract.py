"""The input data contract of DESIGN.md as data: tables, columns, kinds, ranges.

Everything else in the data room (parsing, pandera schemas, quarantine, the
simulator's writer) reads these specs, so the contract is written down once.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

Kind = Literal["str", "int", "float", "bool", "timestamp", "wkt"]


@dataclass(frozen=True)
class ColumnSpec:
    """One contract column.

    ``low``/``high`` bound numeric values (``low_open`` makes ``low`` exclusive);
    ``allowed`` lists the permitted values of a categorical column; ``default`` is a
    value the contract itself names for a missing cell (the only fill allowed).
    """

    name: str
    kind: Kind
    required: bool = False
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    allowed: tuple[str, ...] | None = None
    unique: bool = False
    default: object = None


@dataclass(frozen=True)
class TableSpec:
    """One contract table. ``not_before`` pairs (later, earlier) must hold row-wise."""

    name: str
    columns: tuple[ColumnSpec, ...]
    id_column: str | None = None
    time_column: str | None = None
    not_before: tuple[tuple[str, str], ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def is_event(self) -> bool:
        return self.name in EVENT_TABLES


DISPUTE_STATUSES = ("resolved", "unresolved", "in_progress", "referred", "unknown")

GRIDS = TableSpec(
    name="grids",
    id_column="grid_id",
    columns=(
        ColumnSpec("grid_id", "str", required=True, unique=True),
        ColumnSpec("name", "str"),
        ColumnSpec("population", "int", low=0),
        ColumnSpec("area_km2", "float", low=0, low_open=True),
        ColumnSpec("grid_type", "str"),
        ColumnSpec("town", "str"),
        ColumnSpec("district", "str"),
        ColumnSpec("lon", "float", low=-180, high=180),
        ColumnSpec("lat", "float", low=-90, high=90),
        ColumnSpec("geometry_wkt", "wkt"),
    ),
)

ADJACENCY = TableSpec(
    name="adjacency",
    columns=(
        ColumnSpec("grid_a", "str", required=True),
        ColumnSpec("grid_b", "str", required=True),
        ColumnSpec("weight", "float", low=0, low_open=True),
    ),
)

PETITIONS = TableSpec(
    name="petitions",
    id_column="case_id",
    time_column="received_at",
    not_before=(("closed_at", "received_at"), ("recorded_at", "received_at")),
    columns=(
        ColumnSpec("case_id", "str", required=True, unique=True),
        ColumnSpec("grid_id", "str", required=True),
        ColumnSpec("received_at", "timestamp", required=True),
        ColumnSpec("category", "str", required=True),
        ColumnSpec("channel", "str"),
        ColumnSpec("group_size", "int", low=1, default=1),
        ColumnSpec("is_repeat", "bool"),
        ColumnSpec("level", "int", low=1, high=6),
        ColumnSpec("closed_at", "timestamp"),
        ColumnSpec("outcome", "str"),
        ColumnSpec("satisfied", "bool"),
        ColumnSpec("recorded_at", "timestamp"),
    ),
)

DISPUTES = TableSpec(
    name="disputes",
    id_column="case_id",
    time_column="reported_at",
    not_before=(("resolved_at", "reported_at"), ("recorded_at", "reported_at")),
    columns=(
        ColumnSpec("case_id", "str", required=True, unique=True),
        ColumnSpec("grid_id", "str", required=True),
        ColumnSpec("reported_at", "timestamp", required=True),
        ColumnSpec("category", "str", required=True),
        ColumnSpec("parties", "int", low=1),
        ColumnSpec("status", "str", allowed=DISPUTE_STATUSES),
        ColumnSpec("resolved_at", "timestamp"),
        ColumnSpec("amount", "float", low=0),
        ColumnSpec("recorded_at", "timestamp"),
    ),
)

INCIDENTS = TableSpec(
    name="incidents",
    id_column="event_id",
    time_column="occurred_at",
    columns=(
        ColumnSpec("event_id", "str", required=True, unique=True),
        ColumnSpec("grid_id", "str", required=True),
        ColumnSpec("occurred_at", "timestamp", required=True),
        ColumnSpec("type", "str", required=True),
        ColumnSpec("severity", "int", low=1, high=4),
        ColumnSpec("participants", "int", low=0),
        ColumnSpec("recorded_at", "timestamp"),
    ),
    not_before=(("recorded_at", "occurred_at"),),
)

#: Actions taken for an area (a mediation team's visit, a legal-aid day): not events to
#: predict, but why a predicted escalation may not have happened. ``kind`` is free text
#: (the city's own words, or mapped onto mediation, legal_aid, services, inspection, other); ``note_code`` is a
#: code, never free text about anyone.
INTERVENTIONS = TableSpec(
    name="interventions",
    id_column="intervention_id",
    time_column="started_at",
    not_before=(("ended_at", "started_at"),),
    columns=(
        ColumnSpec("intervention_id", "str", required=True, unique=True),
        ColumnSpec("grid_id", "str", required=True),
        ColumnSpec("started_at", "timestamp", required=True),
        ColumnSpec("kind", "str", required=True),
        ColumnSpec("ended_at", "timestamp"),
        ColumnSpec("team", "str"),
        ColumnSpec("note_code", "str"),
    ),
)

EVENT_TABLES = ("petitions", "disputes", "incidents")
#: When a record entered the system (optional in every event table): a row is known
#: as of ``t`` only if it was recorded before ``t``.
RECORDED = "recorded_at"
TABLES: dict[str, TableSpec] = {
    t.name: t for t in (GRIDS, ADJACENCY, PETITIONS, DISPUTES, INCIDENTS, INTERVENTIONS)
}
FILE_SUFFIXES = (".csv", ".parquet", ".xlsx")

# Column names that identify a person. Matched after normalisation (case, spaces,
# punctuation removed), as whole names or as a part separated by '_' in the
# original, so 'home_address' and 'Phone No.' are caught but 'category' is not.
_PII_WORDS = {
    "name", "fullname", "firstname", "lastname", "surname", "givenname", "personname",
    "petitioner", "petitionername", "complainant", "applicant", "party", "partyname",
    "phone", "phoneno", "phonenumber", "mobile", "mobileno", "telephone", "tel", "cellphone",
    "email", "emailaddress", "idnumber", "idno", "idcard", "idcardno", "nationalid",
    "identitycard", "ssn", "passport", "passportno", "address", "homeaddress",
    "streetaddress", "residence", "domicile", "birthdate", "dateofbirth",
    "dob", "wechat", "qq", "qqno", "qqnumber", "licenseplate", "plate", "reporter",
    "reportername", "reportedby", "caller", "callername", "bankcard", "bankcardno",
    "bankaccount", "accountno", "householder", "headofhousehold",
}  # fmt: skip
_PII_PARTS = {"name", "phone", "mobile", "telephone", "email", "address", "passport", "ssn"}
_PII_CHINESE = (
    "姓名", "名字", "电话", "手机", "联系方式", "身份证", "证件号", "住址", "地址", "户籍",
    "出生日期", "微信", "车牌", "当事人", "信访人", "申请人", "身份号码", "反映人", "上访人",
    "来访人", "投诉人", "举报人", "报案人", "报警人", "求助人", "联系人", "户主", "银行卡",
    "银行账号", "卡号", "QQ号", "qq号",
)  # fmt: skip
# Whole names (after normalisation) of columns that hold a person's name: a grid
# worker or a person in charge is a person ('网格员数', a count, is not refused).
_PII_CHINESE_WHOLE = {"网格员", "负责人", "网格长", "调解员", "经办人", "承办人"}
# Contract columns whose names would otherwise look personal.
_CONTRACT_OK = {"grids": {"name"}}


def _normalise(col: str) -> str:
    s = unicodedata.normalize("NFKC", str(col)).strip().lower()
    return re.sub(r"[\s\-\.\(\)/#:_]+", "", s)


def identifies_person(table: str, column: str) -> bool:
    """True when ``column`` in ``table`` names personal data and must be refused."""
    if column in _CONTRACT_OK.get(table, ()):
        return False
    raw = unicodedata.normalize("NFKC", str(column)).strip()
    if any(word in raw for word in _PII_CHINESE):
        return True
    norm = _normalise(raw)
    if norm in _PII_WORDS or norm in _PII_CHINESE_WHOLE:
        return True
    parts = [p for p in re.split(r"[_\s\-\.]+", raw.lower()) if p]
    # In the grids table a name part names a place ('town_name'), not a person.
    personal_parts = _PII_PARTS - {"name"} if table == "grids" else _PII_PARTS
    return len(parts) > 1 and any(p in personal_parts for p in parts)


# Values that carry personal details, whatever the column is called: a mainland
# mobile number, a landline with its area code, a resident ID number (15 or 18
# characters, with a plausible birth date) and an e-mail address. A person's name
# inside a free-text value cannot be recognised this way; the contract's text
# columns are categories, and riskwarn prints their values in its reasons.
_PERSONAL_VALUE = re.compile(
    r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])"
    r"|(?<![0-9])0[0-9]{2,3}-[0-9]{7,8}(?![0-9])"
    r"|(?<![0-9])[0-9]{6}(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
    r"[0-9]{3}[0-9Xx](?![0-9A-Za-z])"
    r"|(?<![0-9])[0-9]{6}[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}(?![0-9])"
    r"|[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.-]+"
)


def text_columns(table: str) -> list[str]:
    """The descriptive text columns of ``table``: categories, types, places, teams.

    Not the identifiers (``grid_id``, case ids), whose digits are case numbers.
    """
    spec = TABLES[table]
    ids = {"grid_id", "grid_a", "grid_b"}
    return [c.name for c in spec.columns if c.kind == "str" and not c.unique and c.name not in ids]


def personal_values(values) -> np.ndarray:
    """True where a text value holds a phone number, an ID number or an e-mail address.

    Parameters
    ----------
    values : Series of str (or missing), shape (n_rows,)

    Returns
    -------
    ndarray of bool, shape (n_rows,)
    """
    text = values.astype("string").fillna("")
    # Categories repeat: each distinct value is checked once.
    distinct = pd.Series(text.unique(), dtype="string")
    normal = distinct.map(lambda v: unicodedata.normalize("NFKC", v))
    bad = distinct[normal.str.contains(_PERSONAL_VALUE, regex=True).fillna(False).to_numpy(bool)]
    return text.isin(bad).to_numpy(dtype=bool)


_KIND_WORDS = {
    "str": "text",
    "int": "integer",
    "float": "number",
    "bool": "true/false",
    "timestamp": "date-time (ISO 8601)",
    "wkt": "WKT polygon",
}


def _range_words(c: ColumnSpec, table: str) -> str:
    if table != "grids" and c.name in ("grid_id", "grid_a", "grid_b"):
        return "a `grid_id` of `grids`"
    if c.allowed:
        return ", ".join(f"`{v}`" for v in c.allowed)
    parts = []
    if c.low is not None:
        parts.append(f"> {c.low:g}" if c.low_open else f">= {c.low:g}")
    if c.high is not None:
        parts.append(f"<= {c.high:g}")
    words = " and ".join(parts)
    if c.unique:
        words = "unique" + (f", {words}" if words else "")
    if c.default is not None:
        words += f"{'; ' if words else ''}missing means {c.default}"
    return words


def contract_markdown() -> str:
    """The contract's tables and columns as Markdown (the README's column reference).

    One table per contract table: column, type, required or optional, and the
    range, allowed values, uniqueness or default.
    """
    blocks = []
    for spec in TABLES.values():
        lines = [
            f"**`{spec.name}`**"
            + (
                f" ({'event time' if spec.is_event else 'when'} `{spec.time_column}`)"
                if spec.time_column
                else ""
            ),
            "",
            "| column | type | required | values |",
            "|---|---|---|---|",
        ]
        for c in spec.columns:
            need = "required" if c.required else "optional"
            lines.append(
                f"| `{c.name}` | {_KIND_WORDS[c.kind]} | {need} | {_range_words(c, spec.name)} |"
            )
        for later, earlier in spec.not_before:
            lines += ["", f"`{later}` is never before `{earlier}`."]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"
