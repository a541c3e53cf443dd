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

import numpy as np
import pandas as pd

from riskwarn.backtest import metrics as m
from riskwarn.models.baselines import BASELINES

PROBABILITY_METRICS = ("ap", "roc_auc", "brier", "log_loss", "ece")
TOP_K_METRICS = ("precision", "recall", "missed", "pai", "pei_star", "ndcg")


def k_label(k: float) -> str:
    """``0.05`` → ``"5pct"``, as used in metric names (``precision_at_5pct``)."""
    pct = k * 100
    return f"{pct:g}pct".replace(".", "_")


def headline_k(k_values) -> float:
    """The k of the headline tables and the fairness view: 5% if asked for, else the smallest."""
    return 0.05 if 0.05 in k_values else min(k_values)


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


def _top_k_metrics(block: pd.DataFrame, k_values, area: pd.Series | None) -> dict[str, float]:
    sums: dict[str, list[float]] = {}
    for _, day in block.groupby("as_of", sort=True, observed=True):
        y = day["label"].to_numpy(dtype=float)
        c = day["count"].to_numpy(dtype=float)
        s = day["score"].to_numpy(dtype=float)
        a = None if area is None else area.reindex(day["grid_id"]).to_numpy(dtype=float)
        for k in k_values:
            name = k_label(k)
            values = {
                "precision": m.precision_at_k(y, s, k),
                "recall": m.recall_at_k(y, s, k),
                "missed": m.missed_escalation_rate(y, s, k),
                "pai": m.pai_at_k(c, s, k, area=a),
                "pei_star": m.pei_star_at_k(c, s, k),
                "ndcg": m.ndcg_at_k(c, s, k),
            }
            for metric, v in values.items():
                sums.setdefault(f"{metric}_at_{name}", []).append(v)
    # Dates without escalations leave recall, PAI and the like undefined; they are
    # skipped in the mean rather than counted as zero.
    return {
        key: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
        for key, v in ((key, np.asarray(v, dtype=float)) for key, v in sums.items())
    }


def _top_k_shares(block: pd.DataFrame, groups: pd.Series, k: float) -> pd.DataFrame:
    """Per group: share of the top-k slots over all dates, and share of escalations."""
    slots = []
    for _, day in block.groupby("as_of", sort=True, observed=True):
        mask = m.top_k_mask(day["score"].to_numpy(dtype=float), k)
        slots.append(day["grid_id"].to_numpy()[mask])
    top = groups.reindex(np.concatenate(slots)).value_counts()
    positives = block.loc[block["label"] == 1, "grid_id"]
    esc = groups.reindex(positives).value_counts()
    return pd.DataFrame(
        {
            "top_share": top / top.sum() if top.sum() else top,
            "escalation_share": esc / esc.sum() if esc.sum() else esc,
        }
    ).fillna(0.0)


def best_baselines(overall: list[dict]) -> dict[int, str]:
    """Per horizon, the baseline with the highest AP (ties: the first listed)."""
    best: dict[int, str] = {}
    for h in sorted({r["horizon"] for r in overall}):
        rows = [r for r in overall if r["horizon"] == h and r["model"] in BASELINES]
        rows = [r for r in rows if not math.isnan(r["ap"])]
        if rows:
            best[h] = max(rows, key=lambda r: r["ap"])["model"]
    return best


def evaluate(
    predictions: pd.DataFrame,
    grids: pd.DataFrame | None = None,
    k: tuple[float, ...] = (0.01, 0.05, 0.1),
    n_population_bands: int = 3,
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

    Returns
    -------
    dict
        ``overall``, ``by_grid_type`` and ``by_population_band``: lists of records
        with ``model`` and ``horizon``; ``best_baseline`` per horizon.
    """
    pred = predictions[predictions["label"].notna()].copy()
    pred["label"] = pred["label"].astype(int)
    pred["count"] = pred["count"].astype(float)
    meta = None
    area = None
    if grids is not None and len(grids):
        meta = grids.set_index(grids["grid_id"].astype(str))
        if "area_km2" in meta.columns:
            a = pd.to_numeric(meta["area_km2"], errors="coerce")
            if a.notna().all() and (a > 0).all():
                area = a.astype(float)
    overall = []
    blocks = {}
    for (model, h), block in pred.groupby(["model", "horizon"], sort=False, observed=True):
        blocks[(model, int(h))] = block
        y, p = block["label"].to_numpy(float), block["score"].to_numpy(float)
        record = {
            "model": str(model),
            "horizon": int(h),
            "n_rows": len(block),
            "n_dates": int(block["as_of"].nunique()),
            "n_positive": int(y.sum()),
            "base_rate": float(y.mean()),
            "mean_score": float(p.mean()),
            **_probability_metrics(y, p),
            **_top_k_metrics(block, k, area),
        }
        if block["expected_events"].notna().all():
            record["expected_events_mean"] = float(block["expected_events"].mean())
            record["count_mean"] = float(block["count"].mean())
        overall.append(record)
    best = best_baselines(overall)
    for record in overall:
        ref = best.get(record["horizon"])
        record["brier_skill"] = float("nan")
        if ref is not None:
            a = blocks[(record["model"], record["horizon"])]
            b = blocks[(ref, record["horizon"])]
            joined = a.merge(b, on=["grid_id", "as_of"], suffixes=("", "_ref"))
            record["brier_skill"] = m.brier_skill(
                joined["label"].to_numpy(float),
                joined["score"].to_numpy(float),
                joined["score_ref"].to_numpy(float),
            )
    result = {
        "k": list(k),
        "best_baseline": {str(h): name for h, name in best.items()},
        "overall": overall,
        "by_grid_type": [],
        "by_population_band": [],
    }
    if meta is None:
        return result
    views = {}
    if "grid_type" in meta.columns:
        views["by_grid_type"] = meta["grid_type"].astype(object).fillna("unknown").astype(str)
    views["by_population_band"] = population_bands(meta, n_population_bands)
    fair_k = headline_k(k)
    for view, groups in views.items():
        for (model, h), block in blocks.items():
            shares = _top_k_shares(block, groups, fair_k)
            member = groups.reindex(block["grid_id"]).to_numpy()
            for group in sorted(pd.unique(groups)):
                rows = block[member == group]
                if rows.empty:
                    continue
                y, p = rows["label"].to_numpy(float), rows["score"].to_numpy(float)
                share = shares.loc[group] if group in shares.index else None
                top = float(share["top_share"]) if share is not None else 0.0
                esc = float(share["escalation_share"]) if share is not None else 0.0
                result[view].append(
                    {
                        "model": model,
                        "horizon": h,
                        "group": str(group),
                        "n_rows": len(rows),
                        "n_positive": int(y.sum()),
                        "base_rate": float(y.mean()),
                        "mean_score": float(p.mean()),
                        **_probability_metrics(y, p),
                        f"top_{k_label(fair_k)}_share": top,
                        "escalation_share": esc,
                        "ranking_ratio": top / esc if esc > 0 else float("nan"),
                    }
                )
    return result
