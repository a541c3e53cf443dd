"""Features and labels: as-of correctness, agreement with plain pandas, edge cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskwarn.cli import main
from riskwarn.config import Config, DataConfig, LabelConfig, LabelRule
from riskwarn.data.validate import load_dataset
from riskwarn.errors import ConfigError, RiskwarnError
from riskwarn.features.build import build_features, prepare_features
from riskwarn.features.manifest import FAMILIES
from riskwarn.simulate import simulate_city, write_city
from tests.conftest import base_tables, square, write_tables

TZ = "Asia/Shanghai"


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    folder = tmp_path_factory.mktemp("city")
    sim = simulate_city(n_grids=36, n_periods=40, seed=7)
    write_city(sim, folder)
    end = sim.end.tz_convert(TZ).tz_localize(None).isoformat()
    config = Config(data=DataConfig(end=end))
    dataset = load_dataset(folder, config)
    builder = prepare_features(dataset, config)
    full = builder.to_pandas(labels=True)
    return {
        "folder": folder,
        "config": config,
        "dataset": dataset,
        "builder": builder,
        "full": full,
    }


def _local(ts: pd.Series) -> pd.Series:
    return ts.dt.tz_convert(TZ).dt.tz_localize(None)


def test_single_as_of_rows_equal_the_full_matrix(city):
    b, full = city["builder"], city["full"]
    dates = b.data.periods.as_of_dates
    for t in [dates[0], dates[1], dates[len(dates) // 2], dates[-3], dates[-1]]:
        one = b.to_pandas(as_of=t, labels=True).reset_index(drop=True)
        ref = full[full["as_of"] == t.tz_localize(TZ)].reset_index(drop=True)
        decay = [c for c in one.columns if "_decay_" in c]
        # Integer arithmetic is exact in both forms; decayed sums agree to rounding.
        pd.testing.assert_frame_equal(one.drop(columns=decay), ref.drop(columns=decay))
        np.testing.assert_allclose(
            one[decay].to_numpy(float), ref[decay].to_numpy(float), rtol=1e-5
        )


def test_in_memory_and_window_function_kernels_agree(city):
    """The embedded build (arrays) equals the engine's window functions (sql)."""
    b = prepare_features(city["dataset"], city["config"], vocabulary=city["builder"].vocabulary)
    b.kernel = "sql"
    sql = b.to_pandas(labels=True)
    full = city["full"]
    decay = [c for c in full.columns if "_decay_" in c]
    pd.testing.assert_frame_equal(sql.drop(columns=decay), full.drop(columns=decay))
    np.testing.assert_allclose(sql[decay].to_numpy(float), full[decay].to_numpy(float), rtol=1e-5)


def test_labels_equal_a_plain_pandas_reference(city):
    ds, b, full = city["dataset"], city["builder"], city["full"]
    bounds = b.data.periods.boundaries
    n_complete = b.data.periods.n_complete
    esc = pd.concat(
        [
            ds.incidents.loc[ds.incidents["severity"] >= 3, ["grid_id", "occurred_at"]].set_axis(
                ["grid_id", "t"], axis=1
            ),
            ds.petitions.loc[ds.petitions["group_size"] >= 5, ["grid_id", "received_at"]].set_axis(
                ["grid_id", "t"], axis=1
            ),
        ]
    )
    esc["t"] = _local(esc["t"])
    horizon = city["config"].label.horizon
    assert esc.shape[0] > 20  # the test city has escalations to count
    for p in range(1, n_complete + 1):
        rows = full[full["as_of"] == bounds[p].tz_localize(TZ)].set_index("grid_id")
        for h in range(1, horizon + 1):
            if p + h > n_complete:
                assert rows[f"count_h{h}"].isna().all() and rows[f"label_h{h}"].isna().all()
                continue
            inside = esc[(esc["t"] >= bounds[p]) & (esc["t"] < bounds[p + h])]
            ref = inside.groupby("grid_id").size().reindex(rows.index, fill_value=0)
            assert (rows[f"count_h{h}"].astype(int) == ref).all(), (p, h)
            assert (rows[f"label_h{h}"].astype(int) == (ref > 0).astype(int)).all()


def test_families_equal_plain_pandas(city):
    """Counts, backlog, recency, shares, decay and neighbour means by hand."""
    ds, b, full = city["dataset"], city["builder"], city["full"]
    bounds = b.data.periods.boundaries
    pet = ds.petitions.assign(
        t=_local(ds.petitions["received_at"]), c=_local(ds.petitions["closed_at"])
    )
    dis = ds.disputes.assign(
        t=_local(ds.disputes["reported_at"]), r=_local(ds.disputes["resolved_at"])
    )
    inc = ds.incidents.assign(t=_local(ds.incidents["occurred_at"]))
    graph = b.data.graph.graph
    for p in (3, 17, 39):
        t = bounds[p]
        rows = full[full["as_of"] == t.tz_localize(TZ)].set_index("grid_id")
        grids = rows.index

        def count(frame, since, col="t", mask=None, until=t, grids=grids):
            f = frame if mask is None else frame[mask]
            sel = f[(f[col] >= since) & (f[col] < until)]
            return sel.groupby("grid_id").size().reindex(grids, fill_value=0)

        w4 = count(pet, bounds[max(p - 4, 0)])
        assert (rows["pet_n_w4"] == w4).all()
        assert (rows["inc_n_w13"] == count(inc, bounds[max(p - 13, 0)])).all()
        opened = count(dis, bounds[0])
        resolved = count(dis, bounds[0], col="r")
        assert (rows["dis_open"] == opened - resolved).all()
        group13 = count(pet, bounds[max(p - 13, 0)], mask=pet["group_size"] >= 2)
        n13 = count(pet, bounds[max(p - 13, 0)])
        share = (group13 / n13).where(n13 > 0)
        np.testing.assert_allclose(rows["pet_group_share_13"], share, rtol=1e-6)
        # periods since the last incident: p - (period of the latest incident before t)
        past = inc[inc["t"] < t]
        last = pd.Series(b.data.periods.period_of(past["t"]), index=past["grid_id"].to_numpy())
        since = (p - last.groupby(level=0).max()).reindex(grids)
        np.testing.assert_array_equal(rows["inc_n_periods_since_last"].to_numpy(), since.to_numpy())
        # decayed incident count with half-life 4
        q = b.data.periods.period_of(past["t"])
        weights = pd.Series(0.5 ** ((p - 1 - q) / 4), index=past["grid_id"].to_numpy())
        decay = weights.groupby(level=0).sum().reindex(grids, fill_value=0.0)
        np.testing.assert_allclose(rows["inc_n_decay_h4"], decay, rtol=1e-5)
        # per 1,000 residents: the recent counts, the decayed ones and every table's together
        pop = ds.grids.set_index(ds.grids["grid_id"].astype(str))["population"]
        pop = pop.reindex(grids.astype(str)).to_numpy(dtype=float)
        np.testing.assert_allclose(rows["inc_n_decay_h4_per_1k"], decay / pop * 1000, rtol=1e-5)
        np.testing.assert_allclose(rows["pet_n_w4_per_1k"], w4 / pop * 1000, rtol=1e-5)
        total = rows["pet_n_decay_h13"] + rows["dis_n_decay_h13"] + rows["inc_n_decay_h13"]
        np.testing.assert_allclose(rows["all_n_decay_h13_per_1k"], total / pop * 1000, rtol=1e-5)
        # neighbours' mean petitions in the last 4 periods
        nbr = pd.Series(
            [np.mean([w4[n] for n in graph[g]]) if len(graph[g]) else np.nan for g in grids],
            index=grids,
        )
        np.testing.assert_allclose(rows["nbr_mean_pet_n_w4"], nbr, rtol=1e-6)


def test_the_city_level_is_every_table_s_recent_rate_against_its_long_run(city):
    """City-wide events per period over the last 4 periods against the last 52 (as
    many as the data has), every table's rate summed: the same for every grid."""
    ds, b, full = city["dataset"], city["builder"], city["full"]
    bounds = b.data.periods.boundaries
    times = {"petitions": "received_at", "disputes": "reported_at", "incidents": "occurred_at"}
    for p in (1, 3, 17, 39):
        t = bounds[p]

        def rate(w, t=t, p=p):
            since = bounds[max(p - w, 0)]
            total = 0.0
            for name, col in times.items():
                when = _local(ds.events[name][col])
                total += ((when >= since) & (when < t)).sum() / min(w, p)
            return total

        rows = full[full["as_of"] == t.tz_localize(TZ)]
        expected = np.log((rate(4) + 1) / (rate(52) + 1))
        np.testing.assert_allclose(rows["city_all_n_trend_4_52"], expected, rtol=1e-5)
    (info,) = [f for f in b.manifest.features if f.name == "city_all_n_trend_4_52"]
    assert info.family == "trend" and info.window == 52


def test_the_city_level_leaves_out_periods_a_table_did_not_observe(tmp_path):
    """A period the city's export lacks (``[data] missing_periods``) is a gap, not a
    quiet period: each table's rate is taken over the periods observed."""
    sim = simulate_city(n_grids=16, n_periods=30, seed=3)
    folder = tmp_path / "city"
    write_city(sim, folder)
    end = sim.end.tz_convert(TZ).tz_localize(None).isoformat()
    times = {"petitions": "received_at", "disputes": "reported_at", "incidents": "occurred_at"}
    keys = {"petitions": "case_id", "disputes": "case_id", "incidents": "event_id"}
    first = load_dataset(folder, Config(data=DataConfig(end=end)))
    periods = prepare_features(first, Config(data=DataConfig(end=end))).data.periods
    p = periods.n_complete
    for name, col in times.items():  # the export lost the third-last period
        known = first.events[name]
        gone = known[keys[name]][periods.period_of(_local(known[col])) == p - 3]
        raw = pd.read_parquet(folder / f"{name}.parquet")
        raw[~raw[keys[name]].isin(gone)].to_parquet(folder / f"{name}.parquet")
    missing = (periods.boundaries[p - 3].isoformat(),)
    config = Config(data=DataConfig(end=end, missing_periods=missing))
    dataset = load_dataset(folder, config)
    builder = prepare_features(dataset, config)
    assert all((idx == p - 3).any() for idx in builder.data.unobserved.values())
    full = builder.to_pandas()
    bounds = builder.data.periods.boundaries
    t = bounds[p]
    total4 = total52 = 0.0
    for name, col in times.items():
        w = _local(dataset.events[name][col])
        total4 += ((w >= bounds[p - 4]) & (w < t)).sum() / 3  # 3 of 4 periods observed
        total52 += (w < t).sum() / (p - 1)
    rows = full[full["as_of"] == t.tz_localize(TZ)]
    expected = np.log((total4 + 1) / (total52 + 1))
    np.testing.assert_allclose(rows["city_all_n_trend_4_52"], expected, rtol=1e-5)


def _cut(dataset, t_local: pd.Timestamp, mode: str):
    """The dataset as it was known just before ``t``: later facts removed or altered."""
    t = t_local.tz_localize(TZ)
    out = {}
    for name, frame in dataset.events.items():
        time_col = {
            "petitions": "received_at",
            "disputes": "reported_at",
            "incidents": "occurred_at",
        }[name]
        f = frame.copy()
        late = f[time_col] >= t
        if mode == "remove":
            f = f[~late].copy()
        else:  # alter: later events keep their rows, with different contents
            if name == "incidents":
                f.loc[late, "severity"] = 4
                f.loc[late, "type"] = "late_type"
            if name == "petitions":
                f.loc[late, "group_size"] = 9
                f.loc[late, "category"] = "late_category"
        for done, status in (("closed_at", None), ("resolved_at", "status")):
            if done in f:
                later = f[done] >= t
                f.loc[later, done] = pd.NaT
                if status and status in f:
                    f.loc[later, status] = "unresolved"
        if "satisfied" in f:
            f.loc[f["closed_at"].isna(), "satisfied"] = pd.NA
        out[name] = f
    return out


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_features_as_of_t_ignore_everything_known_later(city, data):
    ds, b, full, config = city["dataset"], city["builder"], city["full"], city["config"]
    dates = b.data.periods.as_of_dates
    t = dates[data.draw(st.integers(min_value=0, max_value=len(dates) - 2))]
    mode = data.draw(st.sampled_from(["remove", "alter"]))
    cut = _cut(ds, t, mode)
    import dataclasses

    cut_ds = dataclasses.replace(ds, **cut)
    cut_full = build_features(cut_ds, config, vocabulary=b.vocabulary)
    keep = full["as_of"] <= t.tz_localize(TZ)
    ref = full.loc[keep, cut_full.columns].reset_index(drop=True)
    got = cut_full[cut_full["as_of"] <= t.tz_localize(TZ)].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, ref, check_exact=True)
    # Which columns exist is part of the features too: built for t alone, the
    # categories that get a column are those known before t (later events, even
    # a flood of a new category, change nothing).
    single = build_features(ds, config, as_of=t)
    pd.testing.assert_frame_equal(build_features(cut_ds, config, as_of=t), single, check_exact=True)


def test_manifest_describes_every_feature_in_two_languages(city):
    b, full = city["builder"], city["full"]
    names = b.manifest.names
    assert list(full.columns[2 : 2 + len(names)]) == names
    for info in b.manifest.features:
        assert info.family in FAMILIES
        assert info.description_en and info.description_zh
        assert any("\u4e00" <= ch <= "\u9fff" for ch in info.description_zh), info.name
    round_trip = type(b.manifest).from_json(b.manifest.to_json())
    assert round_trip.names == names and round_trip.vocabulary == b.manifest.vocabulary
    families = {f.family for f in b.manifest.features}
    # coverage: only a city with gaps; intervention: only one with an interventions table
    assert families == set(FAMILIES) - {"coverage", "intervention"}


def test_grid_identity_is_not_a_feature(city, tmp_path):
    """Renaming and reordering grids changes no feature value of any grid."""
    b, full = city["builder"], city["full"]
    assert not any(k in c for c in b.manifest.names for k in ("grid_id", "grid_idx", "name"))
    tables = {}
    rng = np.random.default_rng(0)
    old = sorted(city["dataset"].grids["grid_id"])
    new = [f"Z{n:04d}" for n in rng.permutation(len(old))]
    mapping = dict(zip(old, new, strict=True))
    for name in ("grids", "adjacency", "petitions", "disputes", "incidents"):
        frame = pd.read_parquet(city["folder"] / f"{name}.parquet")
        for col in ("grid_id", "grid_a", "grid_b"):
            if col in frame:
                frame[col] = frame[col].map(mapping)
        tables[name] = frame.sample(frac=1.0, random_state=1)
    folder = write_tables(tmp_path, tables, fmt="parquet")
    renamed = build_features(
        load_dataset(folder, city["config"]), city["config"], vocabulary=b.vocabulary
    )
    renamed["grid_id"] = renamed["grid_id"].map({v: k for k, v in mapping.items()}).astype("string")
    renamed = renamed.sort_values(["as_of", "grid_id"]).reset_index(drop=True)
    ref = full[renamed.columns].reset_index(drop=True)
    pd.testing.assert_frame_equal(renamed, ref, check_exact=False, rtol=1e-5)


def test_same_data_same_features(city):
    again = prepare_features(city["dataset"], city["config"]).to_pandas(labels=True)
    pd.testing.assert_frame_equal(again, city["full"], check_exact=True)


# -- edge cases on a tiny hand-made city ----------------------------------------------

TINY = Config(data=DataConfig(end="2023-03-06"))


def _tiny(tmp_path, tables=None, config=TINY, **kw):
    tables = tables or base_tables()
    dataset = load_dataset(write_tables(tmp_path, tables), config)
    return prepare_features(dataset, config, **kw)


def test_grid_with_no_events_has_zero_counts_and_missing_recency(tmp_path):
    b = _tiny(tmp_path)
    f = b.to_pandas()
    g4 = f[f["grid_id"] == "G4"]
    assert len(g4) == b.data.periods.n_complete
    counts = [c for c in b.manifest.names if b.manifest[c].family == "counts"]
    assert (g4[counts] == 0).all().all()
    assert g4["pet_n_periods_since_last"].isna().all()
    assert g4["pet_group_share_13"].isna().all()  # no petitions: the share is undefined


def test_absent_table_gives_no_columns_for_it(tmp_path):
    tables = base_tables()
    del tables["disputes"]
    b = _tiny(tmp_path, tables)
    assert not any(n.startswith("dis_") for n in b.manifest.names)
    assert "pet_n_w4" in b.to_pandas().columns


def test_graph_with_an_island_and_without_a_graph(tmp_path):
    tables = base_tables()
    tables["adjacency"] = pd.DataFrame({"grid_a": ["G1", "G2"], "grid_b": ["G2", "G3"]})
    f = _tiny(tmp_path / "a", tables).to_pandas()
    island = f[f["grid_id"] == "G4"]
    assert island["nbr_mean_pet_n_w4"].isna().all() and (island["graph_degree"] == 0).all()
    assert f.loc[f["grid_id"] == "G2", "nbr_mean_pet_n_w4"].notna().all()
    b = _tiny(tmp_path / "b", base_tables())  # no adjacency, geometry or centroids
    assert not any(b.manifest[n].family in ("spatial", "graph") for n in b.manifest.names)
    assert any("no grid graph" in w for w in b.warnings)


def test_queen_graph_from_geometry_feeds_neighbour_features(tmp_path):
    tables = base_tables()
    tables["grids"]["geometry_wkt"] = [square(0, 0), square(1, 0), square(5, 5), square(0, 1)]
    f = _tiny(tmp_path, tables).to_pandas()
    assert f.loc[f["grid_id"] == "G3", "nbr_mean_pet_n_w4"].isna().all()  # an island
    assert (f.loc[f["grid_id"] == "G1", "graph_degree"] == 2).all()


def test_one_period_of_data(tmp_path):
    tables = base_tables()
    for name, col in (
        ("petitions", "received_at"),
        ("disputes", "reported_at"),
        ("incidents", "occurred_at"),
    ):
        tables[name][col] = "2023-01-03T10:00:00"
    for col, name in (("closed_at", "petitions"), ("resolved_at", "disputes")):
        tables[name][col] = ""
    tables["disputes"]["status"] = "unresolved"
    cfg = Config(data=DataConfig(end="2023-01-09"))
    b = _tiny(tmp_path, tables, config=cfg)
    f = b.to_pandas(labels=True)
    assert len(f) == 4 and (f["as_of"] == pd.Timestamp("2023-01-09", tz=TZ)).all()
    assert f["label_h1"].isna().all()
    assert f.set_index("grid_id").loc["G1", "pet_n_w1"] == 2


def test_category_seen_only_late(tmp_path):
    tables = base_tables()
    late = (
        tables["petitions"]
        .iloc[[0]]
        .assign(
            case_id="P9", category="late_topic", received_at="2023-02-20T10:00:00", closed_at=""
        )
    )
    tables["petitions"] = pd.concat([tables["petitions"], late], ignore_index=True)
    b = _tiny(tmp_path, tables)
    assert "late_topic" in b.vocabulary["petitions"]
    f = b.to_pandas()
    col = "pet_cat_late_topic_w4"
    early = f["as_of"] <= pd.Timestamp("2023-02-20", tz=TZ)
    assert (f.loc[early, col] == 0).all()
    assert f.loc[~early & (f["grid_id"] == "G1"), col].max() == 1


def test_bad_as_of_and_bad_label_rule_are_clear_errors(tmp_path, capsys):
    b = _tiny(tmp_path)
    # a Wednesday inside the data: the rule and the Mondays either side
    with pytest.raises(RiskwarnError, match="not a valid as-of date") as wednesday:
        b.to_pandas(as_of="2023-02-08")
    assert "starts of periods (a Monday for W-MON)" in str(wednesday.value)
    assert "the nearest are 2023-02-06 and 2023-02-13" in str(wednesday.value)
    with pytest.raises(RiskwarnError, match="in this data; the nearest is") as late:
        b.to_pandas(as_of="2030-01-07")
    assert " to " in str(late.value)
    rule = LabelConfig(any_of=(LabelRule("incidents", "participants_count", ">=", 3),))
    with pytest.raises(ConfigError, match="no contract column"):
        _tiny(tmp_path / "x", config=Config(data=TINY.data, label=rule))
    tables = base_tables()
    tables["incidents"] = tables["incidents"].drop(columns=["severity"])
    # A configured rule on a column the data lacks would change what an escalation is.
    severe = LabelConfig(any_of=(LabelRule("incidents", "severity", ">=", 3),))
    with pytest.raises(ConfigError, match="has no 'severity' column"):
        _tiny(tmp_path / "y", tables, config=Config(data=TINY.data, label=severe))
    # The built-in default label keeps the rules the data can evaluate, and says so.
    kept = _tiny(tmp_path / "y2", tables)
    assert [r.table for r in kept.config.label.any_of] == ["petitions"]
    assert any("left out" in w and "severity" in w for w in kept.warnings)
    # ... unless none is left: then the run stops with the fix.
    tables["petitions"] = tables["petitions"].drop(columns=["group_size"])
    with pytest.raises(ConfigError, match="can match no event") as none_left:
        _tiny(tmp_path / "y3", tables)
    # The example rule is one this data could use (not one on a column it lacks).
    example = str(none_left.value).split("e.g.")[1]
    assert "severity" not in example and "group_size" not in example
    assert 'column = "type", op = "in"' in example
    cfg = tmp_path / "c.toml"
    cfg.write_text('[data]\nend = "2023-03-06"\n')
    folder = write_tables(tmp_path / "d", base_tables())
    code = main(
        [
            "features",
            "--data",
            str(folder),
            "--config",
            str(cfg),
            "--out",
            str(tmp_path / "f.parquet"),
            "--as-of",
            "2023-01-04",
        ]
    )
    assert code == 2 and "as-of" in capsys.readouterr().err


def test_features_cli_writes_parquet_and_manifest(city, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[data]\nend = "{city["config"].data.end}"\n')
    out = tmp_path / "features.parquet"
    assert (
        main(
            [
                "features",
                "--data",
                str(city["folder"]),
                "--config",
                str(cfg),
                "--out",
                str(out),
                "--labels",
            ]
        )
        == 0
    )
    written = pd.read_parquet(out, dtype_backend="numpy_nullable")
    assert str(written["as_of"].dt.tz) == "UTC"  # an instant; local dates by conversion
    written["as_of"] = written["as_of"].dt.tz_convert(TZ)
    pd.testing.assert_frame_equal(written, city["full"], check_exact=True, check_dtype=False)
    assert (tmp_path / "features.manifest.json").exists()


def test_graph_structure_equals_networkx_on_a_graph_with_an_island():
    import networkx as nx

    from riskwarn.features.spatial import graph_structure
    from riskwarn.panel.graph import GridGraph

    g = nx.karate_club_graph()
    g = nx.relabel_nodes(g, {n: f"G{n:02d}" for n in g})
    g.add_node("G99")  # an island
    ids = np.array(sorted(g.nodes()))
    got = graph_structure(GridGraph("adjacency", g, None), ids).set_index(pd.Index(ids))
    pagerank = nx.pagerank(g, weight=None, tol=1e-12)
    clustering = nx.clustering(g)
    np.testing.assert_allclose(
        got["graph_pagerank"] / len(ids), [pagerank[v] for v in ids], rtol=1e-4
    )
    np.testing.assert_allclose(got["graph_clustering"], [clustering[v] for v in ids], atol=1e-6)
    assert (
        got.loc["G99", "graph_component_size"] == 1 and got.loc["G00", "graph_component_size"] == 34
    )
    assert got.loc["G99", "graph_degree"] == 0


def test_panel_build_restores_numpy_huge_page_setting(city):
    """The in-memory kernel turns NumPy's huge-page requests off only while it runs."""
    setter = np._core.multiarray._set_madvise_hugepage
    for wanted in (True, False):
        setter(wanted)
        prepare_features(city["dataset"], city["config"]).to_pandas()
        assert setter(True) is wanted  # returns the setting the build left behind


def test_the_backtest_counts_categories_before_its_first_forecast(city):
    """A category that floods in only after the backtest's first training cut gets
    no column in the backtest's features, and one in a build of all the data."""
    import dataclasses

    from riskwarn.backtest.run import first_training_cut
    from riskwarn.config import BacktestConfig

    ds, config = city["dataset"], city["config"]
    settings = BacktestConfig(refit_every=4)
    cut = first_training_cut(city["builder"].data.periods, config.label.horizon, settings)
    assert cut is not None
    petitions = ds.petitions.copy()
    late = petitions["received_at"] >= cut.tz_localize(TZ)
    petitions.loc[late, "category"] = "late_flood"
    flooded = dataclasses.replace(ds, petitions=petitions)
    everything = prepare_features(flooded, config)
    assert "late_flood" in everything.vocabulary["petitions"]
    h = config.label.horizon
    for before in (cut, lambda periods: first_training_cut(periods, h, settings)):
        backtest = prepare_features(flooded, config, vocabulary_before=before)
        assert "late_flood" not in backtest.vocabulary["petitions"]
        assert not any("late_flood" in name for name in backtest.manifest.names)
        backtest.close()
    everything.close()
