"""Find and read the raw tables of a dataset folder; stop on structural problems.

Raw means as stored: CSV cells as text, Parquet columns with their own types.
Typing and row checks happen in :mod:`riskwarn.data.validate`.

A city's exports are read as they come: CSV text in UTF-8 (with or without a BOM)
or GB18030 (a superset of GBK and GB2312, what Excel saves on a Chinese system),
found by a documented rule (:func:`text_encoding`) or set by ``[data] encoding``;
the city's column names and words mapped to the contract's by ``[data.columns]``
and ``[data.values]`` before anything checks them. Excel workbooks (``.xlsx``, the
first worksheet or ``[data.sheets]``) are read with python-calamine: date cells
and Excel serial dates in date-time columns become ISO 8601 text, and the rows of
the quarantine are numbered as Excel shows them.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import difflib
import hashlib
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from riskwarn.data.contract import (
    EVENT_TABLES,
    FILE_SUFFIXES,
    TABLES,
    identifies_person,
    personal_values,
    text_columns,
)
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
    city_columns: dict[str, str] = field(default_factory=dict)
    """The city's own name of each contract column that was mapped (contract → city)."""
    encoding: str | None = None
    """The text encoding a CSV file was read in (None for Parquet)."""


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
                    fix="keep one file per table: CSV, Parquet or .xlsx.",
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


DETECTED_ENCODINGS = ("utf-8", "gb18030")
"""What :func:`text_encoding` tries, in order, when ``[data] encoding`` is not set."""

_BLOCK = 1 << 20


def _decodes(path: Path, encoding: str) -> UnicodeDecodeError | None:
    """None when the whole file decodes in ``encoding``, else the first error."""
    decoder = codecs.getincrementaldecoder(encoding)()
    done = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                return UnicodeDecodeError(
                    exc.encoding, exc.object, done + exc.start, done + exc.end, exc.reason
                )
            done += len(block)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            return UnicodeDecodeError(exc.encoding, b"", done, done, exc.reason)
    return None


def text_encoding(path: Path, configured: str | None = None) -> str:
    """The encoding to read a CSV file in.

    The rule: ``configured`` (``[data] encoding``) where set; else a UTF-8 byte-order
    mark means UTF-8; else the whole file decoding as UTF-8 means UTF-8 (ASCII is
    UTF-8 too); else the whole file decoding as GB18030 (which covers GBK and
    GB2312) means GB18030. Text in another encoding almost never decodes as UTF-8,
    and Chinese text in GBK almost never does either, so the order matters only for
    files that are plain ASCII, where every choice reads the same.

    Raises
    ------
    DataContractError
        When the file does not decode in the configured encoding, or in any of
        :data:`DETECTED_ENCODINGS`; the message names what was tried.
    """
    if configured:
        error = _decodes(path, configured)
        if error is not None:
            raise DataContractError(
                f"the file is not {configured} text ({error.reason} at byte {error.start}), "
                "the encoding [data] encoding sets.",
                file=str(path),
                fix="set [data] encoding to the encoding the file was saved in (e.g. 'utf-8' "
                "or 'gb18030'), or save it as UTF-8 CSV.",
            )
        return "utf-8-sig" if codecs.lookup(configured).name == "utf-8" else configured
    with open(path, "rb") as fh:
        start = fh.read(3)
    if start == codecs.BOM_UTF8:
        return "utf-8-sig"
    # Excel's "Unicode text" is UTF-16 with a byte-order mark (and tab-separated).
    if start[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) and _decodes(path, "utf-16") is None:
        return "utf-16"
    first = None
    for encoding in DETECTED_ENCODINGS:
        error = _decodes(path, encoding)
        if error is None:
            return "utf-8-sig" if encoding == "utf-8" else encoding
        first = first or error
    raise DataContractError(
        f"the file is neither UTF-8 nor GB18030 (GBK) text ({first.reason} at byte "
        f"{first.start} as UTF-8).",
        file=str(path),
        fix="save it as UTF-8 CSV, or set [data] encoding to the encoding it was saved in.",
    )


def _unreadable(path: Path, exc: BaseException) -> DataContractError:
    if isinstance(exc, UnicodeDecodeError):
        return DataContractError(
            f"the file is not {exc.encoding} text ({exc.reason} at byte {exc.start}).",
            file=str(path),
            fix="save it as UTF-8 CSV, or set [data] encoding to the encoding it was saved in.",
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


def _read_header(path: Path, encoding: str = "utf-8-sig") -> list[str]:
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
        with open(path, encoding=encoding, newline="") as fh:
            header = next(csv.reader(fh), None)
        if not header or not any(h.strip() for h in header):
            raise pd.errors.EmptyDataError("no header")
        return header
    except _READ_ERRORS as exc:
        raise _unreadable(path, exc) from exc


def _xlsx_rows_below_header(path: Path, sheet: str | None, n: int = 5):
    """The ``n`` non-blank rows after a worksheet's first, as text, and their row
    numbers as Excel shows them."""
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_path(str(path))
    ws = book.get_sheet_by_name(sheet) if sheet is not None else book.get_sheet_by_index(0)
    cells = ws.to_python(skip_empty_area=False)
    filled = [
        (i + 1, [str(c).strip() for c in r if c is not None and str(c).strip()])
        for i, r in enumerate(cells)
    ]
    filled = [(number, row) for number, row in filled if row][1 : n + 1]
    return [row for _, row in filled], [number for number, _ in filled]


def _header_hint(
    path: Path, text: str | None, header: list[str], wanted: list[str], sheet: str | None = None
) -> str:
    """Why the expected column names may not be in the header, as a sentence (or "").

    The layouts of office exports that put them elsewhere: a tab-separated file
    (Excel's "Unicode text"), a title or notes line above the header row, a workbook
    whose table is not on its first sheet.
    """
    if len(header) == 1 and "\t" in header[0]:
        return (
            ' The file is tab-separated (as Excel\'s "Unicode text" saves it): save it as '
            '"CSV UTF-8 (comma delimited)" instead.'
        )
    from python_calamine import CalamineError

    wanted_set = {w.strip() for w in wanted}
    try:
        if path.suffix.lower() == ".xlsx":
            # the header is the first row with anything in it; look below it, at whole
            # rows (a title row is one cell wide, the rows below it are not)
            lines, numbers = _xlsx_rows_below_header(path, sheet)
        elif path.suffix.lower() == ".csv" and text:
            with open(path, encoding=text, newline="") as fh:
                reader = csv.reader(fh)
                next(reader, None)
                lines = [[c.strip() for c in row] for row in itertools.islice(reader, 5)]
            numbers = list(range(2, 2 + len(lines)))
        else:
            lines, numbers = [], []
    except (OSError, UnicodeDecodeError, csv.Error, CalamineError, ValueError):
        lines, numbers = [], []
    for i, cells in enumerate(lines):
        if wanted_set and len(wanted_set & set(cells)) >= max(1, len(wanted_set) // 2):
            shown = " ".join(h for h in header if h.strip())[:40]
            return (
                f" Line {numbers[i]} holds those names: the header row is not the "
                f"first line (which reads '{shown}', a title?). Delete the lines above the "
                "header row."
            )
    if path.suffix.lower() == ".xlsx":
        from python_calamine import CalamineWorkbook

        try:
            sheets = list(CalamineWorkbook.from_path(str(path)).sheet_names)
        except (CalamineError, OSError, ValueError):  # only a hint: the read says what is wrong
            sheets = []
        if len(sheets) > 1 and sheet is None:
            return (
                f" The workbook has {len(sheets)} sheets ({', '.join(sheets[:6])}); if the "
                "table is not on the first, name its sheet in [data.sheets] (e.g. "
                f'{path.stem} = "{sheets[1]}").'
            )
    return ""


def read_header(
    path: Path, encoding: str | None = None, sheet: str | None = None
) -> tuple[list[str], str | None]:
    """A table file's column names as written, and the text encoding of a CSV (else None)."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return _read_xlsx(path, sheet)[0], None
    if suffix == ".parquet":
        return _read_header(path), None
    text = text_encoding(path, encoding)
    return _read_header(path, text), ("utf-8" if text == "utf-8-sig" else text)


def _read_columns(
    path: Path, header: list[str], columns: list[str], encoding: str = "utf-8-sig"
) -> tuple[pd.DataFrame, list]:
    """Read ``columns`` (file names) of a table; for CSV also the malformed lines, as (row, n_fields)."""
    try:
        if path.suffix.lower() == ".parquet":
            return pq.read_table(path, columns=columns).to_pandas(), []
        return _read_csv(path, header, columns, encoding)
    except _READ_ERRORS as exc:
        raise _unreadable(path, exc) from exc


def _read_csv(
    path: Path, header: list[str], columns: list[str], encoding: str
) -> tuple[pd.DataFrame, list]:
    n_malformed = 0

    def skip_malformed(_row: pacsv.InvalidRow) -> str:
        nonlocal n_malformed
        n_malformed += 1
        return "skip"

    # Text stays text: typing is done per contract column, so a bad cell is a row
    # error instead of silently turning a whole column into objects.
    # Arrow reads UTF-8 (and skips its BOM) itself; other encodings it transcodes.
    read = pacsv.ReadOptions(encoding="utf8" if encoding == "utf-8-sig" else encoding)
    table = pacsv.read_csv(
        path,
        read_options=read,
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
    rows, malformed = _row_numbers(path, len(header), encoding)
    frame.index = pd.Index(rows - 1)
    return frame, malformed


def _row_numbers(
    path: Path, n_fields: int, encoding: str = "utf-8-sig"
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Data row numbers (1-based, blank lines not counted) of good and malformed rows."""
    good: list[int] = []
    malformed: list[tuple[int, int]] = []
    with open(path, encoding=encoding, newline="") as fh:
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


def read_raw_table(
    name: str,
    path: Path,
    drop_pii: bool = False,
    *,
    encoding: str | None = None,
    columns: dict[str, str] | None = None,
    values: dict[str, dict] | None = None,
    sheet: str | None = None,
) -> RawTable:
    """Read one table and apply the column-level (structural) rules of the contract.

    Only contract columns are read from the file: a refused personal column is
    never loaded, with or without ``drop_pii``.

    Parameters
    ----------
    name : str
        The contract table.
    path : Path
    drop_pii : bool
    encoding : str, optional
        ``[data] encoding`` (CSV only); default: :func:`text_encoding`'s rule.
    columns : dict of str to str, optional
        ``[data.columns.<table>]``: contract column → the city's column name.
    values : dict, optional
        ``[data.values.<table>]``: contract column → {the city's word: contract value}.
    sheet : str, optional
        ``[data.sheets]``: the worksheet of an ``.xlsx`` file (default: the first).
    """
    spec = TABLES[name]
    columns = dict(columns or {})
    unknown = [c for c in columns if c not in spec.column_names]
    if unknown:
        raise DataContractError(
            f"[data.columns.{name}] maps {unknown} to the city's columns, but table '{name}' "
            "has no such contract column.",
            file=str(path),
            column=unknown[0],
            fix=f"use the contract's names on the left: {', '.join(spec.column_names)}.",
        )
    bad_values = [c for c in (values or {}) if c not in spec.column_names]
    if bad_values:
        raise DataContractError(
            f"[data.values.{name}] names {bad_values}, which table '{name}' does not have.",
            file=str(path),
            column=bad_values[0],
            fix=f"name contract columns: {', '.join(spec.column_names)}.",
        )
    suffix = path.suffix.lower()
    workbook = _read_xlsx(path, sheet) if suffix == ".xlsx" else None
    text = None if suffix in (".parquet", ".xlsx") else text_encoding(path, encoding)
    header = workbook[0] if workbook else _read_header(path, text or "utf-8-sig")
    to_contract = {city: contract for contract, city in columns.items()}
    mapped = [c for c in columns.values() if c not in header]
    if mapped:
        raise DataContractError(
            f"[data.columns.{name}] names the column(s) {mapped}, which the file lacks "
            f"(it has {', '.join(header[:12])}{' …' if len(header) > 12 else ''}).",
            file=str(path),
            column=mapped[0],
            fix=f"correct the names in [data.columns.{name}] to the file's own headers."
            + _header_hint(path, text, header, mapped, sheet),
        )
    # A column that is already a contract name and not mapped away keeps its name.
    contract_names = [to_contract.get(c, c) for c in header]

    # A personal column is refused in the city's own words, mapped or not: a
    # mapping cannot turn 姓名 into a contract column.
    pii = [c for c in header if identifies_person(name, c)]
    if pii and not drop_pii:
        raise DataContractError(
            f"column(s) {', '.join(repr(c) for c in pii)} identify people; riskwarn works on "
            "grids only and does not read personal data.",
            file=str(path),
            column=pii[0],
            fix="delete these columns from the export, or pass --drop-pii (or set "
            "[data] drop_pii = true in the config) to drop them before anything reads them.",
        )
    dup_cols = sorted({c for c in contract_names if contract_names.count(c) > 1})
    if dup_cols:
        raise DataContractError(
            f"column name(s) {dup_cols} appear more than once"
            + (" (after the mapping of [data.columns])" if columns else "")
            + ".",
            file=str(path),
            column=dup_cols[0],
            fix="give every column a unique name.",
        )
    missing = [c for c in spec.required if c not in contract_names]
    if missing:
        hints = []
        for m in missing:
            close = difflib.get_close_matches(m, header, n=1)
            hints.append(f"'{m}'" + (f" (found '{close[0]}')" if close else ""))
        raise DataContractError(
            f"required column(s) {', '.join(hints)} missing from table '{name}'.",
            file=str(path),
            column=missing[0],
            fix=f"table '{name}' needs the columns {', '.join(spec.required)}: name them so, "
            f"or map the file's own names in [data.columns.{name}] "
            f'(e.g. {missing[0]} = "<the file\'s header>").'
            + _header_hint(path, text, header, [columns.get(m, m) for m in missing], sheet),
        )
    keep = [
        (file_name, contract)
        for file_name, contract in zip(header, contract_names, strict=True)
        if contract in spec.column_names and file_name not in pii
    ]
    ignored = [c for c in header if c not in {f for f, _ in keep} and c not in pii]
    if workbook:
        frame, malformed = _xlsx_frame(workbook, keep, spec), []
    else:
        frame, malformed = _read_columns(path, header, [f for f, _ in keep], text or "utf-8-sig")
    frame = frame.rename(columns=dict(keep))
    for contract, words in (values or {}).items():
        if contract in frame.columns and words:
            frame[contract] = _map_words(frame[contract], words)
    _refuse_personal_values(name, path, frame, {c: f for f, c in keep})
    return RawTable(
        name,
        path,
        frame,
        ignored_columns=ignored,
        dropped_pii_columns=pii,
        malformed=malformed,
        header_width=len(header),
        city_columns={c: columns[c] for c in frame.columns if c in columns},
        encoding=None if text is None else ("utf-8" if text == "utf-8-sig" else text),
    )


def _refuse_personal_values(
    name: str, path: Path, frame: pd.DataFrame, city_names: dict[str, str]
) -> None:
    """Stop when a text column holds phone numbers, ID numbers or e-mail addresses.

    A category is printed in the watchlist's reasons and the report, so a value such
    as "张三 138… 邻里纠纷" would carry a person into every output. Such rows are not
    quarantined either: the quarantine file would hold them too. The values are not
    repeated in the message.
    """
    for column in text_columns(name):
        if column not in frame.columns:
            continue
        hit = personal_values(frame[column])
        if hit.any():
            rows = np.flatnonzero(hit)
            shown = ", ".join(str(int(r) + 1) for r in rows[:5])
            raise DataContractError(
                f"{int(hit.sum()):,} value(s) of column '{city_names.get(column, column)}' "
                f"hold a phone number, an ID number or an e-mail address (data row(s) {shown}"
                f"{' …' if len(rows) > 5 else ''}); riskwarn works on grids only and does "
                "not read personal data, and this column's values appear in its outputs.",
                file=str(path),
                column=city_names.get(column, column),
                fix="remove the personal details from these values in the export (the "
                "column should name the kind of case, not the people in it); --drop-pii "
                "drops personal columns, not values.",
            )


_EXCEL_EPOCH = dt.datetime(1899, 12, 30)  # Excel's day 0 (it counts 1900 as a leap year)


def _read_xlsx(path: Path, sheet: str | None) -> tuple[list[str], list[int], list[list]]:
    """Header, Excel row numbers and cell rows of a worksheet (blank rows left out)."""
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        book = CalamineWorkbook.from_path(str(path))
    except (CalamineError, OSError, ValueError) as exc:
        raise DataContractError(
            f"the workbook cannot be read: {exc}",
            file=str(path),
            fix="check that it is an Excel .xlsx workbook (save it again from Excel), or "
            "export the table as CSV.",
        ) from exc
    names = list(book.sheet_names)
    if sheet is not None and sheet not in names:
        raise DataContractError(
            f"the workbook has no worksheet '{sheet}' (it has {', '.join(names)}).",
            file=str(path),
            fix="correct [data.sheets] to one of the workbook's worksheets.",
        )
    ws = book.get_sheet_by_name(sheet) if sheet is not None else book.get_sheet_by_index(0)
    cells = ws.to_python(skip_empty_area=False)
    blank = [all(c is None or (isinstance(c, str) and not c.strip()) for c in r) for r in cells]
    first = next((i for i, b in enumerate(blank) if not b), None)
    if first is None:
        others = [n for n in names if n != ws.name]
        raise DataContractError(
            f"worksheet '{ws.name}' is empty (not even a header row).",
            file=str(path),
            fix="put the header row with the column names in the first row of the sheet"
            + (
                f", or name the sheet that holds the table in [data.sheets] (the workbook "
                f'also has {", ".join(others[:6])}; e.g. {path.stem} = "{others[0]}").'
                if others and sheet is None
                else "."
            ),
        )
    header = [_cell_text(c, "str") or "" for c in cells[first]]
    while header and not header[-1]:
        header.pop()
    rows = [(i + 1, r) for i, r in enumerate(cells) if i > first and not blank[i]]
    return header, [n for n, _ in rows], [r[: len(header)] for _, r in rows]


def _xlsx_frame(workbook, keep: list[tuple[str, str]], spec) -> pd.DataFrame:
    """The kept columns as text cells, indexed so that index + 1 is the Excel row."""
    header, numbers, rows = workbook
    where = {name: i for i, name in enumerate(header)}
    data = {}
    for file_name, contract in keep:
        i, kind = where[file_name], spec.column(contract).kind
        data[file_name] = [_cell_text(r[i] if i < len(r) else None, kind) for r in rows]
    return pd.DataFrame(data, index=pd.Index(np.asarray(numbers, dtype=np.int64) - 1))


def _cell_text(value, kind: str) -> str | None:
    """An Excel cell as the text a CSV would hold for a column of ``kind``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, int | float):
        if kind == "timestamp" and 1 <= value < 2958466:
            # A date-time column holding a number: an Excel serial date (days since
            # 1899-12-30, the fraction the time of day), to the minute's second.
            moment = _EXCEL_EPOCH + dt.timedelta(days=float(value))
            return moment.replace(microsecond=0).isoformat()
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value) if isinstance(value, float) else str(value)
    return str(value)


def _map_words(raw: pd.Series, words: dict) -> pd.Series:
    """The city's words (cell text, trimmed) replaced by contract values; others kept."""
    text = raw.astype("string").str.strip()
    mapped = text.map({str(k).strip(): ("true" if v is True else "false" if v is False else str(v))
                       for k, v in words.items()})  # fmt: skip
    return mapped.where(mapped.notna(), raw).astype(object).where(raw.notna(), None)


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
