"""The ranked watchlist: one row per grid, with tier, reasons, change and provenance.

Columns (DESIGN.md, "Watchlist"): ``grid_id, as_of, horizon, rank, score,
expected_events, events_q{NN}`` (one per ``[forecast] quantiles``, ``events_q10``
and ``events_q90`` by default: the calibrated interval of the count), ``tier,
reasons, prev_rank, change, model_name, model_version, run_id, data_hash,
generated_at``, ``periods_since_intervention`` (periods since the last intervention
for the grid, missing when none is recorded), plus ``prev_tier``, the reasons as plain text in English and
Chinese (``reasons_en``, ``reasons_zh``) for tables that cannot show nested
values, and the risk curve ``risk_h1 .. risk_h{horizon}`` (the chance of an
escalation within 1, 2, … periods; the last is the score).

Small-cell suppression: a raw event count from 1 to ``suppress_below - 1`` is never
shown, only "fewer than N"; zero and larger counts are shown. Only grids are named.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskwarn.backtest.metrics import top_k_size
from riskwarn.config import quantile_level
from riskwarn.errors import RiskwarnError
from riskwarn.features.manifest import FeatureManifest
from riskwarn.models.reasons import joined, reason_lists

_HEAD = ("grid_id", "as_of", "horizon", "rank", "score", "expected_events")
_TAIL = (
    "tier",
    "reasons",
    "reasons_en",
    "reasons_zh",
    "prev_rank",
    "prev_tier",
    "change",
    "model_name",
    "model_version",
    "run_id",
    "data_hash",
    "generated_at",
    "periods_since_intervention",
)


def watchlist_columns(quantiles: tuple[str, ...], curve: tuple[str, ...]) -> tuple[str, ...]:
    """The watchlist's columns, given its quantile and risk-curve column names."""
    return (*_HEAD, *quantiles, *_TAIL, *curve)


WATCHLIST_COLUMNS = watchlist_columns(("events_q10", "events_q90"), ("risk_h1",))
"""The columns of a watchlist with the default quantiles and horizon 1 (an example)."""


def extra_columns(frame) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The quantile columns (``events_q*``, by level) and the risk curve (``risk_h*``, by
    horizon) of a scored frame or a watchlist (pandas or Spark: anything with ``columns``)."""
    names = [str(c) for c in frame.columns]
    quantiles = sorted((c for c in names if c.startswith("events_q")), key=quantile_level)
    curve = sorted((c for c in names if c.startswith("risk_h")), key=lambda c: int(c[6:]))
    return tuple(quantiles), tuple(curve)


@dataclass(frozen=True)
class Provenance:
    """Where a watchlist comes from."""

    model_name: str
    model_version: str
    run_id: str
    data_hash: str
    generated_at: str


def tiers_of(rank: np.ndarray, n: int, shares: tuple[float, ...]) -> pd.array:
    """Tier 1, 2, … by rank: tier i holds the grids in the top ``shares[i-1]``; else <NA>."""
    tier = pd.array(np.full(len(rank), pd.NA), dtype="Int8")
    for i, share in sorted(enumerate(sorted(shares)), reverse=True):
        tier[rank <= top_k_size(n, share)] = i + 1
    return tier


def build_watchlist(
    scored: pd.DataFrame,
    *,
    horizon: int,
    manifest: FeatureManifest,
    tiers: tuple[float, ...],
    suppress_below: int,
    provenance: Provenance,
    previous: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Rank the grids of one as-of date and explain them.

    Parameters
    ----------
    scored : DataFrame, shape (n_grids, 4 + 3 * n_reasons)
        :meth:`EscalationScorer.score` output for one as-of date.
    horizon : int
        Periods ahead the score covers.
    manifest : FeatureManifest
        Descriptions of the features, for the reasons' text.
    tiers : tuple of float
        Top shares of grids of tiers 1, 2, ….
    suppress_below : int
        Raw counts below this (and above 0) are shown as "fewer than".
    provenance : Provenance
    previous : DataFrame or None
        The last watchlist of an earlier as-of date (``grid_id, rank, tier``).

    Returns
    -------
    DataFrame, shape (n_grids, n_columns)
        The columns of :func:`watchlist_columns`, sorted by rank (1 = highest
        score; ties by grid id).
    """
    if scored.empty:
        raise RiskwarnError("there are no grids to score at this as-of date.")
    if scored["as_of"].nunique() != 1:
        raise RiskwarnError("a watchlist is for one as-of date; the scores cover several.")
    if scored["grid_id"].duplicated().any():
        raise RiskwarnError("a grid was scored twice for the same as-of date.")
    frame = scored.sort_values(["score", "grid_id"], ascending=[False, True], kind="stable")
    frame = frame.reset_index(drop=True)
    n = len(frame)
    prev_rank = pd.array(np.full(n, pd.NA), dtype="Int32")
    prev_tier = pd.array(np.full(n, pd.NA), dtype="Int8")
    if previous is not None and len(previous):
        before = previous.drop_duplicates("grid_id").set_index(previous["grid_id"].astype(str))
        ids = frame["grid_id"].astype(str)
        prev_rank = pd.array(before["rank"].reindex(ids).to_numpy(), dtype="Int32")
        if "tier" in before.columns:
            prev_tier = pd.array(before["tier"].reindex(ids).to_numpy(), dtype="Int8")
    frame["rank"] = np.arange(1, n + 1, dtype=np.int32)
    frame["prev_rank"] = prev_rank
    frame["prev_tier"] = prev_tier
    return watchlist_rows(
        frame,
        n,
        horizon=horizon,
        manifest=manifest,
        tiers=tiers,
        suppress_below=suppress_below,
        provenance=provenance,
    )


def watchlist_rows(
    ranked: pd.DataFrame,
    n: int,
    *,
    horizon: int,
    manifest: FeatureManifest,
    tiers: tuple[float, ...],
    suppress_below: int,
    provenance: Provenance,
) -> pd.DataFrame:
    """The watchlist columns of ranked rows: tier, reasons, change, provenance.

    Each row depends only on itself, its ``rank`` and ``prev_rank``/``prev_tier``
    and the number of grids ``n``, so any slice of a ranked list can be explained
    on its own (Spark does it batch by batch on its executors).

    Parameters
    ----------
    ranked : DataFrame, shape (n_rows, 7 + 3 * n_reasons)
        Scorer output with ``rank`` (1 = highest), ``prev_rank`` and ``prev_tier``
        (missing for a grid not on the previous watchlist).
    n : int
        Grids on the whole watchlist (tiers are shares of it).

    Returns
    -------
    DataFrame, shape (n_rows, n_columns), in the order of ``ranked``: the columns of
    :func:`watchlist_columns` for the quantile (``events_q*``) and risk-curve
    (``risk_h*``) columns ``ranked`` has.
    """
    rank = ranked["rank"].to_numpy(dtype=np.int64)
    reasons = reason_lists(ranked, manifest, suppress_below)
    out = pd.DataFrame(
        {
            "grid_id": ranked["grid_id"].astype(str).to_numpy(),
            "as_of": ranked["as_of"].array,
            "horizon": np.int16(horizon),
            "rank": rank.astype(np.int32),
            "score": ranked["score"].to_numpy(dtype=float),
            "expected_events": ranked["expected_events"].to_numpy(dtype=float),
            "tier": tiers_of(rank, n, tiers),
            "reasons": reasons,
            "reasons_en": joined(reasons, "en"),
            "reasons_zh": joined(reasons, "zh"),
            "prev_rank": pd.array(ranked["prev_rank"], dtype="Int32"),
            "prev_tier": pd.array(ranked["prev_tier"], dtype="Int8"),
        }
    )
    had = out["prev_rank"].notna().to_numpy()
    prev = out["prev_rank"].fillna(0).to_numpy(dtype=np.int64)
    out["change"] = np.select(
        [~had, rank < prev, rank > prev], ["new", "up", "down"], default="same"
    )
    for key, value in vars(provenance).items():
        out[key] = str(value)
    # what was done for the grid (missing: nothing recorded, or no interventions table)
    since = (
        ranked["periods_since_intervention"].to_numpy(dtype=float)
        if "periods_since_intervention" in ranked
        else np.full(len(out), np.nan)
    )
    out["periods_since_intervention"] = pd.array(np.round(since), dtype="Int16")
    quantiles, curve = extra_columns(ranked)
    for name in quantiles:  # whole numbers of events
        out[name] = pd.array(np.round(ranked[name].to_numpy(dtype=float)), dtype="Int32")
    for name in curve:
        out[name] = ranked[name].to_numpy(dtype=float)
    return out[list(watchlist_columns(quantiles, curve))]


def tier_changes(current: pd.DataFrame, previous: pd.DataFrame | None) -> dict:
    """How the tiered grids changed since the previous watchlist: the one definition.

    The console, ``model_card.json`` and the report all show these counts.
    ``entered``: in a tier now, in none before (or not on the previous list);
    ``left``: in a tier before, in none now (or no longer scored); ``moved_up`` /
    ``moved_down``: in a tier both times, ranked higher / lower than before;
    ``same``: in a tier both times at the same rank. A grid outside the tiers both
    times is not a change that anyone acts on, and is not counted.

    Parameters
    ----------
    current, previous : DataFrame
        ``grid_id, rank, tier`` of every grid scored (``previous`` None: the first
        watchlist of the folder).

    Returns
    -------
    dict
        ``first`` (bool) and the counts above (all 0 when ``first``).
    """
    names = ("entered", "left", "moved_up", "moved_down", "same")
    if previous is None or not len(previous):
        return {"first": True, **dict.fromkeys(names, 0)}
    now = current.drop_duplicates("grid_id").set_index(current["grid_id"].astype(str))
    before = previous.drop_duplicates("grid_id").set_index(previous["grid_id"].astype(str))
    ids = now.index.union(before.index)
    tier_now = now["tier"].reindex(ids).notna().to_numpy()
    tier_before = before["tier"].reindex(ids).notna().to_numpy()
    rank_now = now["rank"].reindex(ids).to_numpy(dtype=float)
    rank_before = before["rank"].reindex(ids).to_numpy(dtype=float)
    both = tier_now & tier_before
    return {
        "first": False,
        "entered": int((tier_now & ~tier_before).sum()),
        "left": int((tier_before & ~tier_now).sum()),
        "moved_up": int((both & (rank_now < rank_before)).sum()),
        "moved_down": int((both & (rank_now > rank_before)).sum()),
        "same": int((both & (rank_now == rank_before)).sum()),
    }
