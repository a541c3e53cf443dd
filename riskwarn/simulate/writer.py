"""``write_city``: a simulated city as a dataset folder that ``riskwarn`` can read.

Layout of ``out_dir``::

    grids.<fmt>  adjacency.<fmt>  petitions.<fmt>  disputes.<fmt>  incidents.<fmt>
    _truth/escalation_probability.parquet   (not model input: tests and benchmarks only)
    _truth/simulation.json                  (seed, span, parameters, summary)

Every file is written atomically, so a reader never sees half a table.
"""

from __future__ import annotations

import json
import os
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from riskwarn.atomic import write_atomic
from riskwarn.errors import RiskwarnError
from riskwarn.simulate.city import SimulatedCity, params_dict
from riskwarn.simulate.frames import iso_strings

FORMATS = ("parquet", "csv")
TRUTH_DIR = "_truth"
# The label that counts exactly the simulated escalations (see DESIGN.md, "Labels").
ESCALATION_LABEL = {
    "any_of": [
        {"table": "incidents", "column": "severity", "op": ">=", "value": 3},
        {"table": "petitions", "column": "group_size", "op": ">=", "value": 5},
    ]
}


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    frame.to_parquet(path, index=False, engine="pyarrow")


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    # ISO 8601 with offset, not pandas' "2023-03-06 14:05:00+08:00" (space, no 'T').
    out = frame.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.DatetimeTZDtype):
            out[col] = iso_strings(out[col])
    out.to_csv(path, index=False, na_rep="", lineterminator="\n", encoding="utf-8")


def _metadata(city: SimulatedCity, files: dict[str, Path], out: Path) -> dict[str, Any]:
    return {
        "seed": city.seed,
        "n_grids": city.n_grids,
        "n_periods": city.n_periods,
        "freq": city.freq,
        "timezone": city.timezone,
        "start": city.start.isoformat(),
        "end": city.end.isoformat(),
        "escalation_label": ESCALATION_LABEL,
        "files": {name: os.path.relpath(path, out) for name, path in files.items()},
        "parameters": params_dict(city.params),
        "summary": city.summary,
    }


def write_city(
    city: SimulatedCity, out_dir: str | os.PathLike, fmt: str = "parquet"
) -> dict[str, Path]:
    """Write a simulated city as a dataset folder.

    Parameters
    ----------
    city : SimulatedCity
    out_dir : path
        Created if needed. A stale file of the other format for one of the five
        tables (e.g. ``petitions.csv`` when writing Parquet) is removed, so the folder
        always holds exactly one file per table.
    fmt : {"parquet", "csv"}
        Format of the five input tables. The truth is always Parquet. Parquet keeps
        tz-aware timestamps; CSV writes ISO 8601 with offset and empty cells for missing.

    Returns
    -------
    dict of str to Path
        ``grids``, ``adjacency``, ``petitions``, ``disputes``, ``incidents``, ``truth``
        and ``simulation`` (the JSON metadata).

    Raises
    ------
    RiskwarnError
        For an unknown ``fmt``.
    """
    if fmt not in FORMATS:
        raise RiskwarnError(f"fmt must be one of {', '.join(FORMATS)}, got {fmt!r}.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    writer = _write_parquet if fmt == "parquet" else _write_csv
    files: dict[str, Path] = {}
    for name, frame in city.tables().items():
        files[name] = write_atomic(out / f"{name}.{fmt}", partial(writer, frame))
        for other in FORMATS:
            stale = out / f"{name}.{other}"
            if other != fmt and stale.exists():
                stale.unlink()
    truth_dir = out / TRUTH_DIR
    files["truth"] = write_atomic(
        truth_dir / "escalation_probability.parquet", partial(_write_parquet, city.truth)
    )
    meta_path = truth_dir / "simulation.json"
    text = json.dumps(_metadata(city, files, out), indent=2) + "\n"
    files["simulation"] = write_atomic(
        meta_path, lambda tmp: tmp.write_text(text, encoding="utf-8")
    )
    return files
