"""Train → register → score on the embedded MLflow store, and the registry's rules."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from riskwarn.cli import main
from riskwarn.models.horizons import curve_columns
from riskwarn.simulate import simulate_city, write_city

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
metric = "ap"
registered_name = "{name}"
"""


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tracked_city")
    sim = simulate_city(n_grids=60, n_periods=90, seed=11)
    write_city(sim, folder / "data")
    end = sim.end.tz_convert("Asia/Shanghai").tz_localize(None).isoformat()
    return folder, end


def _config(folder: Path, end: str, name: str, model: str = "ensemble") -> Path:
    path = folder / f"{name}-{model}.toml"
    path.write_text(CONFIG.format(end=end, name=name, model=model), encoding="utf-8")
    return path


def _as_of_dates(folder: Path, config: Path) -> list[str]:
    from riskwarn.config import load_config
    from riskwarn.data.validate import load_dataset
    from riskwarn.features.build import prepare_features

    cfg = load_config(config)
    builder = prepare_features(load_dataset(folder / "data", cfg), cfg)
    dates = builder.data.periods.as_of_dates
    builder.data.con.disconnect()
    return [f"{d:%Y-%m-%d}" for d in dates]


def test_train_register_score_on_the_embedded_store(city, tmp_path, monkeypatch, capsys):
    folder, end = city
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI")  # the embedded default in the working folder
    config = _config(folder, end, "rw-embedded")
    assert (
        main(["train", "--data", str(folder / "data"), "--config", str(config), "--register"]) == 0
    )
    out = capsys.readouterr().out
    assert "registered rw-embedded version 1" in out
    assert (tmp_path / "mlruns.db").exists() and (tmp_path / "mlruns").is_dir()
    client = mlflow.MlflowClient("sqlite:///mlruns.db", "sqlite:///mlruns.db")
    version = client.get_model_version_by_alias("rw-embedded", "challenger")
    run = client.get_run(version.run_id)
    assert run.data.tags["data.sha256"] and run.data.tags["riskwarn.version"]
    assert "data.petitions.sha256" in run.data.tags
    assert run.data.params["label.horizon"] == "1"
    assert "promotion.ap_h1" in run.data.metrics and "ensemble.h1.ap" in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.json", "features.manifest.json", "metrics.json", "plots"} <= artifacts
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert "plots/reliability_h1.png" in plots and "plots/feature_importance.png" in plots
    assert "plots/pit_h1.png" in plots  # the count forecast's PIT histogram
    assert "ensemble.h1.crps_skill" in run.data.metrics
    # Whole-number features are doubles in the signature: a client's missing value
    # (NaN) must pass the schema check.
    info = mlflow.models.get_model_info(f"runs:/{run.info.run_id}/model")
    types = {spec.name: str(spec.type) for spec in info.signature.inputs.inputs}
    assert types["pet_n_w4"].endswith("double") and not any(
        t.endswith(("integer", "long")) for t in types.values()
    )

    as_of = _as_of_dates(folder, config)
    out_dir = tmp_path / "watch"
    uri = "models:/rw-embedded@challenger"
    assert _score(folder, uri, as_of[-2], out_dir) == 0
    w = pd.read_parquet(out_dir / "watchlist.parquet")
    assert len(w) == 60 and w["rank"].tolist() == list(range(1, 61))
    assert (w["model_version"] == "1").all() and (w["run_id"] == version.run_id).all()
    assert (w["change"] == "new").all()
    assert {"watchlist.csv", "watchlist.json", "watchlist.geojson"} <= {
        p.name for p in out_dir.iterdir()
    }
    # Scoring again gives the same rows (generated_at aside).
    assert _score(folder, uri, as_of[-2], out_dir) == 0
    again = pd.read_parquet(out_dir / "watchlist.parquet")
    pd.testing.assert_frame_equal(
        w.drop(columns="generated_at"), again.drop(columns="generated_at")
    )
    # The next as-of date compares with this one.
    assert _score(folder, uri, as_of[-1], out_dir) == 0
    nxt = pd.read_parquet(out_dir / "watchlist.parquet").set_index("grid_id")
    before = w.set_index("grid_id")["rank"]
    assert (nxt["prev_rank"] == before.reindex(nxt.index)).all()
    expected = [
        "up" if r < p else "down" if r > p else "same"
        for r, p in zip(nxt["rank"], nxt["prev_rank"], strict=True)
    ]
    assert nxt["change"].tolist() == expected
    # The pyfunc scores the same as riskwarn score.
    mlflow.set_registry_uri("sqlite:///mlruns.db")
    model = mlflow.pyfunc.load_model("models:/rw-embedded/1")
    features = _features(folder, config, as_of[-1])
    pyfunc = model.predict(features).set_index("grid_id")
    assert (pyfunc["score"] - nxt["score"].reindex(pyfunc.index)).abs().max() < 1e-12
    # ... with the same count distribution: its mean, its range and the risk curve
    for column in ("expected_events", "events_q10", "events_q90", *curve_columns(1)):
        np.testing.assert_allclose(
            pyfunc[column].to_numpy(float), nxt[column].reindex(pyfunc.index).to_numpy(float)
        )
    # ... and gives the same reasons in the same plain words (one module for both).
    for lang in ("en", "zh"):
        assert pyfunc[f"reasons_{lang}"].equals(nxt[f"reasons_{lang}"].reindex(pyfunc.index))


def _score(folder: Path, uri: str, as_of: str, out: Path, *extra: str) -> int:
    args = ["--data", str(folder / "data"), "--model", uri, "--as-of", as_of, "--out", str(out)]
    return main(["score", *args, *extra])


def _client() -> mlflow.MlflowClient:
    # Explicit URIs: an earlier test may have pointed MLflow's global state elsewhere.
    uri = os.environ["MLFLOW_TRACKING_URI"]
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow.MlflowClient(uri, uri)


def _features(folder, config, as_of):
    from riskwarn.config import load_config
    from riskwarn.data.validate import load_dataset
    from riskwarn.features.build import build_features

    cfg = load_config(config)
    frame = build_features(load_dataset(folder / "data", cfg), cfg, as_of=as_of)
    frame["as_of"] = frame["as_of"].dt.tz_localize(None)
    return frame


def _train(folder, end, name, model, capsys):
    config = _config(folder, end, name, model)
    code = main(["train", "--data", str(folder / "data"), "--config", str(config), "--register"])
    assert code == 0
    return capsys.readouterr().out, config


def test_champion_moves_only_when_the_backtest_beats_it(city, capsys, tmp_path):
    folder, end = city
    name = "rw-promotion"
    client = _client()
    out, _ = _train(folder, end, name, "hist_rate", capsys)
    # A baseline cannot beat the best baseline: the first version is not champion.
    assert "champion unchanged" in out and "does not beat the best baseline" in out
    with pytest.raises(mlflow.exceptions.MlflowException):
        client.get_model_version_by_alias(name, "champion")
    # ... and both train and score say what to do instead
    assert "no champion yet" in out and f"--model models:/{name}/1" in out
    assert "riskwarn promote 1" in out
    assert _score(folder, f"models:/{name}@champion", "2024-01-01", tmp_path / "w") == 2
    err = capsys.readouterr().err
    assert "none has the alias 'champion'" in err and f"models:/{name}/1" in err
    out, _ = _train(folder, end, name, "ensemble", capsys)
    assert "champion → version 2" in out and "beats the best baseline" in out
    champion = client.get_model_version_by_alias(name, "champion")
    assert str(champion.version) == "2" and champion.tags["riskwarn.promoted_by"].startswith(
        "automatic"
    )
    out, config = _train(folder, end, name, "hist_rate", capsys)
    assert "champion unchanged" in out and "champion's (version 2)" in out
    assert str(client.get_model_version_by_alias(name, "champion").version) == "2"
    assert str(client.get_model_version_by_alias(name, "challenger").version) == "3"
    # A deliberate move, recorded on the version.
    assert main(["promote", "3", "--config", str(config)]) == 0
    assert "version 3 (was 2)" in capsys.readouterr().out
    moved = client.get_model_version_by_alias(name, "champion")
    assert str(moved.version) == "3" and moved.tags["riskwarn.promoted_by"].startswith("manual")
    assert moved.tags["riskwarn.previous_champion"] == "2"
    assert main(["promote", "99", "--config", str(config)]) == 2
    assert "no version '99'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def registered(city):
    folder, end = city
    config = _config(folder, end, "rw-rules")
    assert (
        main(["train", "--data", str(folder / "data"), "--config", str(config), "--register"]) == 0
    )
    return folder, config, _as_of_dates(folder, config)


def test_score_refuses_anything_but_a_registry_uri_and_bad_dates(registered, tmp_path, capsys):
    folder, _, dates = registered
    for uri in ("runs:/abc/model", str(tmp_path), "models:/rw-rules"):
        assert _score(folder, uri, dates[-1], tmp_path) == 2
        assert "registry URI" in capsys.readouterr().err
    champion = "models:/rw-rules@champion"
    assert _score(folder, champion, "2030-01-07", tmp_path) == 2
    assert "not a valid as-of date" in capsys.readouterr().err
    assert _score(folder, champion, dates[-1] + " 12:00", tmp_path) == 2
    assert _score(folder, "models:/rw-nothing@champion", dates[-1], tmp_path) == 2
    assert "no model" in capsys.readouterr().err
    assert not (tmp_path / "watchlist.parquet").exists()


@pytest.mark.parametrize(
    "name, content, words",
    [
        ("artifacts/scorer/extra.pkl", b"\x80\x04\x95harmless but a pickle", "not a file of"),
        # a protocol-0 pickle under an innocent name: no header check would see it
        ("artifacts/scorer/notes.json", b"cos\nsystem\n(S'true'\ntR.", "not a file of"),
        ("pyfunc_model.py", None, "not this riskwarn's pyfunc code"),
    ],
)
def test_score_refuses_a_model_with_files_riskwarn_does_not_make(
    registered, tmp_path, capsys, name, content, words
):
    folder, _, dates = registered
    client = _client()
    version = client.get_model_version_by_alias("rw-rules", "champion")
    location = Path(mlflow.artifacts.download_artifacts(f"models:/rw-rules/{version.version}"))
    evil = location / name
    before = evil.read_bytes() if evil.exists() else None
    evil.write_bytes(content if content is not None else before + b"\nimport os  # added\n")
    try:
        champion = "models:/rw-rules@champion"
        assert _score(folder, champion, dates[-1], tmp_path) == 2
        assert words in capsys.readouterr().err
        assert not (tmp_path / "watchlist.parquet").exists()
        assert _score(folder, champion, dates[-1], tmp_path, "--allow-pickle") == 0
    finally:
        if before is None:
            evil.unlink()
        else:
            evil.write_bytes(before)


def test_score_needs_the_features_the_model_was_trained_with(registered, tmp_path, capsys):
    folder, _, dates = registered
    copy = tmp_path / "copy"
    shutil.copytree(folder / "data", copy / "data")
    for path in (copy / "data").glob("incidents.*"):
        path.unlink()
    assert _score(copy, "models:/rw-rules@champion", dates[-1], tmp_path / "w") == 2
    err = capsys.readouterr().err
    assert "lacks" in err and "inc_" in err


def test_plots_of_a_citys_chinese_words_are_made_without_warnings(tmp_path):
    # Feature names carry a city's category words; without a Chinese font matplotlib
    # warned once per glyph on the user's console (and the tests turn a warning
    # raised from riskwarn's code into an error).
    import warnings

    from riskwarn.backtest import plots
    from riskwarn.tracking.runs import _log_figure

    names = {"inc_typ_邻里纠纷_w4": 3.0, "pet_cat_征地拆迁_w13": 2.0, "pet_n_w4": 1.0}
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Glyph")
        fig = plots.feature_importance(pd.Series(names))
        mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns.db'}")
        with mlflow.start_run() as run:
            _log_figure(fig, "plots/feature_importance.png")
    listed = [a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "plots")]
    assert listed == ["plots/feature_importance.png"]
