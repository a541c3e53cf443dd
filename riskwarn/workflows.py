"""Wiring of the rooms into the steps the CLI and notebooks run.

This module (with ``cli.py``) is the only place that joins rooms together, so each
room stays importable and testable on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from riskwarn.atomic import write_text_atomic
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
