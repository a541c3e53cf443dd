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
    # one script, ours: the grid finder
    assert html.count("<script") == 1 and "getElementById('find')" in html


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
    # the first watchlist of a folder has nothing to compare with: no change is shown
    assert "nothing to compare with yet" in html and "Grids that entered" not in html
    assert '<td class="change">–</td>' in html and 'class="new"' not in html
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
    # not blank: many colours; and the map drew: only its untiered grids (and a small
    # legend swatch) are grey e6e6e6, 48 of them at about 40 x 40 pixels each
    colours = {tuple(c) for c in image.reshape(-1, 3)[::7]}
    assert len(colours) > 50
    grey = np.all(np.abs(image - np.array([0xE6, 0xE6, 0xE6])) <= 2, axis=-1)
    assert grey.sum() > 10_000
    dom = subprocess.run(
        [chromium, *flags, "--dump-dom", page.as_uri()],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    w = pd.read_parquet(watch / "watchlist.parquet")
    assert _rows(dom)[:10] == w["grid_id"].head(10).tolist()


def test_data_from_the_files_is_escaped(tmp_path):
    frame = scored(n=12)
    frame.loc[0, "grid_id"] = '<script>alert("x")</script>'
    frame.loc[0, "score"] = 0.99  # ranked first, listed and on the map's titles
    out = tmp_path / "hostile"
    write_watchlist(build(frame), out)
    card = {
        "backtest": {"k": 0.05, "overall": {"<b>m</b>": {"ap": 0.1}}, "best_baseline": None},
        "trained": {"first_as_of": "<i>x</i>", "last_as_of": "y", "n_rows": 1, "n_grids": 1},
        "tiers": "<junk>",
        "label": "<img>",
        "model_name": "<u>n</u>",
    }
    (out / "model_card.json").write_text(json.dumps(card), encoding="utf-8")
    html = render_report(out, lang="en", rows=12)
    for raw in ("<script>alert", "<b>m</b>", "<i>x</i>", "<img>", "<u>n</u>", "<junk>"):
        assert raw not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    # nonsense tiers in the card fall back to the defaults: three tier cards
    assert html.count('<div class="card t') == 3


def test_more_than_three_tiers_and_the_card_k(tmp_path):
    from riskwarn.scoring.watchlist import build_watchlist
    from tests.test_watchlist import MANIFEST, PROVENANCE

    w = build_watchlist(
        scored(n=100),
        horizon=4,
        manifest=MANIFEST,
        tiers=(0.01, 0.05, 0.1, 0.2),
        suppress_below=3,
        provenance=PROVENANCE,
    )
    out = tmp_path / "four"
    card = {
        "tiers": [0.01, 0.05, 0.1, 0.2],
        "backtest": {
            "k": 0.1,
            "best_baseline": "hotspot",
            "overall": {
                "ensemble": {"ap": 0.2, "recall_at_10pct": 0.5, "recall_at_1pct": 0.1},
                "hotspot": {"ap": 0.1, "recall_at_10pct": 0.3, "recall_at_1pct": 0.05},
            },
            "by_grid_type": [
                {
                    "group": "urban",
                    "n_rows": 10,
                    "n_positive": 2,
                    "top_10pct_share": 0.7,
                    "escalation_share": 0.5,
                    "ap": None,
                },
            ],
        },
    }
    write_watchlist(w, out, card=card)
    html = render_report(out, lang="en")
    assert html.count('<div class="card t') == 4 and "Tier 4 · top 20% of grids" in html
    assert 'class="tier t4" style="background:#fef0e9"' in html
    # the card's k (10%), not the first k in name order
    assert "escalations caught in the top 10%" in html and "50.0%" in html
    assert "share of the top 10%" in html and "70.0%" in html
    assert "hotspot (best simple baseline)" in html


def test_the_trend_stops_at_the_watchlist_date(tmp_path):
    out = _folder(tmp_path, 10, dates=3)
    # the first date scored again into the same folder: the later two are future to it
    first = sorted((out / "history").glob("*.parquet"))[0]
    pd.read_parquet(first).to_parquet(out / "watchlist.parquet")
    data = read_watchlist_folder(out)
    assert data.history["as_of"].nunique() == 1


def test_period_words():
    from riskwarn.reports.text import unit_key

    assert unit_key("W-MON") == "unit_W" and unit_key("MS") == "unit_M"
    assert unit_key("1W") == "unit_W" and unit_key("2W") == "unit" and unit_key(None) == "unit"


def test_a_summary_with_a_type_without_escalations_is_plain_json():
    from riskwarn.backtest.evaluate import backtest_summary, evaluate
    from riskwarn.workflows import json_ready

    rng = np.random.default_rng(0)
    n_grids, dates = 40, pd.date_range("2024-01-01", periods=10, freq="W-MON", tz="Asia/Shanghai")
    grid = np.tile([f"G{i:02d}" for i in range(n_grids)], len(dates))
    label = (rng.random(len(grid)) < 0.2).astype(int)
    label[np.char.startswith(grid.astype(str), "G0")] = 0  # G00-G09: never escalate
    predictions = pd.DataFrame(
        {
            "model": "ensemble",
            "grid_id": grid,
            "as_of": np.repeat(dates, n_grids),
            "horizon": 1,
            "score": rng.random(len(grid)),
            "label": label,
            "count": label,
            "expected_events": np.nan,
        }
    )
    grids = pd.DataFrame(
        {
            "grid_id": [f"G{i:02d}" for i in range(n_grids)],
            "grid_type": ["quiet" if i < 10 else "busy" for i in range(n_grids)],
        }
    )
    summary = backtest_summary(evaluate(predictions, grids=grids), "ensemble", 1, None)
    quiet = next(r for r in summary["by_grid_type"] if r["group"] == "quiet")
    assert quiet["n_positive"] == 0 and np.isnan(quiet["ap"])
    text = json.dumps(json_ready(summary), allow_nan=False)
    assert json.loads(text)["k"] == 0.05
