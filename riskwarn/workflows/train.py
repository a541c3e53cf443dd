"""``riskwarn train``: backtest, fit and log the scorer, register it, promote it if it wins."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from riskwarn.backtest.evaluate import backtest_summary, evaluate, grid_areas
from riskwarn.backtest.intervals import calibration_rows
from riskwarn.backtest.run import Progress, run_backtest
from riskwarn.config import Config
from riskwarn.errors import RiskwarnError
from riskwarn.features.build import (
    prepare_features,
)
from riskwarn.workflows.common import (
    TrainOutput,
    backtest_cut,
    features_for,
    json_ready,
    validate_data,
)


def _embedded_frames(data_dir, config: Config, *, status=None, collect=None):
    """Every labelled row in embedded DuckDB; no sample (the model fits them all).

    The backtest's columns are the categories known before its first forecast; the
    vocabulary of all the data goes into ``collect`` for the model that is fitted.
    """
    frame, manifest, grids, grid_graph, hashes, dhash = features_for(
        data_dir,
        config,
        status=status,
        models=[config.train.model],
        required=config.train.model,
        vocabulary_before=backtest_cut(config),
        collect=collect,
    )
    return frame, None, manifest, grids, grid_graph, hashes, dhash


def _province_frames(data_dir, config: Config, *, status=None, collect=None):
    """Features on Spark; the backtest's grids and the weighted training sample.

    Returns the backtest frame (every row of ``[train] backtest_grids`` random
    grids), the training sample ``(frame, weights, facts)``, and what
    ``features_for`` returns besides the frame.
    """
    from riskwarn.data.read import data_hash, table_hashes

    if config.train.model != "lightgbm":
        raise RiskwarnError(
            f"train --engine spark fits a weighted training sample, which the lightgbm model "
            f'takes and {config.train.model!r} does not: set [train] model = "lightgbm" (the '
            "graph models need every period of every grid; the spatial and graph features "
            "carry the graph into LightGBM)."
        )
    from riskwarn.features.sample import (
        count_labelled,
        grid_sample,
        sample_rates,
        weighted_sample,
    )
    from riskwarn.panel.tables import put_table

    validated = validate_data(data_dir, config, progress=status)
    hashes = table_hashes(data_dir)
    if status:
        status("building features on Spark")
    builder = prepare_features(validated.dataset, config, graph=validated.graph, engine="spark")
    con, seed = builder.data.con, config.backtest.seed
    label = f"label_h{config.label.horizon}"
    try:
        table = builder.staged(labels=True)
        n_rows, n_positive = count_labelled(con, table, label)
        if n_positive == 0:
            raise RiskwarnError(
                f"no labelled row has an escalation ({label}): there is nothing to train on."
            )
        rates = sample_rates(n_rows, n_positive, config.train.sample_rows)
        with tempfile.TemporaryDirectory(prefix="riskwarn-sample-") as tmp:
            if status:
                status(f"bringing a training sample of about {rates.expected_rows:,} rows over")
            train = builder.fetch(weighted_sample(table, label, rates, seed), tmp)
            weight = train.pop("sample_weight").to_numpy(dtype=float)
            picked = grid_sample(con, table, config.train.backtest_grids, seed)
            chosen = put_table(con, "rw_backtest_grids", pd.DataFrame({"grid_id": picked}))
            if status:
                status(f"bringing the backtest's {len(picked):,} grids over")
            frame = builder.fetch(table.semi_join(chosen, "grid_id"), tmp)
    finally:
        builder.close()
    facts = {
        "labelled_rows": n_rows,
        "escalation_rows": n_positive,
        "rows": len(train),
        "rate_escalation": rates.rate_positive,
        "rate_other": rates.rate_negative,
        "backtest_grids": len(picked),
        "grids": int(validated.dataset.grids["grid_id"].nunique()),
        "seed": seed,
    }
    grids = validated.dataset.grids
    grids = grids[grids["grid_id"].astype(str).isin(set(picked))].reset_index(drop=True)
    return (
        frame,
        (train, weight, facts),
        builder.manifest,
        grids,
        validated.graph,
        hashes,
        data_hash(hashes),
    )


def train_model_files(
    data_dir: str | Path,
    config: Config,
    *,
    register: bool = False,
    tracking_uri: str | None = None,
    status: Callable[[str], None] | None = None,
    steps: Progress | None = None,
    engine: str = "duckdb",
) -> TrainOutput:
    """Backtest, train on all labelled rows, log the model, and register it if asked.

    The backtest (the ``[train] model`` and the baselines, ``[backtest]`` settings)
    is the evidence for promotion: the ``[train] metric`` at the label horizon.

    ``engine="spark"`` is the path for a province: the features are built on Spark,
    the backtest runs on ``[train] backtest_grids`` whole grids drawn at random, and
    the model is fitted on a training sample of ``[train] sample_rows`` rows
    (negatives down-sampled, weighted by their inverse rate), which only the
    ``lightgbm`` model takes.
    """
    import dataclasses

    from riskwarn.models.catalogue import BASELINE_NAMES, available_models
    from riskwarn.models.frames import feature_columns, select_rows
    from riskwarn.models.scorer import EscalationScorer
    from riskwarn.tracking.bundle import ScorerBundle
    from riskwarn.tracking.registry import register_and_decide
    from riskwarn.tracking.runs import example_rows, log_train_run
    from riskwarn.tracking.store import connect

    if engine not in TRAINING_FRAMES:
        raise RiskwarnError(f"engine {engine!r}: use {' or '.join(TRAINING_FRAMES)}.")
    uri = connect(tracking_uri)
    collected: dict = {}
    frame, sample, manifest, grids, grid_graph, hashes, dhash = TRAINING_FRAMES[engine](
        data_dir, config, status=status, collect=collected
    )
    graph = grid_graph.graph
    horizon = config.label.horizon
    name, metric = config.train.model, config.train.metric
    # The baselines the data supports are the evidence the model must beat.
    baselines, _ = available_models(BASELINE_NAMES, feature_columns(frame), graph is not None)
    models = tuple(dict.fromkeys([*baselines, name]))
    settings = dataclasses.replace(config.backtest, models=models)
    if status:
        status("backtesting")
    result = run_backtest(
        frame,
        graph=graph,
        horizon=horizon,
        settings=settings,
        forecast=config.forecast,
        progress=steps,
    )
    if name not in result.models:
        raise RiskwarnError(f"[train] model {name} cannot run on this data: {result.notes}")
    metrics = evaluate(
        result.predictions,
        grids=grids,
        k=config.backtest.k,
        n_population_bands=config.backtest.population_bands,
        fairness_ratio=config.backtest.fairness_ratio,
        forecast=config.forecast,
    )
    by = {(r["model"], r["horizon"]): r for r in metrics["overall"]}
    value = float(by[(name, horizon)][metric])
    best = metrics["best_baseline"].get(str(horizon))
    baseline_value = float(by[(best, horizon)][metric]) if best else None
    weight = None
    if sample is not None:
        labelled, weight, sampling = sample
        if status:
            status(f"training {name} on a weighted sample of {len(labelled):,} rows")
    else:
        # The backtest's columns are the categories known before its first forecast;
        # the model that scores from now on gets those of all the data.
        full = collected["vocabulary"]
        if full != manifest.vocabulary:
            if status:
                status("building features with the categories of all the data")
            frame, manifest, grids, grid_graph, hashes, dhash = features_for(
                data_dir, config, status=status, vocabulary=full
            )
        if status:
            status(f"training {name} on every labelled row")
        labelled = select_rows(frame, frame[f"label_h{horizon}"].notna().to_numpy())
    scorer = EscalationScorer(
        graph=graph,
        horizon=horizon,
        model=name,
        seed=config.backtest.seed,
        n_reasons=config.watchlist.reasons,
        quantiles=config.forecast.quantiles,
        n_bands=config.forecast.bands,
    ).fit(
        labelled,
        labelled[f"label_h{horizon}"].to_numpy(dtype=float),
        count=labelled[f"count_h{horizon}"].to_numpy(dtype=float),
        sample_weight=weight,
        calibration=calibration_rows(
            result.predictions, name, horizon, config.forecast.calibration_periods
        ),
        curve_labels={h: labelled[f"label_h{h}"].to_numpy(dtype=float) for h in range(1, horizon)},
    )
    # NaN (no escalation in the test span, or a grid type without one) is null in JSON
    trained = json_ready(
        {
            "first_as_of": f"{labelled['as_of'].min():%Y-%m-%d}",
            "last_as_of": f"{labelled['as_of'].max():%Y-%m-%d}",
            "n_rows": len(labelled),
            "n_grids": int(labelled["grid_id"].nunique()),
            "data_sha256": dhash,
            "backtest": {
                "metric": metric,
                "value": value,
                "best_baseline": best,
                **backtest_summary(metrics, name, horizon, best),
            },
        }
    )
    if sample is not None:
        # The model stands for every labelled row of every grid; the sample is how.
        trained["n_rows"] = sampling["labelled_rows"]
        trained["n_grids"] = sampling["grids"]
        trained["sample"] = sampling
    bundle = ScorerBundle(scorer=scorer, manifest=manifest, config=config, info=trained)
    last = frame[frame["as_of"] == frame["as_of"].max()]
    key = f"promotion.{metric}_h{horizon}"
    headline = {key: value}
    if baseline_value is not None:
        headline[f"promotion.best_baseline.{metric}_h{horizon}"] = baseline_value
    if status:
        status("logging the run and the model")
    h_rows = result.predictions[result.predictions["horizon"] == horizon]
    run = log_train_run(
        config=config,
        hashes=hashes,
        data_hash=dhash,
        bundle=bundle,
        metrics=json_ready(metrics),
        predictions=h_rows,
        input_example=example_rows(last, config.data.timezone),
        headline=headline,
        area=grid_areas(grids),
    )
    decision = None
    if register:
        decision = register_and_decide(
            model_uri=run.model_uri,
            name=config.train.registered_name,
            run_id=run.run_id,
            metric_key=key,
            metric_label=metric,
            value=value,
            baseline_value=baseline_value,
            baseline_name=best,
        )
    return TrainOutput(uri, run, horizon, metric, value, best, baseline_value, metrics, decision)


#: How each engine builds what train fits: ``(data_dir, config, *, status, collect)``
#: to the frame, the weighted sample (or None) and the rest of ``features_for``'s
#: output. The one place the engine is chosen.
TRAINING_FRAMES = {"duckdb": _embedded_frames, "spark": _province_frames}
