"""The rolling-origin backtest: every model, every horizon, the same rows.

For each fold of the :class:`RollingOriginSplit` and each horizon ``h``, a model is
trained on the rows whose ``h``-period label window closed before the fold's first
test date (as-of ``<= t0 - h`` periods) and scores every grid at each test date of
the fold. One row per ``(model, grid_id, as_of, horizon)`` comes out, with the
score, the observed label and count, and where the model gives a count
distribution (:mod:`riskwarn.models.counts`) its parameters (``count_rate``,
``count_dispersion``), the expected events and the calibrated quantiles
(:mod:`riskwarn.backtest.intervals`). ``naive_rate`` is the naive count forecast's
Poisson rate: the grid's mean count over the fold's training rows.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import pandas as pd

from riskwarn.backtest.intervals import rolling_intervals
from riskwarn.backtest.split import Fold, RollingOriginSplit
from riskwarn.config import BacktestConfig, ForecastConfig, quantile_column
from riskwarn.errors import RiskwarnError
from riskwarn.models.catalogue import (
    lightgbm_in,
    make_count_model,
    make_model,
    runnable_models,
    skip_notes,
)
from riskwarn.models.counts import hurdle_expected
from riskwarn.models.frames import feature_columns, fit_model, select_rows
from riskwarn.models.horizons import reconcile_horizons

PREDICTION_COLUMNS = (
    "model",
    "grid_id",
    "as_of",
    "horizon",
    "score",
    "label",
    "count",
    "expected_events",
    "count_rate",
    "count_dispersion",
    "naive_rate",
)


def prediction_columns(forecast: ForecastConfig) -> tuple[str, ...]:
    """Every column of ``predictions.parquet`` for a ``[forecast]`` section."""
    quantiles = tuple(quantile_column(q) for q in forecast.quantiles)
    return (*PREDICTION_COLUMNS, *quantiles, "interval_calibrated")


Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class BacktestResult:
    """What a backtest produced, and what it left out and why."""

    predictions: pd.DataFrame
    folds: tuple[Fold, ...]
    models: tuple[str, ...]
    horizons: tuple[int, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)
    parts: dict = field(default_factory=dict)
    """Per model with parts (GraphHawkes) and horizon: mean expected events per source."""


@dataclass
class FittedBacktest:
    """The fits of a backtest, before its rows are put together (:func:`finish_backtest`).

    ``pieces`` are the rows of each (fold, horizon, model) fit; ``parts`` the
    GraphHawkes parts of each (fold, horizon); ``dates`` every as-of date of the
    frame, ascending.
    """

    pieces: list[pd.DataFrame]
    parts: list
    folds: tuple[Fold, ...]
    dates: pd.DatetimeIndex
    models: tuple[str, ...]
    horizons: tuple[int, ...]
    notes: tuple[str, ...]


def labelled_dates(frame: pd.DataFrame, horizon: int) -> tuple[pd.DatetimeIndex, int]:
    """All as-of dates of the frame, ascending, and how many have a horizon-``horizon`` label."""
    column = f"label_h{horizon}"
    if column not in frame.columns:
        raise RiskwarnError(
            f"the feature frame has no {column} column: build it with labels for horizon "
            f"{horizon} (riskwarn features --labels)."
        )
    dates = pd.DatetimeIndex(frame["as_of"].unique()).sort_values()
    observed = pd.DatetimeIndex(frame.loc[frame[column].notna(), "as_of"].unique())
    if len(observed) == 0:
        raise RiskwarnError(
            f"no as-of date has an observed {horizon}-period label window: the data is "
            "too short for this horizon; use a shorter [label] horizon or more periods."
        )
    return dates, int(dates.get_loc(observed.max())) + 1


def default_start(dates: pd.DatetimeIndex, n_labelled: int, horizon: int) -> pd.Timestamp:
    """A year of test dates before the last labelled one, leaving at least half to train."""
    spacing = pd.Series(dates).diff().median() / pd.Timedelta(days=1) if len(dates) > 1 else 7.0
    per_year = max(int(round(365.25 / spacing)), 1)
    last = n_labelled - 1
    first = max(last - per_year + 1, (last + 1) // 2, horizon)
    if first > last:
        raise RiskwarnError(
            f"the data has {n_labelled} labelled as-of dates, too few to hold out any for a "
            f"backtest with horizon {horizon}; more periods of data are needed."
        )
    return dates[first]


def backtest_folds(dates: pd.DatetimeIndex, n_labelled: int, horizon: int, settings) -> list[Fold]:
    """The folds of a backtest: ``[backtest]`` settings, riskwarn's default start.

    The one split every backtest and :func:`first_training_cut` use.
    """
    start = settings.start
    if start is None:
        start = default_start(dates, n_labelled, horizon)
    split = RollingOriginSplit(
        horizon=horizon,
        start=start,
        end=settings.end,
        step=settings.step,
        refit_every=settings.refit_every,
    )
    return split.folds(dates, n_labelled)


def first_training_cut(periods, horizon: int, settings) -> pd.Timestamp | None:
    """The as-of date up to which the backtest's first fold trains (naive local).

    What a backtest may know when it makes its first forecast; the categories
    that get feature columns are counted before it (``prepare_features``'
    ``vocabulary_before``), so no fold's columns come from its future. None when
    the data is too short for a backtest (which then says so itself).

    Parameters
    ----------
    periods : riskwarn.panel.periods.PeriodIndex
    horizon : int
    settings : BacktestConfig
    """
    dates = periods.as_of_dates
    # An as-of date is labelled when its whole label window lies in complete periods.
    n_labelled = int(periods.n_complete) - int(horizon)
    try:
        if n_labelled < 1:
            return None
        return backtest_folds(dates, n_labelled, horizon, settings)[0].train_until
    except RiskwarnError:
        return None


class _FoldTask:
    """Fit every model for one fold and horizon, and score the fold's test dates."""

    def __init__(self, frame, dates, graph, settings, models, n_folds, grid_ids, progress, total):
        self.frame, self.dates, self.graph, self.settings = frame, dates, graph, settings
        self.models, self.n_folds, self.grid_ids = models, n_folds, grid_ids
        self.progress, self.total = progress, total
        self.columns = feature_columns(frame)
        self.done = 0
        self.lock = threading.Lock()

    def _step(self, message: str) -> None:
        if self.progress is None:
            return
        with self.lock:
            self.progress(self.done, self.total, message)

    def _finished(self) -> None:
        with self.lock:
            self.done += 1

    def __call__(self, f: int, fold: Fold, h: int):
        frame, dates, settings = self.frame, self.dates, self.settings
        as_of = frame["as_of"]
        p0 = int(dates.get_loc(fold.test_as_of[0]))
        test = select_rows(frame, as_of.isin(fold.test_as_of))
        test_grid = pd.Categorical(test["grid_id"].astype(str), dtype=self.grid_ids)
        observed = frame[f"label_h{h}"].notna()
        last = p0 - h
        window = as_of <= dates[last]
        if settings.train_periods is not None and last >= settings.train_periods:
            # only the latest train_periods as-of dates: recent behaviour, less work
            window &= as_of > dates[last - settings.train_periods]
        train = select_rows(frame, window & observed)
        y = train[f"label_h{h}"].to_numpy(dtype=float)
        count = train[f"count_h{h}"].to_numpy(dtype=float)
        if len(train) == 0 or y.sum() == 0:
            raise RiskwarnError(
                f"fold {f + 1}: no escalation among the training rows before "
                f"{fold.test_as_of[0]:%Y-%m-%d} at horizon {h}; start the backtest later."
            )
        pieces, parts = [], []
        # the count twins of this (fold, h), by the LightGBM whose settings they borrow:
        # the standalone model and the ensemble's component are one fitted model
        twins: dict[int, tuple[np.ndarray, float]] = {}

        def count_rates(like=None) -> tuple[np.ndarray, float]:
            if id(like) not in twins:
                counter = make_count_model(h, seed=settings.seed, like=like)
                counter.fit(train, y, count=count)
                twins[id(like)] = (counter.predict_expected(test), counter.dispersion_)
            return twins[id(like)]

        naive = naive_rates(train, test, h)
        fitted: dict = {}

        for name in self.models:
            self._step(
                f"fold {f + 1}/{self.n_folds} (train to {dates[last]:%Y-%m-%d}), h={h}, {name}"
            )
            model = make_model(
                name, horizon=h, graph=self.graph, seed=settings.seed, columns=self.columns
            )
            # the models fitted before it on these rows: the ensemble's components
            fitted[name] = fit_model(model, train, y, count, fitted=fitted)
            score = model.predict_proba(test)[:, 1]
            if hasattr(model, "parts"):
                parts.append(((name, h), model.parts(test)))
            rate, alpha = np.full(len(test), np.nan), 0.0
            if hasattr(model, "predict_expected"):  # a Poisson of its own
                rate = model.predict_expected(test)
            elif name == "lightgbm":
                rate, alpha = count_rates(like=model)
            elif name == "ensemble":  # as the scorer: the ensemble's score, the twin's shape
                rate, alpha = count_rates(like=lightgbm_in(model))
            # one count distribution: the score's P(N >= 1), the count model's shape
            expected = hurdle_expected(score, rate, alpha)
            pieces.append(
                pd.DataFrame(
                    {
                        # categorical in every piece, so the concatenation stays one
                        "model": pd.Categorical.from_codes(
                            np.full(len(test), self.models.index(name), dtype=np.int8),
                            categories=list(self.models),
                        ),
                        "grid_id": test_grid,
                        "as_of": test["as_of"].to_numpy(),
                        "horizon": np.int8(h),
                        "score": score.astype(float),
                        "label": test[f"label_h{h}"].astype("Int8").to_numpy(),
                        "count": test[f"count_h{h}"].astype("Int32").to_numpy(),
                        "expected_events": np.asarray(expected, dtype=float),
                        "count_rate": np.asarray(rate, dtype=float),
                        "count_dispersion": np.where(np.isnan(rate), np.nan, float(alpha)),
                        "naive_rate": naive,
                    }
                )
            )
            self._finished()
        return pieces, parts


def naive_rates(train: pd.DataFrame, test: pd.DataFrame, h: int) -> np.ndarray:
    """The naive count forecast of each test row, shape (n_test,): its grid's mean count.

    Over the training rows (``count_h{h}``); a grid without any gets the mean of all.
    """
    column = f"count_h{h}"
    means = train.groupby(train["grid_id"].astype(str), sort=False)[column].mean()
    overall = float(train[column].mean()) if len(train) else float("nan")
    return means.reindex(test["grid_id"].astype(str)).fillna(overall).to_numpy(dtype=float)


def _mean_expected(predictions: pd.DataFrame) -> pd.Series:
    return predictions.groupby(["model", "horizon"], observed=True)["expected_events"].mean()


def _ratio(after: pd.Series, before: pd.Series, name: str, h: int) -> float:
    a, b = after.get((name, h), np.nan), before.get((name, h), np.nan)
    return float(a / b) if b and np.isfinite(a) and np.isfinite(b) else 1.0


def run_backtest(
    frame: pd.DataFrame,
    *,
    graph: nx.Graph | None,
    horizon: int,
    settings: BacktestConfig,
    forecast: ForecastConfig | None = None,
    progress: Progress | None = None,
) -> BacktestResult:
    """Backtest every configured model on a feature frame with labels.

    :func:`fit_backtest` then :func:`finish_backtest`; a caller that can let go of
    the frame between the two (a city's frame is gigabytes) calls them itself.

    Parameters
    ----------
    frame : DataFrame, shape (n_grids * n_dates, ...)
        The design matrix with ``label_h1..label_hH`` and ``count_h1..count_hH``
        (``build_features(..., labels=True)``); it is not modified.
    graph : networkx.Graph or None
        The grid graph; without one the graph models are skipped (with a note).
    horizon : int
        The largest horizon H; horizons 1..H are evaluated.
    settings : BacktestConfig
    forecast : ForecastConfig or None
        The quantiles and their calibration (default: ``[forecast]``'s defaults).
    progress : callable(done, total, message) or None

    Returns
    -------
    BacktestResult
        ``predictions`` has the columns of :func:`prediction_columns`.
    """
    fitted = fit_backtest(frame, graph=graph, horizon=horizon, settings=settings, progress=progress)
    return finish_backtest(fitted, forecast)


def fit_backtest(
    frame: pd.DataFrame,
    *,
    graph: nx.Graph | None,
    horizon: int,
    settings: BacktestConfig,
    progress: Progress | None = None,
) -> FittedBacktest:
    """Every fit of the backtest (parameters as :func:`run_backtest`'s)."""
    dates, n_labelled = labelled_dates(frame, horizon)
    folds = backtest_folds(dates, n_labelled, horizon, settings)
    models, skipped = runnable_models(settings.models, feature_columns(frame), graph is not None)
    notes = skip_notes(skipped)
    horizons = tuple(range(1, horizon + 1))
    total = len(folds) * len(horizons) * len(models)
    # Categorical grid ids: tens of millions of prediction rows share a few
    # thousand ids (sorted, so ordering by grid_id is unchanged).
    grid_ids = pd.CategoricalDtype(np.sort(frame["grid_id"].astype(str).unique()))
    task = _FoldTask(frame, dates, graph, settings, models, len(folds), grid_ids, progress, total)
    jobs = [(f, fold, h) for f, fold in enumerate(folds) for h in horizons]
    if settings.n_jobs == 1 or len(jobs) == 1:
        results = [task(*job) for job in jobs]
    else:
        # Threads, not processes: the frame is shared as it is, and LightGBM, NumPy's
        # large array operations and the sparse products release the GIL, so a
        # second fit runs while the first is in single-threaded NumPy code.
        with ThreadPoolExecutor(max_workers=settings.n_jobs) as pool:
            # The longest fits first (latest folds, longest horizons: the most rows),
            # so that no long fit is left running alone at the end.
            futures = {i: pool.submit(task, *jobs[i]) for i in reversed(range(len(jobs)))}
            try:
                # In job order, so results are assembled the same way on every run.
                results = [futures[i].result() for i in range(len(jobs))]
            except BaseException:
                for future in futures.values():
                    future.cancel()
                raise
    if progress is not None:
        progress(total, total, "done")
    return FittedBacktest(
        pieces=[piece for result_pieces, _ in results for piece in result_pieces],
        parts=[part for _, result_parts in results for part in result_parts],
        folds=tuple(folds),
        dates=dates,
        models=tuple(models),
        horizons=horizons,
        notes=tuple(notes),
    )


def finish_backtest(
    fitted: FittedBacktest, forecast: ForecastConfig | None = None
) -> BacktestResult:
    """The backtest's rows: horizons reconciled, expected events, calibrated intervals.

    Takes the pieces out of ``fitted`` (its list is emptied), so each is freed once
    the rows are put together.
    """
    forecast = ForecastConfig() if forecast is None else forecast
    models, folds, dates = fitted.models, fitted.folds, fitted.dates
    parts: dict[str, dict[int, list[pd.DataFrame]]] = {}
    for (name, h), frame_parts in fitted.parts:
        parts.setdefault(name, {}).setdefault(h, []).append(frame_parts)
    # every piece's model is categorical with the same categories: so is the whole
    predictions = pd.concat(fitted.pieces, ignore_index=True)
    fitted.pieces.clear()  # the rows are copied: a city's backtest holds them twice otherwise
    before = _mean_expected(predictions)
    predictions = reconcile_horizons(predictions)
    # the reconciled score with the same count shape: still one distribution
    predictions["expected_events"] = hurdle_expected(
        predictions["score"], predictions["count_rate"], predictions["count_dispersion"]
    )
    predictions = rolling_intervals(predictions, folds, dates, forecast)
    predictions = predictions.sort_values(
        ["model", "horizon", "as_of", "grid_id"], kind="stable"
    ).reset_index(drop=True)
    after = _mean_expected(predictions)
    # the parts of a model's expected events, scaled with it where the horizons were
    # reconciled (their shares are the model's own)
    mean_parts = {
        name: {
            h: (pd.concat(frames).mean() * _ratio(after, before, name, h)).to_dict()
            for h, frames in by_h.items()
        }
        for name, by_h in parts.items()
    }
    return BacktestResult(
        parts=mean_parts,
        predictions=predictions,
        folds=tuple(folds),
        models=tuple(models),
        horizons=fitted.horizons,
        notes=fitted.notes,
    )
