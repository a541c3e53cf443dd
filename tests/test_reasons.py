"""Reasons in plain words: one test per rule (unit, usual level, category, direction,
no "nan", the season), in both languages."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from riskwarn.features.manifest import FeatureInfo, FeatureManifest
from riskwarn.models.reasons import (
    SEASON,
    context_sources,
    in_units,
    reason_context,
    reason_entry,
    reason_lists,
)
from riskwarn.models.scorer import EscalationScorer


def manifest(freq: str = "W-MON") -> FeatureManifest:
    return FeatureManifest(
        features=[
            FeatureInfo("pet_n_w4", "counts", 4, "petitions received in the last 4 periods",
                        "最近4期信访件数", "int32"),
            FeatureInfo("pet_n_w52", "counts", 52, "petitions received in the last 52 periods",
                        "最近52期信访件数", "int32"),
            FeatureInfo("pet_cat_wage_arrears_w4", "counts", 4,
                        "petitions of category 'wage arrears' in the last 4 periods",
                        "最近4期“wage arrears”类信访件", "int32"),
            FeatureInfo("pet_cat_欠薪_w4", "counts", 4, "petitions of category '欠薪' in the last 4 periods",
                        "最近4期“欠薪”类信访件", "int32"),
            FeatureInfo("pet_group_share_13", "share", 13,
                        "share of petitions in the last 13 periods that were group petitions",
                        "最近13期信访中多人信访件数的比例"),
            FeatureInfo("pet_n_periods_since_last", "recency", None,
                        "periods since the last period with petitions received (missing: none yet)",
                        "距上一次出现信访件数的期数(缺失表示尚未出现)"),
            FeatureInfo("pet_n_trend_4_52", "trend", 52,
                        "petitions received: log ratio of the rate in the last 4 periods to the "
                        "rate in the last 52 periods",
                        "信访件数:最近4期与最近52期平均水平之比(对数)"),
            FeatureInfo("grid_type_rural", "static", None, "grid is of type 'rural'",
                        "网格类型为“rural”", "int8"),
            FeatureInfo("week_of_year", "calendar", None, "week of the year of the as-of date",
                        "日期所在周次"),
            FeatureInfo("days_to_lunar_new_year", "calendar", None,
                        "days from the as-of date to the next Lunar New Year", "距下一个春节的天数"),
        ],
        freq=freq,
        vocabulary={"petitions": ["wage arrears", "欠薪", "noise"]},
    )  # fmt: skip


def entry(feature, value, **kw):
    m = kw.pop("manifest", None) or manifest()
    return reason_entry(feature, value, 0.4, m, kw.pop("suppress_below", 3), **kw)


def test_the_period_is_said_in_weeks_or_months_in_both_languages():
    assert in_units("in the last 4 periods", "W-MON", "en") == "in the last 4 weeks"
    assert in_units("in the last period", "MS", "en") == "in the last month"
    assert in_units("最近4期信访件数", "W-SUN", "zh") == "最近4周信访件数"
    assert in_units("最近1期信访件数", "MS", "zh") == "最近1个月信访件数"
    assert in_units("距上一次出现信访的期数", "MS", "zh") == "距上一次出现信访的月数"
    assert in_units("in the last 4 periods", "2W", "en") == "in the last 4 periods"  # no word
    r = entry("pet_n_w4", 6)
    assert "in the last 4 weeks" in r["text_en"] and "最近4周" in r["text_zh"]
    assert "period" not in r["text_en"] and "期" not in r["text_zh"]
    monthly = entry("pet_n_w4", 6, manifest=manifest("MS"))
    assert "in the last 4 months" in monthly["text_en"] and "最近4个月" in monthly["text_zh"]


def test_a_count_is_set_beside_the_grids_usual_level():
    # 16 in the last 4 weeks, 48 in the 48 weeks before: usually 4 in 4 weeks.
    X = pd.DataFrame({"pet_n_w4": [16.0, 4.0, 1.0, 5.0], "pet_n_w52": [64.0, 52.0, 49.0, 5.0]})
    usual, _, _ = reason_context(
        X, np.array(["pet_n_w4"] * 4, dtype=object), context_sources(list(X.columns))
    )
    assert usual.tolist() == pytest.approx([4.0, 4.0, 4.0, 0.0])
    high = entry("pet_n_w4", 16, usual=4.0)
    assert high["text_en"].startswith(
        "petitions received in the last 4 weeks: 16, about 4× its usual"
    )
    assert "约为该网格平时的4倍" in high["text_zh"]
    assert "about its usual level" in entry("pet_n_w4", 4, usual=4.0)["text_en"]
    # The contribution compares grids; "below its usual" alone read as a contradiction.
    below = entry("pet_n_w4", 3, usual=6.0)
    assert "below its usual but high among grids (raises the risk)" in below["text_en"]
    assert "但在各网格中仍属偏高" in below["text_zh"]
    assert "usually has none" in entry("pet_n_w4", 5, usual=0.0)["text_en"]
    # A suppressed count is not set beside anything: the ratio would give it away.
    small = entry("pet_n_w4", 1, usual=0.25)
    assert "usual" not in small["text_en"] and "fewer than 3" in small["text_en"]


def test_the_category_behind_a_count_is_named_where_one_dominates():
    X = pd.DataFrame(
        {
            "pet_n_w4": [16.0, 16.0, 4.0],
            "pet_cat_wage_arrears_w4": [9.0, 5.0, 0.0],
            "pet_cat_欠薪_w4": [1.0, 4.0, 3.0],
            "pet_cat_other_w4": [6.0, 7.0, 1.0],
        }
    )
    _, about, about_value = reason_context(
        X, np.array(["pet_n_w4"] * 3, dtype=object), context_sources(list(X.columns))
    )
    # 9 of 16 leads; 5 of 16 does not; 'other' is never named; 3 of 4 leads.
    assert about.tolist() == ["pet_cat_wage_arrears_w4", None, "pet_cat_欠薪_w4"]
    assert about_value[0] == 9.0 and math.isnan(about_value[1])
    r = entry("pet_n_w4", 16, about="pet_cat_wage_arrears_w4", about_value=9.0)
    assert "9 about wage arrears" in r["text_en"] and "其中9件为“wage arrears”类" in r["text_zh"]
    zh = entry("pet_n_w4", 4, about="pet_cat_欠薪_w4", about_value=3.0)
    assert "about 欠薪" in zh["text_en"] and "“欠薪”类" in zh["text_zh"]
    # A small category count is not shown either.
    few = entry("pet_n_w4", 4, about="pet_cat_欠薪_w4", about_value=2.0)
    assert "most about 欠薪" in few["text_en"] and "2" not in few["text_en"].split(":")[1]


def test_every_reason_says_which_way_it_moves_the_risk():
    for feature, value in (("pet_n_w4", 6), ("hawkes_own", 0.4), (SEASON, 20)):
        r = entry(feature, value, as_of=pd.Timestamp("2025-01-06"))
        assert r["text_en"].endswith("(raises the risk)") and r["text_zh"].endswith("（推高风险）")


def test_no_reason_shows_nan():
    none_yet = entry("pet_n_periods_since_last", math.nan)
    assert none_yet["text_en"].startswith(
        "weeks since the last week with petitions received: none yet"
    )
    assert "尚未出现" in none_yet["text_zh"] and none_yet["value"] is None
    assert "(missing" not in none_yet["text_en"] and "缺失" not in none_yet["text_zh"]
    share = entry("pet_group_share_13", 0.25)
    assert ": 25%" in share["text_en"]
    trend = entry("pet_n_trend_4_52", math.log(2.0))
    assert "about 2.0× the rate in the last 52 weeks" in trend["text_en"]
    assert "约为最近52周的2.0倍" in trend["text_zh"]
    assert entry("grid_type_rural", 0.0)["text_en"].startswith("grid is not of type 'rural'")
    for r in (none_yet, share, trend):
        assert "nan" not in (r["text_en"] + r["text_zh"]).lower()


def test_the_calendar_is_a_season_in_words_never_a_week_number():
    before = entry(SEASON, 20, as_of=pd.Timestamp("2025-01-09"))  # LNY 2025-01-29
    assert "weeks before the Lunar New Year" in before["text_en"]
    assert "春节前" in before["text_zh"]
    holiday = entry(SEASON, 300, as_of=pd.Timestamp("2025-02-03"))
    assert "Lunar New Year holidays" in holiday["text_en"]
    summer = entry(SEASON, 200, as_of=pd.Timestamp("2025-07-14"))
    assert "mid July" in summer["text_en"] and "7月中旬" in summer["text_zh"]
    for r in (before, holiday, summer):
        assert "week of the year" not in r["text_en"] and "周次" not in r["text_zh"]


def test_the_scorer_merges_the_calendar_and_passes_over_missing_values(monkeypatch):
    X = pd.DataFrame(
        {
            "grid_id": ["A", "B"],
            "as_of": pd.to_datetime(["2025-01-06", "2025-01-06"]),
            "pet_n_w4": [8.0, 2.0],
            "pet_n_w52": [20.0, 30.0],
            "pet_group_share_13": [np.nan, np.nan],
            "pet_n_periods_since_last": [np.nan, 2.0],
            "week_of_year": [2.0, 2.0],
            "days_to_lunar_new_year": [23.0, 23.0],
        }
    )
    names = ["pet_n_w4", "pet_group_share_13", "pet_n_periods_since_last", "week_of_year",
             "days_to_lunar_new_year"]  # fmt: skip
    contribution = pd.DataFrame(
        [[0.5, 1.0, 0.2, 0.3, 0.4], [0.1, 1.0, 0.05, 0.0, -0.2]], columns=names
    )
    value = X[names].copy()
    scorer = EscalationScorer(n_reasons=3)
    monkeypatch.setattr(scorer, "contributions", lambda frame: (contribution, value))
    out = scorer.reasons(X)
    # The missing share is passed over although it contributes most; the two
    # calendar features are one reason (0.3 + 0.4); "none yet" is kept.
    assert out.loc[0, ["reason_1_feature", "reason_2_feature", "reason_3_feature"]].tolist() == [
        SEASON,
        "pet_n_w4",
        "pet_n_periods_since_last",
    ]
    assert out.loc[0, "reason_1_contribution"] == pytest.approx(0.7)
    assert out.loc[0, "reason_2_usual"] == pytest.approx(12 / 48 * 4)
    # Grid B: the season sums to -0.2, not a reason; only two positive reasons.
    assert out.loc[1, "reason_1_feature"] == "pet_n_w4" and pd.isna(out.loc[1, "reason_3_feature"])
    texts = reason_lists(pd.concat([X[["as_of"]], out], axis=1), manifest(), 3)
    assert len(texts[0]) == 3 and len(texts[1]) == 2
    line = " ".join(e["text_en"] + e["text_zh"] for r in texts for e in r)
    assert "nan" not in line.lower() and "week of the year" not in line


def test_a_count_or_rate_of_nothing_is_never_a_reason(monkeypatch):
    # A grid with no events got "incidents per 1,000 residents: 0 (raises the risk)".
    X = pd.DataFrame(
        {
            "grid_id": ["A", "B"],
            "as_of": pd.to_datetime(["2025-01-06", "2025-01-06"]),
            "inc_n_w4": [0.0, 3.0],
            "inc_n_w4_per_1k": [0.0, 1.5],
            "inc_n_trend_4_13": [0.0, 1.2],
            "inc_n_periods_since_last": [np.nan, 0.0],
        }
    )
    names = ["inc_n_w4", "inc_n_w4_per_1k", "inc_n_trend_4_13", "inc_n_periods_since_last"]
    contribution = pd.DataFrame([[0.5, 0.4, 0.3, 0.1], [0.5, 0.4, 0.3, 0.1]], columns=names)
    scorer = EscalationScorer(n_reasons=3)
    monkeypatch.setattr(scorer, "contributions", lambda frame: (contribution, X[names].copy()))
    out = scorer.reasons(X)
    picked = ["reason_1_feature", "reason_2_feature", "reason_3_feature"]
    # A: the three zeros are passed over; "none yet" (never happened) is the reason left
    assert out.loc[0, "reason_1_feature"] == "inc_n_periods_since_last"
    assert out.loc[0, picked[1:]].isna().all()
    # B: non-zero values stay, and 0 periods since the last event is not a count of nothing
    assert out.loc[1, picked].tolist() == names[:3]
