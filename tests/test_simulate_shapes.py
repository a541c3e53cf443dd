"""Shapes of a simulated city (tables, columns, graph) and the level break."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskwarn.cli import main
from riskwarn.config import LabelRule, load_config
from riskwarn.data.contract import RECORDED, TABLES
from riskwarn.errors import RiskwarnError
from riskwarn.simulate import (
    DataShape,
    LevelBreak,
    SimulatedCity,
    SimulationParams,
    simulate_city,
    write_city,
)
from riskwarn.simulate.shapes import parse_tables
from riskwarn.workflows import validate_data

N_GRIDS, N_PERIODS, SEED, AT = 30, 30, 4, 15
GRAPH_COLUMNS = ("lon", "lat", "geometry_wkt")
# The columns each option leaves, written out rather than derived from the code under test.
MINIMAL = {
    "grids": ["grid_id"],
    "adjacency": ["grid_a", "grid_b", "weight"],
    "petitions": ["case_id", "grid_id", "received_at", "category", "group_size"],
    "disputes": ["case_id", "grid_id", "reported_at", "category"],
    "incidents": ["event_id", "grid_id", "occurred_at", "type", "severity"],
}
SEVERE = {"table": "incidents", "column": "severity", "op": ">=", "value": 3}
COLLECTIVE = {"table": "petitions", "column": "group_size", "op": ">=", "value": 5}
PROXY = {"table": "disputes", "column": "parties", "op": ">=", "value": 5}


def _full(table: str) -> list[str]:
    # recorded_at only with delays (tests/test_delays.py)
    return [c for c in TABLES[table].column_names if c != RECORDED]


def _no_graph_grids() -> list[str]:
    return [c for c in _full("grids") if c not in GRAPH_COLUMNS]


@pytest.fixture(scope="module")
def city() -> SimulatedCity:
    return simulate_city(n_grids=N_GRIDS, n_periods=N_PERIODS, seed=SEED)


def _broken(factor: float, seed: int = SEED) -> SimulatedCity:
    params = SimulationParams(level_break=LevelBreak(at=AT, factor=factor))
    return simulate_city(n_grids=N_GRIDS, n_periods=N_PERIODS, seed=seed, params=params)


def _matrix(city: SimulatedCity, column: str) -> np.ndarray:
    """A truth column as (n_grids, n_periods); the truth is grid-major."""
    return city.truth[column].to_numpy().reshape(city.n_grids, city.n_periods)


def _meta(folder: Path) -> dict:
    return json.loads((folder / "_truth" / "simulation.json").read_text(encoding="utf-8"))


def _read(folder: Path, table: str, fmt: str) -> pd.DataFrame:
    path = folder / f"{table}.{fmt}"
    return pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path, dtype=str)


def _assert_validates(folder: Path, city: SimulatedCity, tables: tuple[str, ...], graph: str):
    """riskwarn validate (default config) reads every row and quarantines none."""
    validated = validate_data(folder, load_config(None))
    report = validated.dataset.report
    assert set(report.tables) == {"grids", *tables} | ({"adjacency"} if graph != "none" else set())
    for name, t in report.tables.items():
        assert t.balanced and t.rows_quarantined == 0, (name, t.top_reasons(3))
        assert t.rows_read == len(city.tables()[name]), name
    assert validated.graph.summary.source == graph


# --- shapes: files and columns ---------------------------------------------------------

SHAPES = [
    pytest.param(
        {},
        {n: _full(n) for n in ("grids", "adjacency", "petitions", "disputes", "incidents")},
        "adjacency",
        id="default",
    ),
    pytest.param(
        {"tables": ("incidents", "disputes")},
        {n: _full(n) for n in ("grids", "adjacency", "disputes", "incidents")},
        "adjacency",
        id="tables",
    ),
    pytest.param({"minimal_columns": True}, MINIMAL, "adjacency", id="minimal"),
    pytest.param(
        {"no_graph": True},
        {"grids": _no_graph_grids()}
        | {n: _full(n) for n in ("petitions", "disputes", "incidents")},
        "none",
        id="no-graph",
    ),
    pytest.param(
        {"tables": ("petitions",), "minimal_columns": True, "no_graph": True},
        {"grids": ["grid_id"], "petitions": MINIMAL["petitions"]},
        "none",
        id="petitions-minimal-no-graph",
    ),
    pytest.param(
        {"tables": ("disputes",), "minimal_columns": True},
        {
            "grids": ["grid_id"],
            "adjacency": MINIMAL["adjacency"],
            "disputes": [*MINIMAL["disputes"], "parties"],
        },
        "adjacency",
        id="disputes-minimal",
    ),
]


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@pytest.mark.parametrize(("options", "columns", "graph"), SHAPES)
def test_shape_writes_exactly_these_files_and_columns(
    city: SimulatedCity, options: dict, columns: dict, graph: str, fmt: str, tmp_path
) -> None:
    shape = DataShape(**options)
    files = write_city(city, tmp_path, fmt=fmt, shape=shape)
    on_disk = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    assert on_disk == sorted(f"{name}.{fmt}" for name in columns)
    assert set(files) == {*columns, "truth", "simulation", "label"}
    for name, expected in columns.items():
        frame = _read(tmp_path, name, fmt)
        assert list(frame.columns) == expected, name
        assert len(frame) == len(city.tables()[name]), name
    if fmt == "parquet":  # rows and values are the city's, only columns are left out
        for name, expected in columns.items():
            pd.testing.assert_frame_equal(
                _read(tmp_path, name, fmt), city.tables()[name][expected], obj=name
            )
    # The truth is the whole simulation's, whatever was written.
    truth = pd.read_parquet(tmp_path / "_truth" / "escalation_probability.parquet")
    pd.testing.assert_frame_equal(truth, city.truth)
    event_tables = tuple(n for n in columns if n in ("petitions", "disputes", "incidents"))
    _assert_validates(tmp_path, city, event_tables, graph)


def test_shape_is_recorded_and_label_config_loads(city: SimulatedCity, tmp_path) -> None:
    shape = DataShape(tables=("incidents", "disputes"), minimal_columns=True, no_graph=True)
    files = write_city(city, tmp_path, shape=shape)
    meta = _meta(tmp_path)
    assert meta["shape"] == {
        "tables": ["disputes", "incidents"],
        "minimal_columns": True,
        "no_graph": True,
        "delays": False,
        "break_at": None,
        "break_factor": None,
    }
    assert meta["escalation_label"] == {"any_of": [SEVERE]}
    assert meta["label_kind"] == "partial"
    assert "only" in meta["label_note"] and "incidents" in meta["label_note"]
    assert meta["files"]["label"] == "_truth/label.toml"
    assert "adjacency" not in meta["files"] and "petitions" not in meta["files"]
    cfg = load_config(files["label"])
    assert cfg.label.any_of == (LabelRule("incidents", "severity", ">=", 3),)
    assert cfg.label.horizon == load_config(None).label.horizon
    assert cfg.data.freq == city.freq and cfg.data.timezone == city.timezone
    assert pd.Timestamp(cfg.data.end).tz_localize(city.timezone) == city.end
    # The config that comes with the data validates it too.
    assert validate_data(tmp_path, cfg).dataset.report.rows_quarantined == 0


def test_default_label_is_exact_and_matches_the_built_in_config(
    city: SimulatedCity, tmp_path
) -> None:
    files = write_city(city, tmp_path)
    meta = _meta(tmp_path)
    assert meta["escalation_label"] == {"any_of": [SEVERE, COLLECTIVE]}
    assert meta["label_kind"] == "exact"
    assert meta["shape"]["tables"] == ["petitions", "disputes", "incidents"]
    assert load_config(files["label"]).label == load_config(None).label


@pytest.mark.parametrize("minimal", [False, True])
def test_disputes_alone_get_a_proxy_label(city: SimulatedCity, minimal: bool, tmp_path) -> None:
    files = write_city(
        city, tmp_path, shape=DataShape(tables=("disputes",), minimal_columns=minimal)
    )
    meta = _meta(tmp_path)
    assert meta["escalation_label"] == {"any_of": [PROXY]}
    assert meta["label_kind"] == "proxy"
    assert "proxy" in meta["label_note"] and "do not show" in meta["label_note"]
    assert "parties" in pd.read_parquet(tmp_path / "disputes.parquet").columns
    cfg = load_config(files["label"])
    assert cfg.label.any_of == (LabelRule("disputes", "parties", ">=", 5),)


@pytest.mark.parametrize(
    ("tables", "rules"),
    [
        (("petitions",), [COLLECTIVE]),
        (("incidents",), [SEVERE]),
        (("petitions", "disputes"), [COLLECTIVE]),
        (("disputes", "incidents", "petitions"), [SEVERE, COLLECTIVE]),
    ],
)
def test_label_lists_only_rules_of_written_tables(
    city: SimulatedCity, tables: tuple, rules: list, tmp_path
) -> None:
    write_city(city, tmp_path, shape=DataShape(tables=tables))
    assert _meta(tmp_path)["escalation_label"] == {"any_of": rules}


def test_rewriting_with_fewer_tables_removes_stale_ones(city: SimulatedCity, tmp_path) -> None:
    write_city(city, tmp_path, fmt="csv")
    write_city(city, tmp_path, shape=DataShape(tables=("incidents",), no_graph=True))
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [
        "grids.parquet",
        "incidents.parquet",
    ]
    _assert_validates(tmp_path, city, ("incidents",), "none")


def test_same_shape_and_seed_give_identical_files(tmp_path) -> None:
    # Table order in the shape does not matter: the shape stores contract order.
    shapes = [
        DataShape(tables=("incidents", "petitions"), minimal_columns=True),
        DataShape(tables=("petitions", "incidents"), minimal_columns=True),
    ]
    assert shapes[0] == shapes[1]
    paths = [
        write_city(_broken(1.5), tmp_path / str(i), fmt="csv", shape=s)
        for i, s in enumerate(shapes)
    ]
    assert set(paths[0]) == set(paths[1])
    for name in paths[0]:
        assert paths[0][name].read_bytes() == paths[1][name].read_bytes(), name


def test_default_shape_writes_what_no_shape_writes(city: SimulatedCity, tmp_path) -> None:
    a = write_city(city, tmp_path / "a")
    b = write_city(city, tmp_path / "b", shape=DataShape())
    assert set(a) == set(b)
    for name in a:
        assert a[name].read_bytes() == b[name].read_bytes(), name


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tables": ()}, "at least one"),
        ({"tables": ("incidents", "riots")}, "unknown event table"),
        ({"tables": ("grids",)}, "unknown event table"),
        ({"tables": ("incidents", "incidents")}, "twice"),
    ],
)
def test_bad_shapes_raise(kwargs: dict, message: str) -> None:
    with pytest.raises(RiskwarnError, match=message):
        DataShape(**kwargs)


def test_parse_tables() -> None:
    assert parse_tables(" incidents , disputes") == ("incidents", "disputes")
    for bad in ("", " , ", "incidents,,disputes", "incidents,"):
        with pytest.raises(RiskwarnError, match="empty"):
            parse_tables(bad)


def test_write_city_refuses_a_shape_that_is_not_one(city: SimulatedCity, tmp_path) -> None:
    with pytest.raises(RiskwarnError, match="DataShape"):
        write_city(city, tmp_path, shape={"tables": ("incidents",)})  # type: ignore[arg-type]


# --- the level break -------------------------------------------------------------------


def test_no_break_is_the_city_without_one(city: SimulatedCity) -> None:
    again = simulate_city(N_GRIDS, N_PERIODS, seed=SEED, params=SimulationParams(level_break=None))
    pd.testing.assert_frame_equal(again.truth, city.truth)
    for name, frame in city.tables().items():
        pd.testing.assert_frame_equal(again.tables()[name], frame, obj=name)


@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_break_leaves_the_truth_before_it_unchanged(city: SimulatedCity, factor: float) -> None:
    broken = _broken(factor)
    for column in ("probability", "expected", "escalations"):
        np.testing.assert_array_equal(
            _matrix(broken, column)[:, :AT], _matrix(city, column)[:, :AT], err_msg=column
        )
    assert not np.array_equal(
        _matrix(broken, "expected")[:, AT:], _matrix(city, "expected")[:, AT:]
    )


@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_break_moves_the_true_probability_by_about_the_factor(
    city: SimulatedCity, factor: float
) -> None:
    broken = _broken(factor)
    after = (
        _matrix(broken, "probability")[:, AT:].mean() / _matrix(city, "probability")[:, AT:].mean()
    )
    # Every rate is multiplied by the factor; bigger (smaller) backlogs and precursor stocks
    # then move the escalation rate further, about factor ** 1.5 (LevelBreak's docstring).
    low, high = sorted((factor**0.7, factor**2))
    assert low <= after <= high, after


@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_break_multiplies_the_ordinary_event_rates(city: SimulatedCity, factor: float) -> None:
    broken = _broken(factor)
    break_start = broken.truth["period_start"].iloc[AT]

    def ordinary_after(c: SimulatedCity) -> int:
        pet, inc = c.petitions, c.incidents
        return int(
            ((pet["received_at"] >= break_start) & (pet["group_size"] < 5)).sum()
            + (c.disputes["reported_at"] >= break_start).sum()
            + ((inc["occurred_at"] >= break_start) & (inc["severity"] < 3)).sum()
        )

    ratio = ordinary_after(broken) / ordinary_after(city)
    assert 0.75 * factor <= ratio <= 1.33 * factor, ratio


def test_truth_stays_true_after_the_break() -> None:
    # Realised escalations: exactly the label's events; their sum after the break agrees
    # with the truth's expected count there (Poisson, so within a few standard errors).
    broken = _broken(2.0, seed=11)
    esc = _matrix(broken, "escalations")[:, AT:].sum()
    expected = _matrix(broken, "expected")[:, AT:].sum()
    assert abs(esc - expected) <= 4 * np.sqrt(expected), (esc, expected)
    labelled = int((broken.incidents["severity"] >= 3).sum()) + int(
        (broken.petitions["group_size"] >= 5).sum()
    )
    assert labelled == int(broken.truth["escalations"].sum())


def test_break_is_recorded(tmp_path) -> None:
    write_city(_broken(2.0), tmp_path)
    meta = _meta(tmp_path)
    assert meta["shape"]["break_at"] == AT and meta["shape"]["break_factor"] == 2.0
    assert meta["parameters"]["level_break"] == {"at": AT, "factor": 2.0}


@pytest.mark.parametrize(
    ("brk", "n_periods", "message"),
    [
        (LevelBreak(0, 2.0), N_PERIODS, "period"),
        (LevelBreak(-1, 2.0), N_PERIODS, "period"),
        (LevelBreak(N_PERIODS, 2.0), N_PERIODS, "period"),
        (LevelBreak(2.5, 2.0), N_PERIODS, "period"),  # type: ignore[arg-type]
        (LevelBreak(True, 2.0), N_PERIODS, "period"),
        (LevelBreak(1, 2.0), 1, "at least 2 periods"),
        (LevelBreak(5, 0.0), N_PERIODS, "factor"),
        (LevelBreak(5, -1.0), N_PERIODS, "factor"),
        (LevelBreak(5, float("nan")), N_PERIODS, "factor"),
        (LevelBreak(5, float("inf")), N_PERIODS, "factor"),
        (LevelBreak(5, "2"), N_PERIODS, "factor"),  # type: ignore[arg-type]
    ],
)
def test_bad_breaks_raise(brk: LevelBreak, n_periods: int, message: str) -> None:
    with pytest.raises(RiskwarnError, match=message):
        simulate_city(5, n_periods, params=SimulationParams(level_break=brk))


# --- the command line ------------------------------------------------------------------


def test_cli_shape_and_break_then_validate(tmp_path, capsys) -> None:
    out = tmp_path / "city"
    args = ["simulate", "--out", str(out), "--grids", "30", "--periods", "30", "--seed", "2"]
    args += ["--tables", "incidents,disputes", "--minimal-columns", "--no-graph"]
    args += ["--break-at", "10", "--break-factor", "1.5", "--format", "csv"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "label.toml" in printed
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == [
        "disputes.csv",
        "grids.csv",
        "incidents.csv",
    ]
    assert list(pd.read_csv(out / "grids.csv").columns) == ["grid_id"]
    assert list(pd.read_csv(out / "incidents.csv").columns) == MINIMAL["incidents"]
    meta = _meta(out)
    assert meta["shape"] == {
        "tables": ["disputes", "incidents"],
        "minimal_columns": True,
        "no_graph": True,
        "delays": False,
        "break_at": 10,
        "break_factor": 1.5,
    }
    label = out / "_truth" / "label.toml"
    assert main(["validate", "--data", str(out), "--config", str(label)]) == 0
    assert "source=none" in capsys.readouterr().out


def test_cli_without_new_options_writes_the_api_default(tmp_path, capsys) -> None:
    out = tmp_path / "cli"
    assert main(["simulate", "--out", str(out), "--grids", "20", "--periods", "10"]) == 0
    api = write_city(simulate_city(20, 10, seed=0), tmp_path / "api")
    for name, path in api.items():
        assert (out / path.relative_to(tmp_path / "api")).read_bytes() == path.read_bytes(), name


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--tables", ""], "empty"),
        (["--tables", "incidents,,disputes"], "empty item"),
        (["--tables", "incidents,riots"], "unknown event table"),
        (["--tables", "grids"], "unknown event table"),
        (["--tables", "incidents,incidents"], "twice"),
        (["--break-at", "5"], "--break-at needs --break-factor"),
        (["--break-factor", "2"], "--break-factor needs --break-at"),
        (["--break-at", "0", "--break-factor", "2"], "--break-at"),
        (["--break-at", "12", "--break-factor", "2"], "from 1 to n_periods - 1 = 11"),
        (["--break-at", "5", "--break-factor", "0"], "--break-factor"),
        (["--break-at", "5", "--break-factor", "-1"], "--break-factor"),
        (["--break-at", "5", "--break-factor", "nan"], "--break-factor"),
        (["--break-at", "five", "--break-factor", "2"], "Invalid value for '--break-at'"),
    ],
)
def test_cli_bad_option_values_exit_2(extra: list, message: str, tmp_path, capsys) -> None:
    out = tmp_path / "city"
    assert main(["simulate", "--out", str(out), "--grids", "5", "--periods", "12", *extra]) == 2
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long messages
    assert message in err, err
    assert not out.exists()  # options are checked before anything is simulated or written
