"""How good the count forecasts of a backtest are: CRPS, intervals, PIT, horizon curves.

For every model whose backtest rows carry a count distribution (``count_rate``;
:mod:`riskwarn.models.counts`) and every horizon:

- CRPS of the count, and its skill against the naive count forecast (a Poisson at
  the grid's historical mean count, ``naive_rate``): above 0 beats it;
- each central interval of ``[forecast] quantiles``: coverage beside the nominal
  level (and by how much it exceeds it: counts are whole numbers, so a quiet grid's
  interval "0" covers more than asked), the interval score, the mean width, and the
  coverage of the randomised PIT (what a calibrated distribution gives exactly);
- the same coverage in each of ``[forecast] bands`` equal-count risk bands of the
  score and in each grid type;
- the randomised PIT histogram (its expectation, so no draw is needed);
- the share of rows with ``score <= expected_events`` (one distribution: always 1).

Per model, ``monotone_share`` is the share of grid-dates whose risk over the
horizons 1..H never falls.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskwarn.backtest import metrics as m
from riskwarn.backtest.groups import model_horizon_rows
from riskwarn.config import ForecastConfig, quantile_column
from riskwarn.models.counts import hurdle_cdf_table, truncated_mean
from riskwarn.models.horizons import horizon_curves
from riskwarn.models.intervals import interval_pairs

_CELLS = 2_000_000  # CDF-table cells per chunk: a few tens of MB at most
_TAIL = 1e-6  # the CDF table reaches at least 1 - _TAIL for every row
_MAX_COUNT = 2_000


def interval_name(lo: float, hi: float) -> str:
    """``(0.1, 0.9)`` → ``"80"``: the nominal coverage in percent."""
    return f"{(hi - lo) * 100:.6g}".replace(".", "_")


def _cdf_parts(score, rate, alpha, count):
    """CRPS, ``F(y - 1)`` and ``F(y)`` of each row.

    Each row needs its CDF up to its own far tail (``F >= 1 - _TAIL``) or its
    count, if higher. That reach is first guessed from the mean and spread of the
    row's count (ten standard deviations past the mean); rows whose table falls
    short are tabulated again, four times as far. Rows are taken in the order of
    their reach and cut into chunks of about ``_CELLS`` table cells, so the many
    quiet rows (a tail of a few events) are not tabulated as far as the busiest
    grid's.
    """
    n = len(score)
    crps, below, at = np.empty(n), np.empty(n), np.empty(n)
    mean = truncated_mean(rate, alpha)
    spread = np.sqrt(mean + alpha * mean**2)
    guess = np.nan_to_num(np.ceil(mean + 10.0 * spread), nan=1.0)
    need = np.minimum(np.fmax(np.fmax(guess, count), 1.0), _MAX_COUNT).astype(int)
    pending = np.arange(n)
    while len(pending):
        short = _tabulate(pending, need, score, rate, alpha, count, (crps, below, at))
        need[short] = np.minimum(need[short] * 4, _MAX_COUNT)
        pending = short
    return crps, below, at


def _tabulate(rows, need, score, rate, alpha, count, out) -> np.ndarray:
    """Fill ``out`` (CRPS, ``F(y - 1)``, ``F(y)``) at ``rows``, each tabulated to its
    ``need``; returns the rows whose table ended before ``1 - _TAIL``."""
    crps, below, at = out
    order = rows[np.argsort(need[rows], kind="stable")]
    reach = need[order]
    short = []
    start, n = 0, len(order)
    while start < n:
        # the chunk's table is as wide as its last (largest) reach
        width = reach[min(start + max(_CELLS // (reach[start] + 1), 1), n) - 1] + 1
        stop = min(start + max(_CELLS // width, 1), n)
        idx = order[start:stop]
        top = int(reach[stop - 1])
        y = np.minimum(count[idx], top)
        table = hurdle_cdf_table(score[idx], rate[idx], alpha[idx], top)
        crps[idx] = m.crps_counts(table, y)
        k = np.arange(len(idx))
        at[idx] = table[k, y.astype(int)]
        below[idx] = np.where(y >= 1, table[k, np.maximum(y.astype(int) - 1, 0)], 0.0)
        if top < _MAX_COUNT:
            short.append(idx[table[:, -1] < 1.0 - _TAIL])
        start = stop
    return np.concatenate(short) if short else np.zeros(0, dtype=int)


def _interval_record(lo, hi, lower, upper, y, below, at) -> dict[str, float]:
    name = interval_name(lo, hi)
    coverage = m.interval_coverage(lower, upper, y)
    return {
        f"coverage_{name}": coverage,
        f"coverage_{name}_excess": coverage - (hi - lo) if np.isfinite(coverage) else np.nan,
        f"interval_score_{name}": m.interval_score(lower, upper, y, lo + 1 - hi),
        f"width_{name}": float(np.mean(upper - lower)) if len(y) else np.nan,
        f"pit_coverage_{name}": float(np.mean(m.pit_mass(below, at, lo, hi))) if len(y) else np.nan,
    }


def monotone_share(predictions: pd.DataFrame) -> dict[str, float]:
    """Per model: the share of (grid, as-of) whose score never falls from h to h + 1."""
    out: dict[str, float] = {}
    if predictions["horizon"].nunique() < 2:
        return out
    curves = horizon_curves(predictions)
    complete = curves.complete
    if not complete.any():
        return out
    rises = (np.diff(curves.scores[complete], axis=1) >= -1e-12).all(axis=1)
    shares = pd.Series(rises).groupby(curves.model[complete], observed=True).mean()
    for model, share in shares.items():
        out[str(model)] = float(share)
    return out


def forecast_metrics(
    predictions: pd.DataFrame,
    grid_type: pd.Series | None = None,
    forecast: ForecastConfig | None = None,
) -> dict:
    """The count-forecast metrics of a backtest, JSON-ready.

    Parameters
    ----------
    predictions : DataFrame
        Backtest rows (:func:`riskwarn.backtest.run.prediction_columns`).
    grid_type : Series or None
        ``grid_type`` by grid id (as text).
    forecast : ForecastConfig or None

    Returns
    -------
    dict
        ``overall``, ``by_band`` and ``by_grid_type``: records with ``model`` and
        ``horizon``; ``pit``: the PIT histogram per model and horizon;
        ``monotone_share`` per model; ``intervals``: the central intervals by name.
    """
    forecast = ForecastConfig() if forecast is None else forecast
    pairs = interval_pairs(forecast.quantiles)
    result: dict = {
        "intervals": {interval_name(lo, hi): [lo, hi] for lo, hi in pairs},
        "overall": [],
        "by_band": [],
        "by_grid_type": [],
        "pit": [],
        "monotone_share": monotone_share(predictions),
    }
    if "count_rate" not in predictions.columns:
        return result
    usable = (predictions["count_rate"].notna() & predictions["label"].notna()).to_numpy()
    for (model, h), rows in model_horizon_rows(predictions):
        rows = rows[usable[rows]]
        if not len(rows):
            continue
        block = predictions.iloc[rows]  # one model and horizon at a time: no copy of all
        score = block["score"].to_numpy(dtype=float)
        rate = block["count_rate"].to_numpy(dtype=float)
        alpha = block["count_dispersion"].to_numpy(dtype=float)
        y = block["count"].to_numpy(dtype=float)
        expected = block["expected_events"].to_numpy(dtype=float)
        crps, below, at = _cdf_parts(score, rate, alpha, y)
        naive = block["naive_rate"].to_numpy(dtype=float)
        crps_naive, _, _ = _cdf_parts(-np.expm1(-naive), naive, np.zeros_like(naive), y)
        head = {"model": str(model), "horizon": int(h)}
        record = {
            **head,
            "n_rows": len(y),
            "crps": float(crps.mean()),
            "crps_naive": float(crps_naive.mean()),
            "crps_skill": m.skill(float(crps.mean()), float(crps_naive.mean())),
            "score_le_expected_share": float(np.mean(score <= expected + 1e-12)),
            "calibrated_share": float(block["interval_calibrated"].mean())
            if "interval_calibrated" in block
            else 0.0,
        }
        bounds = {
            (lo, hi): (
                block[quantile_column(lo)].to_numpy(dtype=float),
                block[quantile_column(hi)].to_numpy(dtype=float),
            )
            for lo, hi in pairs
            if quantile_column(lo) in block and quantile_column(hi) in block
        }
        for (lo, hi), (lower, upper) in bounds.items():
            record.update(_interval_record(lo, hi, lower, upper, y, below, at))
        result["overall"].append(record)
        result["pit"].append({**head, "histogram": m.pit_histogram(below, at).tolist()})
        band = _bands(score, forecast.bands)
        groups = [("by_band", band, _band_names(score, band))]
        if grid_type is not None:
            kinds = grid_type.reindex(block["grid_id"].astype(str)).fillna("unknown")
            names = sorted(pd.unique(kinds.astype(str)))
            code = pd.Categorical(kinds.astype(str), categories=names).codes
            groups.append(("by_grid_type", code, names))
        for view, code, names in groups:
            for g, name in enumerate(names):
                inside = code == g
                if not inside.any():
                    continue
                entry = {**head, "group": name, "n_rows": int(inside.sum())}
                entry["mean_score"] = float(score[inside].mean())
                for (lo, hi), (lower, upper) in bounds.items():
                    entry.update(
                        _interval_record(
                            lo,
                            hi,
                            lower[inside],
                            upper[inside],
                            y[inside],
                            below[inside],
                            at[inside],
                        )
                    )
                result[view].append(entry)
    return result


def _bands(score: np.ndarray, n_bands: int) -> np.ndarray:
    """Equal-count risk bands of the scores, 0 = the lowest (ties broken by position)."""
    if not len(score):
        return np.zeros(0, dtype=int)
    order = np.argsort(score, kind="stable")
    band = np.empty(len(score), dtype=int)
    for b, idx in enumerate(np.array_split(order, min(n_bands, len(score)))):
        band[idx] = b
    return band


def _band_names(score: np.ndarray, band: np.ndarray) -> list[str]:
    names = []
    for b in range(int(band.max()) + 1 if len(band) else 0):
        s = score[band == b]
        names.append(f"{b + 1}: {s.min():.3f}-{s.max():.3f}")
    return names
