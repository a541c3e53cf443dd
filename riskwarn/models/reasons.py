"""Reasons in plain words: why a grid is on the list, said so that staff can act on it.

One definition for every place a reason is shown (the watchlist files, the
registered pyfunc, the report), in English and Chinese from the same rules:

- the period in words: weeks / 周, months / 个月 (from the data's frequency);
- a count beside the grid's own usual level over the same length of time
  ("16 … — about 3× its usual"), from the grid's longest window before it;
- the category behind a count where one category holds most of it
  ("9 about wage arrears");
- the direction: reasons are the contributions that raise the risk, and say so;
- a missing value is never shown as "nan": where it means "none yet" (periods
  since the last event of a kind that never happened) that is said, any other
  missing value is not a reason (the next one is taken);
- the calendar features are one reason, the season, said as a person would
  ("the weeks before the Lunar New Year"), never "week of the year: 1".

The scorer picks the reasons and their context (:func:`reason_context`), which
needs only the row itself; the texts come from :func:`reason_entry`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from riskwarn.features.manifest import FeatureManifest
from riskwarn.features.streams import slug
from riskwarn.lunar import FIRST_YEAR, LAST_YEAR, lunar_new_year

SEASON = "season"
"""The reason name of the calendar features taken together."""

CALENDAR_FEATURES = ("week_of_year", "month_of_year", "days_to_lunar_new_year")

PART_DESCRIPTIONS = {
    "hawkes_own": (
        "recent escalations in this grid (they tend to be followed by more)",
        "本网格近期的升级事件（往往引发后续事件）",
    ),
    "hawkes_neighbours": (
        "recent escalations in neighbouring grids",
        "相邻网格近期的升级事件",
    ),
    "hawkes_precursors": (
        "collective petitions and unresolved disputes",
        "集体信访和未化解的纠纷",
    ),
}
"""English and Chinese descriptions of the Hawkes reasons (expected events as value)."""

_TABLE_OF_PREFIX = {"pet": "petitions", "dis": "disputes", "inc": "incidents"}
_COUNT = re.compile(r"^(?P<stream>.+)_w(?P<w>\d+)$")
_TOTAL = re.compile(r"^(?P<prefix>pet|dis|inc)_n_w(?P<w>\d+)$")
_TREND = re.compile(r"^.+_trend_(?P<short>\d+)_(?P<long>\d+)$")
_RAISES = {"en": "raises the risk", "zh": "推高风险"}


# -- the period in words -----------------------------------------------------------
UNITS = {
    "W": {"en": ("week", "weeks"), "zh": "周"},
    "M": {"en": ("month", "months"), "zh": "个月"},
    "D": {"en": ("day", "days"), "zh": "天"},
    "Q": {"en": ("quarter", "quarters"), "zh": "个季度"},
}


def unit_letter(freq: str | None) -> str | None:
    """``W``, ``M``, ``D`` or ``Q`` for a pandas alias (``W-MON``, ``MS``); None for a multiple."""
    head = (freq or "").split("-")[0].upper()
    digits = head[: len(head) - len(head.lstrip("0123456789"))]
    if digits and int(digits) != 1:
        return None
    head = head[len(digits) :]
    return next((u for u in UNITS if head.startswith(u)), None)


def in_units(text: str, freq: str | None, lang: str) -> str:
    """A manifest description with "period(s)" / "期" said in the data's own unit."""
    unit = unit_letter(freq)
    if unit is None:
        return text
    if lang == "en":
        one, many = UNITS[unit]["en"]
        text = re.sub(r"\bperiods\b", many, text)
        return re.sub(r"\bperiod\b", one, text)
    word = UNITS[unit]["zh"]
    count_word = word[-1]  # 周 / 月 / 天 / 季度 → 周数, 月数, …
    text = re.sub(r"(\d+)期", lambda m: m.group(1) + word, text)
    text = text.replace("期数", f"{count_word}数").replace("本期", f"本{count_word}")
    return text


def _plain(description: str) -> str:
    """A manifest description without its data-dictionary note on missing values."""
    return re.sub(r"\s*[(（](missing|缺失)[^)）]*[)）]\s*$", "", description)


# -- which reasons may be shown ----------------------------------------------------
def may_be_missing(feature: str) -> bool:
    """Whether a missing value of ``feature`` has a plain meaning (none yet)."""
    return feature.endswith("_periods_since_last")


# Counts, rates and trends of events: where one is 0, nothing happened, and "0
# incidents (raises the risk)" tells staff nothing they can act on (the model may
# still weigh it, e.g. a quiet spell in a grid that is rarely quiet).
_NOTHING_WHEN_ZERO = re.compile(r"(_w\d+|_per_1k|_decay_h\d+|_trend_\d+_\d+)$")


def showable(features: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Which (feature, value) pairs can be reasons: a value, or a missing one that
    means "none yet"; not a count, rate or trend of events that is 0."""
    values = np.asarray(values, dtype=float)
    ok = ~np.isnan(values)
    if (~ok).any():
        ok = ok | np.array([may_be_missing(str(f)) for f in features], dtype=bool)[None, :]
    if (values == 0).any():
        counts = np.array([bool(_NOTHING_WHEN_ZERO.search(str(f))) for f in features])
        ok = ok & ~((values == 0) & counts[None, :])
    return ok


# -- the row's context for a reason --------------------------------------------------
def context_sources(columns: list[str]) -> dict[str, dict[str, object]]:
    """For each count feature in ``columns``: the longer window and the category columns.

    Returns ``{feature: {"long": name or None, "categories": [names]}}``: the usual
    level of ``stream_w{w}`` is read from the stream's longest window ``stream_w{L}``,
    ``L > w``; the categories of a table's total ``pet_n_w{w}`` are its
    ``pet_cat_*_w{w}`` columns (``_typ_`` for incidents), "other" left out.
    """
    present = set(columns)
    windows: dict[str, list[int]] = {}
    for c in columns:
        m = _COUNT.match(c)
        if m:
            windows.setdefault(m["stream"], []).append(int(m["w"]))
    out: dict[str, dict[str, object]] = {}
    for c in columns:
        m = _COUNT.match(c)
        if not m:
            continue
        w = int(m["w"])
        longer = [x for x in windows[m["stream"]] if x > w]
        long_name = f"{m['stream']}_w{max(longer)}" if longer else None
        cats: list[str] = []
        t = _TOTAL.match(c)
        if t:
            head = (f"{t['prefix']}_cat_", f"{t['prefix']}_typ_")
            cats = [
                x
                for x in present
                if x.startswith(head) and x.endswith(f"_w{w}") and not x.endswith(f"_other_w{w}")
            ]
            cats.sort()
        out[c] = {"long": long_name, "categories": cats}
    return out


def reason_context(
    X: pd.DataFrame, features: np.ndarray, sources: Mapping[str, Mapping[str, object]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The usual level and the leading category of each row's reason.

    Parameters
    ----------
    X : DataFrame, shape (n_rows, n_features)
    features : array of object, shape (n_rows,)
        The reason's feature per row (None where the row has no such reason).
    sources : mapping
        :func:`context_sources` of X's columns.

    Returns
    -------
    usual : array of float, shape (n_rows,)
        The grid's usual count over the reason's window: its count in the longest
        window before the reason's, per period, times the reason's window; NaN
        where the reason is not a count with a longer window.
    about : array of object, shape (n_rows,)
        The category column that holds at least half of a table total (None else).
    about_value : array of float, shape (n_rows,)
        That category's count (NaN where ``about`` is None).
    """
    n = len(X)
    usual = np.full(n, np.nan)
    about = np.full(n, None, dtype=object)
    about_value = np.full(n, np.nan)
    feats = pd.Series(features, dtype=object)
    for name, rows in feats.groupby(feats, dropna=True).groups.items():
        src = sources.get(str(name))
        if not src:
            continue
        idx = np.asarray(rows, dtype=int)
        value = X[name].to_numpy(dtype=float)[idx]
        long_name = src.get("long")
        if long_name:
            w, big = int(_COUNT.match(str(name))["w"]), int(_COUNT.match(str(long_name))["w"])
            before = X[long_name].to_numpy(dtype=float)[idx] - value
            usual[idx] = np.maximum(before, 0.0) / (big - w) * w
        cats = list(src.get("categories") or [])
        if cats:
            counts = X[cats].to_numpy(dtype=float)[idx]
            counts = np.nan_to_num(counts, nan=0.0)
            top = counts.argmax(axis=1)
            best = counts[np.arange(len(idx)), top]
            lead = (best > 0) & (best >= 0.5 * value)
            about[idx[lead]] = np.asarray(cats, dtype=object)[top[lead]]
            about_value[idx[lead]] = best[lead]
    return usual, about, about_value


# -- texts ---------------------------------------------------------------------------
def _number(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):d}"
    return f"{value:.2f}"


def _times(r: float) -> str:
    return f"{r:.0f}" if r >= 2.5 else f"{r:.1f}"


def _category_word(feature: str, manifest: FeatureManifest) -> str:
    """The city's own word for a category column (``pet_cat_wage_arrears_w4`` → its value)."""
    m = re.match(r"^(pet|dis|inc)_(cat|typ)_(.+)_w\d+$", feature)
    if not m:
        return feature
    table, key = _TABLE_OF_PREFIX[m.group(1)], m.group(3)
    # The city's own word, with the underscores of a code-like value read as spaces.
    for raw in manifest.vocabulary.get(table, []):
        if slug(raw) == key.rstrip("_"):
            return str(raw).replace("_", " ")
    return key.replace("_", " ")


def _shown(value: float, feature: str, manifest: FeatureManifest, suppress_below: int):
    """The value as shown, and whether it is suppressed (a small raw count)."""
    suppressed = (
        is_raw_count(feature, manifest) and suppress_below > 0 and 0 < value < suppress_below
    )
    if suppressed:
        return (f"fewer than {suppress_below}", f"少于{suppress_below}"), True
    return (_number(value), _number(value)), False


def is_raw_count(feature: str, manifest: FeatureManifest) -> bool:
    """Whether a feature's value is a raw count of events (subject to suppression).

    Windowed counts, open cases, and the largest neighbour's count are; means,
    shares, rates, decayed counts and the model's expected events are not.
    """
    try:
        info = manifest[feature]
    except KeyError:
        return False
    return (
        info.family == "counts"
        or (info.family == "backlog" and feature.endswith("_open"))
        or feature.startswith("nbr_max_")
    )


def _season(as_of) -> tuple[str, str]:
    """The season of an as-of date in words (English, Chinese)."""
    day = pd.Timestamp(as_of).date() if as_of is not None else None
    if day is None or not FIRST_YEAR <= day.year <= LAST_YEAR - 1:
        return "the time of year", "时节"
    this = lunar_new_year(day.year)
    ahead = (this - day).days if this >= day else (lunar_new_year(day.year + 1) - day).days
    since = (day - this).days if this <= day else (day - lunar_new_year(day.year - 1)).days
    if 0 <= ahead <= 45:
        return (
            "the season: the weeks before the Lunar New Year, when wage arrears and "
            "payment disputes usually peak",
            "时节：春节前几周，欠薪和讨薪纠纷通常集中出现",
        )
    if 0 <= since <= 20:
        return "the season: the Lunar New Year holidays", "时节：春节假期前后"
    part = (
        ("early", "上旬")
        if day.day <= 10
        else ("mid", "中旬")
        if day.day <= 20
        else ("late", "下旬")
    )
    month = dt.date(2000, day.month, 1).strftime("%B")
    return (
        f"the time of year ({part[0]} {month}), when escalations have been more common",
        f"时节（{day.month}月{part[1]}）：往年此时升级事件较多",
    )


def reason_entry(
    feature: str,
    value: float,
    contribution: float,
    manifest: FeatureManifest,
    suppress_below: int,
    *,
    usual: float = math.nan,
    about: str | None = None,
    about_value: float = math.nan,
    as_of=None,
) -> dict:
    """One reason: feature, plain text in English and Chinese, value, contribution.

    ``value`` is None when suppressed (a raw count below ``suppress_below``) or
    missing (a "none yet"). ``usual``, ``about`` and ``about_value`` are the
    row's context (:func:`reason_context`); ``as_of`` dates a season.
    """
    freq = manifest.freq
    value = float(value)
    missing = math.isnan(value)
    suppressed = False
    if feature in PART_DESCRIPTIONS:
        en, zh = PART_DESCRIPTIONS[feature]
        text_en = f"{en}: {value:.2f} expected escalations"
        text_zh = f"{zh}：预计{value:.2f}起升级事件"
    elif feature == SEASON:
        text_en, text_zh = _season(as_of)
    else:
        try:
            info = manifest[feature]
            en, zh = _plain(info.description_en), _plain(info.description_zh)
        except KeyError:
            info, en, zh = None, feature, feature
        en, zh = in_units(en, freq, "en"), in_units(zh, freq, "zh")
        family = info.family if info is not None else ""
        if missing:
            text_en, text_zh = f"{en}: none yet", f"{zh}：尚未出现"
        elif family == "static" and feature.startswith("grid_type_"):
            kind = feature.removeprefix("grid_type_")
            text_en = en if value else f"grid is not of type '{kind}'"
            text_zh = zh if value else f"网格类型不是“{kind}”"
        elif family == "trend" and _TREND.match(feature):
            m = _TREND.match(feature)
            label_en, label_zh = en.split(":")[0], re.split("[:：]", zh)[0]
            short, long_ = int(m["short"]), int(m["long"])
            ratio = _times(math.exp(value))
            unit_en, unit_zh = in_units("periods", freq, "en"), in_units("1期", freq, "zh")[1:]
            text_en = (
                f"{label_en}: the rate in the last {short} {unit_en} about {ratio}× "
                f"the rate in the last {long_} {unit_en}"
            )
            text_zh = (
                f"{label_zh}：最近{short}{unit_zh}的平均水平约为最近{long_}{unit_zh}的{ratio}倍"
            )
        elif family == "share" or "_share_" in feature:
            text_en = f"{en}: {100 * value:.0f}%"
            text_zh = f"{zh}：{100 * value:.0f}%"
        else:
            (shown_en, shown_zh), suppressed = _shown(value, feature, manifest, suppress_below)
            text_en, text_zh = f"{en}: {shown_en}", f"{zh}：{shown_zh}"
            if not suppressed and not math.isnan(usual) and value > 0:
                text_en, text_zh = _with_usual(text_en, text_zh, value, usual)
            if about is not None and not math.isnan(about_value):
                word = _category_word(about, manifest)
                if suppress_below > 0 and about_value < suppress_below:
                    text_en += f"; most about {word}"
                    text_zh += f"；多为“{word}”类"
                else:
                    text_en += f"; {_number(about_value)} about {word}"
                    text_zh += f"；其中{_number(about_value)}件为“{word}”类"
    return {
        "feature": feature,
        "text_en": f"{text_en} ({_RAISES['en']})",
        "text_zh": f"{text_zh}（{_RAISES['zh']}）",
        "value": None if (suppressed or missing) else value,
        "contribution": float(contribution),
        "suppressed": bool(suppressed),
    }


def _with_usual(text_en: str, text_zh: str, value: float, usual: float) -> tuple[str, str]:
    """A count beside the grid's usual level over the same window."""
    if usual <= 0:
        return f"{text_en}, where it usually has none", f"{text_zh}，该网格平时没有"
    r = value / usual
    if r >= 1.5:
        return (
            f"{text_en}, about {_times(r)}× its usual",
            f"{text_zh}，约为该网格平时的{_times(r)}倍",
        )
    if r >= 2 / 3:
        return f"{text_en}, about its usual level", f"{text_zh}，与该网格平时相当"
    # The contribution compares the grid with the others, the usual level with itself.
    return (
        f"{text_en}, below its usual but high among grids",
        f"{text_zh}，低于该网格平时水平，但在各网格中仍属偏高",
    )


def _text_or_none(value) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _float(row, name: str) -> float:
    value = getattr(row, name, math.nan)
    return math.nan if value is None or pd.isna(value) else float(value)


def reason_lists(
    scored: pd.DataFrame, manifest: FeatureManifest, suppress_below: int
) -> list[list[dict]]:
    """Every row's reasons as :func:`reason_entry` dicts, from the scorer's reason columns.

    Parameters
    ----------
    scored : DataFrame, shape (n_rows, 2 + 6 * n_reasons)
        ``as_of`` and the ``reason_{i}_*`` columns of
        :meth:`~riskwarn.models.scorer.EscalationScorer.reasons` (the context
        columns may be absent, as in a model saved before they existed).

    Returns
    -------
    list, length n_rows, of lists of dicts (a row's reasons, largest first)
    """
    n_reasons = sum(1 for c in scored.columns if c.startswith("reason_") and c.endswith("_feature"))
    out = []
    for row in scored.itertuples(index=False):
        entries = []
        for i in range(1, n_reasons + 1):
            feature = _text_or_none(getattr(row, f"reason_{i}_feature"))
            contribution = _float(row, f"reason_{i}_contribution")
            # Spark's string conversion turns a missing reason into the text "nan":
            # a reason exists exactly where its contribution does.
            if feature is None or math.isnan(contribution):
                continue
            about_value = _float(row, f"reason_{i}_about_value")
            about = _text_or_none(getattr(row, f"reason_{i}_about", None))
            entries.append(
                reason_entry(
                    feature,
                    _float(row, f"reason_{i}_value"),
                    contribution,
                    manifest,
                    suppress_below,
                    usual=_float(row, f"reason_{i}_usual"),
                    about=None if math.isnan(about_value) else about,
                    about_value=about_value,
                    as_of=getattr(row, "as_of", None),
                )
            )
        out.append(entries)
    return out


def joined(reasons: list[list[dict]], lang: str) -> list[str]:
    """Each row's reasons as one line of text in ``lang`` (``"en"`` or ``"zh"``)."""
    sep = "; " if lang == "en" else "；"
    return [sep.join(e[f"text_{lang}"] for e in r) for r in reasons]
