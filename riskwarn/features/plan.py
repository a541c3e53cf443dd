"""Which features a dataset gets, how each is computed, and what it means.

A :class:`FeaturePlan` lists the primitives it needs and, per feature, an
expression over those primitives (plus static and calendar columns) together with
its manifest entry. The same plan serves the whole-panel and the single-as-of
builds, so the two cannot drift apart.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir

from riskwarn.config import FeaturesConfig
from riskwarn.features.coverage import observed_column
from riskwarn.features.manifest import FeatureInfo, FeatureManifest
from riskwarn.features.primitives import Primitive
from riskwarn.features.streams import INTERVENTIONS, TOTALS, Stream

Expr = Callable[[ir.Table], ir.Value]
SMOOTH = 0.1  # events per period added to both sides of a trend ratio, so 0/0 is 0
#: The city's level feature: ``city_all_n_trend_{short}_{long}``.
CITY_LEVEL_PREFIX = "city_all_n_trend_"
#: The family of the intervention features (the scorer sets them to "none").
INTERVENTION_FAMILY = "intervention"


@dataclass
class FeaturePlan:
    """Primitives to compute and features to emit, in manifest order."""

    manifest: FeatureManifest
    primitives: list[Primitive] = field(default_factory=list)
    exprs: dict[str, Expr] = field(default_factory=dict)
    spatial_bases: list[str] = field(default_factory=list)
    has_graph: bool = False
    short_w: int = 4
    share_w: int = 13
    #: the event streams the city's level sums and its two windows; the builder
    #: joins each stream's observed periods per window (``observed_column``)
    city_level: tuple[tuple[str, ...], int, int] | None = None

    def prim(self, kind: str, stream: str, param: int = 0) -> str:
        p = Primitive(kind, stream, param)
        if p not in self.primitives:
            self.primitives.append(p)
        return p.column

    def add(self, info: FeatureInfo, expr: Expr) -> None:
        self.manifest.add(info)
        self.exprs[info.name] = expr


def _ratio(num: ir.NumericValue, den: ir.NumericValue) -> ir.FloatingValue:
    """num / den, missing when den is 0 (an undefined share is not a zero share)."""
    return ibis.ifelse(den > 0, num.cast("float64") / den.cast("float64"), ibis.null("float64"))


def _per_1k(value: ir.NumericValue, population: ir.NumericValue) -> ir.FloatingValue:
    return _ratio(value * 1000, population)


def _win_en(w: int) -> str:
    return "in the last period" if w == 1 else f"in the last {w} periods"


def _win_zh(w: int) -> str:
    return "最近1期" if w == 1 else f"最近{w}期"


def plan_features(
    streams: list[Stream],
    cfg: FeaturesConfig,
    *,
    grid_columns: list[str],
    grid_types: list[str],
    has_graph: bool,
) -> FeaturePlan:
    """Lay out every feature family for the streams a dataset supports."""
    plan = FeaturePlan(FeatureManifest())
    by_name = {s.name: s for s in streams}
    windows = sorted(cfg.windows)
    long_w = max(windows)
    short_w = min([w for w in windows if w > 1] or [long_w])
    share_w = max(cfg.category_windows)
    totals = [s for s in TOTALS if s in by_name]

    def col(kind, stream, param=0):
        name = plan.prim(kind, stream, param)
        return lambda t: t[name]

    # counts
    for s in streams:
        if s.kind == "hours" or s.name in ("pet_closed", "pet_unsatisfied", "dis_resolved"):
            continue
        if s.name == INTERVENTIONS:
            continue  # a family of its own, below
        ws = windows if s.name in TOTALS else cfg.category_windows
        for w in ws:
            get = col("wsum", s.name, w)
            plan.add(
                FeatureInfo(f"{s.name}_w{w}", "counts", w, f"{s.en} {_win_en(w)}",
                            f"{_win_zh(w)}{s.zh}", "int32"),
                lambda t, g=get: g(t).cast("int32"),
            )  # fmt: skip
    # decayed counts
    for s in totals:
        for h in cfg.half_lives:
            get = col("decay", s, h)
            plan.add(
                FeatureInfo(f"{s}_decay_h{h}", "decay", None,
                            f"{by_name[s].en}, older periods counting less (half-life {h} periods)",
                            f"{by_name[s].zh}(按{h}期半衰期加权)"),
                lambda t, g=get: g(t).cast("float32"),
            )  # fmt: skip
    # recency
    for s in [*totals, *(x for x in ("pet_group", "pet_above_town") if x in by_name)]:
        get = col("last", s)
        plan.add(
            FeatureInfo(f"{s}_periods_since_last", "recency", None,
                        f"periods since the last period with {by_name[s].en} (missing: none yet)",
                        f"距上一次出现{by_name[s].zh}的期数(缺失表示尚未出现)"),
            lambda t, g=get: ((t["period"] + 1) - g(t)).cast("float32"),
        )  # fmt: skip
    # interventions: what was done for the grid, so that a model does not learn that
    # treated risky grids are safe (the scorer sets them to "none" for the plan)
    if INTERVENTIONS in by_name:
        itv = by_name[INTERVENTIONS]
        for w in sorted({short_w, *cfg.category_windows}):
            get = col("wsum", INTERVENTIONS, w)
            plan.add(
                FeatureInfo(f"{INTERVENTIONS}_w{w}", INTERVENTION_FAMILY, w,
                            f"{itv.en} {_win_en(w)}", f"{_win_zh(w)}{itv.zh}", "int32"),
                lambda t, g=get: g(t).cast("int32"),
            )  # fmt: skip
        get = col("last", INTERVENTIONS)
        plan.add(
            FeatureInfo(f"{INTERVENTIONS}_periods_since_last", INTERVENTION_FAMILY, None,
                        f"periods since the last period with {itv.en} (missing: none yet)",
                        f"距上一次{itv.zh}的期数(缺失表示尚无)"),
            lambda t, g=get: ((t["period"] + 1) - g(t)).cast("float32"),
        )  # fmt: skip
    # trends and surprise against the grid's own history
    for s in totals:
        short, long_ = col("wsum", s, short_w), col("wsum", s, long_w)
        plan.add(
            FeatureInfo(f"{s}_trend_{short_w}_{long_w}", "trend", long_w,
                        f"{by_name[s].en}: log ratio of the rate {_win_en(short_w)} to the rate "
                        f"{_win_en(long_w)}",
                        f"{by_name[s].zh}:{_win_zh(short_w)}与{_win_zh(long_w)}平均水平之比(对数)"),
            lambda t, a=short, b=long_, sw=short_w, lw=long_w: (
                ((a(t) / sw + SMOOTH) / (b(t) / lw + SMOOTH)).ln().cast("float32")
            ),
        )  # fmt: skip
        last1, tot, sq = col("wsum", s, 1), col("wsum", s, long_w), col("ssq", s, long_w)

        def zscore(t, last1=last1, tot=tot, sq=sq, n=long_w):
            mean = tot(t).cast("float64") / n
            var = (sq(t).cast("float64") - tot(t).cast("float64") * mean) / (n - 1)
            return ibis.ifelse(var > 0, (last1(t) - mean) / var.sqrt(), ibis.null("float64")).cast(
                "float32"
            )

        plan.add(
            FeatureInfo(f"{s}_z{long_w}", "trend", long_w,
                        f"{by_name[s].en} in the last period, in standard deviations from the grid's "
                        f"own mean {_win_en(long_w)} (missing when it never varied)",
                        f"最近1期{by_name[s].zh}相对本网格{_win_zh(long_w)}均值的标准差倍数"),
            zscore,
        )  # fmt: skip
    # the whole city's level: what a grid's own trend cannot tell (one grid's
    # recent count is mostly chance; the city's is not), so that the scores can
    # follow a change of level the history never showed (see CalibratedEnsemble)
    events = tuple(s for s in totals if s != "esc_n")
    if events and short_w < long_w:
        plan.city_level = (events, short_w, long_w)

        def city_level(t, events=events, sw=short_w, lw=long_w):
            city = ibis.window(group_by=t["as_of"])

            def rate(w):
                # events per observed period, city-wide, summed over the tables
                parts = [
                    col("wsum", s, w)(t).sum().over(city).cast("float64")
                    / ibis.greatest(t[observed_column(s, w)], 1)
                    for s in events
                ]
                return functools.reduce(operator.add, parts)

            return ((rate(sw) + 1.0) / (rate(lw) + 1.0)).ln().cast("float32")

        words_en = " and ".join(by_name[s].en for s in events)
        words_zh = "、".join(by_name[s].zh for s in events)
        plan.add(
            FeatureInfo(f"{CITY_LEVEL_PREFIX}{short_w}_{long_w}", "trend", long_w,
                        f"the whole city's {words_en}: log ratio of the rate {_win_en(short_w)} "
                        f"to the rate {_win_en(long_w)} (periods without records left out)",
                        f"全市{words_zh}:{_win_zh(short_w)}与{_win_zh(long_w)}平均水平之比(对数)"),
            city_level,
        )  # fmt: skip
    # backlog and resolution, read through resolved_at / closed_at only
    has_pop = "population" in grid_columns
    for opened, done, hours, key, en, zh in (
        ("dis_n", "dis_resolved", "dis_resolve_hours", "dis", "disputes", "矛盾纠纷"),
        ("pet_n", "pet_closed", "pet_close_hours", "pet", "petitions", "信访件"),
    ):
        if done not in by_name:
            continue
        o, d = col("cum", opened), col("cum", done)
        verb = "resolved" if key == "dis" else "closed"
        plan.add(
            FeatureInfo(f"{key}_open", "backlog", None,
                        f"open {en}: reported before the as-of date and not {verb} before it",
                        f"截至本期未办结的{zh}数", "int32"),
            lambda t, o=o, d=d: (o(t) - d(t)).cast("int32"),
        )  # fmt: skip
        if has_pop:
            plan.add(
                FeatureInfo(f"{key}_open_per_1k", "per_capita", None,
                            f"open {en} per 1,000 residents", f"每千人未办结{zh}数"),
                lambda t, o=o, d=d: _per_1k(o(t) - d(t), t["population"]).cast("float32"),
            )  # fmt: skip
        n_w, d_w, h_w = (
            col("wsum", opened, share_w),
            col("wsum", done, share_w),
            col("wsum", hours, share_w),
        )
        plan.add(
            FeatureInfo(f"{key}_{verb}_per_new_{share_w}", "backlog", share_w,
                        f"{en} {verb} per {en[:-1]} reported, {_win_en(share_w)}",
                        f"{_win_zh(share_w)}办结数与新增数之比({zh})"),
            lambda t, a=d_w, b=n_w: _ratio(a(t), b(t)).cast("float32"),
        )  # fmt: skip
        plan.add(
            FeatureInfo(f"{key}_days_to_{verb.rstrip('d')}_{share_w}", "backlog", share_w,
                        f"mean days to {verb.rstrip('d')} the {en} {verb} {_win_en(share_w)}",
                        f"{_win_zh(share_w)}办结{zh}的平均用时(天)"),
            lambda t, a=h_w, b=d_w: (_ratio(a(t), b(t)) / 24).cast("float32"),
        )  # fmt: skip
    if "pet_unsatisfied" in by_name:
        u, c = col("wsum", "pet_unsatisfied", share_w), col("wsum", "pet_closed", share_w)
        plan.add(
            FeatureInfo(f"pet_unsatisfied_share_{share_w}", "share", share_w,
                        f"share of petitions closed {_win_en(share_w)} whose petitioner was not satisfied",
                        f"{_win_zh(share_w)}办结信访中不满意的比例"),
            lambda t, u=u, c=c: _ratio(u(t), c(t)).cast("float32"),
        )  # fmt: skip
    for s in ("pet_group", "pet_repeat", "pet_above_town"):
        if s in by_name:
            a, b = col("wsum", s, share_w), col("wsum", "pet_n", share_w)
            plan.add(
                FeatureInfo(f"{s}_share_{share_w}", "share", share_w,
                            f"share of petitions {_win_en(share_w)} that were {by_name[s].en}",
                            f"{_win_zh(share_w)}信访中{by_name[s].zh}的比例"),
                lambda t, a=a, b=b: _ratio(a(t), b(t)).cast("float32"),
            )  # fmt: skip
    # per capita
    if has_pop:

        def per_1k(name: str, window: int | None, en: str, zh: str, gets) -> None:
            """``name``: the sum of the ``gets`` columns per 1,000 residents."""
            plan.add(
                FeatureInfo(name, "per_capita", window, en, zh),
                lambda t, gs=tuple(gets): _per_1k(
                    functools.reduce(operator.add, [g(t) for g in gs]), t["population"]
                ).cast("float32"),
            )

        for s in totals:
            w = long_w if s == "esc_n" else share_w
            per_1k(f"{s}_w{w}_per_1k", w, f"{by_name[s].en} {_win_en(w)} per 1,000 residents",
                   f"{_win_zh(w)}每千人{by_name[s].zh}", [col("wsum", s, w)])  # fmt: skip
        # Recent activity per resident: event volumes grow with the residents, so a
        # grid's recent rate per head is what says it is tenser than usual for its
        # size, which a tree reads poorly from a count and a population apart.
        events = [s for s in totals if s != "esc_n"]
        for s in events:
            if short_w != share_w:
                per_1k(f"{s}_w{short_w}_per_1k", short_w,
                       f"{by_name[s].en} {_win_en(short_w)} per 1,000 residents",
                       f"{_win_zh(short_w)}每千人{by_name[s].zh}",
                       [col("wsum", s, short_w)])  # fmt: skip
            for h in cfg.half_lives:
                per_1k(f"{s}_decay_h{h}_per_1k", None,
                       f"{by_name[s].en} per 1,000 residents, older periods counting less "
                       f"(half-life {h} periods)",
                       f"每千人{by_name[s].zh}(按{h}期半衰期加权)", [col("decay", s, h)])  # fmt: skip
        if len(events) > 1:
            words_en = " and ".join(by_name[s].en for s in events)
            words_zh = "、".join(by_name[s].zh for s in events)
            for h in cfg.half_lives:
                per_1k(f"all_n_decay_h{h}_per_1k", None,
                       f"{words_en} together per 1,000 residents, older periods counting less "
                       f"(half-life {h} periods)",
                       f"每千人{words_zh}合计(按{h}期半衰期加权)",
                       [col("decay", s, h) for s in events])  # fmt: skip
    # static attributes of the grid (never its identity)
    if has_pop:
        plan.add(FeatureInfo("population", "static", None, "residents", "常住人口"),
                 lambda t: t["population"].cast("float32"))  # fmt: skip
    if "area_km2" in grid_columns:
        plan.add(FeatureInfo("area_km2", "static", None, "area in km²", "面积(平方公里)"),
                 lambda t: t["area_km2"].cast("float32"))  # fmt: skip
        if has_pop:
            plan.add(
                FeatureInfo("population_density", "static", None, "residents per km²", "人口密度(人/平方公里)"),
                lambda t: _ratio(t["population"], t["area_km2"]).cast("float32"),
            )  # fmt: skip
    for gt in grid_types:
        plan.add(
            FeatureInfo(f"grid_type_{gt}", "static", None, f"grid is of type '{gt}'",
                        f"网格类型为“{gt}”", "int8"),
            lambda t, gt=gt: (t["grid_type"].cast("string") == gt).fill_null(False).cast("int8"),
        )  # fmt: skip
    # calendar
    for name, en, zh in (
        ("week_of_year", "week of the year of the as-of date", "日期所在周次"),
        ("month_of_year", "month of the as-of date", "日期所在月份"),
        ("days_to_lunar_new_year", "days from the as-of date to the next Lunar New Year", "距下一个春节的天数"),
    ):  # fmt: skip
        plan.add(
            FeatureInfo(name, "calendar", None, en, zh), lambda t, n=name: t[n].cast("float32")
        )
    plan.spatial_bases = [s for s in ("pet_n", "inc_n", "esc_n") if s in by_name]
    plan.has_graph = has_graph
    plan.short_w, plan.share_w = short_w, share_w
    for s in plan.spatial_bases:
        plan.prim("wsum", s, short_w)
    plan.prim("wsum", "esc_n", 1)
    plan.prim("wsum", "esc_n", share_w)
    return plan
