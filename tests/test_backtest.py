"""The rolling-origin backtest: no model sees the future, every row is accounted for."""

from __future__ import annotations

import gc
import json
import weakref

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator

from riskwarn.backtest import run as run_module
from riskwarn.backtest.evaluate import evaluate, population_bands
from riskwarn.backtest.run import (
    PREDICTION_COLUMNS,
    finish_backtest,
    fit_backtest,
    prediction_columns,
    run_backtest,
)
from riskwarn.cli import main
from riskwarn.config import BacktestConfig, ForecastConfig
from riskwarn.errors import ConfigError, RiskwarnError
from tests.conftest import simulated_features


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    folder = tmp_path_factory.mktemp("backtest_city")
    config, frame, graph = simulated_features(folder, 36, 70, seed=5, horizon=2)
    return folder, config, frame, graph


class Spy(BaseEstimator):
    """Records the rows it was trained on; scores by esc_n_w4."""

    calls: list = []

    def fit(self, X, y):
        Spy.calls.append((X["as_of"].max(), len(X), float(np.asarray(y).sum())))
        assert not np.isnan(np.asarray(y, dtype=float)).any()
        self.fitted_ = True
        return self

    def predict_proba(self, X):
        p = np.clip(X["esc_n_w4"].to_numpy(dtype=float) / 10, 0, 1)
        return np.column_stack([1 - p, p])


def test_training_rows_end_a_horizon_before_each_test_block(city, monkeypatch):
    _, _, frame, graph = city
    Spy.calls = []
    monkeypatch.setattr(run_module, "make_model", lambda *a, **k: Spy())
    settings = BacktestConfig(
        step=1, refit_every=4, models=("hotspot",), n_jobs=1
    )  # calls in order
    result = run_backtest(frame, graph=graph, horizon=2, settings=settings)
    dates = pd.DatetimeIndex(frame["as_of"].unique()).sort_values()
    assert len(Spy.calls) == len(result.folds) * 2
    calls = iter(Spy.calls)
    for fold in result.folds:
        first = dates.get_loc(fold.test_as_of[0])
        for h in (1, 2):
            last_train, n_rows, _ = next(calls)
            assert last_train == dates[first - h]  # the label window closed before t0
            labelled = frame[(frame["as_of"] <= dates[first - h]) & frame[f"label_h{h}"].notna()]
            assert n_rows == len(labelled)
        assert len(fold.test_as_of) <= 4


def test_predictions_one_row_per_model_grid_date_horizon_with_the_real_labels(city):
    _, _, frame, graph = city
    settings = BacktestConfig(refit_every=13, models=("persistence", "hotspot", "graph_hawkes"))
    result = run_backtest(frame, graph=graph, horizon=2, settings=settings)
    pred = result.predictions
    assert tuple(pred.columns) == prediction_columns(ForecastConfig())
    assert not pred.duplicated(["model", "grid_id", "as_of", "horizon"]).any()
    tests = [t for fold in result.folds for t in fold.test_as_of]
    assert len(pred) == 3 * 2 * 36 * len(tests)
    # default start: a year before the last labelled date, or half the data
    assert pd.Timestamp(tests[0]) >= frame["as_of"].min()
    merged = pred.merge(frame, on=["grid_id", "as_of"])
    for h in (1, 2):
        rows = merged[merged["horizon"] == h]
        assert (rows["label"].astype(int) == rows[f"label_h{h}"].astype(int)).all()
        assert (rows["count"].astype(int) == rows[f"count_h{h}"].astype(int)).all()
    hawkes = pred[pred["model"] == "graph_hawkes"]
    assert hawkes["expected_events"].notna().all()
    # the Hawkes parts are reported and add up to its mean expected events
    for h in (1, 2):
        parts = result.parts["graph_hawkes"][h]
        assert set(parts) == {"background", "own", "neighbours", "precursors"}
        mean_expected = hawkes.loc[hawkes["horizon"] == h, "expected_events"].mean()
        assert sum(parts.values()) == pytest.approx(mean_expected)
    assert pred.loc[pred["model"] == "hotspot", "expected_events"].isna().all()


def test_without_a_graph_the_graph_models_are_skipped_with_a_note(city):
    _, _, frame, _ = city
    settings = BacktestConfig(refit_every=26, models=("hotspot", "graph_hotspot", "graph_hawkes"))
    result = run_backtest(frame, graph=None, horizon=1, settings=settings)
    assert result.models == ("hotspot",)
    assert any("graph_hotspot skipped" in n for n in result.notes)


@pytest.mark.filterwarnings("ignore:GraphHawkes. EM stopped")
def test_one_grid_and_too_short_data(city):
    _, _, frame, graph = city
    settings = BacktestConfig(refit_every=13, models=("hist_rate", "graph_hawkes"))
    # one grid: the backtest runs (ranking metrics over one grid are trivial)
    busiest = frame.groupby("grid_id")["esc_n_w52"].max().idxmax()
    one = frame[frame["grid_id"] == busiest]
    result = run_backtest(one, graph=graph, horizon=1, settings=settings)
    assert result.predictions["grid_id"].nunique() == 1
    # a quiet grid: no escalation to learn from is a clear error, not a crash
    quiet = one.assign(label_h1=0.0, count_h1=0.0)
    with pytest.raises(RiskwarnError, match="no escalation"):
        run_backtest(quiet, graph=graph, horizon=1, settings=settings)
    # three dates of data: no 2-period label window has closed yet
    short = frame[frame["as_of"] <= frame["as_of"].sort_values().unique()[2]]
    short = short.assign(label_h2=np.nan)
    with pytest.raises(RiskwarnError, match="too short"):
        run_backtest(short, graph=graph, horizon=2, settings=settings)
    with pytest.raises(RiskwarnError, match="no label_h3"):
        run_backtest(frame, graph=graph, horizon=3, settings=settings)


def test_bad_start_is_a_config_error(city):
    _, _, frame, graph = city
    settings = BacktestConfig(start="2021-01-05", models=("hotspot",))  # a Tuesday
    with pytest.raises(ConfigError, match="not an as-of date"):
        run_backtest(frame, graph=graph, horizon=1, settings=settings)


def test_cli_writes_predictions_and_metrics(city, tmp_path, capsys):
    folder, _, frame, _ = city
    end = frame["as_of"].max().tz_localize(None)
    cfg = tmp_path / "bt.toml"
    cfg.write_text(
        f'[data]\nend = "{end.isoformat()}"\n[label]\nhorizon = 2\n'
        '[backtest]\nrefit_every = 8\nstep = 2\nmodels = ["persistence", "hotspot", '
        '"lightgbm", "ensemble"]\nk = [0.1, 0.25]\n'
    )
    out = tmp_path / "bt"
    assert main(["backtest", "--data", str(folder), "--config", str(cfg), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "wrote" in printed and "predictions.parquet" in printed
    # In a log (not a terminal): a line when fitting starts, then one per tenth of the
    # fits, counts only going up.
    import re

    steps = [tuple(map(int, m)) for m in re.findall(r"^\[(\d+)/(\d+)\]", printed, re.M)]
    done = [d for d, _ in steps]
    assert steps and len(steps) <= 12 and done == sorted(set(done)) and done[0] == 0
    assert steps[-1][0] == steps[-1][1] and "left)" in printed
    pred = pd.read_parquet(out / "predictions.parquet")
    assert set(pred["model"].astype(str)) == {"persistence", "hotspot", "lightgbm", "ensemble"}
    dates = np.sort(pred["as_of"].unique())
    assert len(dates) > 1 and (np.diff(dates) == np.timedelta64(14, "D")).all()  # step = 2
    assert pred.loc[pred["model"] == "lightgbm", "expected_events"].notna().all()
    # one count distribution per row: never fewer expected events than P(N >= 1)
    counted = pred[pred["expected_events"].notna()]
    assert {"lightgbm", "ensemble"} <= set(counted["model"].astype(str))
    assert (counted["score"] <= counted["expected_events"] + 1e-12).all()
    # and every grid's risk never falls as the window grows (horizon 1 to 2)
    wide = pred.pivot_table(
        index=["model", "grid_id", "as_of"], columns="horizon", values="score", observed=True
    ).dropna()
    assert len(wide) and (wide[2] >= wide[1] - 1e-12).all()
    # the calibrated interval of the same distribution, on every counted row
    assert counted[["events_q10", "events_q90"]].notna().all().all()
    assert (counted["events_q10"] <= counted["events_q90"]).all()
    assert (pred.loc[pred["expected_events"].isna(), "events_q90"]).isna().all()
    first = pred["as_of"] == pred["as_of"].min()
    assert not pred.loc[first, "interval_calibrated"].any()  # nothing before the first fold
    assert pred.loc[~first & pred["expected_events"].notna(), "interval_calibrated"].any()
    text = (out / "metrics.json").read_text()
    assert "NaN" not in text
    metrics = json.loads(text)
    assert {r["model"] for r in metrics["overall"]} == set(pred["model"].astype(str))
    assert {"precision_at_10pct", "pai_at_25pct", "ndcg_at_10pct"} <= set(metrics["overall"][0])
    assert metrics["by_grid_type"] and metrics["by_population_band"]
    forecast = {(r["model"], r["horizon"]): r for r in metrics["forecast"]["overall"]}
    assert set(forecast) == {(name, h) for name in ("lightgbm", "ensemble") for h in (1, 2)}
    for r in forecast.values():
        assert r["score_le_expected_share"] == 1.0
        assert 0 <= r["coverage_80"] <= 1 and r["crps"] >= 0
    assert metrics["forecast"]["monotone_share"]["ensemble"] == 1.0
    assert {b["model"] for b in metrics["forecast"]["by_band"]} == {"lightgbm", "ensemble"}
    md = (out / "metrics.md").read_text()
    assert "## Horizon 1" in md and "## Horizon 2" in md and "| ensemble |" in md
    assert "## Count forecasts" in md
    # the plan at capacity (none configured: 5 % of the grids) for a sweep of holds
    plan = metrics["plan"]
    assert plan["model"] == "ensemble" and plan["horizon"] == 2 and plan["step"] == 2
    assert plan["capacity"] == -(-pred["grid_id"].nunique() * 5 // 100)
    holds = {(r["hold_periods"], r["exit_ratio"]) for r in plan["sweep"]}
    assert {(0, 0.0), (4, 0.5), (8, 0.0)} <= holds
    assert sum(r["configured"] for r in plan["sweep"]) == 1
    assert all(0 <= r["recall"] <= 1 and 0 <= r["replaced"] <= 1 for r in plan["sweep"])
    assert "## The plan at capacity: recall against churn" in md
    # and its plot in the MLflow run
    import mlflow

    client = mlflow.MlflowClient()
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string="tags.`riskwarn.command` = 'backtest'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    plots = {a.path for a in client.list_artifacts(runs[0].info.run_id, "plots")}
    assert "plots/plan_recall_churn.png" in plots


def test_cli_bad_backtest_config_exits_2(city, tmp_path, capsys):
    folder, *_ = city
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[backtest]\nmodels = ["xgboost"]\n')
    assert main(["backtest", "--data", str(folder), "--config", str(cfg)]) == 2
    assert "xgboost" in capsys.readouterr().err


def _predictions():
    """Two dates × four grids, a model and two baselines, counts and labels by hand."""
    dates = pd.to_datetime(["2023-01-02", "2023-01-09"]).tz_localize("Asia/Shanghai")
    rows = []
    label = {("a", 0): 1, ("b", 0): 0, ("c", 0): 0, ("d", 0): 0}
    label |= {("a", 1): 0, ("b", 1): 1, ("c", 1): 1, ("d", 1): 0}
    scores = {
        "model": {"a": 0.9, "b": 0.6, "c": 0.2, "d": 0.1},
        "hotspot": {"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4},
        "persistence": {"a": 0.5, "b": 0.5, "c": 0.5, "d": 0.5},
    }
    for name, s in scores.items():
        for t, date in enumerate(dates):
            for g in "abcd":
                y = label[(g, t)]
                rows.append((name, g, date, 1, s[g], y, 2 * y, np.nan, np.nan, np.nan, np.nan))
    return pd.DataFrame(rows, columns=list(PREDICTION_COLUMNS))


def test_evaluate_by_hand():
    grids = pd.DataFrame(
        {
            "grid_id": list("abcd"),
            "grid_type": ["urban", "urban", "rural", "rural"],
            "population": [100, 200, 300, 400],
            "area_km2": [1.0, 1.0, 2.0, 4.0],
        }
    )
    metrics = evaluate(_predictions(), grids, k=(0.25, 0.5), n_population_bands=2)
    overall = {r["model"]: r for r in metrics["overall"]}
    model = overall["model"]
    # date 0: top-1 = a (positive); date 1: top-1 = a (negative) -> mean precision 0.5
    assert model["precision_at_25pct"] == pytest.approx(0.5)
    # date 0 top-2 {a,b}: recall 1; date 1 top-2 {a,b}: recall 1/2
    assert model["recall_at_50pct"] == pytest.approx(0.75)
    assert model["missed_at_50pct"] == pytest.approx(0.25)
    # PAI with areas, date 0: events share 1 / area share 2/8 = 4; date 1: 0.5 / 0.25 = 2
    assert model["pai_at_50pct"] == pytest.approx(3.0)
    # best baseline by AP: persistence (all tied: AP = 3/8) beats hotspot
    # (AP = (1/4 + 2/6 + 3/8) / 3 = 0.319); skill is against it on the same rows
    assert metrics["best_baseline"] == {"1": "persistence"}
    assert overall["hotspot"]["ap"] == pytest.approx((1 / 4 + 2 / 6 + 3 / 8) / 3)
    pred = _predictions()
    y = pred.loc[pred["model"] == "model", "label"].to_numpy(float)
    p = pred.loc[pred["model"] == "model", "score"].to_numpy(float)
    q = pred.loc[pred["model"] == "persistence", "score"].to_numpy(float)
    expected_skill = 1 - np.mean((p - y) ** 2) / np.mean((q - y) ** 2)
    assert model["brier_skill"] == pytest.approx(expected_skill)
    # fairness: the model's top-25% slots are both urban (grid a); urban escalations 2 of 3
    urban = next(
        r for r in metrics["by_grid_type"] if r["model"] == "model" and r["group"] == "urban"
    )
    assert urban["top_25pct_share"] == pytest.approx(1.0)
    assert urban["escalation_share"] == pytest.approx(2 / 3)
    assert urban["ranking_ratio"] == pytest.approx(1.5)
    bands = {r["group"] for r in metrics["by_population_band"]}
    assert bands == {"1: 100-200", "2: 300-400"}


def test_population_bands_cope_with_missing_and_ties():
    grids = pd.DataFrame({"population": [10, 10, 10, None, 50, 60]})
    bands = population_bands(grids, 3)
    assert bands.iloc[3] == "unknown"
    assert bands.drop(index=3).nunique() == 3
    assert (population_bands(pd.DataFrame({"x": [1]}), 3) == "unknown").all()


@pytest.mark.parametrize("freq, per_year", [("W-MON", 52), ("MS", 12), ("D", 365)])
def test_default_start_holds_out_a_year_of_dates(freq, per_year):
    from riskwarn.backtest.run import default_start

    dates = pd.date_range("2020-01-06", periods=3 * per_year, freq=freq, tz="Asia/Shanghai")
    start = default_start(dates, n_labelled=len(dates) - 1, horizon=1)
    assert dates.get_loc(start) == len(dates) - 1 - per_year
    # short data: at most half the labelled dates are held out
    short = dates[:per_year]
    assert dates.get_loc(default_start(short, per_year, 1)) == per_year // 2


def test_train_periods_keeps_only_the_latest_dates(city, monkeypatch):
    _, _, frame, graph = city
    Spy.calls = []
    monkeypatch.setattr(run_module, "make_model", lambda *a, **k: Spy())
    settings = BacktestConfig(refit_every=52, models=("hotspot",), train_periods=10)
    run_backtest(frame, graph=graph, horizon=1, settings=settings)
    _, n_rows, _ = Spy.calls[0]
    assert n_rows == 10 * 36


def test_parallel_fits_give_the_same_predictions_and_parts(city):
    _, _, frame, graph = city
    models = ("hist_rate", "lightgbm", "graph_hawkes", "ensemble")
    serial = run_backtest(
        frame,
        graph=graph,
        horizon=2,
        settings=BacktestConfig(refit_every=8, models=models, n_jobs=1),
    )
    steps = []
    parallel = run_backtest(
        frame,
        graph=graph,
        horizon=2,
        settings=BacktestConfig(refit_every=8, models=models, n_jobs=2),
        progress=lambda done, total, message: steps.append((done, total, message)),
    )
    pd.testing.assert_frame_equal(serial.predictions, parallel.predictions)
    assert serial.parts == parallel.parts
    total = len(serial.folds) * 2 * len(models)
    assert steps[-1] == (total, total, "done") and len(steps) == total + 1


def test_an_error_in_a_parallel_fit_stops_the_backtest_with_its_message(city):
    _, _, frame, graph = city
    quiet = frame.copy()
    for h in (1, 2):
        quiet[f"label_h{h}"] = quiet[f"label_h{h}"].where(quiet[f"label_h{h}"].isna(), 0)
        quiet[f"count_h{h}"] = quiet[f"count_h{h}"].where(quiet[f"count_h{h}"].isna(), 0)
    settings = BacktestConfig(refit_every=8, models=("hist_rate",), n_jobs=2)
    with pytest.raises(RiskwarnError, match="no escalation among the training rows"):
        run_backtest(quiet, graph=graph, horizon=2, settings=settings)


def test_a_fold_s_scores_ignore_every_row_after_its_test_dates(city):
    """Features and labels of every later row changed beyond recognition: the first
    fold's scores stay exactly the same (its models fit and score only what was
    known at its dates)."""
    from tests.conftest import wild_later_rows

    _, _, frame, graph = city
    settings = BacktestConfig(refit_every=4, models=("hotspot", "lightgbm"), n_jobs=1)
    base = run_backtest(frame, graph=graph, horizon=2, settings=settings)
    fold = base.folds[0]
    later = (frame["as_of"] > fold.test_as_of[-1]).to_numpy()
    wild = wild_later_rows(frame, later)
    for h in (1, 2):
        label, count = wild[f"label_h{h}"], wild[f"count_h{h}"]
        # labels flipped where observed, so that the split stays the same
        wild[f"label_h{h}"] = label.where(~later | label.isna(), 1 - label)
        wild[f"count_h{h}"] = count.where(~later | count.isna(), (1 - label) * 3)
    again = run_backtest(wild, graph=graph, horizon=2, settings=settings)
    keys = ["model", "horizon", "as_of", "grid_id"]

    def first_fold(result):
        p = result.predictions
        p = p[p["as_of"].isin(fold.test_as_of)].sort_values(keys).reset_index(drop=True)
        return p[[*keys, "score"]]

    pd.testing.assert_frame_equal(first_fold(again), first_fold(base), check_exact=True)
    assert len(first_fold(base)) > 0
    # ... while the later folds did see the change
    rest = base.predictions[~base.predictions["as_of"].isin(fold.test_as_of)]
    rest2 = again.predictions[~again.predictions["as_of"].isin(fold.test_as_of)]
    assert not np.array_equal(
        rest.sort_values(keys)["score"].to_numpy(), rest2.sort_values(keys)["score"].to_numpy()
    )


def test_the_fits_let_go_of_the_frame_and_the_assembly_of_the_pieces(city):
    # a city's feature frame is gigabytes: nothing the fits return may hold on to it
    _, _, frame, graph = city
    own = frame.copy()
    alive = weakref.ref(own)
    settings = BacktestConfig(refit_every=13, models=("hist_rate", "hotspot"))
    fitted = fit_backtest(own, graph=graph, horizon=2, settings=settings)
    del own
    gc.collect()
    assert alive() is None
    n_rows = sum(len(piece) for piece in fitted.pieces)
    result = finish_backtest(fitted)
    assert fitted.pieces == [] and len(result.predictions) == n_rows > 0
    again = run_backtest(frame, graph=graph, horizon=2, settings=settings)
    pd.testing.assert_frame_equal(result.predictions, again.predictions)


def test_the_ensemble_scores_the_same_when_it_reuses_the_models_fitted_beside_it(city):
    _, _, frame, graph = city

    def ensemble(models):
        settings = BacktestConfig(refit_every=13, models=models)
        pred = run_backtest(frame, graph=graph, horizon=1, settings=settings).predictions
        return pred[pred["model"] == "ensemble"].reset_index(drop=True)

    alone = ensemble(("ensemble",))
    beside = ensemble(("shrunk_rate", "hotspot", "lightgbm", "ensemble"))
    # the scores, and the counts: the count twin borrows the settings of the
    # ensemble's own LightGBM (as the scorer's does), not of one fitted beside it
    cols = ["grid_id", "as_of", "score", "expected_events", "count_rate", "count_dispersion"]
    pd.testing.assert_frame_equal(alone[cols], beside[cols])
