"""Read a watchlist folder as ``riskwarn score`` wrote it: the watchlist, its history,
its shapes, its model card and the effect estimate ``riskwarn effect`` left there. The
report needs nothing else."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from riskwarn.atomic import current_set
from riskwarn.errors import RiskwarnError
from riskwarn.scoring.card import MODEL_CARD_FILE
from riskwarn.scoring.files import EFFECT_FILE, HISTORY

REQUIRED = ("grid_id", "as_of", "horizon", "rank", "score", "expected_events", "tier", "change")


@dataclass
class WatchlistFolder:
    """What a report is made of.

    Attributes
    ----------
    watchlist : DataFrame, shape (n_grids, ...)
        The latest watchlist, ranked.
    history : DataFrame, shape (n_rows, 3)
        ``grid_id, as_of, score`` of every dated watchlist under ``history/``
        (the latest included), as-of ascending.
    shapes : dict of str to GeoJSON geometry
        By grid id; empty when the grids had neither polygons nor centroids.
    card : dict
        ``model_card.json``; empty when the watchlist was written without one.
    notes : list of str
        Files that were skipped, and why.
    places : dict of str to dict
        By grid id, the grid's ``name``, ``town`` and ``district`` where the GeoJSON
        carries them (for the map's labels).
    plans : DataFrame, shape (n_rows, 3)
        ``as_of, grid_id, in_plan`` of the dated lists that have a plan (and of the
        latest watchlist's grids in its plan), as-of ascending; empty without a plan.
    effect : dict or None
        ``effect.json`` (written by ``riskwarn effect --watchlist``), where present.
    """

    watchlist: pd.DataFrame
    history: pd.DataFrame
    shapes: dict = field(default_factory=dict)
    card: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    places: dict = field(default_factory=dict)
    plans: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["as_of", "grid_id", "in_plan"])
    )
    effect: dict | None = None


def is_planned(rows: pd.DataFrame) -> pd.Series:
    """Whether each row's grid is in the plan (a missing ``in_plan``: not planned)."""
    return rows["in_plan"].fillna(False).astype(bool)


def _read_json(path: Path, what: str):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RiskwarnError(f"{path} is not readable {what} ({exc}).") from exc


def read_watchlist_folder(folder: str | Path, max_history: int = 26) -> WatchlistFolder:
    """Read ``folder`` (the ``--out`` of ``riskwarn score``).

    Parameters
    ----------
    folder : path
    max_history : int
        The latest dated watchlists kept for the trend lines.

    Raises
    ------
    RiskwarnError
        Without a readable ``watchlist.parquet`` holding the watchlist columns.
    """
    folder = Path(folder)
    # One published set, resolved once: a scoring that finishes while the report
    # reads cannot hand it a watchlist of one set and a map of the next.
    current = current_set(folder)
    main = current / "watchlist.parquet"
    if not main.is_file():
        raise RiskwarnError(
            f"no watchlist.parquet in {folder}: point --watchlist at the --out folder of "
            "riskwarn score."
        )
    try:
        watchlist = pd.read_parquet(main)
    except (OSError, pa.ArrowInvalid) as exc:
        raise RiskwarnError(f"{main} cannot be read ({exc}).") from exc
    missing = [c for c in REQUIRED if c not in watchlist.columns]
    if missing:
        raise RiskwarnError(f"{main} is not a riskwarn watchlist: it lacks {missing}.")
    watchlist = watchlist.sort_values("rank", kind="stable").reset_index(drop=True)
    notes: list[str] = []
    frames = []
    plans = []
    for path in sorted((folder / HISTORY).glob("watchlist_*.parquet"))[-max_history:]:
        try:
            # one read of each copy: its plan too where it has one
            plan = ["in_plan"] if "in_plan" in pq.read_schema(path).names else []
            rows = pd.read_parquet(path, columns=["grid_id", "as_of", "score", *plan])
        except (OSError, pa.ArrowInvalid, KeyError, ValueError) as exc:
            notes.append(f"{path.name} skipped: {exc}")
            continue
        frames.append(rows[["grid_id", "as_of", "score"]])
        if plan:
            plans.append(rows[["as_of", "grid_id", "in_plan"]])
    history = watchlist[["grid_id", "as_of", "score"]]
    if frames:
        history = pd.concat([*frames, history], ignore_index=True)
    if len(watchlist):
        # an earlier date scored again into the same folder: its trend stops there
        history = history[history["as_of"] <= watchlist["as_of"].max()]
    history = (
        history.drop_duplicates(["grid_id", "as_of"], keep="last")
        .sort_values(["as_of", "grid_id"], kind="stable")
        .reset_index(drop=True)
    )
    shapes, places = {}, {}
    geojson = current / "watchlist.geojson"
    if geojson.is_file():
        collection = _read_json(geojson, "GeoJSON")
        for feature in collection.get("features", []):
            grid = (feature.get("properties") or {}).get("grid_id")
            if grid is not None and feature.get("geometry"):
                shapes[str(grid)] = feature["geometry"]
                props = feature.get("properties") or {}
                places[str(grid)] = {
                    k: str(props[k]) for k in ("name", "town", "district") if props.get(k)
                }
    card_path = current / MODEL_CARD_FILE
    card = _read_json(card_path, "JSON") if card_path.is_file() else {}
    effect_path = folder / EFFECT_FILE
    effect = _read_json(effect_path, "JSON") if effect_path.is_file() else None
    return WatchlistFolder(
        watchlist, history, shapes, card, notes, places, _plans(plans, watchlist), effect
    )


def _plans(frames: list[pd.DataFrame], watchlist: pd.DataFrame) -> pd.DataFrame:
    """The plans of the dated lists and the latest one (its rows win for its date)."""
    if "in_plan" in watchlist and len(watchlist):
        latest = watchlist[["as_of", "grid_id", "in_plan"]]
        frames = [f[f["as_of"] < latest["as_of"].max()] for f in frames] + [latest]
    if not frames:
        return pd.DataFrame(columns=["as_of", "grid_id", "in_plan"])
    plans = pd.concat(frames, ignore_index=True)
    plans = plans[is_planned(plans)]
    return plans.sort_values(["as_of", "grid_id"], kind="stable").reset_index(drop=True)
