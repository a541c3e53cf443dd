"""``riskwarn effect``: the effect of the interventions, from the plan's capacity cut-off."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from riskwarn.atomic import current_set, write_text_atomic
from riskwarn.backtest.effect import (
    EffectEstimate,
    NoEffectEstimate,
    cutoff_rows,
    estimate_effect,
)
from riskwarn.config import Config
from riskwarn.errors import RiskwarnError
from riskwarn.labels.build import check_label, escalation_counts
from riskwarn.panel.tables import load_panel_data
from riskwarn.scoring.card import MODEL_CARD_FILE
from riskwarn.scoring.files import EFFECT_FILE, HISTORY, read_history
from riskwarn.workflows.common import validate_data


@dataclass
class EffectOutput:
    """The estimate, where its lists came from, what to know about them (``notes``), and
    the JSON written (``path``, if any)."""

    estimate: EffectEstimate
    lists: Path
    path: Path | None = None
    notes: list[str] | None = None


def lists_folder(data_dir: str | Path, watchlist: str | Path | None) -> Path:
    """Where the dated lists are: ``watchlist`` (a ``riskwarn score --out``), else the data."""
    return Path(watchlist) if watchlist is not None else Path(data_dir)


def effect_inputs(
    data_dir: str | Path,
    config: Config,
    *,
    watchlist: str | Path | None = None,
    status: Callable[[str], None] | None = None,
    notes: list[str] | None = None,
) -> pd.DataFrame:
    """Validate the data, read the lists and count escalations: :func:`cutoff_rows`' rows.

    ``notes`` receives what the user should know about the lists (their spacing, where
    the capacity groups came from).

    Raises
    ------
    NoEffectEstimate
        Without an ``interventions`` table or without dated lists, saying what is missing.
    """
    folder = lists_folder(data_dir, watchlist)
    notes = notes if notes is not None else []
    validated = validate_data(data_dir, config, progress=status)
    dataset = validated.dataset
    if dataset.interventions is None or dataset.interventions.empty:
        raise NoEffectEstimate(
            f"{data_dir} has no interventions (or none survived validation): the effect "
            "needs to know what was done where and when; add an interventions file "
            "(intervention_id, grid_id, started_at, kind)."
        )
    lists = read_lists(folder, data_dir, status=status)
    notes.extend(_spacing_notes(lists, config))
    config = _with_card_groups(config, watchlist, notes)
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


def _spacing_notes(lists: pd.DataFrame, config: Config) -> list[str]:
    """A note when the lists are further apart than the configured period: a monthly
    city read with the default weekly period counts a week of each month."""
    dates = pd.DatetimeIndex(np.sort(lists["as_of"].unique()))
    if len(dates) < 3:
        return []
    gap = pd.Series(dates[1:] - dates[:-1]).median()
    offset = pd.tseries.frequencies.to_offset(config.data.freq)
    one = (dates[0] + offset) - dates[0]
    if gap <= 1.5 * one:
        return []
    return [
        f"the lists are about {gap.days} days apart but the period is {config.data.freq} "
        f"({config.source or 'built-in defaults'}): each list's outcome is the one period "
        "after it. If the lists were scored with another period, give that config with "
        "--config."
    ]


def _with_card_groups(config: Config, watchlist, notes: list[str]) -> Config:
    """The capacity groups of the plan the lists were made under: the config's, else
    the ``plan`` the watchlist's model card records."""
    if config.watchlist.capacity_by is not None or watchlist is None:
        return config
    path = current_set(watchlist) / MODEL_CARD_FILE
    try:
        plan = json.loads(path.read_text(encoding="utf-8")).get("plan") or {}
    except (OSError, ValueError):
        return config
    by = plan.get("capacity_by")
    if not by:
        return config
    notes.append(f"capacity per {by}, as the watchlist's model card records the plan.")
    return dataclasses.replace(
        config, watchlist=dataclasses.replace(config.watchlist, capacity_by=by)
    )


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
    check_effect_settings(bandwidth, level)
    if watchlist is not None and not Path(watchlist).is_dir():
        raise RiskwarnError(
            f"the --watchlist folder {watchlist} does not exist: give the --out folder of "
            "riskwarn score."
        )
    notes: list[str] = []
    try:
        rows = effect_inputs(data_dir, config, watchlist=watchlist, status=status, notes=notes)
        if status:
            status("estimating at the cut-off (bootstrap over grids)")
        estimate = estimate_effect(
            rows, bandwidth=bandwidth, level=level, seed=config.backtest.seed
        )
    except NoEffectEstimate as exc:
        reason = " ".join([str(exc), *(f"Note: {n}" for n in notes)])
        # the report must not keep showing an older estimate as this folder's
        if watchlist is not None:
            _write(watchlist, {"reason": reason})
        raise NoEffectEstimate(reason) from exc
    path = None
    if watchlist is not None:
        dates = rows["as_of"]
        record = {
            **estimate.as_dict(),
            "first_list": f"{dates.min():%Y-%m-%d}",
            "last_list": f"{dates.max():%Y-%m-%d}",
        }
        path = _write(watchlist, record)
    return EffectOutput(estimate, lists_folder(data_dir, watchlist), path, notes)


def check_effect_settings(bandwidth: int | None, level: float) -> None:
    """``--bandwidth`` and ``--level`` before any data is read."""
    if bandwidth is not None and bandwidth < 1:
        raise RiskwarnError(f"--bandwidth must be at least 1 rank, got {bandwidth}.")
    if not 0 < level < 1:
        raise RiskwarnError(f"--level must be between 0 and 1 (e.g. 0.9), got {level}.")


def _write(watchlist, record: dict) -> Path:
    return write_text_atomic(Path(watchlist) / EFFECT_FILE, json.dumps(record, indent=2) + "\n")
