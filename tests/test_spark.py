"""Spark engine parity: the same features, labels and scores as the embedded path.

Spark runs in local mode (Java 17 and pyspark are test dependencies). One module
fixture simulates a small city, builds it on both engines, and trains and
registers one model, so the Spark session starts once.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from riskwarn.cli import main
from riskwarn.config import Config, DataConfig
from riskwarn.data.validate import load_dataset
from riskwarn.features.build import build_features, prepare_features, read_feature_file
from riskwarn.simulate import simulate_city, write_city
from tests.test_report import CONFIG as REPORT_CONFIG
from tests.test_tracking import _as_of_dates

TZ = "Asia/Shanghai"

pytestmark = pytest.mark.skipif(
    shutil.which("java") is None, reason="Spark needs a Java runtime; none is installed here"
)

# The report tests' city config, under a registered name of its own.
CONFIG = REPORT_CONFIG.replace('"rw-report"', '"rw-spark"')


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spark_city")
    sim = simulate_city(n_grids=48, n_periods=70, seed=11)
    write_city(sim, folder / "data")
    end = sim.end.tz_convert(TZ).tz_localize(None).isoformat()
    config_path = folder / "spark.toml"
    config_path.write_text(CONFIG.format(end=end), encoding="utf-8")
    config = Config(data=DataConfig(end=end))
    dataset = load_dataset(folder / "data", config)
    return {"folder": folder, "config": config, "config_path": config_path, "dataset": dataset}


def _same_features(spark: pd.DataFrame, duck: pd.DataFrame) -> None:
    """Equal frames: integers and labels exactly, decayed sums to float rounding."""
    decay = [c for c in duck.columns if "_decay_" in c]
    assert list(spark.columns) == list(duck.columns)
    pd.testing.assert_frame_equal(spark.drop(columns=decay), duck.drop(columns=decay))
    np.testing.assert_allclose(
        spark[decay].to_numpy(float), duck[decay].to_numpy(float), rtol=1e-5, atol=1e-6
    )


def test_spark_builds_every_feature_and_label_as_duckdb(city, tmp_path):
    """The whole panel, written by Spark as part files, equals DuckDB's single file."""
    config, dataset = city["config"], city["dataset"]
    duck = prepare_features(dataset, config)
    spark = prepare_features(dataset, config, vocabulary=duck.vocabulary, engine="spark")
    assert spark.kernel == "sql" and duck.kernel == "arrays"
    try:
        duck_path = duck.write_parquet(tmp_path / "duck.parquet", labels=True)
        spark_path = spark.write_parquet(tmp_path / "spark.parquet", labels=True)
    finally:
        duck.close()
        spark.close()
    assert spark_path.is_dir() and any(spark_path.glob("part-*.parquet"))
    frames = [read_feature_file(p, TZ) for p in (spark_path, duck_path)]
    assert len(frames[1]) == 48 * duck.periods.n_complete
    assert frames[1]["label_h1"].notna().sum() > 0 and frames[1]["label_h1"].sum() > 0
    _same_features(*frames)


def test_one_as_of_date_on_spark_equals_duckdb(city):
    config, dataset = city["config"], city["dataset"]
    builder = prepare_features(dataset, config)
    try:
        duck, vocabulary = builder.to_pandas(labels=True), builder.vocabulary
    finally:
        builder.close()
    dates = sorted(duck["as_of"].unique())
    for t in (dates[0], dates[-3]):
        local = pd.Timestamp(t).tz_localize(None)
        # the panel's categories (a single date alone would count those before it)
        one = build_features(
            dataset, config, as_of=local, labels=True, vocabulary=vocabulary, engine="spark"
        )
        ref = duck[duck["as_of"] == t].reset_index(drop=True)
        _same_features(one, ref)
        alone = build_features(dataset, config, as_of=local, labels=True, engine="spark")
        _same_features(alone, build_features(dataset, config, as_of=local, labels=True))


def test_the_features_command_writes_part_files_with_engine_spark(city, tmp_path):
    data = str(city["folder"] / "data")
    args = ["features", "--data", data, "--config", str(city["config_path"]), "--labels"]
    assert main([*args, "--out", str(tmp_path / "d.parquet")]) == 0
    assert main([*args, "--out", str(tmp_path / "s.parquet"), "--engine", "spark"]) == 0
    assert (tmp_path / "s.manifest.json").read_text() == (tmp_path / "d.manifest.json").read_text()
    _same_features(
        read_feature_file(tmp_path / "s.parquet", TZ), read_feature_file(tmp_path / "d.parquet", TZ)
    )
    # writing again replaces the folder (atomically), not appending part files
    assert main([*args, "--out", str(tmp_path / "s.parquet"), "--engine", "spark"]) == 0
    again = read_feature_file(tmp_path / "s.parquet", TZ)
    assert len(again) == len(read_feature_file(tmp_path / "d.parquet", TZ))
    assert main([*args, "--out", str(tmp_path / "x.parquet"), "--engine", "flink"]) == 2


def test_two_spark_builders_open_at_once_keep_their_own_tables(city, tmp_path):
    """Spark's views are per session: a second builder must not replace the first's."""
    from tests.conftest import base_tables, write_tables

    config, dataset = city["config"], city["dataset"]
    first = prepare_features(dataset, config, engine="spark")
    tiny_config = Config(data=DataConfig(end="2023-03-06"))
    tiny = load_dataset(write_tables(tmp_path, base_tables()), tiny_config)
    second = prepare_features(tiny, tiny_config, engine="spark")
    try:
        t = first.periods.as_of_dates[-1]
        assert len(second.to_pandas(second.periods.as_of_dates[-1])) == 4
        assert len(first.to_pandas(t)) == 48
    finally:
        first.close()
        second.close()


def test_a_graph_with_islands_and_a_single_grid_build_on_spark(tmp_path):
    """Unhappy shapes: grids without neighbours, and a city of one grid."""
    from tests.conftest import base_tables, write_tables

    config = Config(data=DataConfig(end="2023-03-06"))
    tables = base_tables()
    # G4 is an island: no neighbour, so its neighbour features are missing, not 0
    tables["adjacency"] = pd.DataFrame({"grid_a": ["G1", "G2"], "grid_b": ["G2", "G3"]})
    dataset = load_dataset(write_tables(tmp_path / "four", tables), config)
    duck = build_features(dataset, config, labels=True)
    spark = build_features(dataset, config, labels=True, engine="spark")
    assert spark.loc[spark["grid_id"] == "G4", "nbr_mean_pet_n_w4"].isna().all()
    assert spark.loc[spark["grid_id"] == "G2", "nbr_mean_pet_n_w4"].notna().all()
    _same_features(spark, duck)
    del tables["adjacency"]
    one = {k: v for k, v in tables.items()}
    one["grids"] = tables["grids"].head(1)
    for name in ("petitions", "disputes", "incidents"):
        one[name] = tables[name][tables[name]["grid_id"] == "G1"]
    single = load_dataset(write_tables(tmp_path / "one", one), config)
    duck = build_features(single, config, labels=True)
    spark = build_features(single, config, labels=True, engine="spark")
    assert spark["grid_id"].unique().tolist() == ["G1"]
    _same_features(spark, duck)


def test_reporting_delays_on_spark_equal_duckdb(tmp_path):
    """recorded_at: the pending corrections (a range join) run on Spark as on DuckDB."""
    from riskwarn.simulate import DataShape

    sim = simulate_city(n_grids=12, n_periods=24, seed=5)
    write_city(sim, tmp_path, shape=DataShape(delays=True))
    end = sim.end.tz_convert("Asia/Shanghai").tz_localize(None).isoformat()
    config = Config(data=DataConfig(end=end))
    dataset = load_dataset(tmp_path, config)
    _same_features(
        build_features(dataset, config, labels=True, engine="spark"),
        build_features(dataset, config, labels=True),
    )


@pytest.fixture(scope="module")
def trained(city):
    folder = city["folder"]
    uri = f"sqlite:///{folder / 'mlruns.db'}"
    args = ["--data", str(folder / "data"), "--tracking-uri", uri]
    assert main(["train", *args, "--config", str(city["config_path"]), "--register"]) == 0
    return {"args": args, "uri": uri, "dates": _as_of_dates(folder, city["config_path"])}


def test_spark_scores_equal_the_local_pyfunc_and_the_embedded_watchlist(city, trained, tmp_path):
    import mlflow

    args, dates = trained["args"], trained["dates"]
    model = ["--model", "models:/rw-spark@challenger"]
    for as_of in dates[-2:]:
        for engine, out in (("duckdb", tmp_path / "duck"), ("spark", tmp_path / "spark")):
            call = [*args, *model, "--as-of", as_of, "--out", str(out), "--engine", engine]
            assert main(["score", *call]) == 0
    duck = pd.read_parquet(tmp_path / "duck" / "watchlist.parquet")
    full = pd.read_parquet(tmp_path / "spark" / "watchlist_all")
    day = pd.Timestamp(dates[-1]).strftime("%Y-%m-%d")
    assert sorted(full["as_of_date"].astype(str).unique()) == sorted(
        pd.Timestamp(d).strftime("%Y-%m-%d") for d in dates[-2:]
    )
    latest = full[full["as_of_date"].astype(str) == day].sort_values("rank")
    latest = latest.reset_index(drop=True)
    assert len(latest) == 48 and latest["rank"].tolist() == list(range(1, 49))
    # the local pyfunc on the same feature rows gives the same scores
    mlflow.set_tracking_uri(trained["uri"])
    pyfunc = mlflow.pyfunc.load_model("models:/rw-spark@challenger")
    features = build_features(city["dataset"], city["config"], as_of=dates[-1], engine="duckdb")
    features["as_of"] = features["as_of"].dt.tz_localize(None)
    local = pyfunc.predict(features).set_index("grid_id")
    np.testing.assert_allclose(
        latest["score"], local.loc[latest["grid_id"], "score"], rtol=1e-9, atol=1e-12
    )
    np.testing.assert_allclose(
        latest["expected_events"], local.loc[latest["grid_id"], "expected_events"], rtol=1e-9
    )
    # and the whole watchlist equals the embedded one: ranks, tiers, reasons, changes
    cols = ["grid_id", "rank", "tier", "prev_rank", "prev_tier", "change", "reasons_en"]
    pd.testing.assert_frame_equal(
        latest[cols].reset_index(drop=True), duck[cols].reset_index(drop=True), check_dtype=False
    )
    assert latest["as_of"].dt.tz_convert(TZ).iloc[0] == duck["as_of"].iloc[0]
    # the small files hold the tiered grids, as the embedded files do
    top = pd.read_parquet(tmp_path / "spark" / "watchlist.parquet")
    tiered = duck[duck["tier"].notna()]
    assert top["grid_id"].tolist() == tiered["grid_id"].tolist()
    assert top["reasons"].iloc[0].tolist() == duck["reasons"].iloc[0].tolist()
    assert (tmp_path / "spark" / "model_card.json").exists()
    assert (tmp_path / "spark" / "watchlist.csv").exists()


def test_train_on_spark_fits_a_weighted_sample_and_backtests_whole_grids(city, tmp_path):
    from riskwarn.tracking.registry import load_registered
    from riskwarn.tracking.store import connect

    folder = city["folder"]
    config = tmp_path / "province.toml"
    text = city["config_path"].read_text().replace('model = "ensemble"', 'model = "lightgbm"')
    text = text.replace(
        'registered_name = "rw-spark"',
        'registered_name = "rw-province"\nsample_rows = 1000\nbacktest_grids = 30',
    )
    config.write_text(text, encoding="utf-8")
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    args = ["train", "--data", str(folder / "data"), "--tracking-uri", uri]
    assert main([*args, "--config", str(config), "--engine", "spark", "--register"]) == 0
    connect(uri)
    info = load_registered("models:/rw-province/1").bundle.info
    sample = info["sample"]
    labelled = 48 * (70 - 2) - 2 * 48  # as-of dates with an observed 2-period window
    assert sample["labelled_rows"] == info["n_rows"] and sample["labelled_rows"] >= labelled
    assert sample["rate_escalation"] == 1.0 and 0 < sample["rate_other"] < 1
    assert sample["rows"] == pytest.approx(1000, rel=0.2)
    assert sample["backtest_grids"] == 30 and info["n_grids"] == sample["grids"] == 48
    assert info["backtest"]["metric"] == "ap"
    # the ensemble cannot take a weighted sample: a clear error, exit 2
    assert main([*args, "--config", str(city["config_path"]), "--engine", "spark"]) == 2


def test_one_history_whichever_engine_scored(trained, tmp_path):
    """Scoring with one engine after the other into one folder: every grid keeps its
    previous rank (before, the Spark path kept only the tiered grids in history/ and
    read ranks from watchlist_all/, so the other engine's grids came out "new")."""
    args, dates = trained["args"], trained["dates"]
    model = ["--model", "models:/rw-spark@challenger"]
    out = tmp_path / "mixed"
    for as_of, engine in zip(dates[-3:], ("duckdb", "spark", "duckdb"), strict=True):
        call = [*args, *model, "--as-of", as_of, "--out", str(out), "--engine", engine]
        assert main(["score", *call]) == 0
        history = sorted((out / "history").glob("watchlist_*.parquet"))
        assert len(pd.read_parquet(history[-1])) == 48  # every grid, whichever engine
        if engine == "spark":
            day = pd.Timestamp(as_of).strftime("%Y-%m-%d")
            full = pd.read_parquet(out / "watchlist_all")
            full = full[full["as_of_date"].astype(str) == day]
            assert len(full) == 48 and full["prev_rank"].notna().all()
            assert (full["change"] != "new").all()
    last = pd.read_parquet(out / "watchlist.parquet")
    assert len(last) == 48 and last["prev_rank"].notna().all() and (last["change"] != "new").all()


def test_spark_writes_every_grid_into_the_database_with_the_same_keys(
    trained, tmp_path, monkeypatch
):
    from tests.postgres import SUPERUSER_PASSWORD, PostgresServer, server_binaries

    if server_binaries() is None:
        pytest.skip(
            "PostgreSQL is not installed (Debian package 'postgresql'; .ci/run installs it)"
        )
    monkeypatch.setenv("PGPASSWORD", SUPERUSER_PASSWORD)
    server = PostgresServer().start()
    try:
        day = trained["dates"][-1]
        plan = tmp_path / "plan.toml"  # a plan per town, chosen on the driver on Spark
        plan.write_text(
            '[watchlist]\ntiers = [0.05, 0.1, 0.2]\ncapacity = 3\ncapacity_by = "town"\n'
        )
        model = ["--model", "models:/rw-spark@challenger", "--as-of", day, "--config", str(plan)]
        query = "SELECT grid_id, rank, score, tier, in_plan FROM riskwarn_watchlist ORDER BY rank"
        rows = {}
        for engine in ("spark", "duckdb"):
            out = tmp_path / engine
            call = [*trained["args"], *model, "--out", str(out), "--engine", engine]
            assert main(["score", *call, "--sink", server.url()]) == 0
            rows[engine] = server.execute(query)
        # every grid, not only the tiered ones of Spark's small files
        full = pd.read_parquet(tmp_path / "spark" / "watchlist_all").sort_values("rank")
        assert [r[0] for r in rows["spark"]] == full["grid_id"].tolist() and len(full) == 48
        # the embedded scoring of the same date replaced Spark's rows (same keys)
        assert len(rows["duckdb"]) == 48
        assert [r[:2] for r in rows["duckdb"]] == [r[:2] for r in rows["spark"]]
        # the same plan on both engines; Spark's small files hold every planned grid
        assert [r[4] for r in rows["duckdb"]] == [r[4] for r in rows["spark"]]
        planned = {r[0] for r in rows["spark"] if r[4]}
        assert planned and planned <= set(
            pd.read_parquet(tmp_path / "spark" / "watchlist.parquet")["grid_id"]
        )
        np.testing.assert_allclose(
            [r[2] for r in rows["duckdb"]], [r[2] for r in rows["spark"]], rtol=1e-9
        )
        assert server.execute("SELECT count(*) FROM riskwarn_model_card") == [(1,)]
    finally:
        server.stop()
