"""Watchlist files: Parquet, CSV, JSON and GeoJSON, all replaced together or not at all.

The set is published as one (:func:`riskwarn.atomic.publish_set`): written into a
fresh folder under ``versions/``, then the link ``current`` is switched to it;
``watchlist.parquet`` and the others in the ``--out`` folder are links through
``current``, so a dashboard reads the old set or the new one, never a mix.

Each ``riskwarn score`` also keeps a copy per as-of date under ``history/``
(written before the switch, so a scoring killed in between has only added a
dated copy that a rerun replaces), so that "what changed" compares with the
latest *earlier* as-of date: scoring the same date again gives the same rows.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from riskwarn.atomic import publish_set, write_atomic
from riskwarn.errors import RiskwarnError
from riskwarn.scoring.card import MODEL_CARD_FILE
from riskwarn.spreadsheet import write_csv

FILE_NAMES = ("watchlist.parquet", "watchlist.csv", "watchlist.json", "watchlist.geojson")
HISTORY = "history"
#: What a dated copy holds of every grid, whichever engine scored: what "what
#: changed" and the report's trend lines read.
HISTORY_COLUMNS = ("grid_id", "as_of", "rank", "tier", "score")
#: The effect estimate ``riskwarn effect --watchlist`` leaves beside the lists (the report
#: shows it).
EFFECT_FILE = "effect.json"
#: Kept in the dated copy too where the watchlist has them: the next plan starts from it.
HISTORY_PLAN_COLUMNS = ("in_plan", "plan_periods")

_REASON = pa.struct(
    [
        ("feature", pa.string()),
        ("text_en", pa.string()),
        ("text_zh", pa.string()),
        ("value", pa.float64()),
        ("contribution", pa.float64()),
        ("suppressed", pa.bool_()),
    ]
)


def _arrow(watchlist: pd.DataFrame) -> pa.Table:
    table = pa.Table.from_pandas(watchlist.drop(columns=["reasons", "as_of"]), preserve_index=False)
    table = table.add_column(
        list(watchlist.columns).index("as_of"), "as_of", _instants(watchlist["as_of"])
    )
    reasons = pa.array(watchlist["reasons"].tolist(), type=pa.list_(_REASON))
    position = list(watchlist.columns).index("reasons")
    return table.add_column(position, pa.field("reasons", reasons.type), reasons)


def plain_value(value):
    """JSON-ready value: NaN and <NA> become null, timestamps ISO 8601 with offset."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, list | tuple | np.ndarray):
        return [plain_value(v) for v in value]
    if isinstance(value, dict):
        return {k: plain_value(v) for k, v in value.items()}
    return value


def _records(watchlist: pd.DataFrame) -> list[dict]:
    columns = list(watchlist.columns)
    return [
        {c: plain_value(v) for c, v in zip(columns, row, strict=True)}
        for row in watchlist.itertuples(index=False, name=None)
    ]


def grids_by_id(grids: pd.DataFrame) -> pd.DataFrame:
    """The grids table indexed by grid id (the first row of a repeated id)."""
    first = grids.drop_duplicates("grid_id")
    return first.set_index(first["grid_id"].astype(str))


PLACE_COLUMNS = ("name", "town", "district")
"""Grid attributes the GeoJSON carries beside the watchlist row, so a map can label places."""


def _places(watchlist: pd.DataFrame, grids: pd.DataFrame) -> list[dict]:
    """Per watchlist row, the grid's ``name``, ``town`` and ``district`` where the grids have them."""
    by_id = grids_by_id(grids)
    columns = [c for c in PLACE_COLUMNS if c in by_id.columns]
    if not columns:
        return [{} for _ in range(len(watchlist))]
    frame = by_id[columns].reindex(watchlist["grid_id"].astype(str))
    return [
        {c: (None if pd.isna(v) else str(v)) for c, v in zip(columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]


def _geometries(watchlist: pd.DataFrame, grids: pd.DataFrame | None) -> list | None:
    """GeoJSON geometry per watchlist row from ``geometry_wkt`` or ``lon``/``lat``."""
    if grids is None:
        return None
    by_id = grids_by_id(grids)
    if "geometry_wkt" in by_id.columns and by_id["geometry_wkt"].notna().any():
        import shapely

        wkt = by_id["geometry_wkt"].reindex(watchlist["grid_id"])
        shapes = [shapely.from_wkt(w) if isinstance(w, str) else None for w in wkt]
        return [None if s is None else shapely.geometry.mapping(s) for s in shapes]
    if {"lon", "lat"} <= set(by_id.columns):
        lon = pd.to_numeric(by_id["lon"], errors="coerce").reindex(watchlist["grid_id"])
        lat = pd.to_numeric(by_id["lat"], errors="coerce").reindex(watchlist["grid_id"])
        return [
            None if math.isnan(x) or math.isnan(y) else {"type": "Point", "coordinates": [x, y]}
            for x, y in zip(lon.to_numpy(float), lat.to_numpy(float), strict=True)
        ]
    return None


def json_text(value) -> str:
    """``value`` as strict JSON (no NaN), non-ASCII kept."""
    return json.dumps(plain_value(value), ensure_ascii=False, allow_nan=False)


def _json_text(value) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, indent=1) + "\n"


def write_watchlist(
    watchlist: pd.DataFrame,
    out: str | Path,
    grids: pd.DataFrame | None = None,
    card: dict | None = None,
    keep: int = 5,
    history: pd.DataFrame | None = None,
) -> list[Path]:
    """Write the watchlist files into ``out`` (and its dated copy under ``history/``).

    GeoJSON is written when the grids have ``geometry_wkt`` or ``lon``/``lat``;
    ``model_card.json`` when a ``card`` is given (see :mod:`riskwarn.scoring.card`).
    The ``keep`` latest published sets stay under ``versions/``. ``history``: the
    rows of every grid for the dated copy, where ``watchlist`` holds only the top
    (the Spark path); at least :data:`HISTORY_COLUMNS`. Returns the paths readers
    use (links through ``current``), the main files first, then the dated copy.
    """
    folder = Path(out)
    as_of = pd.Timestamp(watchlist["as_of"].iloc[0])
    table = _arrow(watchlist)
    records = _records(watchlist)
    csv = watchlist.copy()
    csv["reasons"] = [json_text(r) for r in watchlist["reasons"]]
    csv["as_of"] = [plain_value(t) for t in watchlist["as_of"]]
    writers = {
        "watchlist.parquet": lambda p: pq.write_table(table, p),
        "watchlist.csv": lambda p: write_csv(csv, p),
        "watchlist.json": lambda p: p.write_text(_json_text(records), encoding="utf-8"),
    }
    shapes = _geometries(watchlist, grids)
    if shapes is not None:
        places = _places(watchlist, grids)
        features = [
            {"type": "Feature", "geometry": g, "properties": {**r, **p}}
            for g, r, p in zip(shapes, records, places, strict=True)
        ]
        collection = {"type": "FeatureCollection", "features": features}
        writers["watchlist.geojson"] = lambda p: p.write_text(
            _json_text(collection), encoding="utf-8"
        )
    if card is not None:
        writers[MODEL_CARD_FILE] = lambda p: p.write_text(_json_text(card), encoding="utf-8")
    dated = table
    if history is not None:
        missing = [c for c in HISTORY_COLUMNS if c not in history.columns]
        if missing:
            raise RiskwarnError(f"the history rows lack {missing}.")
        plan = [c for c in HISTORY_PLAN_COLUMNS if c in history.columns]
        dated = _arrow_history(history[[*HISTORY_COLUMNS, *plan]])
    copy = write_atomic(
        folder / HISTORY / f"watchlist_{as_of:%Y-%m-%d}.parquet",
        lambda p: pq.write_table(dated, p),
    )
    publish_set(folder, writers, label=f"{as_of:%Y-%m-%d}", keep=keep)
    return [folder / name for name in writers] + [copy]


def _arrow_history(rows: pd.DataFrame) -> pa.Table:
    """The dated copy of every grid: ``as_of`` as an instant with its zone, like the set."""
    table = pa.Table.from_pandas(rows.drop(columns=["as_of"]), preserve_index=False)
    return table.add_column(list(rows.columns).index("as_of"), "as_of", _instants(rows["as_of"]))


def _instants(as_of: pd.Series) -> pa.Array:
    """Tz-aware as-of dates as UTC instants with the zone as metadata (readers get local back)."""
    utc = as_of.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    return pa.array(utc, type=pa.timestamp("us", tz=str(as_of.dt.tz)))


def _dated(path: Path) -> pd.Timestamp | None:
    """The date of a dated copy's name (``watchlist_2024-03-04.parquet``); None for any
    other name (a copy renamed aside, ``watchlist_2024-03-04_old.parquet``)."""
    try:
        return pd.Timestamp(path.stem.removeprefix("watchlist_"))
    except ValueError:
        return None


def latest_dated(out: str | Path) -> pd.Timestamp | None:
    """The latest as-of date with a dated copy under ``out/history/`` (None: none)."""
    folder = Path(out) / HISTORY
    days = [_dated(p) for p in folder.glob("watchlist_*.parquet")] if folder.is_dir() else []
    days = [d for d in days if d is not None]
    return max(days) if days else None


def previous_watchlist(out: str | Path, as_of: pd.Timestamp) -> pd.DataFrame | None:
    """The watchlist of the latest as-of date before ``as_of`` kept in ``out``, if any."""
    folder = Path(out) / HISTORY
    if not folder.is_dir():
        return None
    earlier = []
    for path in sorted(folder.glob("watchlist_*.parquet")):
        day = _dated(path)
        if day is not None and day < pd.Timestamp(as_of.date()):
            earlier.append(path)
    if not earlier:
        return None
    try:
        have = set(pq.read_schema(earlier[-1]).names)
        plan = [
            c for c in HISTORY_PLAN_COLUMNS if c in have
        ]  # copies older than the plan lack them
        return pd.read_parquet(earlier[-1], columns=["grid_id", "rank", "tier", "as_of", *plan])
    except (OSError, pa.ArrowInvalid, KeyError) as exc:
        raise RiskwarnError(
            f"the previous watchlist {earlier[-1]} cannot be read ({exc}); move it away to "
            "start the history afresh."
        ) from exc


def read_history(folder: str | Path, columns: list[str]) -> pd.DataFrame | None:
    """``columns`` of every dated list kept under ``folder/history/``, oldest first
    (None if none). A copy that lacks one of them is an error naming it."""
    paths = [p for p in sorted((Path(folder) / HISTORY).glob("watchlist_*.parquet")) if _dated(p)]
    if not paths:
        return None
    frames = []
    for path in paths:
        try:
            have = set(pq.read_schema(path).names)
            if missing := [c for c in columns if c not in have]:
                raise RiskwarnError(
                    f"the dated list {path} lacks {missing} (it was written before riskwarn "
                    "kept them, or by another tool); move it away or score that date again."
                )
            frames.append(pd.read_parquet(path, columns=columns))
        except (OSError, pa.ArrowInvalid) as exc:
            raise RiskwarnError(
                f"the dated list {path} cannot be read ({exc}); move it away or score that "
                "date again."
            ) from exc
    return pd.concat(frames, ignore_index=True)
