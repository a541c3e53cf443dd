"""The HTML watchlist report: made from a real watchlist folder, self-contained, bilingual."""

from __future__ import annotations

import json
import os
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
from riskwarn.reports.svg import tier_colour
from riskwarn.scoring.files import write_watchlist
from tests.conftest import registered_city
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
    args, config, _ = registered_city(folder, CONFIG, n_grids=60, n_periods=90, seed=5)
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
    # a map of polygons, one per grid, each with a hover label
    assert len(re.findall(r'<path d="[^"]*" class="grid"', html)) == 60
    # --rows lists more
    assert main(["report", "--watchlist", str(watch), "--out", str(out), "--rows", "60"]) == 0
    assert _rows(out.read_text(encoding="utf-8")) == w["grid_id"].tolist()
    # the model card: label, by-type table, version
    assert "an incident of severity 3 or more, or a petition by 5 or more people" in html
    assert "&gt;=" not in html  # the label rule is in words, not code
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
    # one script, ours: the grid finder, the map's hover labels, pan and zoom
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
    # the map's point and the trend's last point
    assert html.count("<circle cx=") == 2 and html.count('class="grid"') == 1
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


def test_the_trend_lines_share_one_labelled_scale(watch, tmp_path):
    """Every sparkline maps a score to the same height, and the page says the scale."""
    out = tmp_path / "report.html"
    assert main(["report", "--watchlist", str(watch), "--out", str(out), "--lang", "en"]) == 0
    html = out.read_text(encoding="utf-8")
    history = read_watchlist_folder(watch).history
    rows = re.findall(r'<tr data-grid="([^"]+)">(.*?)</tr>', html, flags=re.S)
    listed = history[history["grid_id"].isin([g for g, _ in rows])]
    ceiling = float(listed["score"].max())
    assert f"shared scale 0–{100 * ceiling:.1f}% over 3 watchlists" in html
    height, pad = 22, 2
    for grid, cells in rows:
        points = re.search(r'<polyline points="([^"]+)"', cells).group(1)
        ys = np.array([float(p.split(",")[1]) for p in points.split()])
        scores = listed.loc[listed["grid_id"] == grid].sort_values("as_of")["score"].to_numpy()
        expected = height - pad - scores / ceiling * (height - 2 * pad)
        assert np.allclose(ys, expected, atol=0.06), grid  # one scale, not each its own
    # the highest score of any listed grid touches the top of the shared scale
    lines = re.findall(r'<polyline points="([^"]+)"', html)
    tops = [float(p.split(",")[1]) for line in lines for p in line.split()]
    assert min(tops) == pytest.approx(pad)


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


# -- plain words for policy staff ----------------------------------------------------------
def test_the_scored_reasons_are_plain_words(watch):
    w = pd.read_parquet(watch / "watchlist.parquet")
    texts = [e[f"text_{lang}"] for r in w["reasons"] for e in r for lang in ("en", "zh")]
    assert texts and not any(re.search(r"\bnan\b", t, re.IGNORECASE) for t in texts)
    assert not any("week of the year" in t or "周次" in t for t in texts)
    # a weekly city: weeks and 周, never "periods" or 期 (半衰期, half-life, is a word of its own)
    assert not any("period" in t for t in texts[::2])
    assert not any("期" in t.replace("半衰期", "") for t in texts[1::2])
    assert all(t.endswith("(raises the risk)") for t in texts[::2])
    assert all(t.endswith("（推高风险）") for t in texts[1::2])
    # at least one count is set beside the grid's usual level
    assert any("usual" in t for t in texts[::2]) and any("平时" in t for t in texts[1::2])


def test_the_card_in_plain_words_in_both_languages(watch):
    card = json.loads((watch / "model_card.json").read_text(encoding="utf-8"))
    assert card["label_words"] == {
        "en": "an incident of severity 3 or more, or a petition by 5 or more people",
        "zh": "3级及以上严重程度的事件，或5人及以上的联名信访",
    }
    assert card["timezone"] == "Asia/Shanghai"
    en, zh = render_report(watch, lang="en"), render_report(watch, lang="zh")
    figures = card["backtest"]["overall"][card["model"]]
    hits = f"{100 * figures['precision_at_5pct']:.0f} in 100 had an escalation within 2 weeks"
    assert hits in unescape(en)
    assert f"每 100 个有 {100 * figures['precision_at_5pct']:.0f} 个在之后 2 周内发生了升级" in zh
    for page in (en, zh):
        assert "id='plain-figures'" in page
    assert "ROC AUC: the chance that a grid that escalated" in en and "抛硬币" in zh
    # "generated" in the city's time, as the as-of date is
    stamp = pd.Timestamp(card["generated_at"]).tz_convert("Asia/Shanghai")
    assert f"generated {stamp:%Y-%m-%d %H:%M} (Asia/Shanghai)" in en


def _card_page(tmp_path, card: dict, lang: str = "en") -> str:
    out = tmp_path / f"card_{len(list(tmp_path.iterdir()))}"
    write_watchlist(build(scored(n=40)), out, card=card)
    return render_report(out, lang=lang)


def test_a_model_that_is_not_the_champion_is_said_so(tmp_path):
    base = {"model_version": "3", "model_name": "m"}
    page = _card_page(tmp_path, {**base, "is_champion": False, "champion_version": "2"})
    assert 'id="champion-warning"' in page and "version 2 is" in page
    zh = _card_page(tmp_path, {**base, "is_champion": False, "champion_version": "2"}, "zh")
    assert "当前正式采用的是第 2 版" in zh
    none = _card_page(tmp_path, {**base, "is_champion": False, "champion_version": None})
    assert "No version of this model is the champion yet" in none
    assert "champion-warning" not in _card_page(tmp_path, {**base, "is_champion": True})
    assert "champion-warning" not in _card_page(tmp_path, base)  # an older card: unknown


def test_scores_off_in_level_in_the_backtest_are_said_in_both_languages(tmp_path):
    def card(mean_score: float, n_positive: int = 40) -> dict:
        figures = {"base_rate": 0.05, "mean_score": mean_score, "n_positive": n_positive,
                   "precision_at_5pct": 0.3, "recall_at_5pct": 0.4}  # fmt: skip
        return {"model": "ensemble", "model_version": "3",
                "backtest": {"k": 0.05, "overall": {"ensemble": figures}}}  # fmt: skip

    page = _card_page(tmp_path, card(0.115))
    assert "the scores were on average 2.3× the share of grids that did escalate" in page
    assert "风险分的平均值是实际发生升级网格比例的 2.3 倍" in _card_page(
        tmp_path, card(0.115), "zh"
    )
    assert "were on average" not in _card_page(tmp_path, card(0.06))  # within 2/3-1.5
    assert "were on average" not in _card_page(tmp_path, card(0.115, n_positive=12))  # too few
    assert "were on average" not in _card_page(tmp_path, {**card(0.06), "backtest": {}})


def test_an_extraction_gap_before_the_date_is_said_in_both_languages(tmp_path):
    gap = {"table": "disputes", "periods": ["2026-01-01", "2026-02-01"], "of": 13}
    card = {"model_version": "3", "model_name": "m", "data_warnings": [gap]}
    page = _card_page(tmp_path, card)
    assert 'class="warn data-gap"' in page
    assert "no disputes at all in 2 of the 13 periods" in page and "2026-02-01" in page
    zh = _card_page(tmp_path, card, "zh")
    assert "有 2 期完全没有矛盾纠纷记录" in zh
    assert "data-gap" not in _card_page(tmp_path, {**card, "data_warnings": []})
    assert "data-gap" not in _card_page(tmp_path, {"model_version": "3"})  # an older card


def test_a_fairness_gap_is_flagged_in_the_report_and_metrics_md(tmp_path):
    from riskwarn.backtest.evaluate import fairness_flags
    from riskwarn.backtest.tables import fairness_markdown

    records = [
        {"model": "ensemble", "horizon": 4, "group": "rural", "n_positive": 57,
         "top_5pct_share": 0.059, "escalation_share": 0.285, "ranking_ratio": 0.059 / 0.285},
        {"model": "ensemble", "horizon": 4, "group": "urban", "n_positive": 100,
         "top_5pct_share": 0.791, "escalation_share": 0.501, "ranking_ratio": 0.791 / 0.501},
        {"model": "ensemble", "horizon": 4, "group": "mixed", "n_positive": 40,
         "top_5pct_share": 0.15, "escalation_share": 0.214, "ranking_ratio": 0.15 / 0.214},
        {"model": "ensemble", "horizon": 4, "group": "tiny", "n_positive": 3,
         "top_5pct_share": 0.0, "escalation_share": 0.1, "ranking_ratio": 0.0},
    ]  # fmt: skip
    flags = fairness_flags(records, 1.5)
    # rural under (0.21), urban over (1.58); mixed within (0.70); tiny too small to judge
    assert [(f["group"], f["direction"]) for f in flags] == [("rural", "under"), ("urban", "over")]
    assert [f["group"] for f in fairness_flags(records, 1.6)] == ["rural"]
    with pytest.raises(ValueError):
        fairness_flags(records, 1.0)
    md = "\n".join(fairness_markdown({"fairness": {"ratio": 1.5, "flags": flags}}))
    assert "grid type 'rural' holds 5.9% of the top 5% but 28.5% of the escalations" in md
    assert "may under-serve these areas" in md and "may over-rank" in md
    card = {"backtest": {"k": 0.05, "overall": {}, "fairness": {"ratio": 1.5, "flags": flags}}}
    en, zh = _card_page(tmp_path, card), _card_page(tmp_path, card, "zh")
    assert "Grid type “rural” holds 5.9% of the top 5% but 28.5% of the escalations" in en
    assert "网格类型“rural”在前 5% 中占 5.9%，却占全部升级事件的 28.5%" in zh
    calm = _card_page(tmp_path, {"backtest": {"fairness": {"ratio": 1.5, "flags": []}}})
    assert "No grid type or population band is flagged" in calm


def test_one_definition_of_change_for_console_files_and_report(watch, capsys):
    from riskwarn.scoring.watchlist import tier_changes

    now = pd.DataFrame({"grid_id": list("ABCDE"), "rank": [1, 2, 3, 4, 5],
                        "tier": [1, 2, 2, pd.NA, pd.NA]})  # fmt: skip
    before = pd.DataFrame({"grid_id": list("BCDEF"), "rank": [1, 3, 2, 5, 4],
                           "tier": [1, 2, 2, pd.NA, 2]})  # fmt: skip
    # A entered (new), D left (tier -> none), F left (no longer scored); B and C are
    # in a tier both times: B moved down (1 -> 2), C stayed at 3; E is in none twice.
    assert tier_changes(now, before) == {
        "first": False, "entered": 1, "left": 2, "moved_up": 0, "moved_down": 1, "same": 1
    }  # fmt: skip
    assert tier_changes(now, None)["first"]
    # the real scoring: the console, the card and the report show the same counts
    folder = watch.parent
    card = json.loads((watch / "model_card.json").read_text(encoding="utf-8"))
    changes = card["changes"]
    capsys.readouterr()
    args = ["--data", str(folder / "data"), "--tracking-uri", f"sqlite:///{folder / 'mlruns.db'}"]
    as_of = card["as_of"]
    model = ["--model", "models:/rw-report@challenger", "--as-of", as_of, "--out", str(watch)]
    assert main(["score", *args, *model]) == 0
    console = " ".join(capsys.readouterr().out.split())
    again = json.loads((watch / "model_card.json").read_text(encoding="utf-8"))["changes"]
    assert again == changes and not changes["first"]
    assert (
        f"{changes['entered']} entered, {changes['left']} left, {changes['moved_up']} moved up, "
        f"{changes['moved_down']} moved down" in console
    )
    html = render_report(watch, lang="en")
    for key, label in (("entered", "entered the tiers"), ("left", "left the tiers"),
                       ("moved_up", "moved up (within the tiers)")):  # fmt: skip
        assert f'{label}</div><div class="n">{changes[key]}<' in html


# -- the map ---------------------------------------------------------------------------------
def test_every_grid_on_the_map_has_a_label_and_towns_are_outlined(watch):
    html = render_report(watch, lang="en")
    grids = pd.read_parquet(watch.parent / "data" / "grids.parquet")
    tips = dict(re.findall(r'data-grid="([^"]+)" data-tip="([^"]+)"', html))
    assert set(tips) == set(grids["grid_id"])  # every grid, tiered or not
    w = pd.read_parquet(watch / "watchlist.parquet").set_index("grid_id")
    for row in grids.itertuples():
        tip = unescape(tips[row.grid_id])
        assert row.name in tip and row.town in tip and f"rank {w.loc[row.grid_id, 'rank']}" in tip
        assert bool(re.search(r"· tier \d", tip)) == pd.notna(w.loc[row.grid_id, "tier"])
    towns = grids["town"].nunique()
    assert html.count('class="town"') == towns and html.count('class="town-label"') == towns
    for town in grids["town"].unique():
        assert f">{town}</text>" in html
    assert re.search(r'<g class="scalebar">.*?>\d+(\.\d+)? km</text>', html)
    assert "公里</text>" in render_report(watch, lang="zh")


def _centroid_folder(tmp_path: Path, n: int, towns: int, name: str, town: str, seed: int) -> Path:
    """A folder of ``n`` centroid-only grids in ``towns`` towns, scored at three dates."""
    rng = np.random.default_rng(seed)
    grids = pd.DataFrame(
        {
            "grid_id": [f"G{i:04d}" for i in range(n)],
            "name": [f"{name}{i}" for i in range(n)],
            "town": [f"{town}{i % towns}" for i in range(n)],
            "lon": 113.2 + rng.random(n) * 0.2,
            "lat": 23.0 + rng.random(n) * 0.15,
        }
    )
    return _folder(tmp_path, n, grids, dates=3)


def test_centroid_grids_are_visible_markers(tmp_path):
    n = 80
    html = render_report(_centroid_folder(tmp_path, n, 4, "Grid ", "Town ", 1), lang="en")
    radii = [
        float(r)
        for r in re.findall(r'<circle cx="[^"]+" cy="[^"]+" r="([\d.]+)" class="grid"', html)
    ]
    assert len(radii) == n and min(radii) >= 4  # markers, not 2-3 pixel dots
    assert html.count('class="town"') == 4 and "Town 3</text>" in html
    assert "Grid 7 · Town 3" in unescape(html)


# -- both languages in a real browser, hovered ------------------------------------------------
_GLYPHS = """
var c = document.createElement('canvas'); c.width = 64; c.height = 64;
var x = c.getContext('2d'), font = getComputedStyle(document.body).fontFamily;
function ink(ch) {
  x.clearRect(0, 0, 64, 64); x.font = '40px ' + font; x.fillStyle = '#000';
  x.fillText(ch, 8, 48); return Array.from(x.getImageData(0, 0, 64, 64).data);
}
var a = ink(arguments[0]), b = ink(arguments[1]), same = true, inked = 0;
for (var i = 3; i < a.length; i += 4) { if (a[i] !== b[i]) { same = false; } if (a[i] > 0) { inked++; } }
return [same, inked];
"""


def _browser(tmp_path):
    chromium = _chromium()
    driver_path = shutil.which("chromedriver")
    if driver_path is None:
        pytest.skip(
            "chromedriver is not installed (Debian package 'chromium-driver'; .ci/run "
            "installs it): the report was not hovered in a browser."
        )
    fonts = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout
    if not fonts.strip() and not os.environ.get("RISKWARN_REQUIRE_CJK"):
        pytest.skip(
            "no Chinese font is installed (Debian package 'fonts-noto-cjk'; .ci/run installs "
            "it): the Chinese page would show boxes."
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not look for downloads
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in [*CHROMIUM_FLAGS, "--window-size=1280,1800", f"--user-data-dir={tmp_path}"]:
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(executable_path=driver_path))


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_both_languages_render_and_hover_in_chromium(watch, tmp_path, lang):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    shots = Path(os.environ.get("RISKWARN_SCREENSHOTS", tmp_path))
    driver = _browser(tmp_path / "profile")
    try:
        for kind, folder in (
            ("polygons", watch),
            ("centroids", _centroid_folder(tmp_path, 60, 3, "网格", "镇", 3)),
        ):
            page = tmp_path / f"report_{kind}_{lang}.html"
            assert (
                main(["report", "--watchlist", str(folder), "--out", str(page), "--lang", lang])
                == 0
            )
            driver.get(page.as_uri())
            # Chinese renders with real glyphs: two different characters draw differently
            # (a missing font draws the same box for both) and leave ink
            same, inked = driver.execute_script(_GLYPHS, "网", "格")
            assert not same and inked > 100
            # hovering a grid shows its label; a tiered grid's label names its tier
            grids = driver.find_elements(By.CSS_SELECTOR, "#map .grid")
            assert len(grids) == 60
            tip = driver.find_element(By.ID, "maptip")
            assert not tip.is_displayed()
            target = driver.find_element(By.CSS_SELECTOR, f"#map .grid[fill='{tier_colour(1)}']")
            ActionChains(driver).move_to_element(target).perform()
            assert tip.is_displayed() and tip.text == target.get_attribute("data-tip")
            assert target.get_attribute("data-grid") in tip.text
            assert ("1 级" if lang == "zh" else "tier 1") in tip.text
            # the buttons zoom the map, "whole map" resets it
            view = "return document.getElementById('map').getAttribute('viewBox')"
            box = driver.execute_script(view)
            driver.find_element(By.CSS_SELECTOR, "[data-zoom='1.5']").click()
            zoomed = driver.execute_script(view)
            assert float(zoomed.split()[2]) < float(box.split()[2])
            driver.find_element(By.CSS_SELECTOR, "[data-zoom='reset']").click()
            assert driver.execute_script(view) == box
            # no reason reads "nan"
            reasons = driver.find_element(By.ID, "ranked").text
            assert reasons and not re.search(r"\bnan\b", reasons, re.IGNORECASE)
            driver.save_screenshot(str(shots / f"report_{kind}_{lang}.png"))
    finally:
        driver.quit()


def test_expected_events_with_their_range_and_the_risk_curve(watch, tmp_path):
    """One distribution per grid: the files, the card and both pages agree."""
    w = pd.read_parquet(watch / "watchlist.parquet")
    assert (w["score"] <= w["expected_events"] + 1e-12).all()
    assert (w["events_q10"] <= w["events_q90"]).all()
    np.testing.assert_array_equal(w["events_q90"] >= 1, w["score"] > 0.1)
    np.testing.assert_allclose(w["risk_h2"], w["score"])  # the curve ends at the score
    assert (w["risk_h1"] <= w["risk_h2"] + 1e-12).all()
    card = json.loads((watch / "model_card.json").read_text(encoding="utf-8"))
    forecast = card["backtest"]["forecast"]
    assert forecast["score_le_expected_share"] == 1.0 and len(forecast["by_band"]) == 5
    pages = {}
    for lang in ("en", "zh"):
        out = tmp_path / f"report_{lang}.html"
        assert main(["report", "--watchlist", str(watch), "--out", str(out), "--lang", lang]) == 0
        pages[lang] = out.read_text(encoding="utf-8")
    html = pages["en"]
    listed = w[w["tier"].notna()]
    for row in listed.itertuples():
        cell = f'{row.expected_events:.2f} <span class="range">({row.events_q10}–{row.events_q90})'
        assert cell in html
    assert len(re.findall(r'<svg class="curve"', html)) == len(listed)
    assert "Risk within 1 to 2 weeks" in html
    coverage = f"{100 * forecast['coverage_80']:.0f} times in 100"
    assert "How sure is the number?" in html and coverage in html
    assert "这个数字有多确定？" in pages["zh"] and "2周内的风险" in pages["zh"]
    assert f"每百次{100 * forecast['coverage_80']:.0f}次" in pages["zh"]


def test_the_plan_and_recent_interventions_are_shown(tmp_path):
    out = _folder(tmp_path, 40)
    w = pd.read_parquet(out / "watchlist.parquet")
    # a plan of 5 grids, one of them far below the tiers (a town's own capacity), and
    # two grids visited 2 and 1 weeks before
    planned = [*w["grid_id"].iloc[:4], w["grid_id"].iloc[30]]
    w["in_plan"] = pd.array(w["grid_id"].isin(planned), dtype="boolean")
    w["plan_periods"] = pd.array(np.where(w["in_plan"], 3, 0), dtype="Int16")
    since = np.full(len(w), np.nan)
    since[[0, 30]] = [2, 1]
    w["periods_since_intervention"] = pd.array(since, dtype="Int16")
    write_watchlist(w, tmp_path / "planned")
    for lang, card, badge, words in (
        ("en", "in the plan (what the teams can take)", ">plan</span>", "last intervention 2"),
        ("zh", "纳入工作计划（队伍可承担的网格）", ">计划</span>", "上次工作措施：2"),
    ):
        html = render_report(tmp_path / "planned", lang=lang)
        assert re.search(rf"{re.escape(card)}</div><div class=\"n\">5<", html)
        assert html.count(badge) == 5
        assert words in html
        # the planned grid below the tiers is listed too
        assert w["grid_id"].iloc[30] in _rows(html)
    # without a plan nothing of it shows
    html = render_report(out, lang="en")
    assert "in the plan" not in html and ">plan</span>" not in html


def test_the_plan_section_per_town_with_churn_recent_interventions_and_the_effect(tmp_path):
    n = 40
    ids = [f"G{i:04d}" for i in range(n)]
    grids = pd.DataFrame(
        {
            "grid_id": ids,
            "town": ["North" if i % 2 else "South" for i in range(n)],
            "lon": 116 + np.arange(n) / 100,
            "lat": 39.9,
        }
    )
    out = tmp_path / "w"
    card = {"frequency": "W-MON", "plan": {"capacity": 2, "capacity_by": "town", "hold_periods": 2}}
    plans = [{"G0000", "G0001", "G0002", "G0003"}, {"G0000", "G0001", "G0004", "G0005"}]
    previous = None
    for d, chosen in enumerate(plans):
        as_of = pd.Timestamp("2025-03-03", tz="Asia/Shanghai") + pd.Timedelta(weeks=d)
        w = build(scored(n=n, as_of=as_of, seed=d), previous=previous)
        w["in_plan"] = pd.array(w["grid_id"].isin(chosen), dtype="boolean")
        stays = w["grid_id"].isin(plans[0] & chosen) & (d > 0)
        w["plan_periods"] = pd.array(np.where(w["in_plan"], 1 + stays, 0), dtype="Int16")
        # G0000 visited in the first list's week: one period before the second list
        since = np.where((w["grid_id"] == "G0000") & (d == 1), 1.0, np.nan)
        w["periods_since_intervention"] = pd.array(since, dtype="Int16")
        write_watchlist(w, out, grids, card=card)
        previous = w[["grid_id", "rank", "tier", "as_of"]]
    html = render_report(out, lang="en")
    assert "4 grids are in the plan (capacity: 2 grids per town)." in html
    assert "2 entered now; 2 carry on from the last plan" in html
    # per town: North holds the odd ids (G0001, G0005), South the even ones
    assert re.search(r"<tr><td>North</td><td>2</td><td>2</td><td>1</td>", html)
    assert re.search(r"<tr><td>South</td><td>2</td><td>2</td><td>1</td>", html)
    # the plan before had G0000..G0003: two stayed, overlap 2 / 6
    assert "2 of these 4 grids were in it too (overlap 0.33" in html
    then = pd.read_parquet(out / "history" / "watchlist_2025-03-03.parquet")
    now = pd.read_parquet(out / "watchlist.parquet")
    risk = [
        f"{100 * float(f.loc[f['grid_id'] == 'G0000', 'score'].iloc[0]):.0f}%" for f in (then, now)
    ]
    assert f"<b>G0000</b> intervention 1 week ago; risk {risk[0]} then, {risk[1]} now" in html
    assert "No effect estimate yet" in html
    effect = {
        "effect": -0.28, "low": -0.45, "high": -0.08, "level": 0.9, "design": "sharp",
        "first_stage": 1.0, "bandwidth": 2, "n_lists": 50, "n_inside": 100, "n_outside": 100,
        "events_inside": 30, "events_outside": 41, "n_grids": 35, "kinds": {"mediation": 100},
    }  # fmt: skip
    (out / "effect.json").write_text(json.dumps({**effect, "first_list": "2024-01-01",
                                                 "last_list": "2025-03-03"}))  # fmt: skip
    html = render_report(out, lang="en")
    assert "28% fewer escalations" in html and "-45% to -8%" in html
    assert "From the lists of 2024-01-01 to 2025-03-03." in html
    # a refused estimate replaces it: its reason is shown, not the older figures
    (out / "effect.json").write_text(json.dumps({"reason": "too few escalations"}))
    html = render_report(out, lang="en")
    assert "No estimate: too few escalations" in html and "28% fewer" not in html
    zh = render_report(out, lang="zh")
    assert "4 个网格纳入计划（承载能力：每个乡镇（街道） 2 个网格）" in zh
    assert "<th>乡镇（街道）</th>" in zh
    assert "无法估计：too few escalations" in zh and "工作措施的效果" in zh
    (out / "effect.json").write_text(json.dumps(effect))
    zh = render_report(out, lang="zh")
    assert "少 28%" in zh and "No effect" not in zh
