"""The watchlist report: one self-contained HTML page for policy staff.

Everything is inline (CSS, a few lines of script, SVG pictures), so the page opens
without a network and prints as it looks. It is made from a watchlist folder alone
(:func:`riskwarn.reports.folder.read_watchlist_folder`) and names only grids.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

from riskwarn.atomic import write_text_atomic
from riskwarn.backtest.evaluate import FAIRNESS_MIN_ESCALATIONS, level_off
from riskwarn.backtest.forecast import interval_name
from riskwarn.config import WatchlistConfig, k_label, quantile_level
from riskwarn.errors import RiskwarnError
from riskwarn.reports.folder import WatchlistFolder, is_planned, read_watchlist_folder
from riskwarn.reports.plan import plan_section
from riskwarn.reports.svg import (
    TIER_COLOURS,
    MapGrid,
    grid_map,
    risk_curve,
    sparkline,
    tier_colour,
)
from riskwarn.reports.text import LANGUAGES, TEXT, unit_key
from riskwarn.scoring.watchlist import extra_columns, tier_changes

DEFAULT_ROWS = (10, 200)
"""Without ``rows``, the ranked table lists the grids in a tier, at least 10 and at most 200."""

CSS = """
:root { --ink: #222; --muted: #666; --line: #ddd; --t1: #b2182b; --t2: #ef8a62; --t3: #fddbc7; }
* { box-sizing: border-box; }
body { font-family: "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", "Segoe UI",
       Roboto, Helvetica, Arial, sans-serif; color: var(--ink); margin: 0; background: #fafafa;
       font-size: 14px; line-height: 1.45; }
main { max-width: 1180px; margin: 0 auto; padding: 16px 20px 40px; background: #fff; }
h1 { font-size: 24px; margin: 4px 0; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 2px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
.sub { color: var(--muted); margin: 0; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin-top: 14px; }
span.plan { font-size: 11px; padding: 1px 5px; border-radius: 3px; background: #2c7a4b; color: #fff; }
.card { flex: 1 1 150px; border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
.card .n { font-size: 26px; font-weight: 700; }
.card .what { color: var(--muted); font-size: 12px; }
.card.t1 { border-left: 6px solid var(--t1); } .card.t2 { border-left: 6px solid var(--t2); }
.card.t3 { border-left: 6px solid var(--t3); } .card.chg { border-left: 6px solid #4a6fa5; }
.mapbox { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.map { max-width: 100%; height: auto; border: 1px solid var(--line); }
.legend span { display: inline-block; width: 14px; height: 14px; vertical-align: middle;
               margin: 0 6px 0 12px; border: 1px solid #bbb; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 5px 6px; border-bottom: 1px solid var(--line); }
th { background: #f2f2f2; font-weight: 600; font-size: 13px; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.reasons ol { margin: 0; padding-left: 18px; }
.tier { display: inline-block; min-width: 22px; text-align: center; border-radius: 3px;
        padding: 0 4px; font-weight: 700; }
.tier.t1 { background: var(--t1); color: #fff; } .tier.t2 { background: var(--t2); }
.tier.t3 { background: var(--t3); }
td.change { white-space: nowrap; }
.up { color: #b2182b; } .down { color: #2166ac; } .new { color: #b2182b; font-weight: 700; }
.lists { display: flex; flex-wrap: wrap; gap: 24px; } .lists > div { flex: 1 1 300px; }
.note { color: var(--muted); font-size: 12px; }
#find { padding: 4px 8px; margin: 4px 0 8px; width: 220px; }
.cardtext p { max-width: 900px; }
.warn { border: 1px solid #d9a400; background: #fff6d6; padding: 8px 12px; border-radius: 6px;
        margin: 12px 0; }
.flag { border-left: 6px solid #d9a400; background: #fffbea; padding: 6px 12px; margin: 8px 0; }
.mapwrap { position: relative; }
.mapctl button { margin: 0 4px 6px 0; padding: 2px 10px; font-size: 14px; }
#maptip { position: absolute; display: none; pointer-events: none; background: #222; color: #fff;
          padding: 4px 8px; border-radius: 4px; font-size: 12px; white-space: nowrap; z-index: 2; }
.map .grid:hover { stroke: #000; stroke-width: 1.5; }
.map { cursor: grab; touch-action: none; }
@media print {
  body { background: #fff; font-size: 11px; }
  main { max-width: none; padding: 0; }
  #find, .noprint { display: none; }
  tr { break-inside: avoid; }
  h2 { break-after: avoid; }
  .map { max-height: 150mm; width: auto; }
  @page { size: A4; margin: 12mm; }
}
"""

SCRIPT = """
document.getElementById('find').addEventListener('input', function (e) {
  var q = e.target.value.trim().toLowerCase();
  document.querySelectorAll('#ranked tbody tr').forEach(function (tr) {
    tr.style.display = !q || tr.dataset.grid.toLowerCase().indexOf(q) >= 0 ? '' : 'none';
  });
});
(function () {
  // The map: a label on hover, pan by dragging, zoom by wheel or buttons (viewBox only).
  var svg = document.getElementById('map'), tip = document.getElementById('maptip');
  if (!svg) { return; }
  var wrap = svg.parentNode;
  var full = svg.getAttribute('viewBox').split(' ').map(Number), view = full.slice();
  function show() { svg.setAttribute('viewBox', view.join(' ')); }
  function zoom(f, cx, cy) {
    var w = Math.min(full[2], Math.max(full[2] / 40, view[2] / f));
    var h = w * full[3] / full[2];
    if (cx === undefined) { cx = view[0] + view[2] / 2; cy = view[1] + view[3] / 2; }
    view = [cx - (cx - view[0]) * w / view[2], cy - (cy - view[1]) * h / view[3], w, h];
    show();
  }
  function point(e) {
    var r = svg.getBoundingClientRect();
    return [view[0] + (e.clientX - r.left) / r.width * view[2],
            view[1] + (e.clientY - r.top) / r.height * view[3]];
  }
  svg.addEventListener('wheel', function (e) {
    e.preventDefault(); var p = point(e); zoom(e.deltaY < 0 ? 1.25 : 0.8, p[0], p[1]);
  }, { passive: false });
  var drag = null;
  svg.addEventListener('pointerdown', function (e) { drag = [e.clientX, e.clientY]; });
  window.addEventListener('pointerup', function () { drag = null; });
  svg.addEventListener('pointermove', function (e) {
    if (drag) {
      var r = svg.getBoundingClientRect();
      view[0] -= (e.clientX - drag[0]) / r.width * view[2];
      view[1] -= (e.clientY - drag[1]) / r.height * view[3];
      drag = [e.clientX, e.clientY]; show();
    }
  });
  document.querySelectorAll('[data-zoom]').forEach(function (b) {
    b.addEventListener('click', function () {
      var z = b.dataset.zoom;
      if (z === 'reset') { view = full.slice(); show(); } else { zoom(Number(z)); }
    });
  });
  svg.querySelectorAll('.grid').forEach(function (g) {
    g.addEventListener('mouseover', function () { tip.textContent = g.dataset.tip; tip.style.display = 'block'; });
    g.addEventListener('mousemove', function (e) {
      var r = wrap.getBoundingClientRect();
      tip.style.left = (e.clientX - r.left + 12) + 'px'; tip.style.top = (e.clientY - r.top + 12) + 'px';
    });
    g.addEventListener('mouseout', function () { tip.style.display = 'none'; });
  });
})();
"""


def _missing(value) -> bool:
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def _pct(value, digits: int = 1) -> str:
    return "–" if _missing(value) else f"{100 * float(value):.{digits}f}%"


def _num(value, digits: int = 3) -> str:
    return "–" if _missing(value) else f"{float(value):.{digits}f}"


def _share_label(share: float) -> str:
    return f"{100 * share:g}%"


def _tier(value) -> int | None:
    return None if pd.isna(value) else int(value)


def _tier_badge(tier: int | None) -> str:
    if tier is None:
        return "–"
    style = "" if tier in TIER_COLOURS else f' style="background:{tier_colour(tier)}"'
    return f'<span class="tier t{tier}"{style}>{tier}</span>'


def _reason_texts(reasons, lang: str) -> list[str]:
    # A list of dicts, or the object array that Parquet gives back for it.
    if _missing(reasons):
        return []
    return [str(r.get(f"text_{lang}") or r.get("text_en") or r.get("feature")) for r in reasons]


def _range_columns(quantiles: tuple[str, ...]) -> tuple[str, str] | None:
    """The widest central interval's columns among a watchlist's quantiles, or None."""
    if len(quantiles) < 2 or not quantile_level(quantiles[0]) < 0.5 < quantile_level(quantiles[-1]):
        return None
    return quantiles[0], quantiles[-1]


def _tiers(value) -> tuple[float, ...]:
    """The card's tier shares, or the default ones when the card has none that make sense."""
    if (
        isinstance(value, list | tuple)
        and value
        and all(isinstance(v, int | float) and 0 < v <= 1 for v in value)
    ):
        return tuple(float(v) for v in value)
    return WatchlistConfig().tiers


class _Report:
    def __init__(self, data: WatchlistFolder, lang: str, rows: int | None) -> None:
        self.data, self.lang, self.rows = data, lang, rows
        self.t = TEXT[lang]
        self.w = data.watchlist
        self.card = data.card
        self.tiers = _tiers(self.card.get("tiers"))
        self.unit = self.t[unit_key(self.card.get("frequency"))]
        first = self.w.iloc[0] if len(self.w) else None
        self.as_of = f"{pd.Timestamp(first['as_of']):%Y-%m-%d}" if first is not None else "–"
        horizon = first["horizon"] if first is not None else self.card.get("horizon")
        self.horizon = int(horizon) if isinstance(horizon, int | float | np.integer) else "–"
        self.has_previous = "prev_rank" in self.w and bool(self.w["prev_rank"].notna().any())
        quantiles, curve = extra_columns(self.w)
        self.range = _range_columns(quantiles)
        self.curve = list(curve)
        if len(self.curve) < 2 or self.w[self.curve[:-1]].isna().all().all():
            self.curve = []  # one horizon, or no classifier for the shorter ones

    # -- sections --------------------------------------------------------------------
    def header(self) -> str:
        t, w = self.t, self.w
        name = self.card.get("model_name") or (w["model_name"].iloc[0] if len(w) else "–")
        version = self.card.get("model_version") or (w["model_version"].iloc[0] if len(w) else "–")
        generated = w["generated_at"].iloc[0] if len(w) and "generated_at" in w else ""
        lines = [
            t["window"].format(n=self.horizon, unit=self.unit, date=self.as_of),
            t["model"].format(name=escape(str(name)), version=escape(str(version))),
        ]
        if generated:
            lines.append(t["generated"].format(when=escape(self._local(generated))))
        return (
            f"<header><h1>{t['title']} · {t['as_of'].format(date=self.as_of)}</h1>"
            f'<p class="sub">{" · ".join(lines)}</p>{self._champion_warning(version)}'
            f"{self._gap_warnings()}</header>"
        )

    def _gap_warnings(self) -> str:
        """A warning per event table with an extraction gap just before the as-of date
        (the card's ``data_warnings``, written by ``riskwarn score``)."""
        out = []
        for gap in self.card.get("data_warnings") or []:
            days = [str(d) for d in gap.get("periods", [])]
            table = str(gap.get("table", ""))
            text = self.t["data_gap"].format(
                table=escape(self.t.get(f"table_{table}", table)),
                n=len(days),
                of=escape(str(gap.get("of", ""))),
                dates=escape(", ".join(days[:4]) + (" …" if len(days) > 4 else "")),
            )
            out.append(f'<p class="warn data-gap">{text}</p>')
        return "".join(out)

    def _local(self, stamp) -> str:
        """An instant in the city's own time zone (the card's), as the as-of date is."""
        zone = self.card.get("timezone")
        try:
            when = pd.Timestamp(stamp)
            if when.tzinfo is None:
                when = when.tz_localize("UTC")
            if zone:
                return f"{when.tz_convert(zone):%Y-%m-%d %H:%M} ({zone})"
            return f"{when:%Y-%m-%d %H:%M %Z}"
        except (ValueError, TypeError, KeyError):
            return str(stamp)

    def _champion_warning(self, version) -> str:
        """A warning when the scoring model is not the champion (from the card)."""
        if "is_champion" not in self.card or self.card.get("is_champion"):
            return ""
        champion = self.card.get("champion_version")
        key = "not_champion" if champion else "no_champion"
        text = self.t[key].format(version=escape(str(version)), champion=escape(str(champion)))
        return f'<p class="warn" id="champion-warning">{text}</p>'

    def changes(self) -> dict:
        """The tier changes: the card's (as the console printed them), else from the rows."""
        found = self.card.get("changes")
        if isinstance(found, dict) and "first" in found:
            return found
        w = self.w
        if not self.has_previous:
            return tier_changes(w, None)
        before = w[w["prev_rank"].notna()][["grid_id", "prev_rank", "prev_tier"]]
        before = before.rename(columns={"prev_rank": "rank", "prev_tier": "tier"})
        return tier_changes(w, before)

    def headline(self) -> str:
        t, w = self.t, self.w
        tier = w["tier"]
        cards = []
        for i, share in enumerate(self.tiers, start=1):
            n = int((tier == i).sum())
            cards.append(
                f'<div class="card t{i}"><div class="what">{t["tier"].format(t=i)} · '
                f"{t['tier_share'].format(share=_share_label(share))}</div>"
                f'<div class="n">{n:,}</div><div class="what">{t["grids"]}</div></div>'
            )
        if "in_plan" in w and w["in_plan"].notna().any():
            n = int(is_planned(w).sum())
            cards.append(
                f'<div class="card chg"><div class="what">{t["in_plan_card"]}</div>'
                f'<div class="n">{n:,}</div><div class="what">{t["grids"]}</div></div>'
            )
        changes = self.changes()
        if not changes["first"]:
            for key in ("entered", "left", "moved_up", "moved_down"):
                n = int(changes[key])
                cards.append(
                    f'<div class="card chg"><div class="what">{t[key]}</div>'
                    f'<div class="n">{n:,}</div><div class="what">{t["grids"]}</div></div>'
                )
            note = ""
        else:
            note = f'<p class="note">{t["no_previous"]}</p>'
        return f'<section><div class="cards">{"".join(cards)}</div>{note}</section>'

    def _tip(self, row) -> str:
        """A grid's hover label: id, name, town, tier, rank and score."""
        t = self.t
        place = self.data.places.get(str(row.grid_id), {})
        tier = _tier(row.tier)
        parts = [str(row.grid_id)]
        parts += [place[k] for k in ("name", "town") if place.get(k)]
        parts.append(t["tip_tier"].format(t=tier) if tier is not None else t["tip_untiered"])
        parts += [t["tip_rank"].format(rank=int(row.rank)), _pct(row.score)]
        return " · ".join(parts)

    def map(self) -> str:
        t, w = self.t, self.w
        grids = {
            str(r.grid_id): MapGrid(
                _tier(r.tier), self._tip(r), self.data.places.get(str(r.grid_id), {}).get("town")
            )
            for r in w.itertuples()
        }
        svg = grid_map(self.data.shapes, grids, scale_label=t["scale_km"])
        if not svg:
            return f"<section><h2>{t['map']}</h2><p class='note'>{t['no_map']}</p></section>"
        legend = (
            "".join(
                f'<span style="background:{tier_colour(i)}"></span>{t["tier"].format(t=i)}'
                for i in range(1, len(self.tiers) + 1)
            )
            + f'<span style="background:{TIER_COLOURS[None]}"></span>{t["not_tiered"]}'
        )
        controls = "".join(
            f'<button type="button" data-zoom="{z}" title="{t[key]}" aria-label="{t[key]}">'
            f"{label}</button>"
            for z, key, label in (("1.5", "zoom_in", "+"), ("0.667", "zoom_out", "−"),
                                  ("reset", "zoom_reset", t["zoom_reset"]))
        )  # fmt: skip
        return (
            f"<section><h2>{t['map']}</h2><p class='note'>{t['map_help']}</p>"
            f"<div class='mapctl noprint'>{controls}</div><div class='mapbox'>"
            f"<div class='mapwrap'>{svg}<div id='maptip' role='tooltip'></div></div>"
            f"<div class='legend'>{legend}</div></div></section>"
        )

    def _change(self, row) -> str:
        t = self.t
        change = getattr(row, "change", None)
        prev = getattr(row, "prev_rank", None)
        if change == "new":
            if not self.has_previous:
                return "–"  # the first watchlist of the folder: nothing to compare with
            return f'<span class="new">{t["change_new"]}</span>'
        if change in ("up", "down") and not pd.isna(prev):
            arrow = "▲" if change == "up" else "▼"
            text = t[f"change_{change}"].format(prev=int(prev))
            return f'<span class="{change}">{arrow} {text}</span>'
        if change == "same":
            return t["change_same"]
        return "–"

    def _n_rows(self) -> int:
        if self.rows is not None:
            return self.rows
        # Every grid in a tier, within reason: a city of 20,000 grids has 2,000.
        return int(np.clip(self.w["tier"].notna().sum(), DEFAULT_ROWS[0], DEFAULT_ROWS[1]))

    def ranked(self) -> str:
        t, w = self.t, self.w
        top = w.head(self._n_rows())
        if "in_plan" in w:  # every grid the teams take is listed, whatever its rank
            planned = w[is_planned(w) & ~w["grid_id"].isin(top["grid_id"])]
            top = pd.concat([top, planned]).sort_values("rank", kind="stable")
        history = self.data.history
        history = history[history["grid_id"].isin(set(top["grid_id"]))]
        trend = history.groupby("grid_id", sort=False)["score"].agg(list).to_dict()
        days = history.groupby("grid_id", sort=False)["as_of"].agg(list).to_dict()
        ceiling = float(history["score"].max()) if len(history) else 0.0
        body = []
        for row in top.itertuples():
            tier = _tier(row.tier)
            texts = _reason_texts(getattr(row, "reasons", None), self.lang)
            since = getattr(row, "periods_since_intervention", None)
            if not _missing(since):
                texts = [t["treated"].format(n=int(since), unit=self.unit), *texts]
            reasons = "".join(f"<li>{escape(text)}</li>" for text in texts)
            body.append(
                f'<tr data-grid="{escape(str(row.grid_id))}">'
                f'<td class="num">{int(row.rank)}</td>'
                f"<td>{escape(str(row.grid_id))}</td>"
                f"<td>{_tier_badge(tier)}{self._plan_badge(row)}</td>"
                f'<td class="num">{_pct(row.score)}</td>'
                f'<td class="num">{self._expected(row)}</td>'
                f"{self._curve_cell(row)}"
                f'<td class="change">{self._change(row)}</td>'
                f'<td class="reasons"><ol>{reasons}</ol></td>'
                f"<td>{self._spark(trend.get(row.grid_id, []), days.get(row.grid_id, []), ceiling)}"
                "</td></tr>"
            )
        columns = [
            ("col_rank", "num"),
            ("col_grid", ""),
            ("col_tier", ""),
            ("col_score", "num"),
            ("col_expected", "num"),
            *([("col_curve", "")] if self.curve else []),
            ("col_change", ""),
            ("col_reasons", ""),
            ("col_trend", ""),
        ]
        head = "".join(
            f'<th class="{cls}">{t[key].format(n=len(self.curve), unit=self.unit)}</th>'
            for key, cls in columns
        )
        note = t["ranked_note"].format(n=f"{len(top):,}", total=f"{len(w):,}")
        if len(history):
            dates = pd.to_datetime(history["as_of"])
            note += " " + t["trend_scale"].format(
                top=_pct(ceiling),
                n=dates.nunique(),
                first=f"{dates.min():%Y-%m-%d}",
                last=f"{dates.max():%Y-%m-%d}",
            )
        return (
            f"<section><h2>{t['ranked']}</h2><p class='note'>{note}</p>"
            f'<input id="find" type="search" placeholder="{t["find"]}" aria-label="{t["find"]}">'
            f'<table id="ranked"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
            "</table></section>"
        )

    def _expected(self, row) -> str:
        """``0.74 (0–2)``: the expected events and the calibrated range, where there is one."""
        text = _num(row.expected_events, 2)
        if self.range is None:
            return text
        lo, hi = (getattr(row, c, None) for c in self.range)
        if _missing(lo) or _missing(hi):
            return text
        return f'{text} <span class="range">({int(lo)}–{int(hi)})</span>'

    def _curve_cell(self, row) -> str:
        """The risk within 1..H periods as small bars on a 0..100 % scale, values on hover."""
        if not self.curve:
            return ""
        values = [getattr(row, c, None) for c in self.curve]
        tips = [
            self.t["curve_tip"].format(h=h, unit=self.unit, p=_pct(v, 0))
            for h, v in enumerate(values, start=1)
        ]
        return f'<td class="curve">{risk_curve(values, label="; ".join(tips))}</td>'

    def _plan_badge(self, row) -> str:
        if _missing(getattr(row, "in_plan", None)) or not bool(row.in_plan):
            return ""
        title = self.t["plan_title"].format(n=int(row.plan_periods), unit=self.unit)
        return f' <span class="plan" title="{escape(title)}">{self.t["plan_badge"]}</span>'

    @staticmethod
    def _spark(scores: list, dates: list, ceiling: float) -> str:
        """A trend line on the page's shared 0..ceiling scale, its values on hover."""
        label = "; ".join(
            f"{pd.Timestamp(d):%Y-%m-%d} {_pct(v)}" for d, v in zip(dates, scores, strict=True)
        )
        return sparkline(scores, ceiling, label=label)

    def _entered_left(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        w = self.w
        prev_tier = w["prev_tier"] if "prev_tier" in w else pd.Series(pd.NA, index=w.index)
        entered = w[w["tier"].notna() & prev_tier.isna()]
        left = w[w["tier"].isna() & prev_tier.notna()]
        return entered, left

    def entered_left(self) -> str:
        t = self.t
        if not self.has_previous:
            return ""
        entered, left = self._entered_left()

        def items(frame: pd.DataFrame, was: bool) -> str:
            if frame.empty:
                return f"<p>{t['none']}</p>"
            lines = []
            for r in frame.itertuples():
                if was:
                    text = t["was_rank"].format(
                        rank=int(r.prev_rank), tier=int(r.prev_tier), now=int(r.rank)
                    )
                else:
                    text = t["now_rank"].format(rank=int(r.rank), tier=int(r.tier))
                lines.append(f"<li><b>{escape(str(r.grid_id))}</b> {text}</li>")
            return f"<ul>{''.join(lines)}</ul>"

        return (
            f"<section><h2>{t['changes']}</h2><div class='lists'>"
            f"<div><h3>{t['entered_title']} ({len(entered):,})</h3>{items(entered, False)}</div>"
            f"<div><h3>{t['left_title']} ({len(left):,})</h3>"
            f"{items(left.sort_values('prev_rank'), True)}</div></div></section>"
        )

    def model_card(self) -> str:
        t, card = self.t, self.card
        words = card.get("label_words") or {}
        label = escape(str(words.get(self.lang) or card.get("label") or "–"))
        parts = [
            f"<h3>{t['card_means']}</h3><p>"
            + t["card_means_text"].format(label=label, n=self.horizon, unit=self.unit)
            + "</p>",
            f"<h3>{t['card_not']}</h3><p>{t['card_not_text']}</p>",
            f"<h3>{t['card_use']}</h3><p>{t['card_use_text']}</p>",
            self._plain_figures(),
            self._range_text(),
            self._curve_text(),
            self._fairness(),
            f"<h3>{t['card_performance']}</h3>{self._performance()}",
            f"<h3>{t['card_data']}</h3>{self._provenance()}",
        ]
        return f"<section class='cardtext'><h2>{t['card']}</h2>{''.join(parts)}</section>"

    def _k(self) -> tuple[str | None, str]:
        """The card's headline k as a metric-name suffix (``5pct``) and as text (``5%``)."""
        k = (self.card.get("backtest") or {}).get("k")
        if not isinstance(k, int | float) or not 0 < k < 1:
            return None, ""
        return k_label(float(k)), f"{100 * float(k):g}%"

    def _scored_model(self) -> tuple[str | None, dict]:
        """The card's model and its backtest figures (the first non-baseline if unnamed)."""
        backtest = self.card.get("backtest") or {}
        overall = backtest.get("overall") or {}
        name = self.card.get("model")
        if name not in overall:
            others = [m for m in overall if m != backtest.get("best_baseline")]
            name = others[0] if others else None
        return name, overall.get(name, {}) if name else {}

    def _plain_figures(self) -> str:
        """The backtest in a sentence: how many of the top k escalated, against chance."""
        t = self.t
        k, k_text = self._k()
        name, figures = self._scored_model()
        precision = figures.get(f"precision_at_{k}") if k else None
        base, recall = figures.get("base_rate"), figures.get(f"recall_at_{k}") if k else None
        if k is None or any(_missing(v) for v in (precision, base, recall)):
            return ""
        lift = float(precision) / float(base) if float(base) > 0 else float("nan")
        lift_text = (
            t["plain_lift"].format(x=f"{lift:.1f}" if lift < 10 else f"{lift:.0f}")
            if lift >= 1.05
            else t["plain_nolift"]
        )
        text = t["plain_top"].format(
            k=k_text,
            hits=f"{100 * float(precision):.0f}",
            n=self.horizon,
            unit=self.unit,
            lift=lift_text,
            base=f"{100 * float(base):.0f}"
            if 100 * float(base) >= 1
            else f"{100 * float(base):.1f}",
            recall=_pct(recall, 0),
        )
        backtest = self.card.get("backtest") or {}
        baseline = backtest.get("best_baseline")
        b_recall = ((backtest.get("overall") or {}).get(baseline) or {}).get(f"recall_at_{k}")
        if baseline and baseline != name and not _missing(b_recall):
            text += " " + t["plain_baseline"].format(
                baseline=escape(str(baseline)), recall_b=_pct(b_recall, 0), k=k_text
            )
        ratio = level_off(figures)
        if ratio is not None:
            text += " " + t["plain_level"].format(x=f"{ratio:.1f}")
        return f"<h3>{t['plain_title']}</h3><p id='plain-figures'>{text}</p>"

    def _range_text(self) -> str:
        """What the range beside the expected events means, and how often it held."""
        if self.range is None:
            return ""
        t = self.t
        lo, hi = (quantile_level(c) for c in self.range)
        share = f"{(hi - lo) * 10:.2g}"
        text = t["range_text"].format(share=share)
        forecast = (self.card.get("backtest") or {}).get("forecast") or {}
        name = interval_name(lo, hi)
        coverage = forecast.get(f"coverage_{name}")
        if not _missing(coverage):
            bands = [
                b.get(f"coverage_{name}")
                for b in forecast.get("by_band") or []
                if not _missing(b.get(f"coverage_{name}"))
            ]
            worst = t["range_worst"].format(cov=f"{100 * min(bands):.0f}") if bands else ""
            text += t["range_checked"].format(
                cov=f"{100 * float(coverage):.0f}", worst=worst, share=share
            )
        return f"<h3>{t['range_title']}</h3><p id='range-text'>{text}</p>"

    def _curve_text(self) -> str:
        if not self.curve:
            return ""
        t = self.t
        return (
            f"<h3>{t['curve_title'].format(unit=self.unit)}</h3>"
            f"<p>{t['curve_text'].format(n=len(self.curve), unit=self.unit)}</p>"
        )

    def _fairness(self) -> str:
        """The flagged gaps between grid groups, in plain words (from the card's backtest)."""
        t = self.t
        fairness = (self.card.get("backtest") or {}).get("fairness")
        if not isinstance(fairness, dict) or fairness.get("ratio") is None:
            return ""
        ratio = f"{float(fairness['ratio']):g}"
        flags = fairness.get("flags") or []
        if not flags:
            return (
                f"<h3>{t['fairness_title']}</h3><p class='note'>"
                f"{t['fairness_none'].format(ratio=ratio)}</p>"
            )
        k_text = self._k()[1]
        items = []
        for f in flags:
            if f.get("direction") not in ("under", "over"):
                continue
            text = t[f"fairness_{f['direction']}"].format(
                kind=t.get(f"kind_{f['view']}", ""),
                group=escape(str(f["group"])),
                top=_pct(f["top_share"]),
                esc=_pct(f["escalation_share"]),
                k=k_text,
            )
            items.append(f"<li>{text} ({float(f['ratio']):.2f})</li>")
        return (
            f"<div class='flag' id='fairness-flags'><h3>{t['fairness_title']}</h3>"
            f"<p>{t['fairness_intro'].format(k=k_text, ratio=ratio, n=FAIRNESS_MIN_ESCALATIONS)}"
            f"</p><ul>{''.join(items)}</ul></div>"
        )

    def _glossary(self, k_text: str, base) -> str:
        t = self.t
        keys = ["g_ap", "g_auc"] + (["g_recall", "g_pai"] if k_text else []) + ["g_ece"]
        items = "".join(f"<li>{t[key].format(k=k_text, base=_pct(base))}</li>" for key in keys)
        return f"<h3>{t['glossary']}</h3><ul class='note'>{items}</ul>"

    def _performance(self) -> str:
        t = self.t
        backtest = self.card.get("backtest") or {}
        overall = backtest.get("overall") or {}
        if not overall:
            return f"<p class='note'>{t['card_no_backtest']}</p>"
        k, k_text = self._k()
        columns = [("m_ap", "ap", _num), ("m_auc", "roc_auc", _num)]
        if k:
            columns += [
                ("m_recall", f"recall_at_{k}", _pct),
                ("m_pai", f"pai_at_{k}", lambda v: _num(v, 2)),
            ]
        columns.append(("m_ece", "ece", lambda v: _num(v, 4)))
        head = f"<th>{t['m_model']}</th>" + "".join(
            f'<th class="num">{t[key].format(k=k_text)}</th>' for key, _, _ in columns
        )
        baseline = backtest.get("best_baseline")
        rows = []
        for name, values in overall.items():
            shown = t["best_baseline"].format(name=name) if name == baseline else name
            cells = "".join(f'<td class="num">{fmt(values.get(c))}</td>' for _, c, fmt in columns)
            rows.append(f"<tr><td>{escape(shown)}</td>{cells}</tr>")
        out = (
            f"<p class='note'>{t['card_performance_text']}</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            + self._glossary(k_text, self._scored_model()[1].get("base_rate"))
        )
        by_type = backtest.get("by_grid_type") or []
        if by_type:
            share = f"top_{k}_share" if k and f"top_{k}_share" in by_type[0] else None
            share_k = k_text
            cols = [
                ("m_group", "group", lambda v: escape(str(v))),
                ("m_rows", "n_rows", lambda v: f"{int(v):,}"),
                ("m_positive", "n_positive", lambda v: f"{int(v):,}"),
                ("m_ap", "ap", _num),
                ("m_auc", "roc_auc", _num),
            ]
            if share:
                cols += [("m_top_share", share, _pct), ("m_esc_share", "escalation_share", _pct)]
            head = "".join(
                f'<th class="{"" if c == "group" else "num"}">{t[key].format(k=share_k)}</th>'
                for key, c, _ in cols
            )
            body = "".join(
                "<tr>"
                + "".join(
                    f'<td class="{"" if c == "group" else "num"}">{fmt(r.get(c))}</td>'
                    for _, c, fmt in cols
                )
                + "</tr>"
                for r in by_type
            )
            out += (
                f"<h3>{t['card_by_type']}</h3><p class='note'>"
                f"{t['card_by_type_text'].format(k=share_k)}</p>"
                f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            )
        return out

    def _provenance(self) -> str:
        t, card, w = self.t, self.card, self.w
        first = w.iloc[0] if len(w) else {}
        lines = []
        name = card.get("model_name") or first.get("model_name", "–")
        version = card.get("model_version") or first.get("model_version", "–")
        run = card.get("run_id") or first.get("run_id", "–")
        lines.append(
            t["version_line"].format(
                name=escape(str(name)), version=escape(str(version)), run=escape(str(run))
            )
        )
        trained = card.get("trained") or {}
        if trained.get("first_as_of"):
            lines.append(
                t["trained_on"].format(
                    first=escape(str(trained["first_as_of"])),
                    last=escape(str(trained.get("last_as_of"))),
                    rows=f"{int(trained.get('n_rows') or 0):,}",
                    grids=f"{int(trained.get('n_grids') or 0):,}",
                )
            )
        data_hash = card.get("data_hash") or first.get("data_hash")
        if data_hash:
            lines.append(f"{t['data_hash']}: <code>{escape(str(data_hash))}</code>")
        if card.get("riskwarn_version"):
            lines.append(t["software"].format(version=escape(str(card["riskwarn_version"]))))
        return "<ul>" + "".join(f"<li>{line}</li>" for line in lines) + "</ul>"

    def notes(self) -> str:
        if not self.data.notes:
            return ""
        items = "".join(f"<li>{escape(n)}</li>" for n in self.data.notes)
        return f"<section class='note'><h2>{self.t['notes']}</h2><ul>{items}</ul></section>"

    def page(self) -> str:
        body = "".join(
            [
                self.header(),
                self.headline(),
                self.map(),
                self.ranked(),
                plan_section(self.data, self.lang, self.unit),
                self.entered_left(),
                self.model_card(),
                self.notes(),
            ]
        )
        return (
            f'<!DOCTYPE html><html lang="{self.t["lang"]}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{self.t['title']} {self.as_of}</title><style>{CSS}</style></head>"
            f"<body><main>{body}</main><script>{SCRIPT}</script></body></html>\n"
        )


def render_report(
    folder: str | Path | WatchlistFolder, lang: str = "zh", rows: int | None = None
) -> str:
    """The report page for a watchlist folder, as HTML text.

    Parameters
    ----------
    folder : path or WatchlistFolder
        The ``--out`` folder of ``riskwarn score`` (or what was read from it).
    lang : {"zh", "en"}
    rows : int or None
        Grids listed in the ranked table (the highest ranked); None lists the grids
        in a tier, at least 10 and at most 200.
    """
    if lang not in LANGUAGES:
        raise RiskwarnError(f"--lang must be one of {', '.join(LANGUAGES)}, not {lang!r}.")
    if rows is not None and rows < 1:
        raise RiskwarnError(f"--rows must be at least 1, got {rows}.")
    data = folder if isinstance(folder, WatchlistFolder) else read_watchlist_folder(folder)
    return _Report(data, lang, rows).page()


def write_report(
    folder: str | Path, out: str | Path, lang: str = "zh", rows: int | None = None
) -> Path:
    """Render the report of ``folder`` and write it to ``out`` atomically."""
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise RiskwarnError(f"--out must be an .html file, got {out}.")
    return write_text_atomic(out, render_report(folder, lang=lang, rows=rows))
