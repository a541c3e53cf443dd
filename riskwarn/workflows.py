"""Wiring of the rooms into the steps the CLI and notebooks run.

This module (with ``cli.py``) is the only place that joins rooms together, so each
room stays importable and testable on its own.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from riskwarn.atomic import write_atomic, write_text_atomic
from riskwarn.backtest.evaluate import backtest_summary, evaluate, grid_areas
from riskwarn.backtest.run import BacktestResult, Progress, run_backtest
from riskwarn.backtest.tables import metrics_markdown
from riskwarn.config import Config
from riskwarn.data.quarantine import write_quarantine
from riskwarn.data.validate import Dataset, load_dataset
from riskwarn.errors import RiskwarnError
from riskwarn.features.build import (
    FeatureBuilder,
    data_vocabulary,
    prepare_features,
    read_feature_file,
)
from riskwarn.panel.graph import GridGraph, build_grid_graph


@dataclass
class ValidatedData:
    """A validated dataset, its grid graph, and where the quarantine was written."""

    dataset: Dataset
    graph: GridGraph
    quarantine_dir: Path | None


def validate_data(
    data_dir: str | Path,
    config: Config,
    *,
    quarantine_dir: str | Path | None = None,
    drop_pii: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ValidatedData:
    """Read and validate ``data_dir``, build its graph, write the quarantine if asked."""
    dataset = load_dataset(data_dir, config, drop_pii=drop_pii, progress=progress)
    graph = build_grid_graph(dataset.grids, dataset.adjacency, k=config.graph.k)
    dataset.report.warnings.extend(graph.warnings)
    qdir = None
    if quarantine_dir is not None:
        write_quarantine(dataset, quarantine_dir)
        qdir = Path(quarantine_dir)
    return ValidatedData(dataset, graph, qdir)


def build_feature_file(
    data_dir: str | Path,
    config: Config,
    out: str | Path,
    *,
    labels: bool = False,
    as_of: str | None = None,
    engine: str = "duckdb",
    progress: Callable[[str], None] | None = None,
) -> tuple[Path, FeatureBuilder, ValidatedData]:
    """Validate ``data_dir``, build its features and write them to ``out`` (Parquet).

    The manifest is written beside it as ``<out stem>.manifest.json``. The returned
    builder's engine is closed: its plan, manifest and periods remain.
    """
    validated = validate_data(data_dir, config, progress=progress)
    if progress:
        progress("loading tables into the engine")
    builder = prepare_features(validated.dataset, config, graph=validated.graph, engine=engine)
    if progress:
        progress(f"building {len(builder.manifest)} features")
    try:
        path = builder.write_parquet(out, as_of=as_of, labels=labels)
    finally:
        # Frees DuckDB, or Spark's staged stages (gigabytes at province scale).
        builder.close()
    manifest_path = Path(out).with_suffix("").with_suffix(".manifest.json")
    write_text_atomic(manifest_path, builder.manifest.to_json() + "\n")
    return path, builder, validated


@dataclass
class BacktestOutput:
    """Where a backtest wrote its files, and what it measured."""

    folder: Path
    predictions_path: Path
    metrics_path: Path
    markdown_path: Path
    metrics: dict
    result: BacktestResult


def json_ready(value):
    """``value`` with NaN and infinities as None: JSON has no NaN, an undefined metric is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value


def run_backtest_files(
    data_dir: str | Path,
    config: Config,
    out: str | Path,
    *,
    status: Callable[[str], None] | None = None,
    steps: Progress | None = None,
    track: bool = True,
    tracking_uri: str | None = None,
    note: Callable[[str], None] | None = None,
) -> BacktestOutput:
    """Validate ``data_dir``, build features and labels, backtest, write the results.

    Writes ``predictions.parquet``, ``metrics.json`` and ``metrics.md`` into ``out``
    (each atomically), and logs an MLflow run unless ``track`` is False. ``note``
    hears at once of each configured model the data cannot support (also in
    ``metrics.json`` and ``metrics.md``).
    """
    frame, manifest, grids, grid_graph, hashes, dhash = _features_for(
        data_dir,
        config,
        status=status,
        models=config.backtest.models,
        note=note,
        vocabulary_before=_backtest_cut(config),
    )
    graph = grid_graph.graph
    result = run_backtest(
        frame,
        graph=graph,
        horizon=config.label.horizon,
        settings=config.backtest,
        progress=steps,
    )
    del frame
    if status:
        status("computing metrics")
    keep = [c for c in ("grid_id", "grid_type", "population", "area_km2") if c in grids]
    metrics = evaluate(
        result.predictions,
        grids=grids[keep],
        k=config.backtest.k,
        n_population_bands=config.backtest.population_bands,
    )
    tests = [t for fold in result.folds for t in fold.test_as_of]
    metrics["settings"] = {
        "first_as_of": f"{tests[0]:%Y-%m-%d}",
        "last_as_of": f"{tests[-1]:%Y-%m-%d}",
        "n_as_of": len(tests),
        "n_folds": len(result.folds),
        "n_grids": int(result.predictions["grid_id"].nunique()),
        "step": config.backtest.step,
        "refit_every": config.backtest.refit_every,
        "seed": config.backtest.seed,
        "models": list(result.models),
        "horizons": list(result.horizons),
        "config": config.source or "built-in defaults",
    }
    metrics["notes"] = list(result.notes)
    metrics["parts"] = {
        name: {str(h): values for h, values in by_h.items()} for name, by_h in result.parts.items()
    }
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    predictions_path = folder / "predictions.parquet"
    write_atomic(predictions_path, lambda p: result.predictions.to_parquet(p, index=False))
    metrics_path = write_text_atomic(
        folder / "metrics.json", json.dumps(json_ready(metrics), indent=2) + "\n"
    )
    markdown_path = write_text_atomic(folder / "metrics.md", metrics_markdown(metrics) + "\n")
    if track:
        from riskwarn.tracking.runs import log_backtest_run
        from riskwarn.tracking.store import connect

        if status:
            status("logging the run")
        connect(tracking_uri)
        metrics["run_id"] = log_backtest_run(
            config=config,
            hashes=hashes,
            data_hash=dhash,
            manifest=manifest,
            metrics=json_ready(metrics),
            predictions=result.predictions,
            area=grid_areas(grids),
        ).run_id
    return BacktestOutput(folder, predictions_path, metrics_path, markdown_path, metrics, result)


# -- tracking, training, scoring -------------------------------------------------------


@dataclass
class TrainOutput:
    """What ``riskwarn train`` did: the run, the backtest evidence, the registry decision."""

    tracking_uri: str
    run: object
    horizon: int
    metric: str
    value: float
    baseline: str | None
    baseline_value: float | None
    metrics: dict
    decision: object | None


@dataclass
class ScoreOutput:
    """What ``riskwarn score`` wrote, and from which model."""

    paths: list[Path]
    watchlist: object
    model_name: str
    model_version: str
    run_id: str
    #: Grids scored (Spark's ``watchlist`` holds only the tiered ones).
    n_grids: int


def check_models(
    names, builder: FeatureBuilder, *, required: str | None = None, note=None
) -> list[str]:
    """The models of ``names`` that can run on the planned features, before any work.

    Each model that cannot run is reported through ``note`` with its one-line
    reason (and again in the backtest's notes). Raises a ``RiskwarnError`` naming
    the fix when none can run, or when ``required`` (the ``[train] model``) cannot.
    """
    from riskwarn.models.catalogue import runnable_models, skip_notes

    runnable, skipped = runnable_models(
        names, builder.manifest.names, builder.plan.has_graph, required=required
    )
    if note:
        for line in skip_notes(skipped):
            note(line)
    return runnable


def _backtest_cut(config):
    """``vocabulary_before`` for a backtest: its first fold's training cut.

    The categories that get a column are the frequent ones before the first
    forecast of the backtest, so that no fold has a column because of its future.
    """
    from riskwarn.backtest.run import first_training_cut

    return lambda periods: first_training_cut(periods, config.label.horizon, config.backtest)


def _features_for(
    data_dir,
    config,
    *,
    status=None,
    as_of=None,
    vocabulary=None,
    vocabulary_before=None,
    models=None,
    required=None,
    note=None,
    collect=None,
):
    """Validate, hash and build features; free the engine and event tables afterwards.

    ``models`` (catalogue names) are checked against the planned features before
    the features are built (:func:`check_models`). ``vocabulary_before`` is
    :func:`prepare_features`' (a backtest passes :func:`_backtest_cut`); a
    ``collect`` dict receives, under ``"vocabulary"``, the one all the data gives.
    """
    from riskwarn.data.read import data_hash, table_hashes

    validated = validate_data(data_dir, config, progress=status)
    hashes = table_hashes(data_dir)
    builder = prepare_features(
        validated.dataset,
        config,
        graph=validated.graph,
        vocabulary=vocabulary,
        vocabulary_before=vocabulary_before,
    )
    try:
        if models is not None:
            check_models(models, builder, required=required, note=note)
        if collect is not None:
            collect["vocabulary"] = data_vocabulary(builder.data, config)
    except BaseException:
        builder.close()
        raise
    if status:
        status("building features")
    if as_of is not None:
        try:
            frame = builder.to_pandas(as_of)
        finally:
            builder.close()
    else:
        # The whole panel streams to a Parquet file and is read back once the engine is
        # closed: fetching it straight from the engine holds the engine's tables,
        # Arrow's copy and pandas' at once (11 GB at 20,000 grids x 5 years).
        with tempfile.TemporaryDirectory(prefix="riskwarn-features-") as tmp:
            try:
                path = builder.write_parquet(Path(tmp) / "features.parquet", labels=True)
            finally:
                builder.close()
            frame = read_feature_file(path, config.data.timezone)
    return (
        frame,
        builder.manifest,
        validated.dataset.grids,
        validated.graph,
        hashes,
        data_hash(hashes),
    )


def _province_frames(data_dir, config: Config, *, status=None):
    """Features on Spark; the backtest's grids and the weighted training sample.

    Returns the backtest frame (every row of ``[train] backtest_grids`` random
    grids), the training sample ``(frame, weights, facts)``, and what
    ``_features_for`` returns besides the frame.
    """
    from riskwarn.data.read import data_hash, table_hashes
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

    if engine == "spark" and config.train.model != "lightgbm":
        raise RiskwarnError(
            f"train --engine spark fits a weighted training sample, which the lightgbm model "
            f'takes and {config.train.model!r} does not: set [train] model = "lightgbm" (the '
            "graph models need every period of every grid; the spatial and graph features "
            "carry the graph into LightGBM)."
        )
    uri = connect(tracking_uri)
    sample = None
    collected: dict = {}
    if engine == "spark":
        frame, sample, manifest, grids, grid_graph, hashes, dhash = _province_frames(
            data_dir, config, status=status
        )
    else:
        frame, manifest, grids, grid_graph, hashes, dhash = _features_for(
            data_dir,
            config,
            status=status,
            models=[config.train.model],
            required=config.train.model,
            vocabulary_before=_backtest_cut(config),
            collect=collected,
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
    result = run_backtest(frame, graph=graph, horizon=horizon, settings=settings, progress=steps)
    if name not in result.models:
        raise RiskwarnError(f"[train] model {name} cannot run on this data: {result.notes}")
    metrics = evaluate(
        result.predictions,
        grids=grids,
        k=config.backtest.k,
        n_population_bands=config.backtest.population_bands,
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
            frame, manifest, grids, grid_graph, hashes, dhash = _features_for(
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
    ).fit(
        labelled,
        labelled[f"label_h{horizon}"].to_numpy(dtype=float),
        count=labelled[f"count_h{horizon}"].to_numpy(dtype=float),
        sample_weight=weight,
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


def promote_version(version: str, config: Config, *, tracking_uri: str | None = None):
    """Move the ``champion`` alias of ``[train] registered_name`` to ``version``."""
    from riskwarn.tracking.registry import promote
    from riskwarn.tracking.store import connect

    connect(tracking_uri)
    return promote(config.train.registered_name, version)


def score_files(
    data_dir: str | Path,
    model_uri: str,
    as_of: str,
    out: str | Path,
    *,
    tracking_uri: str | None = None,
    allow_pickle: bool = False,
    status: Callable[[str], None] | None = None,
    engine: str = "duckdb",
) -> ScoreOutput:
    """Score every grid at ``as_of`` with a registered model; write the watchlist files.

    ``engine="spark"`` builds the features on Spark, scores them with the model as a
    Spark UDF, writes every grid to ``out/watchlist_all/`` (Parquet partitioned by
    as-of date) and the tiered grids to the usual files.
    """
    from riskwarn.atomic import FolderBusy, folder_lock

    try:
        with folder_lock(out):
            return _score_locked(
                data_dir,
                model_uri,
                as_of,
                out,
                tracking_uri=tracking_uri,
                allow_pickle=allow_pickle,
                status=status,
                engine=engine,
            )
    except FolderBusy:
        raise RiskwarnError(
            f"another riskwarn score is writing into {out}; let it finish (its watchlist "
            "will be complete), then score again, or score into another --out."
        ) from None


def _score_locked(
    data_dir, model_uri, as_of, out, *, tracking_uri, allow_pickle, status, engine
) -> ScoreOutput:
    from riskwarn.scoring.files import previous_watchlist, write_watchlist
    from riskwarn.scoring.watchlist import build_watchlist
    from riskwarn.tracking.registry import load_registered
    from riskwarn.tracking.store import connect

    connect(tracking_uri)
    if status:
        status(f"loading {model_uri}")
    if engine == "spark":
        # The UDF loads the files checked here, kept until the scoring is done.
        with tempfile.TemporaryDirectory(prefix="riskwarn-model-") as keep:
            model = load_registered(model_uri, allow_pickle=allow_pickle, keep_in=keep)
            return _score_on_spark(data_dir, model, as_of, out, status=status)
    model = load_registered(model_uri, allow_pickle=allow_pickle)
    bundle = model.bundle
    config = bundle.config
    if engine != "duckdb":
        raise RiskwarnError(f"engine {engine!r}: use duckdb or spark.")
    frame, _, grids, _, _, dhash = _features_for(
        data_dir, config, status=status, as_of=as_of, vocabulary=bundle.manifest.vocabulary
    )
    if status:
        status("scoring")
    scored = bundle.scorer.score(frame)
    stamp = pd.Timestamp(scored["as_of"].iloc[0])
    provenance = _provenance(model, dhash)
    watchlist = build_watchlist(
        scored, **_watchlist_settings(bundle, provenance), previous=previous_watchlist(out, stamp)
    )
    card = _card(bundle, provenance, stamp)
    paths = write_watchlist(watchlist, out, grids, card=card)
    return ScoreOutput(paths, watchlist, model.name, model.version, model.run_id, len(watchlist))


def _watchlist_settings(bundle, provenance) -> dict:
    """The model's watchlist settings: horizon, manifest, tiers, suppression, provenance."""
    config = bundle.config
    return {
        "horizon": bundle.horizon,
        "manifest": bundle.manifest,
        "tiers": config.watchlist.tiers,
        "suppress_below": config.watchlist.suppress_below,
        "provenance": provenance,
    }


def _card(bundle, provenance, stamp) -> dict:
    """The model card written beside a watchlist."""
    from riskwarn.scoring.card import model_card

    return model_card(
        bundle_info=bundle.info,
        config=bundle.config,
        horizon=bundle.horizon,
        provenance=provenance,
        as_of=stamp,
    )


def _provenance(model, dhash: str):
    from datetime import UTC, datetime

    from riskwarn.scoring.watchlist import Provenance

    return Provenance(
        model_name=model.name,
        model_version=model.version,
        run_id=model.run_id,
        data_hash=dhash,
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def _score_on_spark(data_dir, model, as_of: str, out, *, status=None) -> ScoreOutput:
    """``score_files`` on Spark: features, the model as a UDF, a partitioned watchlist."""
    from pyspark.sql import functions as F

    from riskwarn.data.read import data_hash, table_hashes
    from riskwarn.scoring.files import HISTORY_COLUMNS, previous_watchlist, write_watchlist
    from riskwarn.scoring.spark import (
        explain_on_spark,
        rank_on_spark,
        tiered_count,
        to_local_rows,
        write_partition,
    )
    from riskwarn.tracking.spark_udf import score_on_spark

    bundle = model.bundle
    config = bundle.config
    zone = config.data.timezone
    validated = validate_data(data_dir, config, progress=status)
    dhash = data_hash(table_hashes(data_dir))
    if status:
        status("building features on Spark")
    builder = prepare_features(
        validated.dataset,
        config,
        graph=validated.graph,
        vocabulary=bundle.manifest.vocabulary,
        engine="spark",
    )
    try:
        features = builder.to_spark(as_of)
        spark = features.sparkSession
        stamp = builder.periods.boundaries[builder.periods.index_of(as_of)].tz_localize(zone)
        day = f"{stamp:%Y-%m-%d}"
        if status:
            status("scoring on Spark")
        # Scores are computed once, here; ranking and explaining read the checkpoint.
        scored = score_on_spark(features, model)
        n = scored.count()
        if n == 0:
            raise RiskwarnError("there are no grids to score at this as-of date.")
        provenance = _provenance(model, dhash)
        # The previous ranks come from history/, as on the embedded path: every grid's
        # rank and tier, whichever engine scored that date.
        previous = previous_watchlist(out, stamp)
        if previous is not None:
            rows = [
                (str(g), int(r), None if pd.isna(t) else int(t))
                for g, r, t in zip(
                    previous["grid_id"], previous["rank"], previous["tier"], strict=True
                )
            ]
            previous = spark.createDataFrame(
                rows, "grid_id string, prev_rank int, prev_tier tinyint"
            )
        ranked = rank_on_spark(scored, previous)
        settings = _watchlist_settings(bundle, provenance)
        watchlist = explain_on_spark(ranked, n, **settings).localCheckpoint(eager=True)
        if status:
            status("writing the partitioned watchlist")
        root = write_partition(watchlist, out, day, zone)
        top_n = max(1, tiered_count(n, config.watchlist.tiers))
        top = to_local_rows(watchlist.filter(F.col("rank") <= top_n).toPandas(), zone)
        every = watchlist.select(*HISTORY_COLUMNS).toPandas()
        every["as_of"] = pd.to_datetime(every["as_of"]).dt.tz_localize(zone)
    finally:
        builder.close()
    card = _card(bundle, provenance, stamp)
    paths = write_watchlist(top, out, validated.dataset.grids, card=card, history=every)
    return ScoreOutput([*paths, root], top, model.name, model.version, model.run_id, n)
