"""Wiring of the rooms into the steps the CLI and notebooks run.

This module (with ``cli.py``) is the only place that joins rooms together, so each
room stays importable and testable on its own.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from riskwarn.atomic import write_atomic, write_text_atomic
from riskwarn.backtest.evaluate import evaluate
from riskwarn.backtest.run import BacktestResult, Progress, run_backtest
from riskwarn.backtest.tables import metrics_markdown
from riskwarn.config import Config
from riskwarn.data.quarantine import write_quarantine
from riskwarn.data.validate import Dataset, load_dataset
from riskwarn.features.build import FeatureBuilder, prepare_features
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

    The manifest is written beside it as ``<out stem>.manifest.json``.
    """
    validated = validate_data(data_dir, config, progress=progress)
    if progress:
        progress("loading tables into the engine")
    builder = prepare_features(validated.dataset, config, graph=validated.graph, engine=engine)
    if progress:
        progress(f"building {len(builder.manifest)} features")
    path = builder.write_parquet(out, as_of=as_of, labels=labels)
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
) -> BacktestOutput:
    """Validate ``data_dir``, build features and labels, backtest, write the results.

    Writes ``predictions.parquet``, ``metrics.json`` and ``metrics.md`` into ``out``
    (each atomically).
    """
    validated = validate_data(data_dir, config, progress=status)
    if status:
        status("building features and labels")
    builder = prepare_features(validated.dataset, config, graph=validated.graph)
    frame = builder.to_pandas(None, labels=True)
    grids = validated.dataset.grids
    graph = validated.graph.graph
    # The engine and the event tables are done with: free them before the fits,
    # which need the memory at city scale.
    builder.data.con.disconnect()
    del builder, validated
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
    return BacktestOutput(folder, predictions_path, metrics_path, markdown_path, metrics, result)
