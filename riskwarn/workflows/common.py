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
from riskwarn.errors import RiskwarnError
from riskwarn.features.build import (
    FeatureBuilder,
    data_vocabulary,
    prepare_features,
    read_feature_file,
)
from riskwarn.panel.graph import GridGraph, build_grid_graph

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from riskwarn.panel.periods import PeriodIndex


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
    dataset.report.warnings.extend(_gap_lines(dataset, gaps))
    qdir = None
    if quarantine_dir is not None:
        write_quarantine(dataset, quarantine_dir)
        qdir = Path(quarantine_dir)
    return ValidatedData(dataset, graph, qdir, gaps)


@dataclass(frozen=True)
class Unobserved:
    """The panel's periods, each event table's unobserved periods (sorted indices, the
    panel's own rule) and its events' naive local times."""

    periods: PeriodIndex
    periods_of: dict[str, np.ndarray]
    times: dict[str, pd.Series]


def unobserved(dataset, config: Config) -> Unobserved | None:
    """The periods each event table did not observe (None: the tables hold no event)."""
    from riskwarn.data.contract import TABLES
    from riskwarn.panel.periods import period_index_for, unobserved_periods

    times = {
        name: frame[TABLES[name].time_column]
        .dt.tz_convert(config.data.timezone)
        .dt.tz_localize(None)
        for name, frame in dataset.events.items()
    }
    if not any(len(t) for t in times.values()):
        return None
    periods = period_index_for(
        [f[TABLES[n].time_column] for n, f in dataset.events.items()], config
    )
    return Unobserved(
        periods, unobserved_periods(periods, times, config.data.missing_periods), times
    )


def _gap_lines(dataset, gaps: Unobserved | None) -> list[str]:
    """The validation report's lines on extraction gaps (the panel's own rule), and on
    gaps in one town only, which the panel's city-wide rule does not see."""
    from riskwarn.panel.periods import describe_gaps

    if gaps is None:
        return []
    return describe_gaps(gaps.periods, gaps.periods_of) + _town_gaps(dataset, gaps)


TOWN_GAP_EVENTS = 10.0


def _empty_runs(counts, observed) -> np.ndarray:
    """Periods in runs of two or more empty ``observed`` periods over which
    ``counts``' median expects at least :data:`TOWN_GAP_EVENTS` rows, shape (n,) of bool."""
    import numpy as np

    counts = np.asarray(counts)
    median = float(np.median(counts[observed])) if observed.any() else 0.0
    out = np.zeros(len(counts), dtype=bool)
    if median <= 0:
        return out
    empty = (counts == 0) & observed
    start = None
    for i, e in enumerate([*empty, False]):
        if e and start is None:
            start = i
        elif not e and start is not None:
            if i - start >= 2 and (i - start) * median >= TOWN_GAP_EVENTS:
                out[start:i] = True
            start = None
    return out


def _town_gaps(dataset, gaps: Unobserved) -> list[str]:
    """Periods in which a town has no row of a table although it is busy in that table.

    A district that moved to a new system mid-year exports nothing for its towns for a
    while: a run of two or more empty periods in a town that expects
    ``TOWN_GAP_EVENTS`` rows or more over the run (its median per period times the
    run's length; all empty by chance then has a probability under e^-10). A single
    empty period is not enough among a city's hundreds of towns × periods: on a
    simulated 2,000-grid city one busy town had an empty week around the New Year. The labels of
    those grids then read 0, not missing, so the user is told and shown the fix
    (``[data] missing_periods``, city-wide).
    """
    import numpy as np
    import pandas as pd

    grids = dataset.grids
    if "town" not in grids or grids["town"].nunique(dropna=True) < 2:
        return []
    town_of = grids.set_index("grid_id")["town"]
    periods = gaps.periods
    n = periods.n_complete
    lines = []
    for name, frame in dataset.events.items():
        index = periods.period_of(gaps.times[name])
        towns = frame["grid_id"].map(town_of)
        keep = (index >= 0) & (index < n) & towns.notna().to_numpy()
        counts = pd.crosstab(towns[keep], index[keep]).reindex(columns=range(n), fill_value=0)
        citywide = np.zeros(n, dtype=bool)
        citywide[gaps.periods_of.get(name, [])] = True
        for town, row in counts.iterrows():
            gap = _empty_runs(row.to_numpy(), ~citywide)
            if gap.any():
                days = [f"{periods.boundaries[i]:%Y-%m-%d}" for i in np.flatnonzero(gap)]
                lines.append(
                    f"{name} has no rows at all from town {town} in {len(days)} period(s) "
                    f"({', '.join(days[:4])}{' …' if len(days) > 4 else ''}) although the "
                    f"town has {np.median(row.to_numpy()):.0f} per period as a rule: an export "
                    "gap in part of the city? Its grids' labels there read 0 (the gap rule "
                    "is city-wide); if those periods were not exported, list them in "
                    "[data] missing_periods (labels over them are then missing everywhere)."
                )
    return lines


def recent_gaps(gaps: Unobserved | None, config: Config, as_of) -> list[dict]:
    """The extraction gaps among the periods just before ``as_of``, per event table.

    A feature counts an unobserved period's events as none (labels treat it as
    missing, features cannot: the grid's history is what it is), so a watchlist
    scored just after a gap understates the recent activity of the tables it hit.
    "Just before" is the longest decay half-life of ``[features]``.

    Returns
    -------
    list of dict
        ``{"table", "periods" (their start dates), "of" (periods looked at), "as_of"}``;
        :func:`gap_line` words one. ``gaps``: :func:`unobserved` of the scored data.
    """
    if gaps is None:
        return []
    import pandas as pd

    periods = gaps.periods
    try:
        p = periods.index_of(as_of)
    except RiskwarnError:
        return []
    span = max((*config.features.half_lives, 1))
    out = []
    for name, idx in gaps.periods_of.items():
        recent = idx[(idx >= p - span) & (idx < p)]
        if len(recent):
            out.append(
                {
                    "table": name,
                    "periods": [f"{periods.boundaries[i]:%Y-%m-%d}" for i in recent],
                    "of": span,
                    "as_of": f"{pd.Timestamp(as_of):%Y-%m-%d}",
                }
            )
    return out


def gap_line(gap: dict) -> str:
    """One of :func:`recent_gaps`' gaps in a sentence."""
    days = gap["periods"]
    shown = ", ".join(days[:4]) + (" …" if len(days) > 4 else "")
    return (
        f"{gap['table']} has no rows at all in {len(days)} of the {gap['of']} periods before "
        f"{gap['as_of']} ({shown}): an extraction gap, whose events the features count as "
        f"none, so this watchlist understates the recent {gap['table']} of every grid. Score "
        "again when the export covers those periods."
    )


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
