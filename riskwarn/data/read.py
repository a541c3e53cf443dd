"""Find and read the raw tables of a dataset folder; stop on structural problems.

Raw means as stored: CSV cells as text, Parquet columns with their own types.
Typing and row checks happen in :mod:`riskwarn.data.validate`.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from riskwarn.data.contract import EVENT_TABLES, FILE_SUFFIXES, TABLES, identifies_person
from riskwarn.errors import DataContractError


@dataclass
class RawTable:
    """A table as read from its file, before typing.

    ``frame`` keeps only contract columns in file order, indexed so that
    ``index + 1`` is the data row number (header and blank lines not counted).
    ``malformed`` lists CSV lines with the wrong number of fields as
    ``(row_number, n_fields)``: they are quarantined, not dropped.
    """

    name: str
    path: Path
    frame: pd.DataFrame
    ignored_columns: list[str] = field(default_factory=list)
    dropped_pii_columns: list[str] = field(default_factory=list)
    malformed: list[tuple[int, int]] = field(default_factory=list)
    header_width: int = 0


def find_table_files(folder: str | Path) -> tuple[dict[str, Path], list[str]]:
    """Map table name to its file; also list the files that are not contract tables."""
    root = Path(folder)
    if not root.is_dir():
        raise DataContractError(
            f"the data folder {root} does not exist or is not a folder.",
            fix="pass --data with the folder that holds grids.csv/.parquet and the event tables.",
        )
    found: dict[str, Path] = {}
    other: list[str] = []
    for path in sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith(".")):
        stem, suffix = path.stem, path.suffix.lower()
        if suffix in FILE_SUFFIXES and stem in TABLES:
            if stem in found:
                raise DataContractError(
                    f"table '{stem}' is given twice ({found[stem].name} and {path.name}).",
                    file=str(path),
                    fix="keep one file per table, CSV or Parquet.",
                )
            found[stem] = path
        else:
            other.append(path.name)
    if "grids" not in found:
        raise DataContractError(
            f"the data folder {root} has no grids table.",
            file=str(root / "grids.csv"),
            fix="add grids.csv or grids.parquet with at least a grid_id column.",
        )
    if not any(t in found for t in EVENT_TABLES):
        raise DataContractError(
            f"the data folder {root} has none of the event tables {', '.join(EVENT_TABLES)}.",
            file=str(root),
            fix="add at least one of petitions, disputes or incidents (.csv or .parquet).",
        )
    return found, other


def _unreadable(path: Path, exc: BaseException) -> DataContractError:
    if isinstance(exc, UnicodeDecodeError):
        return DataContractError(
            f"the file is not UTF-8 text ({exc.reason} at byte {exc.start}).",
            file=str(path),
            fix="save it as UTF-8 CSV.",
        )
    if isinstance(exc, pd.errors.EmptyDataError):
        return DataContractError(
            "the file has no header line.",
            file=str(path),
            fix="write the header row with the contract's column names, or remove the file.",
        )
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return DataContractError(
        f"the file cannot be read: {first}",
        file=str(path),
        fix="check that it is a valid CSV (one header line, the same number of fields on "
        "every line) or Parquet file.",
    )


_READ_ERRORS = (
    UnicodeDecodeError,
    pd.errors.ParserError,
    pd.errors.EmptyDataError,
    pa.ArrowException,
    OSError,
    ValueError,
    csv.Error,
)


def _read_header(path: Path) -> list[str]:
    if path.stat().st_size == 0:
        raise DataContractError(
            "the file is empty (not even a header line).",
            file=str(path),
            fix="write the header row with the contract's column names, or remove the file.",
        )
    try:
        if path.suffix.lower() == ".parquet":
            return [str(c) for c in pq.read_schema(path).names]
        # The csv module keeps repeated names as they are (pandas would rename them).
        with open(path, encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh), None)
        if not header or not any(h.strip() for h in header):
            raise pd.errors.EmptyDataError("no header")
        return header
    except _READ_ERRORS as exc:
        raise _unreadable(path, exc) from exc


def _read_columns(path: Path, header: list[str], columns: list[str]) -> tuple[pd.DataFrame, list]:
    """Read ``columns`` of a table; for CSV also the malformed lines, as (row, n_fields)."""
    try:
        if path.suffix.lower() == ".parquet":
            return pq.read_table(path, columns=columns).to_pandas(), []
        return _read_csv(path, header, columns)
    except _READ_ERRORS as exc:
        raise _unreadable(path, exc) from exc


def _read_csv(path: Path, header: list[str], columns: list[str]) -> tuple[pd.DataFrame, list]:
    n_malformed = 0

    def skip_malformed(_row: pacsv.InvalidRow) -> str:
        nonlocal n_malformed
        n_malformed += 1
        return "skip"

    # Text stays text: typing is done per contract column, so a bad cell is a row
    # error instead of silently turning a whole column into objects.
    table = pacsv.read_csv(
        path,
        parse_options=pacsv.ParseOptions(
            newlines_in_values=True, invalid_row_handler=skip_malformed
        ),
        convert_options=pacsv.ConvertOptions(
            include_columns=columns,
            column_types={c: pa.string() for c in header},
            null_values=[""],
            strings_can_be_null=True,
        ),
    )
    frame = table.to_pandas()
    if not n_malformed:
        return frame, []
    # Arrow does not say where a malformed line was; find the rows (rare path).
    rows, malformed = _row_numbers(path, len(header))
    frame.index = pd.Index(rows - 1)
    return frame, malformed


def _row_numbers(path: Path, n_fields: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Data row numbers (1-based, blank lines not counted) of good and malformed rows."""
    good: list[int] = []
    malformed: list[tuple[int, int]] = []
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        row = 0
        for fields in reader:
            if not fields:
                continue
            row += 1
            if len(fields) == n_fields:
                good.append(row)
            else:
                malformed.append((row, len(fields)))
    return np.asarray(good, dtype=np.int64), malformed


def read_raw_table(name: str, path: Path, drop_pii: bool = False) -> RawTable:
    """Read one table and apply the column-level (structural) rules of the contract.

    Only contract columns are read from the file: a refused personal column is
    never loaded, with or without ``drop_pii``.
    """
    spec = TABLES[name]
    columns = _read_header(path)
    pii = [c for c in columns if identifies_person(name, c)]
    if pii and not drop_pii:
        raise DataContractError(
            f"column(s) {', '.join(repr(c) for c in pii)} identify people; riskwarn works on "
            "grids only and does not read personal data.",
            file=str(path),
            column=pii[0],
            fix="delete these columns from the file, or pass --drop-pii to drop them "
            "before anything reads them.",
        )
    dup_cols = sorted({c for c in columns if columns.count(c) > 1})
    if dup_cols:
        raise DataContractError(
            f"column name(s) {dup_cols} appear more than once.",
            file=str(path),
            column=dup_cols[0],
            fix="give every column a unique name.",
        )
    missing = [c for c in spec.required if c not in columns]
    if missing:
        hints = []
        for m in missing:
            close = difflib.get_close_matches(m, columns, n=1)
            hints.append(f"'{m}'" + (f" (found '{close[0]}')" if close else ""))
        raise DataContractError(
            f"required column(s) {', '.join(hints)} missing from table '{name}'.",
            file=str(path),
            column=missing[0],
            fix=f"table '{name}' needs the columns {', '.join(spec.required)} with exactly "
            "these names.",
        )
    keep = [c for c in spec.column_names if c in columns]
    ignored = [c for c in columns if c not in keep and c not in pii]
    frame, malformed = _read_columns(path, columns, keep)
    return RawTable(
        name,
        path,
        frame,
        ignored_columns=ignored,
        dropped_pii_columns=pii,
        malformed=malformed,
        header_width=len(columns),
    )


def table_hashes(folder: str | Path) -> dict[str, str]:
    """SHA-256 of each contract table's file, by table name (a run's data fingerprint)."""
    files, _ = find_table_files(folder)
    out = {}
    for name, path in sorted(files.items()):
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        out[name] = digest.hexdigest()
    return out


def data_hash(hashes: dict[str, str]) -> str:
    """One SHA-256 over the per-table hashes: the same tables give the same hash."""
    text = "".join(f"{name}={value}\n" for name, value in sorted(hashes.items()))
    return hashlib.sha256(text.encode()).hexdigest()
