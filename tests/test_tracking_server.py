"""Train → register → score against a real MLflow server: nothing is written locally."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

import mlflow
import pandas as pd
import pytest

from riskwarn.cli import main
from tests.test_tracking import _as_of_dates, _config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow_server")
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{root / 'server.db'}",
            "--artifacts-destination",
            str(root / "artifacts"),
        ],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited: {proc.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("mlflow server did not answer /health within 120 s")
        time.sleep(0.5)
    yield url, root
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_train_register_score_against_a_server_writes_nothing_locally(
    city, server, tmp_path, monkeypatch, capsys
):
    url, root = server
    folder, end = city
    config = _config(folder, end, "rw-server")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    args = ["--tracking-uri", url]
    data = str(folder / "data")
    assert main(["train", "--data", data, "--config", str(config), "--register", *args]) == 0
    out = capsys.readouterr().out
    assert "registered rw-server version 1" in out and url in out
    dates = _as_of_dates(folder, config)
    watch = tmp_path / "watch"
    uri = "models:/rw-server@challenger"
    code = main(
        ["score", "--data", data, "--model", uri, "--as-of", dates[-1], "--out", str(watch), *args]
    )
    assert code == 0
    w = pd.read_parquet(watch / "watchlist.parquet")
    assert len(w) == 60 and (w["model_version"] == "1").all()
    assert w["reasons"].map(len).max() >= 1
    # Everything went to the server: its store and its artifact folder.
    assert list(work.iterdir()) == []
    assert (root / "server.db").exists() and any((root / "artifacts").rglob("MLmodel"))
    client = mlflow.MlflowClient(url, url)
    version = client.get_model_version_by_alias("rw-server", "challenger")
    assert client.get_run(version.run_id).data.metrics["promotion.ap_h1"] > 0


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    from riskwarn.simulate import simulate_city, write_city

    folder = tmp_path_factory.mktemp("server_city")
    sim = simulate_city(n_grids=60, n_periods=90, seed=11)
    write_city(sim, folder / "data")
    return folder, sim.end.tz_convert("Asia/Shanghai").tz_localize(None).isoformat()
