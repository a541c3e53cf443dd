"""The shape matrix: every command runs on every shape of data the contract allows.

Real cities have one, two or three of the event tables, few optional columns, often
no map of their grids, and weekly or monthly exports. For every non-empty subset of
the event tables, with only the required columns (and those the label needs), with
and without a graph and weekly and monthly (pairwise), the whole flow runs from the
command line:
validate → backtest (the default models) → train --register → score → report, each
exiting 0 with complete outputs. Cities are tiny and the backtests short, so that
the 14 flows stay within a few minutes; most of a flow's time is fixed cost (MLflow
logging and plots, compiling the feature queries), not the size of the city.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pandas as pd
import pytest

from riskwarn.cli import main
from riskwarn.config import MODEL_NAMES
from riskwarn.data.contract import EVENT_TABLES
from riskwarn.simulate import DataShape, simulate_city, write_city

SUBSETS = [combo for n in (1, 2, 3) for combo in itertools.combinations(EVENT_TABLES, n)]
GRAPH_MODELS = {"graph_hotspot", "graph_hawkes", "graph_diffusion"}
# Small enough to be quick, long enough for a year of weekly history and a test span.
SIZES = {"W-MON": (30, 40), "MS": (30, 30)}


def _case_id(tables, graph, freq) -> str:
    return f"{'+'.join(t[:3] for t in tables)}-{'graph' if graph else 'nograph'}-{freq}"


# Pairwise, not every combination: each subset of tables runs with and without a
# graph and in both frequencies, and every (graph, frequency) pair occurs; the shape
# code has no branch that would need all three at once.
_PAIRS = (((True, "W-MON"), (False, "MS")), ((True, "MS"), (False, "W-MON")))
CASES = [
    pytest.param(tables, graph, freq, id=_case_id(tables, graph, freq))
    for i, tables in enumerate(SUBSETS)
    for graph, freq in _PAIRS[i % 2]
]


def _city(folder: Path, tables, graph: bool, freq: str) -> tuple[Path, str, DataShape]:
    n_grids, n_periods = SIZES[freq]
    sim = simulate_city(n_grids=n_grids, n_periods=n_periods, seed=7, freq=freq)
    shape = DataShape(tables=tables, minimal_columns=True, no_graph=not graph)
    write_city(sim, folder, shape=shape)
    end = sim.end.tz_convert("Asia/Shanghai").tz_localize(None).isoformat()
    return folder, end, shape


def _config(path: Path, end: str, freq: str, shape: DataShape, name: str) -> Path:
    text = f'[data]\nfreq = "{freq}"\nend = "{end}"\n[label]\nhorizon = 2\n'
    if shape.label_kind == "proxy":
        # Disputes alone record no escalation: the label must be given (the default
        # label's rules are on incidents and petitions, and the run says so).
        for rule in shape.label()["any_of"]:
            text += (
                f'[[label.any_of]]\ntable = "{rule["table"]}"\ncolumn = "{rule["column"]}"\n'
                f'op = "{rule["op"]}"\nvalue = {json.dumps(rule["value"])}\n'
            )
    text += f'[backtest]\nrefit_every = 52\n[train]\nregistered_name = "{name}"\n'
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.slow
@pytest.mark.parametrize(("tables", "graph", "freq"), CASES)
def test_every_command_runs_on_every_shape(tables, graph, freq, tmp_path, capsys):
    name = f"rw-shape-{_case_id(tables, graph, freq)}".replace("+", "-")
    data, end, shape = _city(tmp_path / "data", tables, graph, freq)
    config = _config(tmp_path / "config.toml", end, freq, shape, name)
    written = {p.stem for p in data.glob("*.parquet")}
    assert written == {"grids", *tables} | ({"adjacency"} if graph else set())

    assert main(["validate", "--data", str(data), "--config", str(config)]) == 0
    printed = capsys.readouterr().out
    assert "rows read = rows accepted + rows quarantined: yes" in printed
    assert ("source=adjacency" in printed) == graph

    out = tmp_path / "backtest"
    args = ["backtest", "--data", str(data), "--config", str(config), "--out", str(out)]
    # The backtest's MLflow run (metrics and plots of every model) is logged where every
    # model runs, with a graph; without one the models are a subset of those, and
    # train --register below still logs a run on this shape. A third of a flow's time
    # is MLflow's plots and model logging.
    code = main(args if graph else [*args, "--no-track"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert ("logged MLflow run" in printed) == graph
    metrics = json.loads((out / "metrics.json").read_text())
    ran = set(metrics["settings"]["models"])
    skipped = set(MODEL_NAMES) - ran
    # Only a graph model is ever skipped, only without a graph, and always with a reason
    # in the console, metrics.json and metrics.md.
    assert skipped == (set() if graph else GRAPH_MODELS)
    for model in skipped:
        note = next(n for n in metrics["notes"] if n.startswith(f"{model} skipped:"))
        assert "no grid graph" in note and note in (out / "metrics.md").read_text()
        assert f"{model} skipped" in printed
    predictions = pd.read_parquet(out / "predictions.parquet")
    assert set(predictions["model"].unique()) == ran
    assert predictions["score"].between(0, 1).all()
    assert set(predictions["horizon"].unique()) == {1, 2}

    code = main(["train", "--data", str(data), "--config", str(config), "--register"])
    printed = capsys.readouterr().out
    assert code == 0, printed

    as_of = predictions["as_of"].max()
    day = f"{pd.Timestamp(as_of).tz_convert('Asia/Shanghai'):%Y-%m-%d}"
    watch = tmp_path / "watchlist"
    uri = f"models:/{name}/1"
    args = ["score", "--data", str(data), "--model", uri, "--as-of", day, "--out", str(watch)]
    code = main(args)
    printed = capsys.readouterr().out
    assert code == 0, printed
    rows = pd.read_parquet(watch / "watchlist.parquet")
    assert len(rows) == SIZES[freq][0] and rows["score"].between(0, 1).all()
    assert rows["rank"].tolist() == list(range(1, len(rows) + 1))
    assert (watch / "watchlist.csv").exists() and (watch / "model_card.json").exists()
    # Minimal grids have no lon/lat or polygons: there is nothing to draw, no GeoJSON.
    assert not (watch / "watchlist.geojson").exists()

    report = tmp_path / "report.html"
    assert main(["report", "--watchlist", str(watch), "--out", str(report)]) == 0
    assert report.stat().st_size > 0 and "</html>" in report.read_text(encoding="utf-8")
