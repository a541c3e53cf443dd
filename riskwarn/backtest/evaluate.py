"""Metrics of a backtest: per model and horizon, per grid type and population band.

Probability metrics (AP, ROC AUC, Brier, log loss, ECE) pool every test row of a
model and horizon. Top-k metrics are computed at each as-of date over the grids
(k is a share of the grids scored that day, as a watchlist would be cut) and
averaged over dates. Skill is against the baseline with the best AP at the same
horizon, on the same rows.

The fairness view splits grids by ``grid_type`` and by population band. For each
group it reports the probability metrics within the group and its share of the
top-k slots next to its share of the escalations: a ratio far from 1 means the
model systematically over- or under-ranks that kind of area.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskwarn.backtest import metrics as m
from riskwarn.backtest.forecast import forecast_metrics
from riskwarn.backtest.groups import model_horizon_rows
from riskwarn.config import ForecastConfig, k_label
from riskwarn.models.catalogue import BASELINE_NAMES

PROBABILITY_METRICS = ("ap", "roc_auc", "brier", "log_loss", "ece")
TOP_K_METRICS = ("precision", "recall", "missed", "pai", "pei_star", "ndcg")


def headline_k(k_values) -> float:
    """The k of the headline tables and the fairness view: 5% if asked for, else the smallest."""
    return 0.05 if 0.05 in k_values else min(k_values)


def grid_areas(grids: pd.DataFrame) -> pd.Series | None:
    """``area_km2`` by grid id as floats, or None unless every grid has a positive area."""
    if "area_km2" not in grids.columns:
        return None
    area = pd.to_numeric(grids["area_km2"], errors="coerce").astype(float)
    area.index = grids["grid_id"].astype(str)
    return area if area.notna().all() and (area > 0).all() else None


def population_bands(grids: pd.DataFrame, n_bands: int) -> pd.Series:
    """Equal-count population bands per grid, labelled with their ranges."""
    if "population" not in grids.columns:
        return pd.Series("unknown", index=grids.index)
    pop = pd.to_numeric(grids["population"], errors="coerce").astype(float)
    out = pd.Series("unknown", index=grids.index, dtype=object)
    known = pop.notna()
    if known.sum() == 0:
        return out
    codes = pd.qcut(pop[known].rank(method="first"), q=min(n_bands, int(known.sum())), labels=False)
    for band in sorted(codes.unique()):
        members = codes[codes == band].index
        lo, hi = pop[members].min(), pop[members].max()
        out[members] = f"{int(band) + 1}: {lo:,.0f}-{hi:,.0f}"
    return out


def _probability_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {
        "ap": m.average_precision(y, p),
        "roc_auc": m.roc_auc(y, p),
        "brier": m.brier(y, p),
        "log_loss": m.log_loss(y, p),
        "ece": m.expected_calibration_error(y, p),
    }


@dataclass(frozen=True)
class _Block:
    """One model and horizon as arrays sorted by (as-of, grid), split by as-of date."""

    date: np.ndarray
    grid: np.ndarray
    y: np.ndarray
    count: np.ndarray
    score: np.ndarray
    expected: np.ndarray
    days: list[slice]

    @classmethod
    def of(cls, frame: pd.DataFrame, grid: np.ndarray) -> _Block:
        date = pd.DatetimeIndex(frame["as_of"]).asi8
        order = np.lexsort((grid, date))
        date, grid = date[order], grid[order]
        cuts = np.r_[0, np.flatnonzero(date[1:] != date[:-1]) + 1, len(date)]
        # Every model and horizon's block is kept until the views are done: the
        # labels, counts and expected events in 4 bytes, not 8.
        return cls(
            date=date,
            grid=grid.astype(np.int32),
            y=frame["label"].to_numpy(dtype=np.float32)[order],
            count=frame["count"].to_numpy(dtype=np.float32)[order],
            score=frame["score"].to_numpy(dtype=float)[order],
            expected=frame["expected_events"].to_numpy(dtype=np.float32)[order],
            days=[slice(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True)],
        )

    def same_rows(self, other: _Block) -> bool:
        return np.array_equal(self.date, other.date) and np.array_equal(self.grid, other.grid)


def _top_k_metrics(block: _Block, k_values, area: np.ndarray | None) -> dict[str, float]:
    sums: dict[str, list[float]] = {}
    for day in block.days:
        a = None if area is None else area[block.grid[day]]
        by_k = m.top_k_metrics(block.y[day], block.count[day], block.score[day], k_values, a)
        for k, values in by_k.items():
            for metric, v in values.items():
                sums.setdefault(f"{metric}_at_{k_label(k)}", []).append(v)
    # Dates without escalations leave recall, PAI and the like undefined; they are
    # skipped in the mean rather than counted as zero.
    return {key: m.mean_defined(v) for key, v in sums.items()}


def _top_k_shares(block: _Block, group: np.ndarray, n_groups: int, k: float) -> tuple:
    """Per group code: share of the top-k slots over all dates, and of escalations.

    The last code is for grids missing from the grids table; they are left out of
    both shares, as they belong to no group.
    """
    slots = np.zeros(n_groups)
    for day in block.days:
        top = m.top_k_mask(block.score[day], k)
        slots += np.bincount(group[block.grid[day][top]], minlength=n_groups)
    esc = np.bincount(group[block.grid[block.y == 1]], minlength=n_groups).astype(float)
    slots, esc = slots[:-1], esc[:-1]
    top_share = slots / slots.sum() if slots.sum() else slots
    esc_share = esc / esc.sum() if esc.sum() else esc
    return top_share, esc_share


_CARD_KEYS = ("n_rows", "n_positive", "base_rate", "mean_score", "ap", "roc_auc", "brier", "ece")


def backtest_summary(metrics: dict, model: str, horizon: int, baseline: str | None) -> dict:
    """What a model card shows of a backtest: one model and its best baseline at one horizon.

    Returns ``{"horizon", "k", "overall": {model: {...}, baseline: {...}},
    "by_grid_type": [{"group", ...}]}``, with the top-k metrics at every k (``k`` is
    the headline one) and each grid type's share of the top slots beside its share
    of escalations (the fairness view).
    """
    keep = [m for m in (model, baseline) if m]
    overall = {
        r["model"]: {
            k: v
            for k, v in r.items()
            if k in _CARD_KEYS or k.startswith(("precision_at", "recall_at", "pai_at"))
        }
        for r in metrics["overall"]
        if r["horizon"] == horizon and r["model"] in keep
    }
    by_type = [
        {k: v for k, v in r.items() if k not in ("model", "horizon", "mean_score", "log_loss")}
        for r in metrics.get("by_grid_type", [])
        if r["horizon"] == horizon and r["model"] == model
    ]
    k = headline_k(metrics["k"]) if metrics.get("k") else None
    fairness = metrics.get("fairness") or {}
    flags = [
        f
        for f in fairness.get("flags", [])
        if f["model"] == model and int(f["horizon"]) == int(horizon)
    ]
    # the model's count forecast at this horizon: CRPS skill, coverage, per risk band
    forecasts = metrics.get("forecast") or {}
    forecast = next(
        (
            dict(r)
            for r in forecasts.get("overall", [])
            if r["model"] == model and int(r["horizon"]) == int(horizon)
        ),
        {},
    )
    if forecast:
        forecast["by_band"] = [
            {k: v for k, v in r.items() if k not in ("model", "horizon")}
            for r in forecasts.get("by_band", [])
            if r["model"] == model and int(r["horizon"]) == int(horizon)
        ]
    return {
        "horizon": horizon,
        "k": k,
        "overall": overall,
        "by_grid_type": by_type,
        "fairness": {"ratio": fairness.get("ratio"), "flags": flags},
        "forecast": forecast,
    }


def best_baselines(overall: list[dict]) -> dict[int, str]:
    """Per horizon, the baseline with the highest AP (ties: the first listed)."""
    best: dict[int, str] = {}
    for h in sorted({r["horizon"] for r in overall}):
        rows = [r for r in overall if r["horizon"] == h and r["model"] in BASELINE_NAMES]
        rows = [r for r in rows if not math.isnan(r["ap"])]
        if rows:
            best[h] = max(rows, key=lambda r: r["ap"])["model"]
    return best


def evaluate(
    predictions: pd.DataFrame,
    grids: pd.DataFrame | None = None,
    k: tuple[float, ...] = (0.01, 0.05, 0.1),
    n_population_bands: int = 3,
    fairness_ratio: float = 1.5,
    forecast: ForecastConfig | None = None,
) -> dict:
    """All backtest metrics as JSON-ready records.

    Parameters
    ----------
    predictions : DataFrame, shape (n_rows, 8)
        ``model, grid_id, as_of, horizon, score, label, count, expected_events``.
    grids : DataFrame or None
        ``grid_id`` with optional ``grid_type``, ``population``, ``area_km2``.
    k : tuple of float
        Shares of grids for the top-k metrics.
    n_population_bands : int
    forecast : ForecastConfig or None
        The intervals and risk bands of the count-forecast metrics.

    Returns
    -------
    dict
        ``overall``, ``by_grid_type`` and ``by_population_band``: lists of records
        with ``model`` and ``horizon``; ``best_baseline`` per horizon; ``fairness``:
        :func:`fairness_flags` of both views at ``fairness_ratio``; ``forecast``:
        :func:`~riskwarn.backtest.forecast.forecast_metrics`.
    """
    labelled = predictions["label"].notna()
    # A backtest labels every row: no copy of tens of millions of rows then.
    pred = predictions if labelled.all() else predictions[labelled]
    grid_ids = pred["grid_id"]
    if isinstance(grid_ids.dtype, pd.CategoricalDtype):
        grid_code = grid_ids.cat.codes.to_numpy().astype(np.int64)
        uniques = pd.Index(grid_ids.cat.categories.astype(str))
    else:
        grid_code, uniques = pd.factorize(grid_ids.astype(str))
        uniques = pd.Index(uniques)
    meta = None
    area = None
    if grids is not None and len(grids):
        meta = grids.set_index(grids["grid_id"].astype(str))
        areas = grid_areas(grids)
        if areas is not None:
            # Aligned with the grid codes; a grid missing from ``grids`` has no area.
            area = areas.reindex(uniques).to_numpy()
            if np.isnan(area).any():
                area = None
    overall = []
    blocks: dict[tuple[str, int], _Block] = {}
    for (model, h), rows in model_horizon_rows(pred):
        block = _Block.of(pred.iloc[rows], grid_code[rows])
        blocks[(str(model), int(h))] = block
        y, p = block.y, block.score
        record = {
            "model": str(model),
            "horizon": int(h),
            "n_rows": len(y),
            "n_dates": len(block.days),
            "n_positive": int(y.sum(dtype=float)),
            "base_rate": float(y.mean(dtype=float)),
            "mean_score": float(p.mean()),
            **_probability_metrics(y, p),
            **_top_k_metrics(block, k, area),
        }
        if not np.isnan(block.expected).any():
            record["expected_events_mean"] = float(block.expected.mean(dtype=float))
            record["count_mean"] = float(block.count.mean(dtype=float))
        overall.append(record)
    best = best_baselines(overall)
    for record in overall:
        ref = best.get(record["horizon"])
        record["brier_skill"] = float("nan")
        if ref is not None:
            a = blocks[(record["model"], record["horizon"])]
            b = blocks[(ref, record["horizon"])]
            if a.same_rows(b):
                record["brier_skill"] = m.brier_skill(a.y, a.score, b.score)
            else:
                # Models scored different rows: compare them on the rows both have.
                keys = ["date", "grid"]
                joined = pd.DataFrame(
                    {"date": a.date, "grid": a.grid, "y": a.y, "p": a.score}
                ).merge(pd.DataFrame({"date": b.date, "grid": b.grid, "ref": b.score}), on=keys)
                record["brier_skill"] = m.brier_skill(joined["y"], joined["p"], joined["ref"])
    result = {
        "k": list(k),
        "best_baseline": {str(h): name for h, name in best.items()},
        "overall": overall,
        "by_grid_type": [],
        "by_population_band": [],
        "fairness": {"ratio": float(fairness_ratio), "flags": []},
    }
    kinds = None
    if meta is not None and "grid_type" in meta.columns:
        kinds = meta["grid_type"].astype(object).fillna("unknown").astype(str)
    result["forecast"] = forecast_metrics(pred, kinds, forecast)
    if meta is None:
        return result
    views = {}
    if "grid_type" in meta.columns:
        views["by_grid_type"] = meta["grid_type"].astype(object).fillna("unknown").astype(str)
    views["by_population_band"] = population_bands(meta, n_population_bands)
    fair_k = headline_k(k)
    for view, groups in views.items():
        names = sorted(pd.unique(groups))
        # Group code per grid code; grids missing from ``grids`` get their own code.
        code_of = pd.Series(np.arange(len(names)), index=names)
        group = code_of.reindex(groups.reindex(uniques)).fillna(len(names)).to_numpy(dtype=int)
        for (model, h), block in blocks.items():
            top_share, esc_share = _top_k_shares(block, group, len(names) + 1, fair_k)
            member = group[block.grid]
            for g, name in enumerate(names):
                rows = member == g
                if not rows.any():
                    continue
                y, p = block.y[rows], block.score[rows]
                top, esc = float(top_share[g]), float(esc_share[g])
                result[view].append(
                    {
                        "model": model,
                        "horizon": h,
                        "group": str(name),
                        "n_rows": int(rows.sum()),
                        "n_positive": int(y.sum(dtype=float)),
                        "base_rate": float(y.mean(dtype=float)),
                        "mean_score": float(p.mean()),
                        **_probability_metrics(y, p),
                        f"top_{k_label(fair_k)}_share": top,
                        "escalation_share": esc,
                        "ranking_ratio": top / esc if esc > 0 else float("nan"),
                    }
                )
    result["fairness"]["flags"] = [
        flag
        for view in ("by_grid_type", "by_population_band")
        for flag in fairness_flags(result[view], fairness_ratio, view=view)
    ]
    return result


FAIRNESS_MIN_ESCALATIONS = 10
"""Escalations a group needs in the test rows before its share is judged at all."""


def fairness_flags(
    records: list[dict],
    ratio: float,
    *,
    view: str = "by_grid_type",
    min_escalations: int = FAIRNESS_MIN_ESCALATIONS,
) -> list[dict]:
    """The groups whose share of the top k is far from their share of escalations.

    A group is flagged where its share of the top-k slots divided by its share of
    the escalations (``ranking_ratio``) is above ``ratio`` (over-ranked) or below
    ``1 / ratio`` (under-ranked), and it had at least ``min_escalations``
    escalations (fewer say too little to judge).

    Parameters
    ----------
    records : list of dict
        ``by_grid_type`` or ``by_population_band`` records of :func:`evaluate`.
    ratio : float
        Above 1.

    Returns
    -------
    list of dict
        ``view, model, horizon, group, top_share, escalation_share, ratio,
        direction`` (``"under"`` or ``"over"``), ``n_positive`` and ``k`` (the
        share of grids the top k is).
    """
    if not ratio > 1:
        raise ValueError("the fairness ratio must be above 1.")
    flags = []
    for r in records:
        share_key = next((c for c in r if c.startswith("top_") and c.endswith("_share")), None)
        value = r.get("ranking_ratio", float("nan"))
        if share_key is None or r.get("n_positive", 0) < min_escalations or math.isnan(value):
            continue
        if value > ratio or value < 1 / ratio:
            flags.append(
                {
                    "view": view,
                    "model": r["model"],
                    "horizon": int(r["horizon"]),
                    "group": r["group"],
                    "top_share": float(r[share_key]),
                    "escalation_share": float(r["escalation_share"]),
                    "ratio": float(value),
                    "direction": "over" if value > ratio else "under",
                    "n_positive": int(r["n_positive"]),
                    "k": share_key.removeprefix("top_").removesuffix("_share"),
                }
            )
    return flags


#: Calibration in the large outside this range is flagged: a mean score half again
#: above (or a third below) the realised rate is more than a test year's noise where
#: the rows hold this many escalations.
LEVEL_RANGE = (2 / 3, 1.5)
LEVEL_MIN_POSITIVES = 20


def level_off(row: dict) -> float | None:
    """The mean score over the realised rate of an ``overall`` row when it is outside
    :data:`LEVEL_RANGE` with :data:`LEVEL_MIN_POSITIVES` escalations or more, else None."""
    rate, n, mean = row.get("base_rate"), row.get("n_positive"), row.get("mean_score")
    if not rate or not n or mean is None or rate != rate or mean != mean:
        return None
    ratio = float(mean) / float(rate)
    if n >= LEVEL_MIN_POSITIVES and not LEVEL_RANGE[0] <= ratio <= LEVEL_RANGE[1]:
        return ratio
    return None


def warning_notes(overall: list[dict], model: str, horizons) -> list[str]:
    """What a user must know before trusting ``model``'s backtest: lines for its notes.

    For each of ``horizons`` (rows of ``evaluate``'s ``overall``): a mean score outside
    :data:`LEVEL_RANGE` of the realised rate (probabilities off in level, as after a
    change of level in the data), and a ranking no better than chance (ROC AUC below
    0.55 and AP below 1.5 × the base rate: too few escalations to learn from).
    """
    notes = []
    for r in overall:
        if r["model"] != model or r["horizon"] not in horizons:
            continue
        h, rate, n = r["horizon"], r["base_rate"], r["n_positive"]
        if not n or not rate or rate != rate:
            continue
        ratio = level_off(r)
        if ratio is not None:
            notes.append(
                f"{model}'s mean score over the test dates is {ratio:.2f} × the realised rate "
                f"at horizon {h} ({r['mean_score']:.4f} against {rate:.4f}): its probabilities "
                "are off in level there, as after a change of level in the data; read them "
                "as a ranking, not as chances."
            )
        auc, ap = r["roc_auc"], r["ap"]
        if auc == auc and auc < 0.55 and ap < 1.5 * rate:
            notes.append(
                f"{model} ranks no better than chance at horizon {h} (ROC AUC {auc:.2f}, AP "
                f"{ap:.3f} against a base rate of {rate:.3f}, {n} escalations in the test "
                "dates): the data holds too few escalations, or too short a history, for its "
                "list to say which grids are at risk."
            )
    return notes
