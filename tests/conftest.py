"""Shared test helpers: small datasets written to a temporary folder."""

from __future__ import annotations

import os

# One BLAS thread in the tests, their notebook kernels and subprocesses. riskwarn's
# dense solves are tiny (stacking weights, Platt scaling, logistic regressions on a
# few features), and OpenBLAS's thread per core makes each L-BFGS step wait for its
# workers: up to 20 times slower when the cores are busy, as they are while the
# backtest fits in parallel (a quarter of the shape matrix's time on two cores). No
# test is about BLAS threads. Set before NumPy loads where it can (notebook kernels
# and subprocesses inherit it), and by threadpoolctl below for this process.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from riskwarn.config import Config, DataConfig


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread():
    """NumPy's and SciPy's BLAS on one thread (NumPy may be loaded before this file)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def square(x: float, y: float, size: float = 1.0) -> str:
    """WKT of an axis-aligned square with lower-left corner (x, y)."""
    return f"POLYGON(({x} {y}, {x + size} {y}, {x + size} {y + size}, {x} {y + size}, {x} {y}))"


def base_tables() -> dict[str, pd.DataFrame]:
    """A tiny valid city: 4 grids (G4 has no events), petitions, disputes, incidents."""
    grids = pd.DataFrame(
        {
            "grid_id": ["G1", "G2", "G3", "G4"],
            "name": ["North", "South", "East", "West"],
            "population": ["1200", "800", "3000", "50"],
            "area_km2": ["0.5", "2.0", "0.3", "4.0"],
            "grid_type": ["urban", "rural", "urban", "rural"],
        }
    )
    petitions = pd.DataFrame(
        {
            "case_id": ["P1", "P2", "P3", "P4"],
            "grid_id": ["G1", "G1", "G2", "G3"],
            "received_at": [
                "2023-01-02T09:00:00",
                "2023-01-09T10:30:00+08:00",
                "2023-01-10",
                "2023-02-01T02:00:00Z",
            ],
            "category": ["land_requisition", "wage_arrears", "environment", "other"],
            "group_size": ["1", "6", "", "2"],
            "is_repeat": ["false", "true", "", "no"],
            "level": ["1", "3", "2", ""],
            "closed_at": ["2023-01-20", "", "", "2023-02-03"],
        }
    )
    disputes = pd.DataFrame(
        {
            "case_id": ["D1", "D2"],
            "grid_id": ["G2", "G3"],
            "reported_at": ["2023-01-05", "2023-01-06"],
            "category": ["land", "labour"],
            "status": ["resolved", "unresolved"],
            "resolved_at": ["2023-01-15", ""],
            "parties": ["2", "3"],
            "amount": ["1000", ""],
        }
    )
    incidents = pd.DataFrame(
        {
            "event_id": ["I1", "I2"],
            "grid_id": ["G1", "G3"],
            "occurred_at": ["2023-01-03T18:00:00", "2023-01-12T08:00:00"],
            "type": ["gathering", "blockade"],
            "severity": ["2", "3"],
            "participants": ["10", "40"],
        }
    )
    return {"grids": grids, "petitions": petitions, "disputes": disputes, "incidents": incidents}


def write_tables(folder: Path, tables: dict[str, pd.DataFrame | str], fmt: str = "csv") -> Path:
    """Write each table as ``<name>.csv`` / ``.parquet``; a str value is written verbatim."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        if isinstance(table, str):
            (folder / f"{name}.csv").write_text(table, encoding="utf-8")
        elif fmt == "parquet":
            table.to_parquet(folder / f"{name}.parquet", index=False)
        else:
            table.to_csv(folder / f"{name}.csv", index=False)
    return folder


@pytest.fixture
def config() -> Config:
    """Fixed data end so that tests do not depend on today's date."""
    return Config(data=DataConfig(end="2024-01-01"))


@pytest.fixture
def city(tmp_path: Path) -> Path:
    return write_tables(tmp_path / "city", base_tables())


#: A quick city config for tests that need a registered model, not a good one: the
#: historical rate at horizon 1 (``{end}`` filled by :func:`registered_city`).
HIST_RATE_CONFIG = """
[data]
end = "{end}"
[label]
horizon = 1
[backtest]
refit_every = 26
models = ["hist_rate"]
[train]
model = "hist_rate"
registered_name = "NAME"
"""


def registered_city(
    folder: Path, config: str, *, n_grids: int, n_periods: int, seed: int, store: bool = True
):
    """A simulated city under ``folder``, trained and registered by ``riskwarn train``.

    ``config`` is TOML with an ``{end}`` field (the data's end, local time). With
    ``store`` the run goes to a tracking store of its own, ``folder/mlruns.db``.
    Returns the ``--data`` (and ``--tracking-uri``) arguments, the config path and the
    simulated city.
    """
    from riskwarn.cli import main
    from riskwarn.simulate import simulate_city, write_city

    sim = simulate_city(n_grids=n_grids, n_periods=n_periods, seed=seed)
    write_city(sim, folder / "data")
    end = sim.end.tz_convert("Asia/Shanghai").tz_localize(None).isoformat()
    path = folder / "config.toml"
    path.write_text(config.format(end=end), encoding="utf-8")
    args = ["--data", str(folder / "data")]
    if store:
        args += ["--tracking-uri", f"sqlite:///{folder / 'mlruns.db'}"]
    assert main(["train", *args, "--config", str(path), "--register"]) == 0
    return args, path, sim


def simulated_features(folder: Path, n_grids: int, n_periods: int, seed: int, horizon: int = 4):
    """Simulate a city into ``folder``; return its config, feature frame (with labels) and graph."""
    from riskwarn.config import LabelConfig
    from riskwarn.data.validate import load_dataset
    from riskwarn.features.build import build_features
    from riskwarn.panel.graph import build_grid_graph
    from riskwarn.simulate import simulate_city, write_city

    sim = simulate_city(n_grids=n_grids, n_periods=n_periods, seed=seed)
    write_city(sim, folder)
    end = sim.end.tz_convert("Asia/Shanghai").tz_localize(None).isoformat()
    config = Config(data=DataConfig(end=end), label=LabelConfig(horizon=horizon))
    dataset = load_dataset(folder, config)
    graph = build_grid_graph(dataset.grids, dataset.adjacency, k=config.graph.k).graph
    return config, build_features(dataset, config, labels=True), graph


@pytest.fixture(autouse=True, scope="session")
def _tracking_store(tmp_path_factory):
    """Every test logs to its own session store, never to mlruns.db in the repository."""
    import os

    folder = tmp_path_factory.mktemp("mlflow")
    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlruns.db'}"
    yield folder
    if old is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = old


def wild_later_rows(frame: pd.DataFrame, late) -> pd.DataFrame:
    """``frame`` with every numeric feature of the ``late`` rows changed beyond recognition."""
    wild = frame.copy()
    for col in wild.select_dtypes("number").columns:
        if not col.startswith(("label_", "count_")):
            wild[col] = wild[col].where(~late, wild[col] * 7 + 3)
    return wild


def check_ignores_later_rows(fit, frame: pd.DataFrame, cut) -> tuple[np.ndarray, np.ndarray]:
    """Assert that a model fitted on the rows before ``cut`` never uses a later row.

    ``fit(rows)`` returns a freshly fitted model. The model is fitted on the rows
    before ``cut`` and scores (1) the whole frame, (2) the frame with its later rows
    made wild, (3) one date alone. The earlier rows' scores must be the same in all
    three: nothing of a later date (nor of another date) reaches them, whether
    through what the model kept from fit or through what the scoring batch holds.
    Returns the scores of (1) and (2) for further checks.
    """
    late = (frame["as_of"] >= cut).to_numpy()
    train = frame[~late]
    model = fit(train)
    a = model.predict_proba(frame)
    np.testing.assert_array_equal(a, fit(train).predict_proba(frame))  # reproducible
    d = model.predict_proba(wild_later_rows(frame, late))
    np.testing.assert_array_equal(a[~late], d[~late])
    day = frame.loc[~late, "as_of"].max()
    alone = (frame["as_of"] == day).to_numpy()
    np.testing.assert_array_equal(model.predict_proba(frame[alone]), a[alone])
    return a, d
