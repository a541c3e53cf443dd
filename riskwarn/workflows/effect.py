"""``riskwarn effect``: the effect of the interventions, from the plan's capacity cut-off."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from riskwarn.atomic import write_text_atomic
from riskwarn.backtest.effect import (
    EffectEstimate,
    NoEffectEstimate,
    cutoff_rows,
    estimate_effect,
)
from riskwarn.config import Config
from riskwarn.labels.build import check_label, escalation_counts
from riskwarn.panel.tables import load_panel_data
from riskwarn.scoring.files import EFFECT_FILE, HISTORY, read_history
from riskwarn.workflows.common import validate_data


@dataclass
class EffectOutput:
    """The estimate and where its lists came from (``path``: the JSON written, if any)."""

    estimate: EffectEstimate
    lists: Path
    path: Path | None = None


def lists_folder(data_dir: str | Path, watchlist: str | Path | None) -> Path:
    """Where the dated lists are: ``watchlist`` (a ``riskwarn score --out``), else the data."""
    return Path(watchlist) if watchlist is not None else Path(data_dir)


def effect_inputs(
    data_dir: str | Path,
    config: Config,
    *,
    watchlist: str | Path | None = None,
    status: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Validate the data, read the lists and count escalations: :func:`cutoff_rows`' rows.

    Raises
    ------
    NoEffectEstimate
        Without an ``interventions`` table or without dated lists, saying what is missing.
    """
    folder = lists_folder(data_dir, watchlist)
    validated = validate_data(data_dir, config, progress=status)
    dataset = validated.dataset
    if dataset.interventions is None or dataset.interventions.empty:
        raise NoEffectEstimate(
            f"{data_dir} has no interventions (or none survived validation): the effect "
            "needs to know what was done where and when; add an interventions file "
            "(intervention_id, grid_id, started_at, kind)."
        )
    lists = read_lists(folder, data_dir, status=status)
    if status:
        status("counting escalations")
    data = load_panel_data(dataset, validated.graph, config)
    try:
        label, _ = check_label(data, config.label)
        counts = escalation_counts(data, label)
        starts = data.periods.boundaries[: data.periods.n_complete]
        grid_ids = data.grid_ids
    finally:
        data.con.disconnect()
    outcomes = pd.DataFrame(
        {
            "grid_id": np.repeat(grid_ids.astype(str), len(starts)),
            "as_of": np.tile(starts.tz_localize(config.data.timezone), len(grid_ids)),
            "escalations": counts.ravel(),
        }
    )
    return placed_rows(lists, outcomes, dataset.interventions, dataset.grids, config)


def read_lists(folder: Path, data_dir, *, status=None) -> pd.DataFrame:
    """The dated lists under ``folder/history``; a :class:`NoEffectEstimate` without any."""
    if status:
        status(f"reading the dated lists under {folder / HISTORY}")
    lists = read_history(folder, columns=["grid_id", "as_of", "score", "in_plan"])
    if lists is None:
        raise NoEffectEstimate(
            f"no dated lists under {folder / HISTORY}: the effect compares grids just inside "
            "and just outside the plan of each list the teams acted on. Give --watchlist "
            "with the folder riskwarn score wrote (it keeps a list per as-of date), or "
            f"copy those lists into {Path(data_dir) / HISTORY}."
        )
    return lists


def placed_rows(
    lists: pd.DataFrame,
    outcomes: pd.DataFrame,
    interventions: pd.DataFrame,
    grids: pd.DataFrame,
    config: Config,
) -> pd.DataFrame:
    """:func:`cutoff_rows` with the config's time zone, period and capacity groups."""
    lists = lists.assign(as_of=lists["as_of"].dt.tz_convert(config.data.timezone))
    by = config.watchlist.capacity_by
    groups = None
    if by is not None and by in grids.columns:
        groups = pd.Series(grids[by].to_numpy(), index=grids["grid_id"])
    return cutoff_rows(lists, outcomes, interventions, freq=config.data.freq, groups=groups)


def backtest_effect(
    data_dir: str | Path,
    frame: pd.DataFrame,
    interventions: pd.DataFrame | None,
    grids: pd.DataFrame,
    config: Config,
) -> dict | None:
    """The backtest's effect entry: the estimate from the data's own lists, or the reason
    there is none (None: the data has no interventions, so there is nothing to say).

    ``frame``: the feature frame with labels (``count_h1``: escalations in the period
    that starts at each as-of date).
    """
    if interventions is None or interventions.empty:
        return None
    try:
        lists = read_lists(Path(data_dir), data_dir)
        outcomes = frame[["grid_id", "as_of", "count_h1"]].rename(
            columns={"count_h1": "escalations"}
        )
        rows = placed_rows(lists, outcomes, interventions, grids, config)
        return estimate_effect(rows, seed=config.backtest.seed).as_dict()
    except NoEffectEstimate as exc:
        return {"reason": str(exc)}


def run_effect(
    data_dir: str | Path,
    config: Config,
    *,
    watchlist: str | Path | None = None,
    bandwidth: int | None = None,
    level: float = 0.9,
    status: Callable[[str], None] | None = None,
) -> EffectOutput:
    """Estimate the effect; with ``watchlist``, also write it there as :data:`EFFECT_FILE`."""
    rows = effect_inputs(data_dir, config, watchlist=watchlist, status=status)
    if status:
        status("estimating at the cut-off (bootstrap over grids)")
    estimate = estimate_effect(rows, bandwidth=bandwidth, level=level, seed=config.backtest.seed)
    path = None
    if watchlist is not None:
        text = json.dumps(estimate.as_dict(), indent=2) + "\n"
        path = write_text_atomic(Path(watchlist) / EFFECT_FILE, text)
    return EffectOutput(estimate, lists_folder(data_dir, watchlist), path)
