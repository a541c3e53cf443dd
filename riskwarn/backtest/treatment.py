"""Treated and untreated grid-periods: where the backtest's "miss" may be a success.

A backtest row (a grid, an as-of date ``t``, a horizon ``h``) is *treated* when an
intervention for that grid started within its label window, from ``t`` up to (not
including) ``t + h`` periods: an escalation that did not happen there may have been
prevented, so every metric is also reported on the untreated rows alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def treated_rows(
    predictions: pd.DataFrame, interventions: pd.DataFrame | None, freq: str
) -> np.ndarray:
    """Whether each row's label window holds an intervention for its grid.

    Parameters
    ----------
    predictions : DataFrame, shape (n_rows, >= 3)
        ``grid_id, as_of`` (tz-aware period starts) and ``horizon``.
    interventions : DataFrame or None
        ``grid_id, started_at`` (tz-aware); None: no row is treated.
    freq : str
        The period (pandas offset alias).

    Returns
    -------
    ndarray of bool, shape (n_rows,)
    """
    out = np.zeros(len(predictions), dtype=bool)
    if interventions is None or interventions.empty or predictions.empty:
        return out
    offset = pd.tseries.frequencies.to_offset(freq)
    zone = predictions["as_of"].dt.tz
    starts = interventions["started_at"].dt.tz_convert(zone)
    by_grid = {
        str(g): np.sort(s.to_numpy(dtype="datetime64[ns]"))
        for g, s in starts.groupby(interventions["grid_id"].astype(str).to_numpy())
    }
    keys = predictions[["grid_id", "as_of", "horizon"]].astype({"grid_id": str})
    unique = keys.drop_duplicates()
    flags = np.zeros(len(unique), dtype=bool)
    for h in unique["horizon"].unique():
        rows = np.flatnonzero(unique["horizon"].to_numpy() == h)
        part = unique.iloc[rows]
        begin = part["as_of"]
        end = begin + int(h) * offset
        for grid, idx in part.groupby("grid_id").indices.items():
            times = by_grid.get(grid)
            if times is None:
                continue
            lo = np.searchsorted(times, begin.iloc[idx].to_numpy(dtype="datetime64[ns]"), "left")
            hi = np.searchsorted(times, end.iloc[idx].to_numpy(dtype="datetime64[ns]"), "left")
            flags[rows[idx]] = hi > lo
    merged = keys.merge(
        unique.assign(_treated=flags), on=["grid_id", "as_of", "horizon"], how="left"
    )
    return merged["_treated"].to_numpy(dtype=bool)


def treatment_metrics(predictions: pd.DataFrame, treated: np.ndarray, **settings) -> dict:
    """The overall metrics of :func:`~riskwarn.backtest.evaluate.evaluate` on the treated
    rows and on the untreated rows, each as if the list held only those rows.

    Parameters
    ----------
    predictions : DataFrame
        The backtest rows.
    treated : ndarray of bool, shape (n_rows,)
        :func:`treated_rows`.
    **settings
        ``k`` and the other keyword arguments of ``evaluate``.

    Returns
    -------
    dict
        ``treated`` and ``untreated`` (lists of overall records; empty where no row
        is of that kind), and ``treated_share`` (of the labelled rows).
    """
    from riskwarn.backtest.evaluate import evaluate

    labelled = predictions["label"].notna().to_numpy()
    out = {"treated_share": float(treated[labelled].mean()) if labelled.any() else 0.0}
    for name, mask in (("treated", treated), ("untreated", ~treated)):
        rows = predictions[mask & labelled]
        out[name] = evaluate(rows, **settings)["overall"] if len(rows) else []
    return out
