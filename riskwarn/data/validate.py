"""Row-level validation with pandera; bad rows go to quarantine, never vanish.

For every table: rows read = rows accepted + rows quarantined, and each
quarantined row carries its source file, row number and the reason(s).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from riskwarn.config import Config
from riskwarn.data.contract import EVENT_TABLES, TABLES, ColumnSpec, TableSpec
from riskwarn.data.parse import KIND_TEXT, ambiguous_dates, parse_column
from riskwarn.data.read import RawTable, find_table_files, read_raw_table
from riskwarn.data.report import TableReport, ValidationReport
from riskwarn.errors import DataContractError

BAD = "__unparsed"  # suffix of the helper columns that flag unparseable cells
AMBIGUOUS = "__ambiguous"  # ... and of those that flag dates with day and month first
QUARANTINE_META = ("source_file", "row_number", "reason")


@dataclass
class Dataset:
    """A validated dataset: typed frames of accepted rows, the report, the quarantine.

    Timestamps are tz-aware in ``timezone``; text columns are pandas ``string``;
    optional columns absent from a file are absent from its frame.
    """

    folder: Path
    timezone: str
    end: pd.Timestamp
    grids: pd.DataFrame
    report: ValidationReport
    adjacency: pd.DataFrame | None = None
    petitions: pd.DataFrame | None = None
    disputes: pd.DataFrame | None = None
    incidents: pd.DataFrame | None = None
    #: What was done for which grid, when (optional; never an event to predict).
    interventions: pd.DataFrame | None = None
    quarantine: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def events(self) -> dict[str, pd.DataFrame]:
        """The event tables that are present, by name."""
        return {t: getattr(self, t) for t in EVENT_TABLES if getattr(self, t) is not None}


def _range_checks(col: ColumnSpec) -> list[pa.Check]:
    checks = []
    if col.low is not None:
        op, check = (">", pa.Check.gt) if col.low_open else (">=", pa.Check.ge)
        checks.append(check(col.low, error=f"{col.name}: must be {op} {col.low:g}"))
    if col.high is not None:
        checks.append(pa.Check.le(col.high, error=f"{col.name}: must be <= {col.high:g}"))
    if col.allowed is not None:
        checks.append(
            pa.Check.isin(col.allowed, error=f"{col.name}: must be one of {', '.join(col.allowed)}")
        )
    return checks


def _grid_checks(name: str, known: pd.Index, quarantined: pd.Index) -> list[pa.Check]:
    return [
        pa.Check(
            lambda s: s.isin(known) | s.isin(quarantined),
            error=f"{name}: not in the grids table",
        ),
        pa.Check(
            lambda s: ~s.isin(quarantined),
            error=f"{name}: its row in the grids table was quarantined",
        ),
    ]


def _not_before(later: str, earlier: str) -> pa.Check:
    def check(df: pd.DataFrame) -> pd.Series:
        a, b = df[later], df[earlier]
        return (a.isna() | b.isna() | (a >= b)).astype(bool)

    return pa.Check(check, error=f"{later}: before {earlier}")


def _undirected_pair_checks() -> list[pa.Check]:
    def not_self(df: pd.DataFrame) -> pd.Series:
        return (df["grid_a"] != df["grid_b"]).fillna(True).astype(bool)

    def first_of_pair(df: pd.DataFrame) -> pd.Series:
        a, b = df["grid_a"].astype(str), df["grid_b"].astype(str)
        lo = a.where(a <= b, b)
        hi = b.where(a <= b, a)
        return ~pd.DataFrame({"lo": lo, "hi": hi}).duplicated(keep="first")

    return [
        pa.Check(not_self, error="grid_b: same grid as grid_a"),
        pa.Check(first_of_pair, error="grid_b: pair already listed (either order)"),
    ]


def _schema(
    spec: TableSpec,
    present_columns: list[str],
    *,
    end: pd.Timestamp,
    known_grids: pd.Index,
    quarantined_grids: pd.Index,
) -> pa.DataFrameSchema:
    columns: dict[str, pa.Column] = {}
    for name in present_columns:
        col = spec.column(name)
        checks = _range_checks(col)
        if col.kind == "timestamp":
            checks.append(pa.Check.lt(end, error=f"{name}: after the data's end ({end})"))
        if (spec.name != "grids" and name == "grid_id") or name in ("grid_a", "grid_b"):
            checks += _grid_checks(name, known_grids, quarantined_grids)
        # grids.grid_id duplicates are structural and stopped earlier.
        unique = col.unique and spec.name != "grids"
        columns[name] = pa.Column(
            nullable=not col.required,
            unique=unique,
            report_duplicates="exclude_first",
            checks=checks,
        )
        columns[name + BAD] = pa.Column(
            checks=pa.Check(lambda s: ~s, error=f"{name}: not {KIND_TEXT[col.kind]}")
        )
        if col.kind == "timestamp":
            columns[name + AMBIGUOUS] = pa.Column(
                checks=pa.Check(
                    lambda s: ~s,
                    error=f"{name}: ambiguous date, day and month could be either way round "
                    "(write it year first, e.g. 2023-05-06)",
                )
            )
    frame_checks = [
        _not_before(later, earlier)
        for later, earlier in spec.not_before
        if later in present_columns and earlier in present_columns
    ]
    if spec.name == "adjacency":
        frame_checks += _undirected_pair_checks()
    return pa.DataFrameSchema(columns, checks=frame_checks)


def _reasons(errors: SchemaErrors, unparsed: pd.DataFrame) -> pd.Series:
    """One '; '-joined reason per failing row index."""
    fc = errors.failure_cases
    fc = fc[fc["index"].notna()]
    index = fc["index"].astype(int).to_numpy()
    column = fc["column"].astype(str)
    text = fc["check"].astype(str)
    missing = text.eq("not_nullable")
    text = text.mask(missing, column + ": missing (required)")
    text = text.mask(text.eq("field_uniqueness"), column + ": duplicate id (first row kept)")
    # An unparseable required cell is null too; its parse failure is the reason.
    flags = unparsed.rename(columns=lambda c: c.removesuffix(BAD).removesuffix(AMBIGUOUS))
    flags = flags.T.groupby(level=0).any().T.stack()
    keys = pd.MultiIndex.from_arrays([index, column.to_numpy()])
    also_unparsed = missing.to_numpy() & flags.reindex(keys, fill_value=False).to_numpy(bool)
    out = pd.DataFrame({"index": index, "reason": text.to_numpy()})[~also_unparsed]
    out = out.drop_duplicates()
    return out.groupby("index", sort=True)["reason"].agg("; ".join)


def _in_city_words(text: str, city: dict[str, str]) -> str:
    """Reasons ``"col: why; …"`` with the city's own name beside each mapped column."""
    parts = []
    for part in text.split("; "):
        column, sep, why = part.partition(": ")
        if sep and column in city:
            part = f"{column} ({city[column]}): {why}"
        parts.append(part)
    return "; ".join(parts)


def validate_table(
    raw: RawTable,
    *,
    timezone: str,
    end: pd.Timestamp,
    known_grids: pd.Index | None = None,
    quarantined_grids: pd.Index | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, TableReport]:
    """Type and check one raw table.

    Returns
    -------
    accepted : DataFrame, shape (n_accepted, n_contract_columns_present)
        Typed rows that passed every check, in file order.
    quarantine : DataFrame, shape (n_quarantined, n_columns_present + 3)
        Raw contract columns plus ``source_file``, ``row_number``, ``reason``.
    report : TableReport
    """
    spec = TABLES[raw.name]
    frame = raw.frame
    typed: dict[str, pd.Series] = {}
    bad: dict[str, pd.Series] = {}
    for name in frame.columns:
        kind = spec.column(name).kind
        typed[name], bad[name + BAD] = parse_column(frame[name], kind, timezone)
        if kind == "timestamp":
            # An ambiguous date gets its own reason, not "not a date-time" as well.
            bad[name + AMBIGUOUS] = ambiguous_dates(frame[name])
            bad[name + BAD] = bad[name + BAD] & ~bad[name + AMBIGUOUS]
    typed_frame = pd.DataFrame(typed, index=frame.index)
    if spec.name == "grids":
        _stop_on_duplicate_grids(typed_frame, raw.path)
    unparsed = pd.DataFrame(bad, index=frame.index)
    check_frame = pd.concat([typed_frame, unparsed], axis=1)
    schema = _schema(
        spec,
        list(frame.columns),
        end=end,
        known_grids=known_grids if known_grids is not None else pd.Index([]),
        quarantined_grids=quarantined_grids if quarantined_grids is not None else pd.Index([]),
    )
    try:
        schema.validate(check_frame, lazy=True, inplace=True)
        reasons = pd.Series(dtype=str)
    except SchemaErrors as errors:
        reasons = _reasons(errors, unparsed)
    if raw.city_columns:
        reasons = reasons.map(lambda text: _in_city_words(text, raw.city_columns))
    is_bad = frame.index.isin(reasons.index)
    accepted = typed_frame.loc[~is_bad].reset_index(drop=True)
    for col in spec.columns:
        if col.default is not None and col.name in accepted:
            accepted[col.name] = accepted[col.name].fillna(col.default)
    if raw.malformed:
        # Fields of a malformed line cannot be matched to columns: only its place and
        # reason are kept (its text might hold a column that was refused).
        rows = [r for r, _ in raw.malformed]
        why = [
            f"malformed line: {n} fields, the header has {raw.header_width}"
            for _, n in raw.malformed
        ]
        reasons = pd.concat([reasons, pd.Series(why, index=pd.Index(rows) - 1)])
        frame = pd.concat([frame, pd.DataFrame(index=pd.Index(rows) - 1, columns=frame.columns)])
        frame = frame.sort_index()
        is_bad = frame.index.isin(reasons.index)
    quarantine = frame.loc[is_bad].copy()
    quarantine["source_file"] = str(raw.path)
    quarantine["row_number"] = quarantine.index + 1
    quarantine["reason"] = reasons.reindex(quarantine.index).to_numpy()
    quarantine = quarantine.reset_index(drop=True)
    counts = Counter(r for joined in reasons for r in joined.split("; "))
    report = TableReport(
        table=raw.name,
        file=str(raw.path),
        rows_read=len(frame),
        rows_accepted=len(accepted),
        rows_quarantined=len(quarantine),
        reasons=dict(counts.most_common()),
        ignored_columns=list(raw.ignored_columns),
        dropped_pii_columns=list(raw.dropped_pii_columns),
        encoding=raw.encoding,
        mapped_columns=dict(raw.city_columns),
    )
    return accepted, quarantine, report


def _stop_on_duplicate_grids(grids: pd.DataFrame, path: Path) -> None:
    ids = grids["grid_id"].dropna()
    dups = ids[ids.duplicated(keep=False)]
    if len(dups):
        rows = (dups.index[:5] + 1).tolist()
        raise DataContractError(
            f"grid_id {dups.iloc[0]!r} and {dups.nunique() - 1} other(s) appear more than once "
            f"(data rows {rows}{'…' if len(dups) > 5 else ''}); a grid must be one row.",
            file=str(path),
            column="grid_id",
            fix="merge or renumber the duplicate grids so every grid_id is unique.",
        )


def _data_end(config: Config, timezone: str) -> pd.Timestamp:
    if config.data.end is None:
        return pd.Timestamp.now(tz=timezone).floor("s")
    end = pd.Timestamp(config.data.end)
    return end.tz_convert(timezone) if end.tzinfo else end.tz_localize(timezone)


def load_dataset(
    folder: str | Path,
    config: Config | None = None,
    *,
    drop_pii: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Dataset:
    """Read and validate a dataset folder.

    Parameters
    ----------
    folder : path
        Folder with ``grids`` and at least one event table, as CSV, Parquet or .xlsx.
    config : Config, optional
        ``[data] timezone`` and ``end`` are used; defaults otherwise.
    drop_pii : bool
        Drop columns that identify people instead of stopping (so does the config's
        ``[data] drop_pii``).
    progress : callable, optional
        Called with each table's name before it is read.

    Raises
    ------
    DataContractError
        On a structural problem (the message names file, column and fix).
    """
    config = config or Config()
    drop_pii = drop_pii or config.data.drop_pii
    tz = config.data.timezone
    end = _data_end(config, tz)
    files, other = find_table_files(folder)
    report = ValidationReport(folder=str(folder), timezone=tz, data_end=str(end))
    report.ignored_files = other
    tables: dict[str, pd.DataFrame] = {}
    quarantine: dict[str, pd.DataFrame] = {}
    known = quarantined = pd.Index([])
    for name in ["grids", "adjacency", *EVENT_TABLES, "interventions"]:
        if name not in files:
            continue
        if progress:
            progress(name)
        raw = read_raw_table(
            name,
            files[name],
            drop_pii=drop_pii,
            encoding=config.data.encoding,
            sheet=config.data.sheets.get(name),
            columns=config.data.columns.get(name),
            values=config.data.values.get(name),
        )
        if name == "grids" and raw.frame.empty:
            raise DataContractError(
                "the grids table has no rows.",
                file=str(files[name]),
                fix="list every grid, one row each, with its grid_id.",
            )
        accepted, bad_rows, table_report = validate_table(
            raw, timezone=tz, end=end, known_grids=known, quarantined_grids=quarantined
        )
        if name == "grids":
            known = pd.Index(accepted["grid_id"])
            quarantined = pd.Index(bad_rows["grid_id"].dropna().astype(str)).difference(known)
        tables[name] = accepted
        quarantine[name] = bad_rows
        report.tables[name] = table_report
        if table_report.rows_read == 0:
            report.warnings.append(f"table '{name}' ({files[name].name}) has no rows.")
        elif table_report.rows_accepted == 0:
            report.warnings.append(_all_quarantined(name, bad_rows, known))
        elif name != "grids" and len(bad_rows):
            hint = _id_form(bad_rows, known)
            if hint:
                report.warnings.append(f"table '{name}': {hint}.")
    _note_silent_grids(tables, report)
    if len(tables["grids"]) == 1:
        report.warnings.append(
            "the grids table holds a single grid: riskwarn runs, but a watchlist ranks a "
            "grid among others (its tiers, the graph's neighbours and the per-type metrics "
            "have nothing to compare it with); add the city's other grids."
        )
    return Dataset(
        folder=Path(folder),
        timezone=tz,
        end=end,
        grids=tables["grids"],
        report=report,
        adjacency=tables.get("adjacency"),
        petitions=tables.get("petitions"),
        disputes=tables.get("disputes"),
        incidents=tables.get("incidents"),
        interventions=tables.get("interventions"),
        quarantine=quarantine,
    )


def _all_quarantined(name: str, bad_rows: pd.DataFrame, known: pd.Index) -> str:
    """The warning for a table none of whose rows was accepted: its commonest reason,
    and the usual cause when its grid ids are the grids table's but for their form."""
    reasons = bad_rows["reason"].astype(str).str.split("; ").explode()
    top = reasons.value_counts()
    text = f"every row of table '{name}' was quarantined"
    if len(top):
        text += f" (most often: {top.index[0]}, {int(top.iloc[0]):,} rows)"
    hint = _id_form(bad_rows, known) if name != "grids" else None
    return text + (f"; {hint}" if hint else "") + "."


def _id_form(bad_rows: pd.DataFrame, known: pd.Index) -> str | None:
    """Why quarantined rows name no known grid when their codes are the grids table's
    but for their form (leading zeros that Excel dropped, spaces around them); None
    when they are not."""
    if "grid_id" not in bad_rows or not len(known):
        return None
    ids = bad_rows["grid_id"].dropna().astype(str)
    ids = ids[~ids.isin(known)]
    if ids.empty:
        return None
    bare = {k.strip().lstrip("0"): k for k in known.astype(str)}
    close = ids[ids.str.strip().str.lstrip("0").isin(list(bare))]
    if close.empty:
        return None
    example = close.iloc[0]
    return (
        f"{len(close):,} row(s) name a grid_id that matches the grids table's only without "
        f"leading zeros or spaces (e.g. '{example}' and "
        f"'{bare[example.strip().lstrip('0')]}'): keep grid_id as text, without spaces, in "
        "the export (Excel drops leading zeros of numbers); those rows are quarantined"
    )


def _note_silent_grids(tables: dict[str, pd.DataFrame], report: ValidationReport) -> None:
    seen = pd.Index([])
    for name in EVENT_TABLES:
        if name in tables:
            seen = seen.union(pd.Index(tables[name]["grid_id"].unique()))
    silent = int((~tables["grids"]["grid_id"].isin(seen)).sum())
    report.grids_without_events = silent
