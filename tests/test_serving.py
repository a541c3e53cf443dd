"""The registered model behind a real ``mlflow models serve``: scores that do not
depend on the request, ``as_of`` in any form a client has.

Shown to fail on the old code: before, the graph ensemble gave a grid sent alone
another score than the same grid in the whole city (its graph models took the
neighbours from the request; later they refused such a request), and a frame with
UTC instants (``riskwarn features``' own output) was refused by MLflow's schema check.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from riskwarn.cli import main
from riskwarn.simulate import simulate_city, write_city

REPO = Path(__file__).resolve().parents[1]
CONFIG = """
[data]
end = "{end}"
[label]
horizon = 1
[backtest]
refit_every = 26
models = ["hist_rate"]
[train]
model = "{model}"
registered_name = "{name}"
"""


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    folder = tmp_path_factory.mktemp("served_city")
    sim = simulate_city(n_grids=40, n_periods=80, seed=21)
    write_city(sim, folder / "data")
    end = sim.end.tz_convert("Asia/Shanghai").tz_localize(None).isoformat()
    models = {}
    for model in ("ensemble",):
        config = folder / f"{model}.toml"
        name = f"rw-served-{model.replace('_', '-')}"
        config.write_text(CONFIG.format(end=end, model=model, name=name), encoding="utf-8")
        args = ["train", "--data", str(folder / "data"), "--config", str(config), "--register"]
        assert main(args) == 0
        models[model] = (name, config)
    return folder, models


def _features(folder: Path, config: Path) -> pd.DataFrame:
    """The last as-of frame as ``riskwarn features`` writes it (``as_of`` in UTC)."""
    out = folder / f"features-{config.stem}.parquet"
    if not out.exists():
        from riskwarn.config import load_config
        from riskwarn.data.validate import load_dataset
        from riskwarn.features.build import prepare_features

        cfg = load_config(config)
        builder = prepare_features(load_dataset(folder / "data", cfg), cfg)
        last = builder.data.periods.as_of_dates[-1]
        builder.data.con.disconnect()
        args = ["features", "--data", str(folder / "data"), "--config", str(config)]
        assert main([*args, "--as-of", f"{last:%Y-%m-%d}", "--out", str(out)]) == 0
    return pd.read_parquet(out)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(city):
    """``mlflow models serve`` of the ensemble (graph models included), in its own process."""
    name = city[1]["ensemble"][0]
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            f"models:/{name}/1",
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "-p",
            str(port),
            "-w",
            "1",
        ],
        cwd=REPO,
        # MLflow starts uvicorn by name: the environment's scripts must be on PATH
        env={
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"mlflow models serve stopped: {proc.stderr.read()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("mlflow models serve did not answer /ping within 180 s")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def _post(url: str, frame: pd.DataFrame) -> pd.DataFrame:
    body = {"dataframe_split": json.loads(frame.to_json(orient="split", date_format="iso"))}
    request = urllib.request.Request(
        f"{url}/invocations",
        data=json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as r:
        answer = json.loads(r.read())
    return pd.DataFrame(answer["predictions"]).set_index("grid_id")


def test_a_served_grid_scores_the_same_alone_in_a_few_or_in_the_whole_city(city, server):
    folder, models = city
    frame = _features(folder, models["ensemble"][1])
    assert str(frame["as_of"].dt.tz) == "UTC"  # riskwarn features' own output, sent as is
    whole = _post(server, frame)
    assert len(whole) == 40
    few = _post(server, frame.iloc[[3, 11, 29]])
    one = _post(server, frame.iloc[[17]])
    for part in (few, one):
        np.testing.assert_array_equal(part["score"], whole.loc[part.index, "score"])
        np.testing.assert_array_equal(
            part["expected_events"], whole.loc[part.index, "expected_events"]
        )
    # the REST answer is the registered model's own, and as_of comes back as local time
    local = mlflow.pyfunc.load_model(f"models:/{models['ensemble'][0]}/1").predict(frame)
    np.testing.assert_allclose(whole.loc[local["grid_id"], "score"], local["score"], rtol=1e-12)
    local_day = frame["as_of"].dt.tz_convert("Asia/Shanghai").dt.tz_localize(None).iloc[0]
    assert pd.Timestamp(whole["as_of"].iloc[0]) == local_day


def test_as_of_as_naive_local_time_or_an_instant_gives_the_same_scores(city):
    folder, models = city
    frame = _features(folder, models["ensemble"][1])
    model = mlflow.pyfunc.load_model(f"models:/{models['ensemble'][0]}/1")
    utc = model.predict(frame)
    naive = frame.assign(as_of=frame["as_of"].dt.tz_convert("Asia/Shanghai").dt.tz_localize(None))
    text = frame.assign(as_of=frame["as_of"].dt.tz_convert("Asia/Shanghai").map(str))
    for other in (model.predict(naive), model.predict(text)):
        pd.testing.assert_frame_equal(other, utc)


def test_the_served_ensemble_has_graph_parts_that_score_any_subset(city):
    # What makes the test above mean something: the graph models carry weight.
    folder, models = city
    name, config = models["ensemble"]
    frame = _features(folder, config)
    model = mlflow.pyfunc.load_model(f"models:/{name}/1")
    ensemble = model.unwrap_python_model().bundle.scorer.model_
    graph_weight = sum(ensemble.weights_.get(n, 0.0) for n in ("graph_hawkes", "graph_diffusion"))
    assert graph_weight > 0, ensemble.weights_
    whole = model.predict(frame).set_index("grid_id")
    for rows in (frame.iloc[[0]], frame.iloc[::5], frame.sample(frac=1.0, random_state=0)):
        part = model.predict(rows).set_index("grid_id")
        pd.testing.assert_series_equal(part["score"], whole.loc[part.index, "score"])
