"""What the commands share: validation, the feature frame they are built from, outputs."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from riskwarn.backtest.run import BacktestResult
from riskwarn.config import Config
from riskwarn.data.quarantine import write_quarantine
from riskwarn.data.validate import Dataset, load_dataset
from riskwarn.features.build import (
    FeatureBuilder,
    data_vocabulary,
    prepare_features,
    read_feature_file,
)
from riskwarn.panel.graph import GridGraph, build_grid_graph
from riskwarn.panel.unobserved import Unobserved, gap_report_lines, recent_gaps, unobserved

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class ValidatedData:
    """A validated dataset, its grid graph, and where the quarantine was written.

    ``gaps``: :func:`unobserved` of the dataset (None without events), found once for
    the report and for ``score``'s warning.
    """

    dataset: Dataset
    graph: GridGraph
    quarantine_dir: Path | None
    gaps: Unobserved | None = None


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
    gaps = unobserved(dataset, config)
    dataset.report.warnings.extend(gap_report_lines(dataset, gaps))
    qdir = None
    if quarantine_dir is not None:
        write_quarantine(dataset, quarantine_dir)
        qdir = Path(quarantine_dir)
    return ValidatedData(dataset, graph, qdir, gaps)


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
    #: :func:`riskwarn.scoring.watchlist.tier_changes` (also in ``model_card.json``).
    changes: dict | None = None
    #: The model card written beside the files.
    card: dict | None = None
    #: Every grid's watchlist row, in frames (Spark's are read back from its partition).
    every_grid: Callable[[], Iterable[pd.DataFrame]] | None = None
    #: The grids table (ids, names, towns) of the scored data.
    grids: pd.DataFrame | None = None
    #: Rows written into the database sink, if one was given.
    sink_rows: int | None = None
    #: What the user should know about the data this watchlist was scored from (also
    #: in the model card, ``data_warnings``).
    warnings: list[str] = field(default_factory=list)


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


def backtest_cut(config):
    """``vocabulary_before`` for a backtest: its first fold's training cut.

    The categories that get a column are the frequent ones before the first
    forecast of the backtest, so that no fold has a column because of its future.
    """
    from riskwarn.backtest.run import first_training_cut

    return lambda periods: first_training_cut(periods, config.label.horizon, config.backtest)


def _refuse_all_quarantined(dataset, config: Config) -> None:
    """Stop before any work when the event tables had rows and none was accepted,
    saying why they were quarantined (the panel would only say there are no events)."""
    from riskwarn.data.contract import EVENT_TABLES
    from riskwarn.errors import DataContractError

    reports = {n: dataset.report.tables[n] for n in EVENT_TABLES if n in dataset.report.tables}
    read = sum(r.rows_read for r in reports.values())
    if config.data.start is not None or not read:
        return
    if any(r.rows_accepted for r in reports.values()):
        return
    why = [w for w in dataset.report.warnings if w.startswith("every row of table")]
    raise DataContractError(
        f"every one of the {read:,} event rows was quarantined: " + " ".join(why),
        file=str(dataset.folder),
        fix="correct the rows (`riskwarn validate --data DIR --quarantine DIR` writes them "
        "with their reasons), then run again.",
    )


def features_for(
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
    keep=None,
):
    """Validate, hash and build features; free the engine and event tables afterwards.

    ``models`` (catalogue names) are checked against the planned features before
    the features are built (:func:`check_models`). ``vocabulary_before`` is
    :func:`prepare_features`' (a backtest passes :func:`backtest_cut`); a
    ``collect`` dict receives, under ``"vocabulary"``, the one all the data gives; a
    ``keep`` dict receives the validated ``"interventions"`` (None without the table).
    """
    from riskwarn.data.read import data_hash, table_hashes

    validated = validate_data(data_dir, config, progress=status)
    _refuse_all_quarantined(validated.dataset, config)
    if keep is not None:
        keep["interventions"] = validated.dataset.interventions
        if as_of is not None:
            keep["recent_gaps"] = recent_gaps(validated.gaps, config, as_of)
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
