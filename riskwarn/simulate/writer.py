"""``write_city``: a simulated city as a dataset folder that ``riskwarn`` can read.

Layout of ``out_dir``::

    grids.<fmt>  adjacency.<fmt>  petitions.<fmt>  disputes.<fmt>  incidents.<fmt>
    _truth/escalation_probability.parquet   (not model input: tests and benchmarks only)
    _truth/simulation.json                  (seed, span, parameters, shape, label, summary)
    _truth/label.toml                       (a config with this data's label and time line)
    history/watchlist_<date>.parquet        (with a policy: the list the city acted on each
                                             period, as ``riskwarn score`` keeps its own)

A :class:`~riskwarn.simulate.shapes.DataShape` may leave tables or columns out.

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
from riskwarn.simulate.delays import with_recorded_at
from riskwarn.simulate.frames import iso_strings
from riskwarn.simulate.shapes import ESCALATION_RULES, DataShape, label_toml, shape_tables
from riskwarn.spreadsheet import write_csv

FORMATS = ("parquet", "csv")
TRUTH_DIR = "_truth"
#: Where ``riskwarn score`` keeps its dated lists (``riskwarn.scoring.files.HISTORY``).
HISTORY_DIR = "history"
# The label that counts exactly the simulated escalations (see DESIGN.md, "Labels"),
# the label of a city written whole.
ESCALATION_LABEL = {"any_of": [dict(rule) for rule in ESCALATION_RULES]}


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    frame.to_parquet(path, index=False, engine="pyarrow")


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    # ISO 8601 with offset, not pandas' "2023-03-06 14:05:00+08:00" (space, no 'T').
    out = frame.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.DatetimeTZDtype):
            out[col] = iso_strings(out[col])
    write_csv(out, path, na_rep="", lineterminator="\n")


def _write_lists(city: SimulatedCity, folder: Path) -> dict[str, Path]:
    """The city's dated lists (:meth:`SimulatedCity.plan_lists`), stale ones removed;
    ``{"history": folder}`` where there are any."""
    written = set()
    for as_of, rows in city.plan_lists():
        path = folder / f"watchlist_{as_of:%Y-%m-%d}.parquet"
        written.add(write_atomic(path, partial(_write_parquet, rows)))
    # Lists of an earlier write into this folder are not this city's.
    if folder.is_dir():
        for stale in folder.glob("watchlist_*.parquet"):
            if stale not in written:
                stale.unlink()
    return {"history": folder} if written else {}


def _shape_record(city: SimulatedCity, shape: DataShape) -> dict[str, Any]:
    """The shape options, the level break included (it lives in the parameters)."""
    brk = city.params.level_break
    return {
        **shape.as_dict(),
        "break_at": None if brk is None else int(brk.at),
        "break_factor": None if brk is None else float(brk.factor),
    }


def _metadata(
    city: SimulatedCity, shape: DataShape, files: dict[str, Path], out: Path
) -> dict[str, Any]:
    return {
        "seed": city.seed,
        "n_grids": city.n_grids,
        "n_periods": city.n_periods,
        "freq": city.freq,
        "timezone": city.timezone,
        "start": city.start.isoformat(),
        "end": city.end.isoformat(),
        "escalation_label": shape.label(),
        "label_kind": shape.label_kind,
        "label_note": shape.label_note(),
        "shape": _shape_record(city, shape),
        "files": {name: os.path.relpath(path, out) for name, path in files.items()},
        "parameters": params_dict(city.params),
        "summary": city.summary,
    }


def _label_config(city: SimulatedCity, shape: DataShape) -> str:
    # The time line too: without it a monthly city would be cut into weeks, and the
    # last period would end at the time of the run instead of the extraction moment.
    end = city.end.tz_convert(city.timezone).tz_localize(None)
    data = {"freq": city.freq, "timezone": city.timezone, "end": end.isoformat()}
    return label_toml(shape.label(), data)


def write_city(
    city: SimulatedCity,
    out_dir: str | os.PathLike,
    fmt: str = "parquet",
    *,
    shape: DataShape | None = None,
) -> dict[str, Path]:
    """Write a simulated city as a dataset folder.

    Parameters
    ----------
    city : SimulatedCity
    out_dir : path
        Created if needed. A stale file of the other format for a table written (e.g.
        ``petitions.csv`` when writing Parquet), and any file of one of the five tables
        that ``shape`` leaves out, is removed, so the folder always holds exactly one
        file per table written and nothing else of the contract's.
    fmt : {"parquet", "csv"}
        Format of the input tables. The truth is always Parquet. Parquet keeps
        tz-aware timestamps; CSV writes ISO 8601 with offset and empty cells for missing.
    shape : DataShape, optional
        Which tables and columns to write (default: all five tables, every column).
        The truth is written whole whatever the shape.

    Returns
    -------
    dict of str to Path
        The tables written (``grids``, ``adjacency``, ``petitions``, ``disputes``,
        ``incidents``, as the shape keeps them), ``truth``, ``simulation`` (the JSON
        metadata, which lists the others) and ``label`` (``_truth/label.toml``).

    Raises
    ------
    RiskwarnError
        For an unknown ``fmt`` or a ``shape`` that is not a DataShape.
    """
    if fmt not in FORMATS:
        raise RiskwarnError(f"fmt must be one of {', '.join(FORMATS)}, got {fmt!r}.")
    shape = DataShape() if shape is None else shape
    if not isinstance(shape, DataShape):
        raise RiskwarnError(f"shape must be a DataShape or None, got {shape!r}.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    writer = _write_parquet if fmt == "parquet" else _write_csv
    tables = city.tables()
    if shape.delays:
        tables = with_recorded_at(tables, city.seed, city.end)
    tables = shape_tables(tables, shape)
    files: dict[str, Path] = {}
    for name, frame in tables.items():
        files[name] = write_atomic(out / f"{name}.{fmt}", partial(writer, frame))
    # A table from an earlier write that this one leaves out (or wrote in the other
    # format) would otherwise be read as part of this dataset.
    for name in city.tables():
        for suffix in FORMATS:
            stale = out / f"{name}.{suffix}"
            if stale.exists() and files.get(name) != stale:
                stale.unlink()
    truth_dir = out / TRUTH_DIR
    files["truth"] = write_atomic(
        truth_dir / "escalation_probability.parquet", partial(_write_parquet, city.truth)
    )
    toml = _label_config(city, shape)
    files["label"] = write_atomic(
        truth_dir / "label.toml", lambda tmp: tmp.write_text(toml, encoding="utf-8")
    )
    policy = city.params.interventions
    if policy is not None:
        effect = {
            "policy": "each period the top grids by a noisy signal of what the city records "
            "(recent escalations, precursors and open disputes), among those not being treated",
            "capacity": policy.capacity_for(city.n_grids),
            "effect": policy.effect,
            "hazard_multiplier": 1.0 - policy.effect,
            "periods": policy.periods,
            "noise_sd": policy.noise,
            "kind": policy.kind,
            "interventions": len(city.interventions),
            "treated_share": float(city.truth["treated"].mean()),
        }
        text = json.dumps(effect, indent=2) + "\n"
        files["effect"] = write_atomic(
            truth_dir / "interventions.json", lambda tmp: tmp.write_text(text, encoding="utf-8")
        )
    files.update(_write_lists(city, out / HISTORY_DIR))
    meta_path = truth_dir / "simulation.json"
    text = json.dumps(_metadata(city, shape, files, out), indent=2) + "\n"
    files["simulation"] = write_atomic(
        meta_path, lambda tmp: tmp.write_text(text, encoding="utf-8")
    )
    return files
