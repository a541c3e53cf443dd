"""The HTML watchlist report: made from a real watchlist folder, self-contained, bilingual."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html import unescape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskwarn.cli import main
from riskwarn.reports.folder import read_watchlist_folder
from riskwarn.reports.html import render_report
from riskwarn.scoring.files import write_watchlist
from riskwarn.simulate import simulate_city, write_city
from tests.test_tracking import _as_of_dates
from tests.test_watchlist import build, scored

CONFIG = """
[data]
end = "{end}"
[label]
horizon = 2
[backtest]
refit_every = 26
[train]
model = "ensemble"
registered_name = "rw-report"
[watchlist]
tiers = [0.05, 0.1, 0.2]
"""


@pytest.fixture(scope="module")
def watch(tmp_path_factory):
    """A city trained, registered and scored at its last three as-of dates."""
    folder = tmp_path_factory.mktemp("report_city")
    sim = simulate_city(n_grids=60, n_periods=90, seed=5)
    write_city(sim, folder / "data")
    end = sim.end.tz_convert("Asia/Shanghai").tz_localize(None).isoformat()
    config = folder / "report.toml"
    config.write_text(CONFIG.format(end=end), encoding="utf-8")
    uri = f"sqlite:///{folder / 'mlruns.db'}"
    args = ["--data", str(folder / "data"), "--tracking-uri", uri]
    assert main(["train", *args, "--config", str(config), "--register"]) == 0
    dates = _as_of_dates(folder, config)
    out = folder / "watch"
    for as_of in dates[-3:]:
        model = ["--model", "models:/rw-report@challenger", "--as-of", as_of, "--out", str(out)]
        assert main(["score", *args, *model]) == 0
    return out


def _rows(html: str) -> list[str]:
    """Grid ids of the ranked table, in page order."""
    return re.findall(r'<tr data-grid="([^"]+)">', html)


def test_score_writes_a_model_card_with_the_backtest(watch):
    card = json.loads((watch / "model_card.json").read_text(encoding="utf-8"))
    assert card["model_name"] == "rw-report" and card["horizon"] == 2
    assert card["label"] == "incidents.severity >= 3 or petitions.group_size >= 5"
    backtest = card["backtest"]
    assert backtest["horizon"] == 2 and "ensemble" in backtest["overall"]
    assert backtest["best_baseline"] in backtest["overall"]
    types = {r["group"] for r in backtest["by_grid_type"]}
    grids = pd.read_parquet(watch.parent / "data" / "grids.parquet")
    assert types == set(grids["grid_type"].astype(str))
    assert (
        sum(r["n_positive"] for r in backtest["by_grid_type"])
        == (backtest["overall"]["ensemble"]["n_positive"])
    )
    assert card["trained"]["n_grids"] == 60


def test_the_report_lists_the_ranked_grids_with_tiers_changes_and_trends(watch, tmp_path):
    out = tmp_path / "report.html"
    assert main(["report", "--watchlist", str(watch), "--out", str(out), "--lang", "en"]) == 0
    html = out.read_text(encoding="utf-8")
    w = pd.read_parquet(watch / "watchlist.parquet")
    # by default the table lists the grids in a tier (at least 10)
    tiered = w[w["tier"].notna()]
    assert len(tiered) >= 10 and _rows(html) == tiered["grid_id"].tolist()
    # the headline counts each tier of the watchlist
    for tier in (1, 2, 3):
        n = int((w["tier"] == tier).sum())
        assert re.search(rf"Tier {tier} · top [\d.]+% of grids</div><div class=\"n\">{n}<", html)
    # the grids that entered and left the tiers, from the watchlist's own columns
    entered = w[w["tier"].notna() & w["prev_tier"].isna()]["grid_id"]
    left = w[w["tier"].isna() & w["prev_tier"].notna()]["grid_id"]
    section = html[html.index("Grids that entered the tiers") :]
    assert f"Grids that entered the tiers ({len(entered)})" in html
    assert f"Grids that left the tiers ({len(left)})" in html
    for grid in [*entered, *left]:
        assert f"<b>{grid}</b>" in section
    # three watchlists in the history: each listed grid has a three-point trend line
    spark = re.findall(r'<polyline points="([^"]+)"', html)
    assert len(spark) == len(tiered) and all(len(p.split()) == 3 for p in spark)
    # the reasons are the watchlist's English texts
    first = w["reasons"].iloc[0]
    for reason in first:
        assert reason["text_en"] in unescape(html)
    # a map of polygons, one per grid
    assert html.count("<path d=") == 60
    # --rows lists more
    assert main(["report", "--watchlist", str(watch), "--out", str(out), "--rows", "60"]) == 0
    assert _rows(out.read_text(encoding="utf-8")) == w["grid_id"].tolist()
    # the model card: label, by-type table, version
    assert "incidents.severity &gt;= 3 or petitions.group_size &gt;= 5" in html
    assert "By grid type" in html and "rw-report version" in html


def test_the_report_in_chinese(watch):
    html = render_report(watch, lang="zh", rows=5)
    assert '<html lang="zh-CN">' in html and "网格风险预警名单" in html
    w = pd.read_parquet(watch / "watchlist.parquet")
    assert _rows(html) == w["grid_id"].head(5).tolist()
    assert w["reasons"].iloc[0][0]["text_zh"] in unescape(html)
    assert "模型说明" in html and "绝不用于评判个人" in html


def test_the_report_is_self_contained(watch):
    html = render_report(watch, lang="en")
    # nothing to fetch: no links, sources or imports anywhere (SVG's xmlns is a name)
    assert not re.search(r"\b(src|href)\s*=", html)
    assert "url(" not in html and "@import" not in html and "<link" not in html
    assert re.findall(r"https?://[^\s\"'<>]+", html) == ["http://www.w3.org/2000/svg"] * (
        html.count("<svg")
    )
    # it names grids, never anything about people: only grid ids in the ranked table
    grids = set(pd.read_parquet(watch / "watchlist.parquet")["grid_id"])
    assert set(_rows(html)) <= grids


def _folder(tmp_path: Path, n: int, grids: pd.DataFrame | None = None, dates: int = 1) -> Path:
    out = tmp_path / "w"
    previous = None
    for d in range(dates):
        as_of = pd.Timestamp("2025-03-03", tz="Asia/Shanghai") + pd.Timedelta(weeks=d)
        w = build(scored(n=n, as_of=as_of, seed=d), previous=previous)
        write_watchlist(w, out, grids)
        previous = w[["grid_id", "rank", "tier", "as_of"]]
    return out


def test_one_grid_and_points_on_the_map(tmp_path):
    grids = pd.DataFrame({"grid_id": ["G0000"], "lon": [116.4], "lat": [39.9]})
    html = render_report(_folder(tmp_path, 1, grids), lang="en")
    assert _rows(html) == ["G0000"]
    assert html.count("<circle cx=") == 2  # the map's point and the trend's last point
    # the first watchlist of a folder has nothing to compare with
    assert "nothing to compare with yet" in html and "Grids that entered" not in html
    # without a model card the card says so instead of inventing figures
    assert "registered without a backtest summary" in html


def test_no_grid_no_geometry(tmp_path):
    # riskwarn score refuses data without grids; an empty watchlist file stands in
    out = tmp_path / "empty"
    out.mkdir()
    build(scored(n=3)).iloc[0:0].to_parquet(out / "watchlist.parquet")
    html = render_report(out, lang="en")
    assert _rows(html) == [] and "The 0 highest-ranked of 0 grids" in html
    assert "neither polygons nor centroids" in html


def test_a_broken_history_file_is_skipped_with_a_note(tmp_path):
    out = _folder(tmp_path, 30, dates=3)
    history = sorted((out / "history").glob("*.parquet"))
    history[0].write_bytes(b"not parquet")
    html = render_report(out, lang="en")
    assert f"{history[0].name} skipped" in html
    spark = re.findall(r'<polyline points="([^"]+)"', html)
    assert spark and all(len(p.split()) == 2 for p in spark)  # the two readable dates


def test_bad_input_exits_2_with_a_message(tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", "--watchlist", str(tmp_path / "none"), "--out", str(out)]) == 2
    assert "no watchlist.parquet" in capsys.readouterr().err
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "watchlist.parquet").write_bytes(b"garbage")
    assert main(["report", "--watchlist", str(folder), "--out", str(out)]) == 2
    assert "cannot be read" in capsys.readouterr().err
    pd.DataFrame({"grid_id": ["G1"]}).to_parquet(folder / "watchlist.parquet")
    assert main(["report", "--watchlist", str(folder), "--out", str(out)]) == 2
    assert "not a riskwarn watchlist" in capsys.readouterr().err
    good = _folder(tmp_path, 10)
    assert main(["report", "--watchlist", str(good), "--out", str(out), "--lang", "fr"]) == 2
    assert "--lang" in capsys.readouterr().err
    assert main(["report", "--watchlist", str(good), "--out", str(tmp_path / "r.pdf")]) == 2
    assert not out.exists()


def test_history_reads_every_dated_watchlist(tmp_path):
    out = _folder(tmp_path, 20, dates=4)
    data = read_watchlist_folder(out)
    assert data.history["as_of"].nunique() == 4 and len(data.history) == 80
    assert data.history["as_of"].is_monotonic_increasing


# -- in a real browser --------------------------------------------------------------------
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip(
            "Chromium is not installed (Debian package 'chromium'; .ci/run installs it): "
            "the report was not rendered in a browser."
        )
    return path


def test_the_report_renders_in_headless_chromium(watch, tmp_path):
    from PIL import Image

    chromium = _chromium()
    page = tmp_path / "report.html"
    assert main(["report", "--watchlist", str(watch), "--out", str(page), "--lang", "en"]) == 0
    flags = [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    shot = tmp_path / "shot.png"
    subprocess.run(
        [chromium, *flags, "--window-size=1280,1800", f"--screenshot={shot}", page.as_uri()],
        check=True,
        capture_output=True,
        timeout=120,
    )
    image = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert image.shape[:2] == (1800, 1280)
    # not blank: many colours, and the tier colours of the map and badges among them
    colours = {tuple(c) for c in image.reshape(-1, 3)[::7]}
    assert len(colours) > 50
    assert any(abs(r - 0xB2) < 8 and abs(g - 0x18) < 8 and abs(b - 0x2B) < 8 for r, g, b in colours)
    dom = subprocess.run(
        [chromium, *flags, "--dump-dom", page.as_uri()],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    w = pd.read_parquet(watch / "watchlist.parquet")
    assert _rows(dom)[:10] == w["grid_id"].head(10).tolist()
