"""The backtest's count intervals, calibrated as they would have been at the time.

Each fold's intervals are calibrated (:class:`~riskwarn.models.intervals.BandIntervals`)
on the predictions the backtest made at earlier test dates whose label windows had
closed by the fold's first test date: out-of-sample rows, on which no model of the
fold trained, and nothing from the fold's own future. The first fold has no such
rows and keeps the model's own quantiles (``interval_calibrated`` False).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskwarn.config import ForecastConfig, check_quantiles, quantile_column
from riskwarn.models.intervals import BandIntervals


def rolling_intervals(
    predictions: pd.DataFrame,
    folds,
    dates: pd.DatetimeIndex,
    forecast: ForecastConfig,
) -> pd.DataFrame:
    """The predictions with ``events_q{NN}`` columns and ``interval_calibrated``.

    Parameters
    ----------
    predictions : DataFrame
        Backtest rows with ``model, as_of, horizon, score, count, count_rate,
        count_dispersion``; rows without a rate get NaN quantiles.
    folds : sequence of Fold
    dates : DatetimeIndex
        Every as-of date of the frame, ascending (to count periods).
    forecast : ForecastConfig
    """
    levels = check_quantiles(forecast.quantiles)
    n = len(predictions)
    columns = {quantile_column(q): np.full(n, np.nan) for q in levels}
    calibrated = np.zeros(n, dtype=bool)
    as_of = pd.DatetimeIndex(predictions["as_of"])
    position = dates.get_indexer(as_of)
    fold_of = np.full(n, -1)
    for f, fold in enumerate(folds):
        fold_of[as_of.isin(fold.test_as_of)] = f
    has_rate = predictions["count_rate"].notna().to_numpy()
    groups = pd.Series(np.arange(n))[has_rate].groupby(
        [predictions["model"].to_numpy()[has_rate], predictions["horizon"].to_numpy()[has_rate]],
        sort=False,
        observed=True,
    )
    score = predictions["score"].to_numpy(dtype=float)
    count = predictions["count"].to_numpy(dtype=float)
    rate = predictions["count_rate"].to_numpy(dtype=float)
    alpha = predictions["count_dispersion"].to_numpy(dtype=float)
    for (_, h), rows in groups:
        rows = rows.to_numpy()
        for f, fold in enumerate(folds):
            test = rows[fold_of[rows] == f]
            if not len(test):
                continue
            first = int(dates.get_loc(fold.test_as_of[0]))
            # earlier test dates whose h-period label window closed by this fold's start
            seen = rows[
                (fold_of[rows] >= 0) & (fold_of[rows] < f) & (position[rows] <= first - int(h))
            ]
            if len(seen):
                recent = np.unique(position[seen])[-int(forecast.calibration_periods) :]
                seen = seen[np.isin(position[seen], recent)]
            model = BandIntervals(quantiles=levels, n_bands=forecast.bands).fit(
                score[seen], count[seen], rate[seen], alpha[seen]
            )
            for name, values in model.predict(score[test], rate[test], alpha[test]).items():
                columns[name][test] = values
            calibrated[test] = model.calibrated_
    out = predictions.copy(deep=False)  # copy-on-write: the caller's frame is untouched
    for name, values in columns.items():
        out[name] = values
    out["interval_calibrated"] = calibrated
    return out


def calibration_rows(
    predictions: pd.DataFrame, model: str, horizon: int, periods: int
) -> pd.DataFrame:
    """The backtest's latest ``periods`` as-of dates of one model at one horizon.

    Out-of-sample forecasts with a count distribution (no model of the backtest
    trained on its own test rows), which calibrate a trained scorer's intervals.
    """
    rows = predictions[
        (predictions["model"] == model)
        & (predictions["horizon"] == horizon)
        & predictions["count_rate"].notna()
        & predictions["label"].notna()
    ]
    recent = np.sort(rows["as_of"].unique())[-int(periods) :]
    return rows[rows["as_of"].isin(recent)]
