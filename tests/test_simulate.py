"""Tests of the city simulator (riskwarn.simulate): contract, consistency, signal, I/O."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

import riskwarn.simulate
from riskwarn.data.contract import DISPUTE_STATUSES, RECORDED, TABLES, identifies_person
from riskwarn.errors import RiskwarnError
from riskwarn.simulate import SimulatedCity, SimulationParams, simulate_city, write_city
from riskwarn.simulate.params import DynamicsParams
from riskwarn.simulate.periods import make_timeline
from riskwarn.simulate.shocks import interval_intensity

TZ = "Asia/Shanghai"
TIME_COLUMNS = {
    "petitions": ("received_at", "closed_at"),
    "disputes": ("reported_at", "resolved_at"),
    "incidents": ("occurred_at",),
}
EVENT_TIME = {"petitions": "received_at", "disputes": "reported_at", "incidents": "occurred_at"}


@pytest.fixture(scope="module")
def city() -> SimulatedCity:
    return simulate_city(n_grids=200, n_periods=60, seed=7)


@pytest.fixture(scope="module")
def monthly() -> SimulatedCity:
    return simulate_city(n_grids=30, n_periods=24, seed=3, freq="MS")


def _period_index(city: SimulatedCity, times: pd.Series) -> np.ndarray:
    edges = pd.date_range(city.start, periods=city.n_periods + 1, freq=city.freq).as_unit("us")
    return np.searchsorted(edges.asi8, times.dt.as_unit("us").array.asi8, side="right") - 1


def _escalation_matrix(city: SimulatedCity) -> np.ndarray:
    """Escalation events counted from the tables, shape (n_grids, n_periods)."""
    gidx = pd.Series(np.arange(city.n_grids), index=city.grids["grid_id"])
    counts = np.zeros((city.n_grids, city.n_periods), dtype=np.int64)
    for frame, col, mask in (
        (city.incidents, "occurred_at", city.incidents["severity"] >= 3),
        (city.petitions, "received_at", city.petitions["group_size"] >= 5),
    ):
        rows = frame[mask]
        np.add.at(counts, (gidx[rows["grid_id"]].to_numpy(), _period_index(city, rows[col])), 1)
    return counts


def _truth_matrix(city: SimulatedCity, column: str) -> np.ndarray:
    truth = city.truth.sort_values(["grid_id", "period_start"])
    return truth[column].to_numpy().reshape(city.n_grids, city.n_periods)


# --- determinism -------------------------------------------------------------------


def test_same_seed_gives_identical_frames(city: SimulatedCity) -> None:
    again = simulate_city(n_grids=200, n_periods=60, seed=7)
    for name, frame in city.tables().items():
        pd.testing.assert_frame_equal(frame, again.tables()[name], obj=name)
    pd.testing.assert_frame_equal(city.truth, again.truth)
    assert city.start == again.start and city.end == again.end


def test_different_seed_differs(city: SimulatedCity) -> None:
    other = simulate_city(n_grids=200, n_periods=60, seed=8)
    assert not city.petitions.equals(other.petitions)
    assert not city.truth["probability"].equals(other.truth["probability"])


# --- contract ----------------------------------------------------------------------


def _columns(name: str) -> tuple[str, ...]:
    """The contract's columns, less recorded_at (a city written with delays has it)."""
    return tuple(c for c in TABLES[name].column_names if c != RECORDED)


def test_tables_have_exactly_the_contract_columns(city: SimulatedCity) -> None:
    for name, frame in city.tables().items():
        assert tuple(frame.columns) == _columns(name), name
        assert not any(identifies_person(name, col) for col in frame.columns)
    assert list(city.truth.columns) == [
        "grid_id",
        "period_start",
        "probability",
        "expected",
        "escalations",
    ]
    assert len(city.truth) == 200 * 60


def test_ids_unique_and_grids_known(city: SimulatedCity) -> None:
    grids = city.grids
    assert grids["grid_id"].is_unique
    assert grids["grid_id"].str.fullmatch(r"G\d{6}").all()
    # Grid names are place names, never anyone's name.
    assert grids["name"].str.fullmatch(r"Town \d{3} Grid \d{3}").all()
    assert grids["name"].is_unique
    known = set(grids["grid_id"])
    for name, prefix in (("petitions", "P"), ("disputes", "D"), ("incidents", "I")):
        frame = city.tables()[name]
        id_col = TABLES[name].id_column
        assert len(frame) > 0
        assert frame[id_col].is_unique, name
        assert frame[id_col].str.startswith(prefix).all(), name
        assert set(frame["grid_id"]) <= known, name
    assert set(city.truth["grid_id"]) == known


def test_grid_attributes(city: SimulatedCity) -> None:
    g = city.grids
    assert (g["population"] >= 0).all() and g["population"].dtype == np.int64
    assert (g["area_km2"] > 0).all()
    assert set(g["grid_type"]) == {"urban", "industrial", "rural"}
    assert g["lon"].between(112.5, 114.1).all() and g["lat"].between(22.4, 23.8).all()
    by_type = g.groupby("grid_type")["population"].median()
    assert by_type["urban"] > by_type["industrial"] > by_type["rural"]
    assert g.groupby("grid_type")["area_km2"].median()["rural"] > 2
    assert g["town"].nunique() > 1 and g["district"].nunique() >= 1


def test_adjacency_is_queen_contiguity_of_the_geometry(city: SimulatedCity) -> None:
    adj = city.adjacency
    known = set(city.grids["grid_id"])
    assert set(adj["grid_a"]) <= known and set(adj["grid_b"]) <= known
    assert (adj["grid_a"] < adj["grid_b"]).all()
    assert not adj.duplicated(["grid_a", "grid_b"]).any()
    assert (adj["weight"] == 1.0).all()
    geoms = shapely.from_wkt(city.grids["geometry_wkt"].to_numpy())
    assert shapely.is_valid(geoms).all()
    left, right = shapely.STRtree(geoms).query(geoms, predicate="touches")
    ids = city.grids["grid_id"].to_numpy()
    from_geometry = {(ids[a], ids[b]) for a, b in zip(left, right, strict=True) if a < b}
    assert from_geometry == set(zip(adj["grid_a"], adj["grid_b"], strict=True))
    degree = pd.concat([adj["grid_a"], adj["grid_b"]]).value_counts()
    assert degree.max() <= 8


def test_timestamps_inside_span_and_tz_aware(city: SimulatedCity) -> None:
    assert city.start == pd.Timestamp("2021-01-04", tz=TZ)
    assert city.end == city.start + pd.Timedelta(weeks=60)
    for name, cols in TIME_COLUMNS.items():
        frame = city.tables()[name]
        for col in cols:
            s = frame[col]
            assert isinstance(s.dtype, pd.DatetimeTZDtype), (name, col)
            assert str(s.dt.tz) == TZ
            present = s.dropna()
            assert (present >= city.start).all() and (present < city.end).all(), (name, col)
        assert frame[EVENT_TIME[name]].notna().all()
        assert frame[EVENT_TIME[name]].is_monotonic_increasing
    truth_starts = city.truth["period_start"]
    assert str(truth_starts.dt.tz) == TZ and truth_starts.min() == city.start


def test_case_dates_and_status_consistent(city: SimulatedCity) -> None:
    p, d = city.petitions, city.disputes
    closed = p["closed_at"].notna()
    assert (p.loc[closed, "closed_at"] >= p.loc[closed, "received_at"]).all()
    assert 0 < (~closed).sum() < len(p)  # some petitions are still open at extraction
    assert (p["satisfied"].notna() == closed).all()
    assert (p["outcome"].notna() == closed).all()
    resolved = d["resolved_at"].notna()
    assert (d.loc[resolved, "resolved_at"] >= d.loc[resolved, "reported_at"]).all()
    assert set(d["status"]) <= set(DISPUTE_STATUSES)
    assert ((d["status"] == "resolved") == resolved).all()
    assert {"unresolved", "in_progress", "referred"} <= set(d.loc[~resolved, "status"])


def test_value_ranges(city: SimulatedCity) -> None:
    p, d, i = city.petitions, city.disputes, city.incidents
    assert p["group_size"].min() >= 1 and p["level"].between(1, 6).all()
    assert set(p["channel"]) == {"visit", "letter", "hotline", "online"}
    assert p["is_repeat"].dtype == bool and p["is_repeat"].any()
    assert d["parties"].min() >= 1
    amount = d["amount"].dropna()
    assert (amount >= 0).all() and d["amount"].isna().any()
    assert i["severity"].between(1, 4).all() and (i["participants"] >= 0).all()
    # Ordinary group petitions (2-4) exist as precursors, below the collective threshold.
    assert p["group_size"].between(2, 4).any()
    assert ((i["severity"] == 2).sum() > 0) and (p["level"] >= 3).any()


# --- truth and mechanisms ----------------------------------------------------------


def test_escalation_events_equal_truth_exactly(city: SimulatedCity) -> None:
    counted = _escalation_matrix(city)
    np.testing.assert_array_equal(counted, _truth_matrix(city, "escalations"))
    prob = city.truth["probability"]
    assert prob.between(0, 1).all()
    np.testing.assert_allclose(prob, -np.expm1(-city.truth["expected"]))


def test_base_rate_is_plausible(city: SimulatedCity) -> None:
    rate = (city.truth["escalations"] > 0).mean()
    assert 0.006 < rate < 0.05
    assert abs(city.truth["probability"].mean() - rate) < 0.01
    events = len(city.petitions) + len(city.disputes) + len(city.incidents)
    assert events / len(city.truth) >= 0.5


def test_high_probability_grids_escalate_more(city: SimulatedCity) -> None:
    prob = city.truth["probability"].to_numpy()
    hit = city.truth["escalations"].to_numpy() > 0
    top = hit[prob >= np.quantile(prob, 0.9)].mean()
    bottom = hit[prob <= np.quantile(prob, 0.5)].mean()
    assert top > 3 * max(bottom, 1e-3)


def test_escalations_self_excite(city: SimulatedCity) -> None:
    hit = _truth_matrix(city, "escalations") > 0
    after_hit = hit[:, 1:][hit[:, :-1]].mean()
    assert after_hit > 1.5 * hit.mean()


def test_switching_off_shocks_lowers_the_rate() -> None:
    calm = SimulationParams(
        dynamics=DynamicsParams(w_project=0.0, w_project_neighbours=0.0, w_season=0.0)
    )
    base = simulate_city(150, 52, seed=1)
    quiet = simulate_city(150, 52, seed=1, params=calm)
    assert quiet.truth["expected"].mean() < base.truth["expected"].mean()


# --- other frequencies and edge sizes ------------------------------------------------


def test_monthly_city(monthly: SimulatedCity) -> None:
    assert monthly.start == pd.Timestamp("2021-02-01", tz=TZ)  # snapped to a month start
    assert monthly.end == pd.Timestamp("2023-02-01", tz=TZ)
    starts = monthly.truth["period_start"].drop_duplicates()
    assert len(starts) == 24 and (starts.dt.day == 1).all()
    np.testing.assert_array_equal(
        _escalation_matrix(monthly), _truth_matrix(monthly, "escalations")
    )
    for name, col in EVENT_TIME.items():
        times = monthly.tables()[name][col]
        assert (times >= monthly.start).all() and (times < monthly.end).all()
    # Monthly rates scale with period length: roughly four weekly periods' worth.
    weekly_rate = simulate_city(30, 104, seed=3, start="2021-02-01").truth["expected"].mean()
    assert 3.0 < monthly.truth["expected"].mean() / weekly_rate < 6.0


def test_weekly_start_snaps_to_monday() -> None:
    c = simulate_city(5, 3, seed=0, start="2021-01-06")
    assert c.start == pd.Timestamp("2021-01-11", tz=TZ) and c.start.day_of_week == 0


def test_daily_city() -> None:
    c = simulate_city(20, 30, seed=0, freq="D")
    assert c.end - c.start == pd.Timedelta(days=30)
    np.testing.assert_array_equal(_escalation_matrix(c), _truth_matrix(c, "escalations"))


def test_one_grid_one_period() -> None:
    c = simulate_city(n_grids=1, n_periods=1, seed=0)
    assert len(c.grids) == 1 and len(c.adjacency) == 0 and len(c.truth) == 1
    assert tuple(c.adjacency.columns) == TABLES["adjacency"].column_names
    for name in EVENT_TIME:
        assert tuple(c.tables()[name].columns) == _columns(name)


# --- writing -------------------------------------------------------------------------


def _normalise(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Cast a frame read back from CSV or Parquet to the contract kinds."""
    out = frame.copy()
    for spec in TABLES[table].columns:
        if spec.name not in out:  # recorded_at: written only with delays
            continue
        col = out[spec.name]
        if spec.kind == "timestamp":
            col = pd.to_datetime(col, format="ISO8601").dt.tz_convert(TZ).dt.as_unit("us")
        elif spec.kind == "bool":
            if not pd.api.types.is_bool_dtype(col):
                col = col.map({"True": True, "False": False}, na_action="ignore")
            col = col.astype("boolean")
        elif spec.kind == "int":
            col = col.astype(np.int64)
        elif spec.kind == "float":
            col = col.astype(np.float64)
        else:
            col = col.astype("str")
        out[spec.name] = col
    return out


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_write_round_trip(city: SimulatedCity, fmt: str, tmp_path) -> None:
    paths = write_city(city, tmp_path, fmt=fmt)
    for name, frame in city.tables().items():
        assert paths[name] == tmp_path / f"{name}.{fmt}"
        if fmt == "parquet":
            back = pd.read_parquet(paths[name])
            pd.testing.assert_frame_equal(back, frame, obj=name)
        else:
            back = pd.read_csv(paths[name], dtype=str, keep_default_na=False, na_values=[""])
            pd.testing.assert_frame_equal(
                _normalise(back, name), _normalise(frame, name), obj=name, rtol=1e-12
            )
    truth = pd.read_parquet(tmp_path / "_truth" / "escalation_probability.parquet")
    pd.testing.assert_frame_equal(truth, city.truth)
    meta = json.loads((tmp_path / "_truth" / "simulation.json").read_text(encoding="utf-8"))
    assert meta["seed"] == 7 and meta["n_grids"] == 200 and meta["n_periods"] == 60
    assert meta["freq"] == "W-MON" and pd.Timestamp(meta["end"]) == city.end
    assert meta["summary"]["escalations_total"] == int(city.truth["escalations"].sum())
    assert "dynamics" in meta["parameters"]
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporaries


def test_csv_timestamps_are_iso_with_offset(city: SimulatedCity, tmp_path) -> None:
    write_city(city, tmp_path, fmt="csv")
    back = pd.read_csv(tmp_path / "petitions.csv", dtype=str, keep_default_na=False)
    iso = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:00\+08:00")
    assert back["received_at"].str.fullmatch(iso.pattern).all()
    closed = back["closed_at"]
    assert (closed == "").any() and closed[closed != ""].str.fullmatch(iso.pattern).all()


def test_files_are_identical_for_the_same_seed(tmp_path) -> None:
    a = write_city(simulate_city(40, 20, seed=11), tmp_path / "a")
    b = write_city(simulate_city(40, 20, seed=11), tmp_path / "b")
    for name in a:
        assert a[name].read_bytes() == b[name].read_bytes(), name


def test_switching_format_leaves_one_file_per_table(city: SimulatedCity, tmp_path) -> None:
    write_city(city, tmp_path, fmt="csv")
    write_city(city, tmp_path, fmt="parquet")
    assert not list(tmp_path.glob("*.csv"))
    assert len(list(tmp_path.glob("*.parquet"))) == 5


# --- invalid arguments -----------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_grids": 0},
        {"n_grids": -3},
        {"n_grids": 2.5},
        {"n_periods": 0},
        {"freq": "fortnightly"},
        {"freq": "0D"},
        {"timezone": "Mars/Olympus"},
        {"start": "not a date"},
        {"start": "1995-01-02"},
    ],
)
def test_invalid_arguments_raise(kwargs: dict) -> None:
    args = {"n_grids": 5, "n_periods": 4, "seed": 0} | kwargs
    with pytest.raises(RiskwarnError):
        simulate_city(**args)


def test_invalid_format_raises(tmp_path) -> None:
    with pytest.raises(RiskwarnError, match="fmt"):
        write_city(simulate_city(3, 2), tmp_path, fmt="xlsx")


# --- internals and package rules ---------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(-30, 400, allow_nan=False),
            st.floats(0.5, 300, allow_nan=False),
            st.floats(0.1, 3, allow_nan=False),
        ),
        min_size=1,
        max_size=20,
    ),
    st.sampled_from(["W-MON", "MS", "D"]),
)
def test_interval_intensity_conserves_exposure(intervals, freq) -> None:
    timeline = make_timeline("2021-01-04", 12, freq, TZ)
    start = np.array([a for a, _, _ in intervals])
    end = start + np.array([d for _, d, _ in intervals])
    weight = np.array([w for _, _, w in intervals])
    grid = np.arange(len(intervals)) % 3
    out = interval_intensity(grid, start, end, weight, timeline, 3)
    covered = np.clip(np.minimum(end, timeline.edges_day[-1]) - np.maximum(start, 0), 0, None)
    expected = np.bincount(grid, weights=weight * covered, minlength=3)
    np.testing.assert_allclose((out * timeline.days).sum(axis=1), expected, atol=1e-6)
    assert (out >= 0).all()


def test_simulate_imports_only_allowed_package_modules() -> None:
    allowed = (
        "riskwarn.simulate",
        "riskwarn.data.contract",
        "riskwarn.atomic",
        "riskwarn.errors",
        "riskwarn.lunar",
        "riskwarn.spreadsheet",
    )
    root = Path(riskwarn.simulate.__file__).parent
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                if name == "riskwarn" or name.startswith("riskwarn."):
                    assert name.startswith(allowed), f"{path.name} imports {name}"
                assert name not in {"pickle", "mlflow"}, f"{path.name} imports {name}"
