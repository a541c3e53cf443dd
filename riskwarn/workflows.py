"""Wiring of the rooms into the steps the CLI and notebooks run.

This module (with ``cli.py``) is the only place that joins rooms together, so each
room stays importable and testable on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from riskwarn.config import Config
from riskwarn.data.quarantine import write_quarantine
from riskwarn.data.validate import Dataset, load_dataset
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
