"""The declarative label rules as engine expressions (no code strings, no eval).

An event is an *escalation* when any ``[[label.any_of]]`` rule of its table matches.
"""

from __future__ import annotations

import operator
from dataclasses import replace

import ibis
import ibis.expr.types as ir

from riskwarn.config import LabelConfig, LabelRule
from riskwarn.data.contract import EVENT_TABLES, TABLES
from riskwarn.errors import ConfigError

_OPS = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def _kind_ok(kind: str, value: object) -> bool:
    if kind in ("int", "float"):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    return isinstance(value, str)


def check_rules(label: LabelConfig, columns: dict[str, list[str]]) -> list[str]:
    """Check every rule against the contract and the dataset's columns.

    Parameters
    ----------
    columns : dict
        Present event tables and their columns.

    Returns
    -------
    list of str
        Warnings: a rule of the built-in default label whose table (or column) the
        dataset lacks matches nothing and is left out.

    Raises
    ------
    ConfigError
        A rule that breaks the contract; a configured rule on a table or column the
        dataset lacks; a label none of whose rules can match this dataset.
    """
    _, warnings = applicable_label(label, columns)
    return warnings


def applicable_label(
    label: LabelConfig, columns: dict[str, list[str]]
) -> tuple[LabelConfig, list[str]]:
    """The label restricted to the rules this dataset can evaluate, and warnings.

    The built-in default label (a serious incident or a collective petition) is
    meant to work on any subset of tables: its rules on absent tables or columns
    are dropped with a warning. A label written in the config is taken literally:
    a rule on a table or column the data lacks stops the run, since it would
    silently change what an escalation is.
    """
    default = tuple(label.any_of) == tuple(LabelConfig().any_of)
    warnings, kept = [], []
    for n, rule in enumerate(label.any_of, 1):
        where = f"[[label.any_of]] rule {n} ({rule.table}.{rule.column} {rule.op} {rule.value!r})"
        if rule.table not in EVENT_TABLES:
            raise ConfigError(f"{where}: table must be one of {', '.join(EVENT_TABLES)}.")
        spec = TABLES[rule.table]
        if rule.column not in spec.column_names:
            raise ConfigError(
                f"{where}: {rule.table} has no contract column {rule.column!r}; "
                f"its columns are {', '.join(spec.column_names)}."
            )
        kind = spec.column(rule.column).kind
        values = rule.value if rule.op == "in" else (rule.value,)
        if kind in ("timestamp", "wkt") or not all(_kind_ok(kind, v) for v in values):
            raise ConfigError(f"{where}: a {kind} column cannot be compared with {rule.value!r}.")
        if rule.table not in columns:
            if not default:
                raise ConfigError(
                    f"{where}: the dataset has no {rule.table} table, so this rule can match "
                    f"nothing; remove it from [label] or add a {rule.table} file."
                )
            warnings.append(
                f"the default label's rule {rule.table}.{rule.column} {rule.op} "
                f"{rule.value!r} is left out: the dataset has no {rule.table} table."
            )
            continue
        if rule.column not in columns[rule.table]:
            if not default:
                raise ConfigError(
                    f"{where}: the dataset's {rule.table} table has no {rule.column!r} column, "
                    "so the label cannot be computed as specified; remove the rule or add "
                    "the column."
                )
            warnings.append(
                f"the default label's rule {rule.table}.{rule.column} {rule.op} "
                f"{rule.value!r} is left out: the {rule.table} table has no {rule.column!r} "
                "column."
            )
            continue
        kept.append(rule)
    if not kept:
        present = ", ".join(sorted(columns)) or "none"
        example = _example_rule(columns)
        raise ConfigError(
            "the label can match no event of this dataset (its event tables: "
            f"{present}): write a [label] rule on a table it has"
            + (f", e.g. [label] any_of = [{example}]" if example else "")
            + " (see DESIGN.md, Labels)."
        )
    return replace(label, any_of=tuple(kept)), warnings


# What an escalation may look like in each table, on a column it may have; the
# category, a required column, when none of these is there.
_EXAMPLES = (
    ("incidents", "severity", '">=", value = 3'),
    ("petitions", "group_size", '">=", value = 5'),
    ("disputes", "parties", '">=", value = 5'),
)


def _example_rule(columns: dict) -> str | None:
    """A [label] rule, as TOML, on a table (and column) the dataset has."""
    for table, column, rest in _EXAMPLES:
        if column in columns.get(table, ()):
            return f'{{table = "{table}", column = "{column}", op = {rest}}}'
    for table in ("incidents", "petitions", "disputes"):
        if table in columns:
            column = "type" if table == "incidents" else "category"
            return (
                f'{{table = "{table}", column = "{column}", op = "in", value = ["<a {column}>"]}}'
            )
    return None


def rule_predicate(table: ir.Table, rule: LabelRule) -> ir.BooleanValue:
    """``column op value`` for one rule; a missing value never matches."""
    col = table[rule.column]
    if rule.op == "in":
        match = col.isin(list(rule.value))
    else:
        match = _OPS[rule.op](col, ibis.literal(rule.value))
    return match.fill_null(False)


def escalation_predicate(table: ir.Table, table_name: str, label: LabelConfig) -> ir.BooleanValue:
    """True for events of ``table_name`` that match any of the label's rules."""
    preds = [rule_predicate(table, r) for r in label.any_of if r.table == table_name]
    if not preds:
        return ibis.literal(False)
    out = preds[0]
    for p in preds[1:]:
        out = out | p
    return out
