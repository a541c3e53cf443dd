"""The ``riskwarn`` command line (typer + rich).

Exit codes: 0 success, 2 bad input (one-paragraph message, never a traceback),
1 an internal error (a short message; RISKWARN_DEBUG=1 shows the traceback).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.exceptions import TyperException

from riskwarn import __version__
from riskwarn.config import load_config, with_drop_pii
from riskwarn.errors import RiskwarnError

app = typer.Typer(
    name="riskwarn",
    help="Area-level social-risk early warning: grids, never persons.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Rich assumes 80 columns when output is not a terminal (CI logs, pipes): too
# narrow for the report tables, so give files and logs a wider page.
console = Console(width=None if sys.stdout.isatty() else 120)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)

DataOpt = Annotated[
    Path, typer.Option("--data", help="Dataset folder (CSV, Parquet or .xlsx tables).")
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="Experiment TOML file (default: built-in).")
]
DropPiiOpt = Annotated[
    bool,
    typer.Option(
        "--drop-pii",
        help="Drop columns that identify people (never read) instead of stopping; as "
        "\\[data] drop_pii = true in the config.",
    ),
]


def _render_validation(validated) -> None:
    report = validated.dataset.report
    table = Table(title=f"Validation of {report.folder}", show_lines=False)
    for col in ("table", "file", "read", "accepted", "quarantined", "top reasons"):
        table.add_column(
            col, justify="right" if col in ("read", "accepted", "quarantined") else "left"
        )
    for t in report.tables.values():
        reasons = "\n".join(f"{n} × {r}" for r, n in t.top_reasons(3)) or "-"
        table.add_row(
            t.table,
            Path(t.file).name,
            f"{t.rows_read:,}",
            f"{t.rows_accepted:,}",
            f"{t.rows_quarantined:,}",
            reasons,
        )
    console.print(table)
    balanced = all(t.balanced for t in report.tables.values())
    console.print(
        f"rows read = rows accepted + rows quarantined: {'yes' if balanced else 'NO'} "
        f"({sum(t.rows_read for t in report.tables.values()):,} = "
        f"{sum(t.rows_accepted for t in report.tables.values()):,} + {report.rows_quarantined:,})"
    )
    g = validated.graph.summary
    console.print(
        f"grid graph: source={g.source}, {g.n_nodes:,} grids, {g.n_edges:,} edges, "
        f"{g.n_components:,} component(s), {g.n_islands:,} island(s), mean degree {g.mean_degree:.2f}"
    )
    console.print(f"grids with no events: {report.grids_without_events:,}")
    for t in report.tables.values():
        if t.dropped_pii_columns:
            console.print(
                f"[yellow]dropped personal columns[/] in {t.table}: {t.dropped_pii_columns}"
            )
        if t.ignored_columns:
            console.print(f"ignored non-contract columns in {t.table}: {t.ignored_columns}")
    if report.ignored_files:
        console.print(f"ignored files (not contract tables): {report.ignored_files}")
    for w in report.warnings:
        console.print(f"[yellow]warning:[/] {escape(w)}")
    if validated.quarantine_dir is not None:
        console.print(f"quarantine and report written to {validated.quarantine_dir}")


def _validate(data: Path, config: Path | None, quarantine: Path | None, drop_pii: bool):
    from riskwarn.workflows import validate_data

    cfg = load_config(config)
    with console.status("reading tables…") as status:
        validated = validate_data(
            data,
            cfg,
            quarantine_dir=quarantine,
            drop_pii=drop_pii,
            progress=lambda name: status.update(f"reading and validating {name}…"),
        )
    _render_validation(validated)
    return validated


def _check_engine(engine: str) -> None:
    from riskwarn.panel.tables import ENGINES

    if engine not in ENGINES:
        raise RiskwarnError(f"--engine {engine!r}: use one of {', '.join(ENGINES)}.")


@app.command()
def validate(
    data: DataOpt,
    quarantine: Annotated[
        Path | None,
        typer.Option("--quarantine", help="Folder for quarantined rows and the report."),
    ] = None,
    drop_pii: Annotated[
        bool,
        typer.Option("--drop-pii", help="Drop columns that identify people instead of stopping."),
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Check a dataset against the data contract; quarantine bad rows.

    The tables are files named grids, adjacency, petitions, disputes and incidents
    (.csv or .parquet; grids and one event table needed). Their columns (required
    and optional, with types and ranges) are listed in README.md, section "Input
    data".
    """
    _validate(data, config, quarantine, drop_pii)


@app.command()
def features(
    data: DataOpt,
    config: Annotated[Path, typer.Option("--config", help="Experiment TOML file.")],
    out: Annotated[
        Path,
        typer.Option("--out", help="Parquet file to write (spark: a folder of part files)."),
    ],
    labels: Annotated[
        bool, typer.Option("--labels", help="Add label_h*/count_h* columns for each horizon.")
    ] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Build only this as-of date (local time).")
    ] = None,
    engine: Annotated[str, typer.Option("--engine", help="duckdb (default) or spark.")] = "duckdb",
    drop_pii: DropPiiOpt = False,
) -> None:
    """Build the grid x as-of feature matrix (and labels) as Parquet."""
    from riskwarn.workflows import build_feature_file

    _check_engine(engine)
    cfg = with_drop_pii(load_config(config), drop_pii)
    t0 = time.perf_counter()
    with console.status("reading tables…") as status:
        path, builder, validated = build_feature_file(
            data,
            cfg,
            out,
            labels=labels,
            as_of=as_of,
            engine=engine,
            progress=lambda msg: status.update(f"{msg}…"),
        )
    report = validated.dataset.report
    if report.rows_quarantined:
        console.print(
            f"[yellow]{report.rows_quarantined:,} row(s) were quarantined[/]; run "
            "`riskwarn validate --quarantine DIR` to see them."
        )
    for w in builder.warnings + report.warnings:
        console.print(f"[yellow]warning:[/] {escape(w)}")
    periods = builder.data.periods
    span = (
        f"as of {as_of}"
        if as_of
        else f"{len(periods.as_of_dates)} as-of dates "
        f"({periods.as_of_dates[0]:%Y-%m-%d} to {periods.as_of_dates[-1]:%Y-%m-%d})"
    )
    console.print(
        f"wrote {len(builder.manifest)} features for {builder.data.n_grids:,} grids, {span}, "
        f"to {path} in {time.perf_counter() - t0:.1f}s (manifest beside it)"
    )


@app.command()
def inspect(
    data: DataOpt,
    config: ConfigOpt = None,
    out: Annotated[
        Path, typer.Option("--out", help="Where to write the proposed config (a new file).")
    ] = Path("inspect.toml"),
) -> None:
    """Profile a city's raw export and propose a starter config for it.

    Maps each table's columns to the contract's by name (Chinese and English), the
    city's words for statuses and grid types, guesses freq and label rules, and
    shows rows per period, periods with no rows at all (likely extraction gaps),
    grids with no events, duplicate ids and how full each optional column is.
    """
    from riskwarn.workflows.inspect import inspect_files

    cfg = load_config(config) if config else None
    with console.status("reading…") as status:
        found, path = inspect_files(
            data, out, cfg, progress=lambda name: status.update(f"reading {name}…")
        )
    _render_inspection(found)
    console.print(f"wrote the proposed config to {path}: check it, then run riskwarn validate.")


def _render_inspection(found) -> None:
    table = Table(title="Tables and their proposed mapping")
    for col in ("table", "file", "encoding", "mapped", "missing (required)", "rows",
                "duplicate ids", "periods", "periods with no rows (gaps)"):  # fmt: skip
        table.add_column(col)
    for name, t in found.tables.items():
        counts = t.per_period
        periods = "–" if counts is None else f"{len(counts)} ({counts.index[0]:%Y-%m-%d} on)"
        gaps = (
            f"{len(t.empty)} ({len(t.gaps)} read as gaps): "
            + ", ".join(t.empty[:3])
            + (" …" if len(t.empty) > 3 else "")
            if t.empty
            else "none"
        )
        table.add_row(
            name,
            escape(Path(t.file).name),
            t.encoding or "–",
            f"{len(t.columns)} of {len(t.columns) + len(t.unmapped)}",
            escape(", ".join(t.missing_required)) or "–",
            f"{t.rows:,}",
            f"{t.duplicates:,}",
            periods,
            escape(gaps) if counts is not None else "–",
        )
    console.print(table)
    filled = Table(title="Optional columns: share of rows filled")
    for col in ("table", "column", "filled"):
        filled.add_column(col)
    for name, t in found.tables.items():
        for column, share in t.filled.items():
            filled.add_row(name, column, f"{100 * share:.0f}%")
    console.print(filled)
    console.print(f"frequency: {found.freq}; time zone: {found.timezone}")
    if found.grids_without_events is not None:
        console.print(f"grids with no events: {found.grids_without_events:,}")
    for note in found.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")


TrackingOpt = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri",
        help="MLflow tracking server (default: MLFLOW_TRACKING_URI, else sqlite:///mlruns.db).",
    ),
]


@app.command()
def backtest(
    data: DataOpt,
    config: ConfigOpt = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for the backtest files.")] = Path(
        "backtest_output"
    ),
    tracking_uri: TrackingOpt = None,
    track: Annotated[
        bool, typer.Option("--track/--no-track", help="Log the run in MLflow (default: yes).")
    ] = True,
    drop_pii: DropPiiOpt = False,
) -> None:
    """Rolling-origin backtest of every configured model; writes predictions and metrics."""
    _backtest(data, config, out, track=track, tracking_uri=tracking_uri, drop_pii=drop_pii)


def _steps(status, progress, task, t0):
    """One progress callback: a live bar on a terminal, a line per tenth of the work in logs."""
    logged = {"done": -1}  # nothing logged yet: the start of fitting (0) is

    def on_step(done: int, total: int, message: str) -> None:
        if not console.is_terminal:
            # Logs and pipes get a line when fitting starts (what came before is the
            # data and features) and at every tenth of the fits (parallel fits finish
            # out of order: never a count twice or backwards), with an ETA.
            every = max(1, total // 10)
            since = done - max(logged["done"], 0)
            if done <= logged["done"] or (0 < done < total and since < every):
                return
            logged["done"] = done
            elapsed = time.perf_counter() - t0
            left = elapsed / done * (total - done) if done else 0.0
            eta = f", about {left:.0f}s left" if 0 < done < total else ""
            console.print(f"[{done}/{total}] {escape(message)} ({elapsed:.0f}s{eta})")
            return
        if not task:
            status.stop()
            progress.start()
            task["id"] = progress.add_task("fitting", total=total)
        progress.update(task["id"], completed=done, description=escape(message))
        if done >= total:
            progress.stop()
            status.start()

    return on_step


def _progress():
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def _backtest(
    data: Path,
    config: Path | None,
    out: Path,
    track: bool = True,
    tracking_uri: str | None = None,
    drop_pii: bool = False,
):
    from riskwarn.workflows import run_backtest_files

    cfg = with_drop_pii(load_config(config), drop_pii)
    t0 = time.perf_counter()
    with console.status("reading tables…") as status:

        def on_status(msg: str) -> None:
            status.update(f"{msg}…")

        progress, task = _progress(), {}
        shown: list[str] = []

        def on_note(line: str) -> None:
            # At once, before any fit: a user learns what will not run in the first second.
            shown.append(line)
            console.print(f"[yellow]note:[/] {escape(line)}")

        try:
            output = run_backtest_files(
                data,
                cfg,
                out,
                status=on_status,
                steps=_steps(status, progress, task, t0),
                track=track,
                tracking_uri=tracking_uri,
                note=on_note,
            )
        finally:
            progress.stop()
    metrics = output.metrics
    settings = metrics["settings"]
    console.print(
        f"backtest of {len(settings['models'])} model(s) × {len(settings['horizons'])} "
        f"horizon(s) on {settings['n_grids']:,} grids, {settings['n_as_of']} as-of dates "
        f"({settings['first_as_of']} to {settings['last_as_of']}, {settings['n_folds']} refits) "
        f"in {time.perf_counter() - t0:.1f}s"
    )
    for note in metrics["notes"]:
        if note not in shown:
            console.print(f"[yellow]note:[/] {escape(note)}")
    # Horizon 1 and the label horizon: promotion is decided at the latter, and a model
    # can lead at one and trail at the other.
    shown_h = sorted({1, max(settings["horizons"])})
    title = " and ".join(str(h) for h in shown_h)
    table = Table(title=f"Horizon{'s' if len(shown_h) > 1 else ''} {title} (all in metrics.md)")
    for col in ("h", "model", "AP", "ROC AUC", "Brier skill", "ECE", "PAI@5%", "recall@5%"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in sorted(metrics["overall"], key=lambda r: r["horizon"]):
        if r["horizon"] not in shown_h:
            continue
        table.add_row(
            str(r["horizon"]),
            r["model"],
            *(
                "–" if v != v else f"{v:.3f}"
                for v in (
                    r["ap"],
                    r["roc_auc"],
                    r["brier_skill"],
                    r["ece"],
                    r.get("pai_at_5pct", float("nan")),
                    r.get("recall_at_5pct", float("nan")),
                )
            ),
        )
    console.print(table)
    console.print(
        f"wrote {output.predictions_path}, {output.metrics_path.name} and "
        f"{output.markdown_path.name}"
    )
    if "run_id" in metrics:
        console.print(f"logged MLflow run {metrics['run_id']}")
    return output


@app.command()
def train(
    data: DataOpt,
    config: ConfigOpt = None,
    register: Annotated[
        bool,
        typer.Option("--register", help="Register the model; promote it if it beats the champion."),
    ] = False,
    tracking_uri: TrackingOpt = None,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="duckdb (default) or spark: features on Spark, a weighted training sample "
            "and a backtest on a sample of grids (a province).",
        ),
    ] = "duckdb",
    drop_pii: DropPiiOpt = False,
) -> None:
    """Backtest, train on every labelled row, log the model in MLflow (and register it)."""
    _train(data, config, register, tracking_uri, engine, drop_pii=drop_pii)


def _train(
    data: Path,
    config: Path | None,
    register: bool,
    tracking_uri: str | None,
    engine: str = "duckdb",
    drop_pii: bool = False,
):
    from riskwarn.workflows import train_model_files

    _check_engine(engine)
    cfg = with_drop_pii(load_config(config), drop_pii)
    t0 = time.perf_counter()
    with console.status("reading tables…") as status:
        progress, task = _progress(), {}
        try:
            output = train_model_files(
                data,
                cfg,
                register=register,
                tracking_uri=tracking_uri,
                status=lambda msg: status.update(f"{escape(msg)}…"),
                steps=_steps(status, progress, task, t0),
                engine=engine,
            )
        finally:
            progress.stop()
    h = output.horizon
    line = f"{cfg.train.model}: backtest {output.metric} at horizon {h} = {output.value:.4f}"
    if output.baseline is not None:
        line += f" (best baseline {output.baseline}: {output.baseline_value:.4f})"
    console.print(escape(line))
    console.print(
        f"logged run {output.run.run_id} with model {output.run.model_uri} to "
        f"{output.tracking_uri} in {time.perf_counter() - t0:.1f}s"
    )
    decision = output.decision
    if decision is not None:
        name = cfg.train.registered_name
        console.print(f"registered {name} version {decision.version} (alias challenger)")
        if decision.promoted:
            console.print(
                f"[green]champion → version {decision.version}[/]: {escape(decision.reason)}"
            )
        else:
            console.print(f"[yellow]champion unchanged[/]: {escape(decision.reason)}")
            if decision.previous_champion is None:
                console.print(
                    escape(
                        f"{name} has no champion yet, so --model models:/{name}@champion "
                        f"will not load: score this version with --model "
                        f"models:/{name}/{decision.version}, or make it champion with "
                        f"riskwarn promote {decision.version} --config CONFIG."
                    )
                )
    return output


@app.command()
def promote(
    version: Annotated[str, typer.Argument(help="Model version to make champion.")],
    config: ConfigOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Move the champion alias to VERSION by hand (recorded on the version's tags)."""
    from riskwarn.workflows import promote_version

    cfg = load_config(config)
    decision = promote_version(version, cfg, tracking_uri=tracking_uri)
    console.print(
        f"champion of {cfg.train.registered_name} → version {decision.version} "
        f"(was {decision.previous_champion or 'none'})"
    )


@app.command()
def score(
    data: DataOpt,
    model: Annotated[
        str,
        typer.Option("--model", help="Registry URI, e.g. models:/riskwarn-escalation@champion."),
    ],
    as_of: Annotated[str, typer.Option("--as-of", help="As-of date (local period boundary).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the watchlist files.")] = Path(
        "watchlist"
    ),
    tracking_uri: TrackingOpt = None,
    allow_pickle: Annotated[
        bool,
        typer.Option("--allow-pickle", help="Load a model even if its artifact holds a pickle."),
    ] = False,
    engine: Annotated[str, typer.Option("--engine", help="duckdb (default) or spark.")] = "duckdb",
    sink: Annotated[
        str | None,
        typer.Option(
            "--sink",
            help="Also write into this database, postgresql://USER@HOST:PORT/DB (password "
            "from PGPASSWORD or .pgpass; RISKWARN_SINK or [sink] url when not given).",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="A config whose [watchlist] (tiers, capacity, hold_periods …) and [sink] "
            "replace the model's own.",
        ),
    ] = None,
    drop_pii: DropPiiOpt = False,
) -> None:
    """Score every grid at one as-of date with a registered model; write the watchlist."""
    _score(data, model, as_of, out, tracking_uri, allow_pickle, engine, sink, config, drop_pii)


def changes_line(changes: dict | None) -> str:
    """The tier changes of :func:`riskwarn.scoring.watchlist.tier_changes` in a line."""
    if not changes or changes.get("first"):
        return "the first watchlist in this folder (no changes to show)"
    return (
        f"in the tiers since the last watchlist: {changes['entered']} entered, "
        f"{changes['left']} left, {changes['moved_up']} moved up, "
        f"{changes['moved_down']} moved down"
    )


def _score(
    data,
    model,
    as_of,
    out,
    tracking_uri,
    allow_pickle,
    engine="duckdb",
    sink=None,
    config=None,
    drop_pii=False,
):
    import pandas as pd

    from riskwarn.scoring.watchlist import extra_columns
    from riskwarn.workflows import score_files

    _check_engine(engine)
    t0 = time.perf_counter()
    with console.status("loading the model…") as status:
        output = score_files(
            data,
            model,
            as_of,
            out,
            tracking_uri=tracking_uri,
            allow_pickle=allow_pickle,
            status=lambda msg: status.update(f"{escape(msg)}…"),
            engine=engine,
            sink=sink,
            config=config,
            drop_pii=drop_pii,
        )
    for line in output.warnings:
        console.print(f"[yellow]warning:[/] {escape(line)}")
    w = output.watchlist
    tiers = w["tier"].value_counts().sort_index()
    planned = ""
    if "in_plan" in w and w["in_plan"].notna().any():
        planned = f"; in the plan: {int(w['in_plan'].fillna(False).sum())} grids"
    console.print(
        f"scored {output.n_grids:,} grids at {as_of} with {output.model_name} version "
        f"{output.model_version}: "
        + ", ".join(f"tier {int(t)}: {n}" for t, n in tiers.items())
        + f"; {changes_line(output.changes)}{planned}"
    )
    table = Table(title="Top of the watchlist")
    quantiles, _ = extra_columns(w)
    expected = "expected (range)" if len(quantiles) >= 2 else "expected"
    for col in ("rank", "grid", "score", expected, "tier", "change", "first reason"):
        table.add_column(col)
    for row in w.head(10).itertuples():
        first = row.reasons[0]["text_en"] if len(row.reasons) else "–"
        tier = "–" if pd.isna(row.tier) else str(int(row.tier))
        count = f"{row.expected_events:.2f}"
        if len(quantiles) >= 2:
            lo, hi = getattr(row, quantiles[0]), getattr(row, quantiles[-1])
            if not (pd.isna(lo) or pd.isna(hi)):
                count += f" ({int(lo)}–{int(hi)})"
        table.add_row(
            str(row.rank),
            escape(row.grid_id),
            f"{row.score:.3f}",
            count,
            tier,
            row.change,
            escape(first),
        )
    console.print(table)
    console.print(
        f"wrote {', '.join(p.name for p in output.paths if p.parent.name != 'history')} "
        f"to {out} "
        f"in {time.perf_counter() - t0:.1f}s"
    )
    if output.sink_rows is not None:
        console.print(f"wrote {output.sink_rows:,} rows into the database (one transaction)")
    return output


@app.command()
def report(
    watchlist: Annotated[
        Path, typer.Option("--watchlist", help="The --out folder of riskwarn score.")
    ],
    out: Annotated[Path, typer.Option("--out", help="The HTML file to write.")],
    lang: Annotated[str, typer.Option("--lang", help="zh (default) or en.")] = "zh",
    rows: Annotated[
        int | None,
        typer.Option("--rows", help="Grids in the ranked table (default: those in a tier)."),
    ] = None,
) -> None:
    """Write the watchlist report for policy staff: one self-contained HTML page."""
    _report(watchlist, out, lang, rows)


def _report(watchlist: Path, out: Path, lang: str = "zh", rows: int | None = None) -> Path:
    from riskwarn.reports.html import write_report

    t0 = time.perf_counter()
    with console.status("writing the report…"):
        path = write_report(watchlist, out, lang=lang, rows=rows)
    size = path.stat().st_size / 1024
    console.print(f"wrote {path} ({size:,.0f} KB, {lang}) in {time.perf_counter() - t0:.1f}s")
    return path


@app.command()
def simulate(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the dataset to.")],
    grids: Annotated[int, typer.Option("--grids", min=1, help="Number of grids.")] = 400,
    periods: Annotated[int, typer.Option("--periods", min=1, help="Number of periods.")] = 156,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    freq: Annotated[str, typer.Option("--freq", help="Period length (pandas alias).")] = "W-MON",
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
    tables: Annotated[
        str | None,
        typer.Option(
            "--tables",
            help="Event tables to write, a comma list of petitions, disputes, incidents "
            "(default: all three; grids is always written).",
        ),
    ] = None,
    minimal_columns: Annotated[
        bool,
        typer.Option(
            "--minimal-columns",
            help="Only the contract's required columns and the label's; grids: grid_id only.",
        ),
    ] = False,
    no_graph: Annotated[
        bool,
        typer.Option("--no-graph", help="No adjacency and no lon, lat, geometry_wkt in grids."),
    ] = False,
    delays: Annotated[
        bool,
        typer.Option(
            "--delays",
            help="Event tables get recorded_at, when each record entered the system "
            "(mostly the same day, a long tail for disputes and incidents); records "
            "entered after the extraction moment are not written.",
        ),
    ] = False,
    break_at: Annotated[
        int | None,
        typer.Option(
            "--break-at",
            help="Period index (0-based, 1 to periods - 1) from which every event rate "
            "is multiplied by --break-factor.",
        ),
    ] = None,
    break_factor: Annotated[
        float | None,
        typer.Option("--break-factor", help="The level break's rate multiplier (> 0)."),
    ] = None,
    interventions: Annotated[
        str | None,
        typer.Option(
            "--interventions",
            help="The city acts on its own risk: 'top' or 'top:capacity=20,effect=0.3,"
            "periods=8,noise=0.5' (an interventions table, the lists it acted on in "
            "history/ for riskwarn effect; the true effect in _truth/).",
        ),
    ] = None,
) -> None:
    """Write a synthetic city in the contract format (with the true risk in _truth/)."""
    from riskwarn.data.contract import EVENT_TABLES
    from riskwarn.simulate import (
        DataShape,
        LevelBreak,
        SimulationParams,
        simulate_city,
        write_city,
    )
    from riskwarn.simulate.params import parse_policy
    from riskwarn.simulate.shapes import parse_tables

    if fmt not in ("parquet", "csv"):
        raise RiskwarnError(f"--format must be parquet or csv, not {fmt!r}.")
    # Check every option before the simulation, which can take minutes.
    shape = DataShape(
        tables=EVENT_TABLES if tables is None else parse_tables(tables),
        minimal_columns=minimal_columns,
        no_graph=no_graph,
        delays=delays,
    )
    if (break_at is None) != (break_factor is None):
        given, needed = ("--break-at", "--break-factor")
        if break_at is None:
            given, needed = needed, given
        raise RiskwarnError(
            f"{given} needs {needed}: a level break is a period and a factor, "
            "e.g. --break-at 52 --break-factor 1.5."
        )
    level_break = None if break_at is None else LevelBreak(at=break_at, factor=break_factor)
    policy = None if interventions is None else parse_policy(interventions)
    t0 = time.perf_counter()
    with console.status(f"simulating {grids:,} grids × {periods:,} periods…"):
        city = simulate_city(
            n_grids=grids,
            n_periods=periods,
            seed=seed,
            freq=freq,
            params=SimulationParams(level_break=level_break, interventions=policy),
        )
        files = write_city(city, out, fmt=fmt, shape=shape)
    n_events = sum(len(getattr(city, t)) for t in shape.tables)
    console.print(
        f"wrote {grids:,} grids, {n_events:,} events ({city.start:%Y-%m-%d} to "
        f"{city.end:%Y-%m-%d}) to {out} in {time.perf_counter() - t0:.1f}s"
    )
    if shape != DataShape() or level_break is not None:
        console.print(
            f"tables: {', '.join(n for n in files if n in city.tables())}; "
            f"label ({shape.label_kind}) and time line for --config: {files['label']}"
        )
    if policy is not None:
        console.print(
            f"interventions: {len(city.interventions):,} "
            f"({policy.capacity_for(grids)} grids a period, hazard × {1 - policy.effect:g} "
            f"for {policy.periods} periods); the true effect in {files['effect']}, "
            f"the lists it acted on in {files['history']} (riskwarn effect reads them)"
        )


@app.command()
def demo(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for everything the demo writes.")
    ] = Path("demo_output"),
    grids: Annotated[int, typer.Option("--grids", min=1)] = 400,
    periods: Annotated[int, typer.Option("--periods", min=1)] = 156,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Run the whole flow on a simulated city with built-in defaults."""
    data_dir = out / "data"
    console.rule("1. simulate a city")
    simulate(out=data_dir, grids=grids, periods=periods, seed=seed, freq="W-MON", fmt="parquet")
    console.rule("2. validate it")
    _validate(data_dir, None, out / "quarantine", drop_pii=False)
    console.rule("3. build features and labels")
    from riskwarn.workflows import build_feature_file

    t0 = time.perf_counter()
    with console.status("building features…") as status:
        path, builder, _ = build_feature_file(
            data_dir,
            load_config(None),
            out / "features.parquet",
            labels=True,
            progress=lambda msg: status.update(f"{msg}…"),
        )
    families = builder.manifest.to_frame().groupby("family").size()
    console.print(
        f"{len(builder.manifest)} features ({', '.join(f'{k} {v}' for k, v in families.items())}) "
        f"for {builder.data.n_grids:,} grids × {len(builder.data.periods.as_of_dates)} as-of dates "
        f"→ {path} in {time.perf_counter() - t0:.1f}s"
    )
    console.rule("4. backtest every model (refit every 13 weeks)")
    demo_config = out / "demo.toml"
    demo_config.write_text(
        "# The demo's experiment: built-in defaults, refitting quarterly to stay quick.\n"
        "[backtest]\nrefit_every = 13\n",
        encoding="utf-8",
    )
    # The demo keeps its MLflow store beside its other output, unless told otherwise.
    tracking = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    tracking = tracking or f"sqlite:///{(out / 'mlruns.db').resolve()}"
    _backtest(data_dir, demo_config, out / "backtest", tracking_uri=tracking)
    console.rule("5. train on all labelled weeks, register, promote if it beats the baselines")
    trained = _train(data_dir, demo_config, True, tracking)
    alias = "champion"
    if not trained.decision.promoted:
        # Another champion may exist in a shared store, or none yet: score this version.
        alias = "challenger"
    # Three consecutive weeks, so that the last watchlist has changes and trends to show.
    recent = [f"{d:%Y-%m-%d}" for d in builder.data.periods.as_of_dates[-3:]]
    console.rule(f"6. score the latest weeks ({', '.join(recent)}) with the {alias}")
    watch = out / "watchlist"
    for as_of in recent:
        _score(data_dir, f"models:/riskwarn-escalation@{alias}", as_of, watch, tracking, False)
    console.rule("7. write the report for policy staff")
    report_zh = _report(watch, out / "report.html", "zh")
    report_en = _report(watch, out / "report_en.html", "en")
    console.print(f"\ndemo output is in {out.resolve()}")
    console.print(f"the watchlist is in {watch.resolve()} (parquet, csv, json, geojson)")
    console.print(f"the report is {report_zh.resolve()} (English: {report_en.name})")
    if tracking.startswith("sqlite:///"):
        # The mlflow command of this environment: a .venv's bin is often not on PATH.
        mlflow_cli = Path(sys.executable).parent / "mlflow"
        command = str(mlflow_cli) if mlflow_cli.exists() else "mlflow"
        console.print(
            f"to browse the runs and the registry: {command} ui --backend-store-uri {tracking}"
        )


@app.command()
def effect(
    data: DataOpt,
    config: ConfigOpt = None,
    watchlist: Annotated[
        Path | None,
        typer.Option(
            "--watchlist",
            help="The --out folder of riskwarn score, whose dated lists the teams acted on "
            "(default: DATA/history); the estimate is also written there for the report.",
        ),
    ] = None,
    bandwidth: Annotated[
        int | None,
        typer.Option(
            "--bandwidth",
            help="Ranks each side of the cut-off (default: the median number of grids "
            "that entered a list).",
        ),
    ] = None,
    level: Annotated[float, typer.Option("--level", help="Of the interval.")] = 0.9,
) -> None:
    """Estimate what the interventions did: grids just inside vs just outside the plan."""
    from riskwarn.reports.text import effect_lines
    from riskwarn.workflows.effect import run_effect

    cfg = load_config(config)
    t0 = time.perf_counter()
    with console.status("reading…") as status:
        out = run_effect(
            data,
            cfg,
            watchlist=watchlist,
            bandwidth=bandwidth,
            level=level,
            status=lambda what: status.update(f"{what}…"),
        )
    for note in out.notes or []:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)
    for line in effect_lines(out.estimate.as_dict(), "en"):
        console.print(escape(line), highlight=False, soft_wrap=True)
    if out.path is not None:
        console.print(f"wrote {out.path} (the report shows it)")
    console.print(f"done in {time.perf_counter() - t0:.1f}s")


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Show the version.")] = False,
) -> None:
    if version:
        console.print(f"riskwarn {__version__}")
        raise typer.Exit()


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning bad input into exit code 2 and a message."""
    try:
        app(args=argv, standalone_mode=False)
    except RiskwarnError as exc:
        err_console.print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err_console.print("aborted.")
        return 130
    except TyperException as exc:  # usage errors: typer prints them, exit code 2
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            err_console.print(f"error: {escape(exc.format_message())}")
        return exc.exit_code
    except Exception as exc:
        if os.environ.get("RISKWARN_DEBUG"):
            raise
        err_console.print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {exc}. This is a bug in "
            "riskwarn, not in your data; rerun with RISKWARN_DEBUG=1 for the traceback."
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
