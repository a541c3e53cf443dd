"""``riskwarn backtest``: the rolling-origin backtest of the configured models, written out."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from riskwarn.atomic import write_atomic, write_text_atomic
from riskwarn.backtest.evaluate import evaluate, grid_areas, warning_notes
from riskwarn.backtest.run import Progress, finish_backtest, fit_backtest
from riskwarn.backtest.tables import metrics_markdown
from riskwarn.backtest.treatment import treated_rows, treatment_metrics
from riskwarn.config import Config
from riskwarn.plan.backtest import backtest_plan, recall_churn_plot
from riskwarn.workflows.common import (
    BacktestOutput,
    backtest_cut,
    features_for,
    json_ready,
)
from riskwarn.workflows.effect import backtest_effect


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
    kept: dict = {}
    frame, manifest, grids, grid_graph, hashes, dhash = features_for(
        data_dir,
        config,
        status=status,
        models=config.backtest.models,
        note=note,
        vocabulary_before=backtest_cut(config),
        keep=kept,
    )
    graph = grid_graph.graph
    effect = backtest_effect(data_dir, frame, kept.get("interventions"), grids, config)
    fitted = fit_backtest(
        frame,
        graph=graph,
        horizon=config.label.horizon,
        settings=config.backtest,
        progress=steps,
    )
    del frame  # the feature frame (gigabytes for a city) is not needed for the rows
    result = finish_backtest(fitted, config.forecast)
    del fitted
    if status:
        status("computing metrics")
    keep = [c for c in ("grid_id", "grid_type", "population", "area_km2") if c in grids]
    metrics = evaluate(
        result.predictions,
        grids=grids[keep],
        k=config.backtest.k,
        n_population_bands=config.backtest.population_bands,
        fairness_ratio=config.backtest.fairness_ratio,
        forecast=config.forecast,
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
    # The model train uses (else the first run), at horizon 1 and the label horizon.
    watched = config.train.model if config.train.model in result.models else result.models[0]
    metrics["notes"] += warning_notes(metrics["overall"], watched, {1, int(config.label.horizon)})
    if kept.get("interventions") is not None:
        treated = treated_rows(result.predictions, kept["interventions"], config.data.freq)
        metrics["by_treatment"] = treatment_metrics(
            result.predictions, treated, k=config.backtest.k, forecast=config.forecast
        )
    if effect is not None:
        metrics["effect"] = effect
    if status:
        status("planning at capacity (stability sweep)")
    plan = backtest_plan(result.predictions, grids, config)
    if plan is not None:
        metrics["plan"] = plan
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
            figures=[("plots/plan_recall_churn.png", recall_churn_plot(plan))] if plan else [],
        ).run_id
    return BacktestOutput(folder, predictions_path, metrics_path, markdown_path, metrics, result)
