"""Shapes of a written city: the partial data real cities have.

A real city may keep only some event tables, only the contract's required columns, or
no map of its grids. :class:`DataShape` says which part of a simulated city is written;
:func:`shape_tables` cuts the tables to it and :meth:`DataShape.label` is the label
that these tables support. The simulation itself is not changed by a shape: the truth
still counts every simulated escalation, written or not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from riskwarn.data.contract import EVENT_TABLES, RECORDED, TABLES
from riskwarn.errors import RiskwarnError

# The label that counts exactly the simulated escalations (see DESIGN.md, "Labels"):
# escalations become severe incidents or collective petitions, ordinary events never
# reach these values (riskwarn.simulate.events).
ESCALATION_RULES: tuple[dict[str, Any], ...] = (
    {"table": "incidents", "column": "severity", "op": ">=", "value": 3},
    {"table": "petitions", "column": "group_size", "op": ">=", "value": 5},
)
# Disputes carry no escalation; many parties is the closest sign of collective conflict
# they show, so a city with disputes only is labelled with it.
PROXY_RULE: dict[str, Any] = {"table": "disputes", "column": "parties", "op": ">=", "value": 5}
# The grid columns a graph can be built from (queen contiguity or nearest centroids).
GRAPH_COLUMNS = ("lon", "lat", "geometry_wkt")

_NOTES = {
    "exact": "The label counts exactly the simulated escalations in "
    "escalation_probability.parquet.",
    "partial": "The label counts only the simulated escalations recorded in the tables "
    "written ({tables}); escalation_probability.parquet counts all of them, including "
    "those that would have appeared in tables not written.",
    "proxy": "No table written records an escalation: the label is a proxy (disputes with "
    "5 or more parties). escalation_probability.parquet counts the simulated escalations, "
    "which these data do not show.",
}


def parse_tables(text: str) -> tuple[str, ...]:
    """A comma list of event tables, e.g. ``"incidents,disputes"``, as a tuple.

    Raises
    ------
    RiskwarnError
        For an empty list or item, an unknown table or a table named twice.
    """
    names = tuple(part.strip() for part in str(text).split(","))
    if not any(names):
        raise RiskwarnError(
            f"the list of tables is empty; name one or more of {', '.join(EVENT_TABLES)}."
        )
    if not all(names):
        raise RiskwarnError(
            f"the list of tables {text!r} has an empty item; separate table names by "
            "single commas, e.g. 'incidents,disputes'."
        )
    return names


@dataclass(frozen=True)
class DataShape:
    """Which part of a simulated city is written.

    Attributes
    ----------
    tables : tuple of str
        Event tables written, any non-empty subset of petitions, disputes, incidents.
        Stored in contract order whatever order they are given in. ``grids`` is always
        written.
    minimal_columns : bool
        Event tables keep only their contract's required columns and the label's
        columns; ``grids`` keeps only ``grid_id``. ``adjacency`` stays (unless
        ``no_graph``).
    no_graph : bool
        No ``adjacency`` table, and ``grids`` loses ``lon``, ``lat`` and
        ``geometry_wkt``: riskwarn can build no graph.
    delays : bool
        Event tables get ``recorded_at`` (:mod:`riskwarn.simulate.delays`), and the
        records entered after the extraction moment are not written. Without it
        there is no ``recorded_at``: every record is known when it happens.

    Raises
    ------
    RiskwarnError
        For an empty ``tables``, an unknown table or a table named twice.
    """

    tables: tuple[str, ...] = EVENT_TABLES
    minimal_columns: bool = False
    no_graph: bool = False
    delays: bool = False

    def __post_init__(self) -> None:
        tables = (self.tables,) if isinstance(self.tables, str) else tuple(self.tables)
        if not tables:
            raise RiskwarnError(
                f"write at least one event table: name one or more of {', '.join(EVENT_TABLES)}."
            )
        unknown = [t for t in tables if t not in EVENT_TABLES]
        if unknown:
            raise RiskwarnError(
                f"unknown event table(s) {', '.join(map(repr, unknown))}; choose from "
                f"{', '.join(EVENT_TABLES)} (grids is always written, adjacency unless "
                "there is no graph)."
            )
        twice = sorted({t for t in tables if tables.count(t) > 1})
        if twice:
            raise RiskwarnError(f"event table(s) named twice: {', '.join(twice)}.")
        # Contract order, so equal shapes write identical files and metadata.
        object.__setattr__(self, "tables", tuple(t for t in EVENT_TABLES if t in tables))

    @property
    def label_kind(self) -> str:
        """``"exact"``, ``"partial"`` (some escalation tables missing) or ``"proxy"``."""
        written = {rule["table"] for rule in ESCALATION_RULES} & set(self.tables)
        if not written:
            return "proxy"
        return "exact" if len(written) == len(ESCALATION_RULES) else "partial"

    def label(self) -> dict[str, Any]:
        """The label these tables support, as ``{"any_of": [rule, ...]}``.

        The escalation rules whose table is written, in the order of
        ``ESCALATION_RULES``; with none of them written, ``PROXY_RULE``.
        """
        if self.label_kind == "proxy":
            return {"any_of": [dict(PROXY_RULE)]}
        return {"any_of": [dict(r) for r in ESCALATION_RULES if r["table"] in self.tables]}

    def label_note(self) -> str:
        """One sentence on how the label relates to the truth file."""
        return _NOTES[self.label_kind].format(tables=", ".join(self.tables))

    def columns(self, table: str) -> tuple[str, ...]:
        """The columns of ``table`` as written, in contract order.

        Parameters
        ----------
        table : str
            ``grids``, ``adjacency`` or an event table of this shape.

        Returns
        -------
        tuple of str
        """
        spec = TABLES[table]
        if table == "grids":
            if self.minimal_columns:
                return spec.required
            drop = GRAPH_COLUMNS if self.no_graph else ()
            return tuple(c for c in spec.column_names if c not in drop)
        if table == "adjacency":
            return spec.column_names
        needed = {r["column"] for r in self.label()["any_of"] if r["table"] == table}
        if self.delays:
            needed.add(RECORDED)
        return tuple(
            c
            for c in spec.column_names
            if (c != RECORDED or self.delays)
            and (not self.minimal_columns or c in spec.required or c in needed)
        )

    def written(self) -> tuple[str, ...]:
        """The tables written, in writing order: grids, adjacency (with a graph), events."""
        return ("grids", *(() if self.no_graph else ("adjacency",)), *self.tables)

    def as_dict(self) -> dict[str, Any]:
        """The shape as JSON-ready values (for ``simulation.json``)."""
        return {
            "tables": list(self.tables),
            "minimal_columns": self.minimal_columns,
            "no_graph": self.no_graph,
            "delays": self.delays,
        }


def shape_tables(tables: dict[str, pd.DataFrame], shape: DataShape) -> dict[str, pd.DataFrame]:
    """Cut a city's tables to ``shape``.

    Parameters
    ----------
    tables : dict of str to pd.DataFrame
        The five input tables by contract name (``SimulatedCity.tables()``), each with
        the contract columns.
    shape : DataShape

    Returns
    -------
    dict of str to pd.DataFrame
        The tables of ``shape.written()`` in that order, each with the columns of
        ``shape.columns(name)`` (rows unchanged). A table keeping all its columns is
        the frame given, not a copy.
    """
    out = {}
    for name in shape.written():
        frame, cols = tables[name], list(shape.columns(name))
        out[name] = frame if list(frame.columns) == cols else frame[cols]
    if "interventions" in tables:  # what the city did is written whatever the shape
        out["interventions"] = tables["interventions"]
    return out


def label_toml(label: dict[str, Any], data: dict[str, str]) -> str:
    """A riskwarn config holding ``data`` as ``[data]`` and ``label`` as ``[label]``.

    Parameters
    ----------
    label : dict
        ``{"any_of": [{"table", "column", "op", "value"}, ...]}`` with str or int values.
    data : dict of str to str
        ``[data]`` keys (``freq``, ``timezone``, ``end``).

    Returns
    -------
    str
        TOML text that ``riskwarn.config.load_config`` reads (horizon: its default).
    """

    def value(v: Any) -> str:
        # JSON's string escapes are valid TOML basic strings; ints are the same in both.
        if isinstance(v, bool) or not isinstance(v, str | int):
            raise TypeError(f"label values must be str or int, got {v!r}")
        return json.dumps(v, ensure_ascii=False)

    lines = [
        "# The label and time line of this simulated dataset, ready for --config.",
        "# The label uses only tables that were written; see simulation.json, label_note.",
        "[data]",
        *(f"{k} = {value(v)}" for k, v in data.items()),
        "",
        "[label]",
    ]
    for rule in label["any_of"]:
        lines += ["", "[[label.any_of]]"]
        lines += [f"{k} = {value(rule[k])}" for k in ("table", "column", "op", "value")]
    return "\n".join(lines) + "\n"
