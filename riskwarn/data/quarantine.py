"""Write the quarantine: bad rows with their source file, row number and reason."""

from __future__ import annotations

import json
from pathlib import Path

from riskwarn.atomic import write_atomic, write_text_atomic
from riskwarn.data.validate import Dataset
from riskwarn.spreadsheet import write_csv

REPORT_FILE = "validation_report.json"


def write_quarantine(dataset: Dataset, out_dir: str | Path) -> dict[str, Path]:
    """Write ``<table>.csv`` for every table read (header only when none was bad).

    Only contract columns are written (plus ``source_file``, ``row_number``,
    ``reason``); a refused personal column is never read, so it cannot leak here.
    Every table read gets a file, so a stale file from an earlier run never
    suggests rows are bad that are not. The validation report goes beside them.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for table, frame in dataset.quarantine.items():
        written[table] = write_atomic(out / f"{table}.csv", lambda tmp, f=frame: write_csv(f, tmp))
    report = json.dumps(dataset.report.to_dict(), indent=2, ensure_ascii=False, default=str)
    written["report"] = write_text_atomic(out / REPORT_FILE, report + "\n")
    return written
