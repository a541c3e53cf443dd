"""The report's plan section: what the teams take this period, per town, how the plan
changed, what was done recently and what the risk did since, and the effect estimate."""

from __future__ import annotations

from html import escape

import numpy as np
import pandas as pd

from riskwarn.models.reasons import UNITS, unit_letter
from riskwarn.reports.folder import WatchlistFolder, is_planned
from riskwarn.reports.text import PLAN_TEXT, effect_lines

#: Interventions this recent (in periods) are listed with the risk before and now.
RECENT_PERIODS = 8
#: Plans compared for the mean churn.
CHURN_LISTS = 12
#: Recently treated grids listed by name (the highest ranked).
SHOWN = 20


def plan_section(data: WatchlistFolder, lang: str, unit: str) -> str:
    """The section's HTML; empty for a watchlist without a plan."""
    w = data.watchlist
    if "in_plan" not in w or not w["in_plan"].notna().any():
        return ""
    t = PLAN_TEXT[lang]
    planned = w[is_planned(w)]
    settings = data.card.get("plan") or {}
    periods = (
        planned["plan_periods"].astype("Float64").fillna(1).to_numpy(dtype=float)
        if "plan_periods" in planned
        else np.ones(len(planned))
    )
    new = int((periods <= 1).sum())
    parts = [
        f"<p>{t['now'].format(n=len(planned), capacity=_capacity_text(settings, t))}</p>",
        f"<p>{t['stay'].format(new=new, kept=len(planned) - new, **_spread(periods[periods > 1]), unit=unit)}</p>"
        if len(planned) > new
        else f"<p>{t['all_new'].format(new=new)}</p>",
        _by_group(data, planned, periods, settings, t, unit),
        _churn(data.plans, t),
        _recent(data, t, unit, lang),
        f"<h3>{t['effect_title']}</h3>",
    ]
    if data.effect is not None:
        parts += [f"<p>{escape(line)}</p>" for line in effect_lines(data.effect, lang)]
    else:
        parts.append(f"<p>{t['no_effect']}</p>")
    return f"<section class='plan'><h2>{t['title']}</h2>{''.join(parts)}</section>"


def _unit(n: int, unit: str, lang: str, freq: str | None) -> str:
    """The period word for ``n`` periods: English says "1 week", not "1 weeks"."""
    letter = unit_letter(freq)
    if lang == "en" and n == 1 and letter in UNITS:
        return UNITS[letter]["en"][0]
    return unit


def _spread(periods: np.ndarray) -> dict:
    return {"median": f"{np.median(periods):g}", "longest": int(periods.max())}


def _capacity_text(settings: dict, t: dict) -> str:
    capacity = settings.get("capacity")
    if capacity is None:
        return ""
    by = settings.get("capacity_by")
    if isinstance(capacity, dict):
        return t["capacity_table"].format(by=escape(str(t["group_names"].get(by, by or ""))))
    name = t["group_names"].get(by, by) if by else ""
    return t["capacity_by" if by else "capacity"].format(n=capacity, by=escape(str(name)))


def _by_group(data, planned, periods, settings, t, unit: str) -> str:
    """Per town (or the capacity's group): in the plan, capacity, new, how long."""
    by = settings.get("capacity_by") or "town"
    groups = [data.places.get(str(g), {}).get(by) for g in planned["grid_id"]]
    if not any(groups):
        return ""
    capacity = settings.get("capacity")
    since = (
        planned["periods_since_intervention"]
        .astype("Float64")
        .to_numpy(dtype=float, na_value=np.nan)
        if "periods_since_intervention" in planned
        else np.full(len(planned), np.nan)
    )
    frame = pd.DataFrame({"group": [g or "–" for g in groups], "periods": periods, "since": since})
    rows = []
    for group, part in frame.groupby("group", sort=True):
        if isinstance(capacity, dict):
            cap = capacity.get(group, "–")
        else:
            cap = capacity if settings.get("capacity_by") and capacity is not None else "–"
        rows.append(
            f"<tr><td>{escape(str(group))}</td><td>{len(part):,}</td><td>{cap}</td>"
            f"<td>{int((part['periods'] <= 1).sum()):,}</td>"
            f"<td>{np.median(part['periods']):g}</td>"
            f"<td>{int((part['since'] <= RECENT_PERIODS).sum()):,}</td></tr>"
        )
    name = t["group_names"].get(by, by)
    head = "".join(
        f"<th>{h.format(by=escape(name), n=RECENT_PERIODS, unit=unit)}</th>"
        for h in t["group_header"]
    )
    return f"<table class='plan-groups'><tr>{head}</tr>{''.join(rows)}</table>"


def _churn(plans: pd.DataFrame, t: dict) -> str:
    """The plan against the one before it, and the mean over the last lists."""
    dates = sorted(plans["as_of"].unique()) if len(plans) else []
    if len(dates) < 2:
        return f"<p>{t['no_churn']}</p>"
    sets = [set(plans.loc[plans["as_of"] == d, "grid_id"].astype(str)) for d in dates]
    pairs = list(zip(sets[:-1], sets[1:], strict=True))[-CHURN_LISTS:]
    jaccard = [len(a & b) / len(a | b) if a | b else 1.0 for a, b in pairs]
    replaced = [len(b - a) / len(b) if b else 0.0 for a, b in pairs]
    before, now = pairs[-1]
    return (
        "<p>"
        + t["churn"].format(
            date=f"{pd.Timestamp(dates[-2]):%Y-%m-%d}",
            stayed=len(before & now),
            n=len(now),
            jaccard=f"{jaccard[-1]:.2f}",
            lists=len(pairs),
            replaced=f"{100 * np.mean(replaced):.0f}%",
        )
        + "</p>"
    )


def _recent(data: WatchlistFolder, t: dict, unit: str, lang: str) -> str:
    """Grids listed with an intervention in the last periods: their risk then and now."""
    w = data.watchlist
    if "periods_since_intervention" not in w:
        return ""
    since = w["periods_since_intervention"].astype("Float64")
    listed = is_planned(w) | w["tier"].notna()  # the list: the plan and the tiers
    recent = w[listed & since.notna() & (since <= RECENT_PERIODS)].sort_values("rank")
    if recent.empty:
        return f"<p>{t['no_recent'].format(n=RECENT_PERIODS, unit=unit)}</p>"
    history = data.history
    freq = data.card.get("frequency")
    items, fell, rose = [], 0, 0
    for row in recent.itertuples():
        n = int(row.periods_since_intervention)
        then = None
        if freq:
            when = pd.Timestamp(row.as_of) - int(
                row.periods_since_intervention
            ) * pd.tseries.frequencies.to_offset(freq)
            mine = history[(history["grid_id"] == row.grid_id) & (history["as_of"] <= when)]
            if len(mine):
                then = float(mine["score"].iloc[-1])
        if then is not None:
            fell += row.score < then
            rose += row.score > then
            text = t["recent_item"].format(
                n=n,
                unit=_unit(n, unit, lang, freq),
                then=f"{100 * then:.0f}%",
                now=f"{100 * row.score:.0f}%",
            )
        else:
            text = t["recent_item_now"].format(
                n=n, unit=_unit(n, unit, lang, freq), now=f"{100 * row.score:.0f}%"
            )
        items.append(f"<li><b>{escape(str(row.grid_id))}</b> {text}</li>")
    head = t["recent"].format(n=len(recent), window=RECENT_PERIODS, unit=unit, fell=fell, rose=rose)
    more = f"<p>{t['recent_more'].format(n=SHOWN)}</p>" if len(items) > SHOWN else ""
    return (
        f"<p>{head}</p><ul>{''.join(items[:SHOWN])}</ul>{more}"
        f"<p class='note'>{t['recent_note']}</p>"
    )
