"""The watchlist: ranks, tiers, reasons in two languages, suppression, change, files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from riskwarn.features.manifest import FeatureInfo, FeatureManifest
from riskwarn.scoring import files as files_module
from riskwarn.scoring.files import previous_watchlist, write_watchlist
from riskwarn.scoring.watchlist import WATCHLIST_COLUMNS, Provenance, build_watchlist

MANIFEST = FeatureManifest(
    features=[
        FeatureInfo("pet_n_w4", "counts", 4, "petitions in the last 4 periods", "最近4期信访件数"),
        FeatureInfo("dis_open", "backlog", None, "open disputes", "未办结纠纷数"),
        FeatureInfo("pet_n_trend_4_52", "trend", None, "petition trend", "信访趋势"),
    ]
)
PROVENANCE = Provenance("riskwarn-escalation", "3", "abc123", "d" * 64, "2026-01-01T00:00:00")
AS_OF = pd.Timestamp("2025-03-03", tz="Asia/Shanghai")


def scored(n: int = 200, as_of=AS_OF, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "grid_id": [f"G{i:04d}" for i in range(n)],
            "as_of": pd.Series([as_of] * n),
            "score": rng.random(n) / 10,
            "expected_events": rng.random(n),
            "events_q10": np.zeros(n),
            "events_q90": rng.integers(0, 3, n).astype(float),
            "risk_h1": rng.random(n) / 20,
            "reason_1_feature": ["pet_n_w4"] * n,
            "reason_1_value": rng.integers(0, 6, n).astype(float),
            "reason_1_contribution": np.full(n, 0.5),
            "reason_2_feature": ["hawkes_neighbours"] * n,
            "reason_2_value": np.full(n, 0.25),
            "reason_2_contribution": np.full(n, 0.2),
            "reason_3_feature": [None] * n,
            "reason_3_value": np.full(n, np.nan),
            "reason_3_contribution": np.full(n, np.nan),
        }
    )
    return frame


def build(frame, previous=None, suppress_below=3):
    return build_watchlist(
        frame,
        horizon=4,
        manifest=MANIFEST,
        tiers=(0.01, 0.05, 0.1),
        suppress_below=suppress_below,
        provenance=PROVENANCE,
        previous=previous,
    )


def test_ranks_tiers_and_columns():
    frame = scored()
    frame.loc[5, "score"] = frame.loc[7, "score"] = 0.5  # a tie at the top: grid id decides
    w = build(frame)
    assert tuple(w.columns) == WATCHLIST_COLUMNS
    assert w["rank"].tolist() == list(range(1, 201))
    assert w["grid_id"].iloc[:2].tolist() == ["G0005", "G0007"]
    assert (np.diff(w["score"]) <= 0).all()
    # 200 grids: tier 1 = top 2, tier 2 = top 10, tier 3 = top 20.
    assert w["tier"].iloc[:2].tolist() == [1, 1]
    assert w["tier"].iloc[2:10].tolist() == [2] * 8
    assert w["tier"].iloc[10:20].tolist() == [3] * 10
    assert w["tier"].iloc[20:].isna().all()
    assert (w["change"] == "new").all() and w["prev_rank"].isna().all()
    assert (w["horizon"] == 4).all() and (w["model_version"] == "3").all()


def test_reasons_in_two_languages_with_small_counts_suppressed():
    frame = scored(n=6)
    frame["reason_1_value"] = [0.0, 1.0, 2.0, 3.0, 7.0, 2.0]
    frame["score"] = [0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
    w = build(frame).set_index("grid_id")
    first = {g: w.loc[g, "reasons"][0] for g in w.index}
    raises_en, raises_zh = " (raises the risk)", "（推高风险）"
    assert first["G0000"]["text_en"] == "petitions in the last 4 periods: 0" + raises_en
    assert first["G0001"]["text_en"] == "petitions in the last 4 periods: fewer than 3" + raises_en
    assert first["G0001"]["text_zh"] == "最近4期信访件数：少于3" + raises_zh
    assert first["G0001"]["value"] is None and first["G0001"]["suppressed"]
    assert first["G0002"]["value"] is None
    assert first["G0003"]["text_en"].endswith(": 3" + raises_en) and first["G0004"]["value"] == 7.0
    # No raw count below the threshold appears anywhere in the row's text.
    assert "1" not in w.loc["G0001", "reasons_en"].split("periods: ")[1].split(";")[0]
    second = w.loc["G0000", "reasons"][1]
    assert second["feature"] == "hawkes_neighbours" and "0.25 expected" in second["text_en"]
    assert len(w.loc["G0000", "reasons"]) == 2  # the missing third reason is left out
    assert w.loc["G0000", "reasons_zh"].count("；") == 1
    # Suppression can be turned off.
    off = build(frame, suppress_below=0).set_index("grid_id")
    assert off.loc["G0001", "reasons"][0]["value"] == 1.0


def test_change_against_the_previous_watchlist():
    before = build(scored(seed=1))
    now_frame = scored(seed=2)
    now_frame = now_frame[now_frame["grid_id"] != "G0000"]  # a grid drops out
    extra = scored(n=1, seed=3).assign(grid_id="G9999", score=0.99)  # a new grid
    now = build(pd.concat([now_frame, extra], ignore_index=True), previous=before)
    row = now.set_index("grid_id")
    assert row.loc["G9999", "change"] == "new" and pd.isna(row.loc["G9999", "prev_rank"])
    old = before.set_index("grid_id")["rank"]
    for grid in ["G0001", "G0050", "G0123"]:
        prev, rank = old[grid], row.loc[grid, "rank"]
        assert row.loc[grid, "prev_rank"] == prev
        expected = "up" if rank < prev else "down" if rank > prev else "same"
        assert row.loc[grid, "change"] == expected
    same = build(scored(seed=1), previous=before)
    assert (same["change"] == "same").all()
    assert same["prev_tier"].equals(before["tier"])


def test_files_round_trip_and_geojson(tmp_path):
    w = build(scored())
    grids = pd.DataFrame(
        {"grid_id": [f"G{i:04d}" for i in range(200)], "lon": 120.0, "lat": 30.0 + np.arange(200)}
    )
    paths = write_watchlist(w, tmp_path, grids)
    names = sorted(p.name for p in paths)
    assert names == sorted(
        [
            "watchlist.parquet",
            "watchlist.csv",
            "watchlist.json",
            "watchlist.geojson",
            "watchlist_2025-03-03.parquet",
        ]
    )
    back = pd.read_parquet(tmp_path / "watchlist.parquet")
    assert back["grid_id"].tolist() == w["grid_id"].tolist()
    assert back["reasons"].iloc[0][0]["text_zh"] == w["reasons"].iloc[0][0]["text_zh"]
    csv = pd.read_csv(tmp_path / "watchlist.csv")
    assert json.loads(csv["reasons"].iloc[0])[0]["feature"] == "pet_n_w4"
    records = json.loads((tmp_path / "watchlist.json").read_text(encoding="utf-8"))
    assert records[0]["as_of"].startswith("2025-03-03T00:00:00+08:00")
    assert records[25]["tier"] is None
    geo = json.loads((tmp_path / "watchlist.geojson").read_text(encoding="utf-8"))
    first = geo["features"][0]
    lat = 30.0 + int(first["properties"]["grid_id"][1:])
    assert first["geometry"] == {"type": "Point", "coordinates": [120.0, lat]}
    # Without centroids or polygons there is no GeoJSON.
    other = tmp_path / "plain"
    write_watchlist(w, other, grids[["grid_id"]])
    assert not (other / "watchlist.geojson").exists()


def test_polygons_become_geojson_polygons(tmp_path):
    w = build(scored(n=3))
    grids = pd.DataFrame(
        {
            "grid_id": ["G0000", "G0001", "G0002"],
            "geometry_wkt": ["POLYGON((0 0, 1 0, 1 1, 0 1, 0 0))"] * 2 + [None],
        }
    )
    write_watchlist(w, tmp_path, grids)
    geo = json.loads((tmp_path / "watchlist.geojson").read_text(encoding="utf-8"))
    kinds = {f["properties"]["grid_id"]: f["geometry"] for f in geo["features"]}
    assert kinds["G0000"]["type"] == "Polygon" and kinds["G0002"] is None


def test_an_interrupted_write_leaves_the_old_files_whole(tmp_path, monkeypatch):
    old = build(scored(seed=1))
    write_watchlist(old, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    calls = {"n": 0}
    real = pq.write_table

    def failing(table, path, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the set's Parquet, after the dated history copy
            raise OSError("disk full")
        return real(table, path, *args, **kwargs)

    monkeypatch.setattr(files_module.pq, "write_table", failing)
    with pytest.raises(OSError, match="disk full"):
        write_watchlist(build(scored(seed=2)), tmp_path)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert after == before  # nothing replaced, no temporary file left behind
    assert not list(tmp_path.glob(".*.tmp")) and not list((tmp_path / "history").glob(".*"))


def test_previous_watchlist_is_the_latest_earlier_date(tmp_path):
    assert previous_watchlist(tmp_path, AS_OF) is None
    for day in ("2025-02-17", "2025-02-24", "2025-03-03", "2025-03-10"):
        t = pd.Timestamp(day, tz="Asia/Shanghai")
        write_watchlist(build(scored(as_of=t)), tmp_path)
    prev = previous_watchlist(tmp_path, AS_OF)
    assert pd.Timestamp(prev["as_of"].iloc[0]).strftime("%Y-%m-%d") == "2025-02-24"
    (tmp_path / "history" / "watchlist_2025-02-24.parquet").write_text("not parquet")
    with pytest.raises(Exception, match="cannot be read"):
        previous_watchlist(tmp_path, AS_OF)


def test_one_grid_and_no_grids():
    w = build(scored(n=1))
    assert w["rank"].tolist() == [1] and w["tier"].tolist() == [1]
    with pytest.raises(Exception, match="no grids"):
        build(scored(n=1).iloc[:0])


def test_an_earlier_date_does_not_replace_a_later_current_watchlist(tmp_path):
    # Dashboards read the folder's watchlist as the current one: scoring last month
    # again after this month must not put last month's list in front of them.
    from riskwarn.errors import RiskwarnError
    from riskwarn.workflows.score import _refuse_going_back

    out = tmp_path / "watch"
    _refuse_going_back(out, "2024-03-04")  # an empty folder takes any date
    (out / "history").mkdir(parents=True)
    (out / "history" / "watchlist_2024-03-04.parquet").write_bytes(b"")
    (out / "history" / "watchlist_2024-03-11_old.parquet").write_bytes(b"")  # set aside
    _refuse_going_back(out, "2024-03-04")  # the same date again: a rescoring
    _refuse_going_back(out, "2024-03-11")
    with pytest.raises(RiskwarnError, match="already holds the watchlist as of 2024-03-04") as e:
        _refuse_going_back(out, "2024-02-26")
    assert "--out" in str(e.value)
