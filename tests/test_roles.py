"""Feature roles: what a model needs, resolved on the columns a city has; skips before fits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskwarn.cli import main
from riskwarn.config import MODEL_NAMES
from riskwarn.errors import ConfigError, RiskwarnError
from riskwarn.models.catalogue import available_models, make_model, runnable_models
from riskwarn.models.hawkes import GraphHawkes
from riskwarn.models.roles import ROLES, resolve, windows
from riskwarn.simulate import DataShape, simulate_city, write_city

FULL = [
    *(f"{p}_n_w{w}" for p in ("pet", "dis", "inc", "esc") for w in (1, 4, 13, 52)),
    "esc_n_decay_h4",
    "esc_n_decay_h13",
    "pet_group_w4",
    "pet_repeat_w4",
    "dis_open",
    "inc_sev2plus_w4",
    "nbr_mean_pet_n_w4",
    "nbr_mean_inc_n_w4",
    "nbr_mean_esc_n_w4",
    "grid_type_urban",
    "grid_type_rural",
]
INCIDENTS_ONLY = [c for c in FULL if not c.startswith(("pet_", "dis_", "nbr_mean_pet"))]


def test_roles_resolve_to_the_default_columns_on_full_data():
    assert windows(FULL) == (1, 4, 52)
    assert resolve("escalations_last", FULL) == ["esc_n_w1"]
    assert resolve("escalations_long", FULL) == ["esc_n_w52"]
    assert resolve("escalation_kernel", FULL) == ["esc_n_w1", "esc_n_decay_h4", "esc_n_decay_h13"]
    assert resolve("recent_totals", FULL) == ["pet_n_w4", "dis_n_w4", "inc_n_w4"]
    assert resolve("neighbour_totals", FULL) == ["nbr_mean_pet_n_w4", "nbr_mean_inc_n_w4"]
    assert resolve("precursors", FULL) == ["pet_group_w4", "dis_open", "pet_repeat_w4"]
    assert resolve("grid_types", FULL) == ["grid_type_rural", "grid_type_urban"]


def test_roles_take_what_a_partial_city_has():
    assert resolve("recent_totals", INCIDENTS_ONLY) == ["inc_n_w4"]
    assert resolve("precursors", INCIDENTS_ONLY) == []  # Hawkes runs without them
    assert resolve("neighbour_totals", INCIDENTS_ONLY) == ["nbr_mean_inc_n_w4"]
    # Disputes alone have no spatial base of their own: the neighbours' escalations.
    disputes = ["dis_n_w1", "dis_n_w3", "dis_n_w12", "esc_n_w1", "esc_n_w3", "esc_n_w12"]
    disputes += ["nbr_mean_esc_n_w3"]
    assert windows(disputes) == (1, 3, 12)  # a monthly config's windows
    assert resolve("recent_totals", disputes) == ["dis_n_w3"]
    assert resolve("neighbour_totals", disputes) == ["nbr_mean_esc_n_w3"]
    assert resolve("escalations_long", disputes) == ["esc_n_w12"]
    with pytest.raises(RiskwarnError, match="unknown feature role"):
        resolve("everything", FULL)
    assert set(ROLES) >= {"recent_totals", "precursors"}


def test_models_fit_on_the_columns_they_find_and_keep_them():
    rng = np.random.default_rng(0)
    n = 200
    X = pd.DataFrame({c: rng.poisson(0.5, n).astype(float) for c in INCIDENTS_ONLY})
    X["grid_id"] = [f"G{i % 20}" for i in range(n)]
    X["as_of"] = pd.to_datetime("2024-01-01") + pd.to_timedelta(np.arange(n) // 20 * 7, "D")
    y = (rng.random(n) < 0.2).astype(float)
    hot = make_model("hotspot", horizon=1, graph=None).fit(X, y)
    assert hot.columns_ == ["inc_n_w4"]
    hawkes = GraphHawkes().fit(X, y)
    assert hawkes.precursor_columns_ == [] and hawkes.own_columns_[0] == "esc_n_w1"
    assert hawkes.predict_proba(X).shape == (n, 2)
    # An explicit tuple is taken literally: a missing column is a clear error.
    with pytest.raises(RiskwarnError, match="pet_group_w4"):
        GraphHawkes(precursor_columns=("pet_group_w4",)).fit(X, y)


def test_only_graph_models_are_skipped_and_each_says_why():
    runs, skipped = available_models(MODEL_NAMES, INCIDENTS_ONLY, has_graph=False)
    assert set(skipped) == {"graph_hotspot", "graph_hawkes", "graph_diffusion"}
    assert all("no grid graph" in reason for reason in skipped.values())
    assert "ensemble" in runs and "hotspot" in runs
    no_neighbours = [c for c in FULL if not c.startswith("nbr_")]
    _, skipped = available_models(["graph_hotspot"], no_neighbours, has_graph=True)
    assert "spatial = false" in skipped["graph_hotspot"]
    with pytest.raises(ConfigError, match="no model of \\[backtest\\] models can run"):
        runnable_models(["graph_hawkes", "graph_diffusion"], INCIDENTS_ONLY, has_graph=False)
    with pytest.raises(ConfigError, match="\\[train\\] model 'graph_hawkes' cannot run"):
        runnable_models(["graph_hawkes"], FULL, has_graph=False, required="graph_hawkes")


def test_the_ensemble_takes_only_what_runs():
    e = make_model("ensemble", horizon=1, graph=None, columns=INCIDENTS_ONLY)
    assert set(e.components) == {"lightgbm"}
    assert "graph_hotspot" not in e.baselines and next(iter(e.baselines)) == "shrunk_rate"


@pytest.fixture(scope="module")
def no_graph_city(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nograph")
    sim = simulate_city(n_grids=20, n_periods=40, seed=2)
    write_city(sim, folder, shape=DataShape(tables=("incidents",), no_graph=True))
    end = sim.end.tz_convert("Asia/Shanghai").tz_localize(None).isoformat()
    return folder, end


def test_a_models_list_that_cannot_run_exits_2_before_any_fit(no_graph_city, tmp_path, capsys):
    folder, end = no_graph_city
    config = tmp_path / "c.toml"
    config.write_text(
        f'[data]\nend = "{end}"\n[backtest]\nmodels = ["graph_hawkes", "graph_diffusion"]\n'
    )
    out = tmp_path / "bt"
    args = ["backtest", "--data", str(folder), "--config", str(config), "--out", str(out)]
    assert main([*args, "--no-track"]) == 2
    err = capsys.readouterr().err
    assert "no grid graph" in err and "shrunk_rate" in err
    assert not out.exists()  # nothing was fitted or written
    config.write_text(f'[data]\nend = "{end}"\n[train]\nmodel = "graph_hawkes"\n')
    assert main(["train", "--data", str(folder), "--config", str(config)]) == 2
    assert "[train] model 'graph_hawkes' cannot run" in capsys.readouterr().err


def test_a_label_rule_on_an_absent_table_exits_2_with_the_fix(no_graph_city, tmp_path, capsys):
    folder, end = no_graph_city
    config = tmp_path / "c.toml"
    config.write_text(
        f'[data]\nend = "{end}"\n[[label.any_of]]\ntable = "petitions"\ncolumn = "group_size"\n'
        'op = ">="\nvalue = 5\n'
    )
    args = ["backtest", "--data", str(folder), "--config", str(config), "--out", str(tmp_path)]
    assert main([*args, "--no-track"]) == 2
    err = capsys.readouterr().err
    assert "no petitions table" in err and "remove it from [label]" in err
