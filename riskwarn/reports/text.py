"""Every label of the report, in Chinese and English."""

from __future__ import annotations

from riskwarn.models.reasons import UNITS, unit_letter

LANGUAGES = ("zh", "en")

TEXT = {
    "en": {
        "title": "Grid escalation watchlist",
        "as_of": "as of {date}",
        "window": "risk of an escalation in the {n} {unit} after {date}",
        "model": "model {name} version {version}",
        "generated": "generated {when}",
        "tier": "Tier {t}",
        "tier_share": "top {share} of grids",
        "grids": "grids",
        "changes": "Changes since the last watchlist",
        "entered": "entered the tiers",
        "left": "left the tiers",
        "moved_up": "moved up (within the tiers)",
        "moved_down": "moved down (within the tiers)",
        "not_champion": (
            "This list was scored with version {version}, which is not the current champion "
            "(version {champion} is). Check that this is the model you meant to use."
        ),
        "data_gap": (
            "The export has no {table} at all in {n} of the {of} periods before this date "
            "({dates}): an extraction gap. The model reads it as a quiet spell, so every "
            "grid's recent {table} are understated here. Score again when the export covers "
            "those periods."
        ),
        "table_petitions": "petitions",
        "table_disputes": "disputes",
        "table_incidents": "incidents",
        "no_champion": (
            "No version of this model is the champion yet: version {version} has not passed "
            "the promotion rule (it must beat the simple baselines in the backtest)."
        ),
        "tip_tier": "tier {t}",
        "tip_rank": "rank {rank}",
        "tip_untiered": "not in a tier",
        "scale_km": "{n} km",
        "zoom_in": "Zoom in",
        "zoom_out": "Zoom out",
        "zoom_reset": "Whole map",
        "map_help": "Hover over a grid for its name, town, tier and score; scroll or use the buttons to zoom, drag to move.",
        "trend_scale": "shared scale 0–{top} over {n} watchlists ({first} to {last})",
        "plain_title": "What the backtest says about this list",
        "plain_top": (
            "Of the grids in the top {k} of the list, {hits} in 100 had an escalation within "
            "{n} {unit} — {lift} ({base} in 100). The top {k} held "
            "{recall} of all escalations."
        ),
        "plain_lift": "about {x}× as many as a random choice of grids",
        "plain_nolift": "no more than a random choice of grids",
        "plain_level": (
            "In the backtest the scores were on average {x}× the share of grids that did "
            "escalate: read them as a ranking, not as chances (the data's level may have "
            "changed)."
        ),
        "plain_baseline": (
            "The best simple forecast in the backtest ({baseline}, which needs no model) found "
            "{recall_b} of the escalations in its top {k}."
        ),
        "glossary": "The figures in the table",
        "g_ap": (
            "Average precision (AP): how well the highest-ranked grids are the ones that "
            "escalate, from 0 to 1; a random list scores about the share of grids that escalate ({base})."
        ),
        "g_auc": (
            "ROC AUC: the chance that a grid that escalated was ranked above one that did not "
            "(0.5 is a coin toss, 1 is perfect)."
        ),
        "g_recall": "Escalations caught in the top {k}: the share of all escalations that were in grids of the top {k}.",
        "g_pai": (
            "PAI at {k}: how many times more escalations per unit of area the top {k} holds "
            "than the city as a whole (1 = no better than chance)."
        ),
        "g_ece": (
            "Calibration error (ECE): how far the scores are from the share that escalated, "
            "on average (0.01 = one percentage point)."
        ),
        "fairness_title": "A gap between grid groups",
        "fairness_intro": (
            "A group is flagged where its share of the top {k} is more than {ratio}× or less "
            "than 1/{ratio} of its share of the escalations (among groups with at least {n} "
            "escalations in the backtest):"
        ),
        "fairness_under": (
            "{kind} “{group}” holds {top} of the top {k} but {esc} of the escalations. "
            "The list may under-serve these areas, or their escalations may be harder to "
            "foresee from what is recorded there."
        ),
        "fairness_over": (
            "{kind} “{group}” holds {top} of the top {k} but {esc} of the escalations. "
            "The list may over-rank these areas, for example where more is reported there "
            "than elsewhere."
        ),
        "fairness_none": "No grid type or population band is flagged (ratio {ratio}).",
        "kind_by_grid_type": "Grid type",
        "kind_by_population_band": "Population band",
        "no_previous": "This is the first watchlist in this folder: there is nothing to compare with yet.",
        "map": "Map of grids by tier",
        "no_map": "The grids have neither polygons nor centroids, so there is no map.",
        "not_tiered": "not in a tier",
        "ranked": "Ranked grids",
        "ranked_note": "The {n} highest-ranked of {total} grids. The full list is in watchlist.csv.",
        "find": "Find a grid",
        "col_rank": "Rank",
        "col_grid": "Grid",
        "col_tier": "Tier",
        "col_score": "Score",
        "col_expected": "Expected escalations (likely range)",
        "col_curve": "Risk within 1 to {n} {unit}",
        "curve_tip": "chance of an escalation within {h} {unit}: {p}",
        "range_title": "How sure is the number?",
        "range_text": (
            "Expected escalations is the average number of escalations the model foresees "
            "in the window, for grids like this one. In brackets is the range the number "
            "should fall in {share} times in 10 (for example “0.8 (0–3)”: most likely none "
            "or one, rarely more than three)."
        ),
        "range_checked": (
            " In the backtest, on periods the model had not seen, the count fell in its "
            "range {cov} times in 100{worst}. Counts are whole numbers, so the range is "
            "often a little wider than asked: a quiet grid's range is “0–0”, right far more "
            "often than {share} times in 10."
        ),
        "range_worst": " (in the least well covered fifth of grids by risk, {cov} times in 100)",
        "curve_title": "Risk over the coming {unit}",
        "curve_text": (
            "The risk curve gives, for each grid, the chance of at least one escalation "
            "within 1, 2, … {n} {unit}. It never falls as the window grows; the last value "
            "is the score."
        ),
        "col_change": "Change",
        "col_reasons": "Main reasons",
        "col_trend": "Score over past watchlists",
        "change_new": "new",
        "change_up": "up from {prev}",
        "change_down": "down from {prev}",
        "change_same": "same",
        "entered_title": "Grids that entered the tiers",
        "left_title": "Grids that left the tiers",
        "none": "none",
        "now_rank": "rank {rank} (tier {tier})",
        "was_rank": "was rank {rank} (tier {tier}), now rank {now}",
        "card": "About this score (model card)",
        "card_means": "What the score means",
        "card_means_text": (
            "The score is the probability that the grid sees at least one escalation "
            "({label}) in the {n} {unit} after the as-of date. It is meant so that a "
            "score of 20% is about one such grid in five escalating, and it was checked "
            "on periods the model did not train on: the calibration error below says how "
            "closely that held in the backtest. Expected escalations is the number of "
            "such events the model expects in that window."
        ),
        "card_not": "What it does not mean",
        "card_not_text": (
            "It says nothing about any person, household or group, and it does not say "
            "who will act or why. A high score is a prompt to offer support early, not "
            "evidence of wrongdoing; a low score does not rule out an escalation. The "
            "model learns from recorded petitions, disputes and incidents, so areas "
            "where more is reported can appear riskier than they are."
        ),
        "card_use": "Intended use",
        "card_use_text": (
            "Area-level support: directing mediation, legal aid and services to grids "
            "early. Never a judgement about persons."
        ),
        "card_performance": "How well it ranked in the backtest",
        "card_performance_text": (
            "Rolling-origin backtest at this horizon, on periods the model had not seen."
        ),
        "card_by_type": "By grid type",
        "card_by_type_text": (
            "A grid type whose share of the top {k} is far from its share of escalations "
            "is over- or under-ranked."
        ),
        "card_no_backtest": "The model was registered without a backtest summary.",
        "card_data": "Data and model",
        "m_model": "model",
        "m_ap": "average precision",
        "m_auc": "ROC AUC",
        "m_recall": "escalations caught in the top {k}",
        "m_pai": "PAI at {k}",
        "m_ece": "calibration error (ECE)",
        "m_group": "grid type",
        "m_rows": "grid-periods",
        "m_positive": "escalations",
        "m_top_share": "share of the top {k}",
        "m_esc_share": "share of escalations",
        "best_baseline": "{name} (best simple baseline)",
        "trained_on": "trained on as-of dates {first} to {last} ({rows} grid-periods, {grids} grids)",
        "version_line": "{name} version {version}, run {run}",
        "data_hash": "data fingerprint (SHA-256)",
        "software": "riskwarn {version}",
        "notes": "Notes",
        "unit": "periods",
        "in_plan_card": "in the plan (what the teams can take)",
        "plan_badge": "plan",
        "plan_title": "in the plan for {n} {unit}",
        "treated": "last intervention {n} {unit} ago",
        "lang": "en",
    },
    "zh": {
        "title": "网格风险预警名单",
        "as_of": "截至 {date}",
        "window": "{date} 之后 {n} {unit}内发生矛盾升级的风险",
        "model": "模型 {name} 第 {version} 版",
        "generated": "生成于 {when}",
        "tier": "{t} 级",
        "tier_share": "风险最高的 {share} 网格",
        "grids": "个网格",
        "changes": "与上一期名单相比",
        "entered": "新进入预警",
        "left": "退出预警",
        "moved_up": "排名上升（预警网格中）",
        "moved_down": "排名下降（预警网格中）",
        "not_champion": "本名单由第 {version} 版模型生成，而当前正式采用的是第 {champion} 版。请确认使用的是预期的模型。",
        "data_gap": "导出数据在本日期之前的 {of} 期中有 {n} 期完全没有{table}记录（{dates}），属于数据抽取缺口。模型会把它当作平静期，因此本名单低估了各网格近期的{table}。请在导出数据补齐这些时期后重新评分。",
        "table_petitions": "信访",
        "table_disputes": "矛盾纠纷",
        "table_incidents": "事件",
        "no_champion": "该模型尚无正式采用的版本：第 {version} 版尚未通过采用规则（须在回测中胜过简单基准）。",
        "tip_tier": "{t} 级",
        "tip_rank": "第 {rank} 名",
        "tip_untiered": "未列入预警",
        "scale_km": "{n} 公里",
        "zoom_in": "放大",
        "zoom_out": "缩小",
        "zoom_reset": "全图",
        "map_help": "将鼠标移到网格上可查看名称、所属乡镇、预警等级和风险分；滚动或点击按钮缩放，拖动可移动地图。",
        "trend_scale": "统一刻度 0–{top}，共 {n} 期名单（{first} 至 {last}）",
        "plain_title": "回测结果对本名单意味着什么",
        "plain_top": (
            "名单前 {k} 的网格中，每 100 个有 {hits} 个在之后 {n} {unit}内发生了升级，"
            "{lift}（随机挑选每 100 个有 {base} 个）。前 {k} 覆盖了全部升级事件的 {recall}。"
        ),
        "plain_lift": "约为随机挑选网格的 {x} 倍",
        "plain_nolift": "并不多于随机挑选网格",
        "plain_level": "回测中风险分的平均值是实际发生升级网格比例的 {x} 倍：请把它们当作排序参考，而不是发生概率（数据的整体水平可能已经变化）。",
        "plain_baseline": "回测中最好的简单预测（{baseline}，无需模型）在其前 {k} 中覆盖了 {recall_b} 的升级事件。",
        "glossary": "表中各项指标的含义",
        "g_ap": "平均精度（AP）：排名靠前的网格是否正是发生升级的网格，取值 0 到 1；随机排序约等于发生升级的网格占比（{base}）。",
        "g_auc": "ROC AUC：一个发生升级的网格排在一个未发生升级的网格之前的概率（0.5 相当于抛硬币，1 为完美）。",
        "g_recall": "前 {k} 网格覆盖的升级比例：全部升级事件中发生在前 {k} 网格里的比例。",
        "g_pai": "前 {k} 的 PAI：前 {k} 网格单位面积上的升级事件是全市平均的多少倍（1 表示与随机相当）。",
        "g_ece": "校准误差（ECE）：风险分与实际发生升级比例的平均差距（0.01 即一个百分点）。",
        "fairness_title": "不同类别网格之间的差距",
        "fairness_intro": "若某一类网格在前 {k} 中的占比高于其升级事件占比的 {ratio} 倍或低于 1/{ratio}，即予以提示（仅限回测中至少有 {n} 次升级的类别）：",
        "fairness_under": "{kind}“{group}”在前 {k} 中占 {top}，却占全部升级事件的 {esc}。名单可能对这些地区关注不足，或这些地区的登记数据难以预示升级。",
        "fairness_over": "{kind}“{group}”在前 {k} 中占 {top}，却只占全部升级事件的 {esc}。名单可能高估了这些地区，例如这些地区登记的事项比其他地区多。",
        "fairness_none": "没有需要提示的网格类型或人口分组（比值 {ratio}）。",
        "kind_by_grid_type": "网格类型",
        "kind_by_population_band": "人口分组",
        "no_previous": "这是本文件夹中的第一期名单，暂无可比较的上一期。",
        "map": "网格预警等级地图",
        "no_map": "网格数据没有边界或中心点坐标，无法绘制地图。",
        "not_tiered": "未列入预警",
        "ranked": "网格风险排名",
        "ranked_note": "共 {total} 个网格，此处列出排名前 {n} 的网格。完整名单见 watchlist.csv。",
        "find": "查找网格",
        "col_rank": "排名",
        "col_grid": "网格",
        "col_tier": "等级",
        "col_score": "风险分",
        "col_expected": "预计升级事件数（可能范围）",
        "col_curve": "1至{n}{unit}内的风险",
        "curve_tip": "{h}{unit}内发生升级的概率：{p}",
        "range_title": "这个数字有多确定？",
        "range_text": (
            "预计升级事件数是模型对此类网格在该时段内升级事件的平均预计数。括号内是该数字"
            "十次中约有{share}次会落入的范围（例如“0.8（0–3）”：多半没有或只有一起，"
            "很少超过三起）。"
        ),
        "range_checked": (
            "在回测中（模型未见过的时期），实际数量落入该范围的比例为每百次{cov}次{worst}。"
            "事件数是整数，因此范围往往比要求的略宽：平静网格的范围是“0–0”，"
            "其命中率远高于十次{share}次。"
        ),
        "range_worst": "（在按风险分成五档中覆盖最差的一档，为每百次{cov}次）",
        "curve_title": "未来各{unit}的风险",
        "curve_text": (
            "风险曲线给出每个网格在1、2……{n}{unit}内至少发生一次升级的概率。"
            "时段越长，概率不会下降；最后一个值即风险分。"
        ),
        "col_change": "变化",
        "col_reasons": "主要原因",
        "col_trend": "历期风险分走势",
        "change_new": "新出现",
        "change_up": "上升（原第 {prev} 名）",
        "change_down": "下降（原第 {prev} 名）",
        "change_same": "不变",
        "entered_title": "新进入预警的网格",
        "left_title": "退出预警的网格",
        "none": "无",
        "now_rank": "第 {rank} 名（{tier} 级）",
        "was_rank": "原第 {rank} 名（{tier} 级），现第 {now} 名",
        "card": "关于风险分（模型说明）",
        "card_means": "风险分的含义",
        "card_means_text": (
            "风险分是该网格在截至日期之后 {n} {unit}内至少发生一次矛盾升级"
            "（{label}）的概率：风险分 20% 意味着此类网格中约五分之一会发生升级。这一点在"
            "模型未参与训练的时期上做过检验，下方的校准误差说明回测中的符合程度。"
            "预计升级事件数是模型预计该时段内此类事件的数量。"
        ),
        "card_not": "风险分不代表什么",
        "card_not_text": (
            "风险分不涉及任何个人、家庭或群体，也不说明谁会采取行动或原因。高分是尽早提供"
            "帮助的提示，而不是过错的证据；低分也不排除发生升级。模型依据登记的信访、"
            "矛盾纠纷和事件数据，登记较多的地区可能显得风险更高。"
        ),
        "card_use": "适用范围",
        "card_use_text": "以网格为单位的支持工作：尽早把调解、法律援助和公共服务送到网格。绝不用于评判个人。",
        "card_performance": "回测中的排序效果",
        "card_performance_text": "在该预测时长上的滚动起点回测，使用模型未见过的时期。",
        "card_by_type": "按网格类型",
        "card_by_type_text": "若某类网格在前 {k} 中的占比与其升级事件占比相差很大，说明该类网格被高估或低估。",
        "card_no_backtest": "该模型登记时没有附带回测摘要。",
        "card_data": "数据与模型",
        "m_model": "模型",
        "m_ap": "平均精度（AP）",
        "m_auc": "ROC AUC",
        "m_recall": "前 {k} 网格覆盖的升级比例",
        "m_pai": "前 {k} 的 PAI",
        "m_ece": "校准误差（ECE）",
        "m_group": "网格类型",
        "m_rows": "网格×时期数",
        "m_positive": "升级次数",
        "m_top_share": "在前 {k} 中的占比",
        "m_esc_share": "在升级事件中的占比",
        "best_baseline": "{name}（最佳简单基准）",
        "trained_on": "训练数据截至日期 {first} 至 {last}（{rows} 个网格×时期，{grids} 个网格）",
        "version_line": "{name} 第 {version} 版，运行编号 {run}",
        "data_hash": "数据指纹（SHA-256）",
        "software": "riskwarn {version}",
        "notes": "说明",
        "unit": "期",
        "in_plan_card": "纳入工作计划（队伍可承担的网格）",
        "plan_badge": "计划",
        "plan_title": "已纳入计划 {n} {unit}",
        "treated": "上次工作措施：{n}{unit}前",
        "lang": "zh-CN",
    },
}


# The period words are the reasons' own (one table for the page and its reasons).
for _letter, _words in UNITS.items():
    TEXT["en"][f"unit_{_letter}"] = _words["en"][1]
    TEXT["zh"][f"unit_{_letter}"] = _words["zh"]


def unit_key(freq: str | None) -> str:
    """The label key of a period length given as a pandas alias (``W-MON`` -> ``unit_W``).

    A multiple (``2W``) has no word of its own: its periods are just "periods". The
    rule is the reasons' (:func:`riskwarn.models.reasons.unit_letter`), so the page
    and its reasons always name the same unit.
    """
    letter = unit_letter(freq)
    return f"unit_{letter}" if letter else "unit"


EFFECT_TEXT = {
    "en": {
        "estimate": (
            "Grids that just made it into the plan had {change} escalations in the period "
            "the teams started than grids that just missed it ({level} interval: {low} to "
            "{high})."
        ),
        "unclear": "The interval includes no change: the data do not show an effect yet.",
        "basis": (
            "Compared: {n_inside:,} grid-periods just inside and {n_outside:,} just outside "
            "the cut-off ({bandwidth} ranks each side) in {n_lists:,} lists, with "
            "{events_inside:,} and {events_outside:,} escalations; {n_grids:,} grids."
        ),
        "span": "From the lists of {first} to {last}.",
        "sharp": "The list alone decided which grids were treated (a sharp design).",
        "fuzzy": (
            "The teams did not follow the list exactly (the share treated rises by {first} "
            "at the cut-off); the estimate is for an intervention actually made."
        ),
        "kinds": "Interventions compared: {kinds}.",
        "by_kind": (
            "Each kind against no intervention, assuming which kind a grid near the "
            "cut-off got did not depend on its risk: {items}."
        ),
        "kind_item": "{kind} {effect} ({low} to {high})",
        "kind_none": "{kind}: no estimate",
        "scope": (
            "This holds for grids near the plan's cut-off, in the first period of an "
            "intervention; it is a comparison, not proof, and no person is counted."
        ),
        "fewer": "{x} fewer",
        "more": "{x} more",
        "none": "no fewer",
        "no_estimate": "No estimate: {reason}",
    },
    "zh": {
        "estimate": (
            "刚好纳入计划的网格，在工作开始当期发生的矛盾升级比刚好未纳入的网格{change}"
            "（{level}区间：{low} 至 {high}）。"
        ),
        "unclear": "区间包含“无变化”：现有数据尚不能显示效果。",
        "basis": (
            "比较对象：截止线内侧 {n_inside:,} 个、外侧 {n_outside:,} 个网格期（每侧 "
            "{bandwidth} 个名次），共 {n_lists:,} 份名单，升级分别为 {events_inside:,} 和 "
            "{events_outside:,} 次；涉及 {n_grids:,} 个网格。"
        ),
        "span": "依据 {first} 至 {last} 的名单。",
        "sharp": "是否采取措施完全由名单决定（清晰断点设计）。",
        "fuzzy": "工作队伍未完全按名单行动（截止线处接受措施的比例上升 {first}）；估计针对实际采取的措施。",
        "kinds": "比较的措施：{kinds}。",
        "by_kind": "各类措施分别与未采取措施相比（前提是截止线附近的网格采取哪类措施与其风险无关）：{items}。",
        "kind_item": "{kind} {effect}（{low} 至 {high}）",
        "kind_none": "{kind}：无法估计",
        "scope": "结论适用于计划截止线附近的网格、措施开始的第一期；这是比较而非证明，不涉及任何个人。",
        "fewer": "少 {x}",
        "more": "多 {x}",
        "none": "没有减少",
        "no_estimate": "无法估计：{reason}",
    },
}


def effect_lines(estimate: dict, lang: str) -> list[str]:
    """The effect estimate (:class:`~riskwarn.backtest.effect.EffectEstimate` as a dict,
    or ``{"reason": ...}``) in plain words, one sentence per line."""
    t = EFFECT_TEXT[lang]
    if "effect" not in estimate:
        return [t["no_estimate"].format(reason=estimate.get("reason", "?"))]

    def pct(v: float) -> str:
        return f"{100 * v:+.0f}%"

    effect = estimate["effect"]
    size = f"{100 * abs(effect):.0f}%"
    change = (
        t["fewer" if effect < 0 else "more"].format(x=size) if round(100 * effect) else t["none"]
    )
    lines = [
        t["estimate"].format(
            change=change,
            level=f"{100 * estimate['level']:.0f}%",
            low=pct(estimate["low"]),
            high=pct(estimate["high"]),
        )
    ]
    if estimate["low"] <= 0 <= estimate["high"]:
        lines.append(t["unclear"])
    lines.append(t["basis"].format(**estimate))
    if estimate.get("first_list"):
        lines.append(t["span"].format(first=estimate["first_list"], last=estimate["last_list"]))
    if estimate.get("design") == "sharp":
        lines.append(t["sharp"])
    if estimate.get("design") == "fuzzy":
        lines.append(t["fuzzy"].format(first=f"{100 * estimate['first_stage']:.0f}%"))
    if estimate.get("kinds"):
        kinds = ", ".join(f"{k} {v:,}" for k, v in estimate["kinds"].items())
        lines.append(t["kinds"].format(kinds=kinds))
    if estimate.get("by_kind"):
        items = [
            t["kind_item"].format(
                kind=kind, effect=pct(e["effect"]), low=pct(e["low"]), high=pct(e["high"])
            )
            if "effect" in e
            else t["kind_none"].format(kind=kind)
            for kind, e in estimate["by_kind"].items()
        ]
        lines.append(t["by_kind"].format(items="; ".join(items)))
    lines.append(t["scope"])
    return lines


PLAN_TEXT = {
    "en": {
        "title": "The plan: what the teams take this period",
        "now": "{n} grids are in the plan{capacity}.",
        "capacity": " (capacity: {n} grids)",
        "capacity_by": " (capacity: {n} grids per {by})",
        "capacity_table": " (capacity set per {by})",
        "stay": (
            "{new} entered now; {kept} carry on from the last plan, in it for {median} "
            "{unit} at the median (the longest {longest} {unit})."
        ),
        "all_new": "All {new} entered now.",
        "group_header": [
            "{by}",
            "in the plan",
            "capacity",
            "new now",
            "{unit} in the plan (median)",
            "intervention in the last {n} {unit}",
        ],
        "churn": (
            "Against the plan of {date}: {stayed} of these {n} grids were in it too "
            "(overlap {jaccard}, 1 = the same plan). Plan changes compared: {lists}; on "
            "average {replaced} of the plan was replaced each time."
        ),
        "no_churn": "There is no earlier plan to compare with yet.",
        "recent": (
            "{n} of the grids on the list (in the plan or a tier) had an intervention in the "
            "last {window} {unit}. Since then their risk fell in {fell} and rose in {rose}:"
        ),
        "recent_item": "intervention {n} {unit} ago; risk {then} then, {now} now",
        "recent_more": "(the {n} highest ranked are listed)",
        "group_names": {},
        "recent_item_now": "intervention {n} {unit} ago; risk {now} now",
        "recent_note": (
            "Risk here is the risk if nothing is done: a visit alone does not take a grid "
            "off the list. An escalation that did not happen cannot be seen in a list; the "
            "effect below compares grids that just made the plan with those that just missed it."
        ),
        "no_recent": "None of the grids listed had an intervention in the last {n} {unit}.",
        "effect_title": "What the interventions did",
        "no_effect": (
            "No effect estimate yet: run riskwarn effect --data DATA --watchlist with this "
            "folder (it needs the interventions and the dated lists kept here)."
        ),
    },
    "zh": {
        "title": "工作计划：本期队伍承担的网格",
        "now": "{n} 个网格纳入计划{capacity}。",
        "capacity": "（承载能力：{n} 个网格）",
        "capacity_by": "（承载能力：每个{by} {n} 个网格）",
        "capacity_table": "（承载能力按{by}分别设定）",
        "stay": "本期新纳入 {new} 个；{kept} 个延续上期计划，在计划中的时长中位数为 {median}{unit}（最长 {longest}{unit}）。",
        "all_new": "全部 {new} 个均为本期新纳入。",
        "group_header": [
            "{by}",
            "纳入计划",
            "承载能力",
            "本期新纳入",
            "在计划中的时长（{unit}，中位数）",
            "近 {n}{unit}采取过措施",
        ],
        "churn": (
            "与 {date} 的计划相比：这 {n} 个网格中有 {stayed} 个当时也在计划中（重合度 "
            "{jaccard}，1 表示计划相同）。最近 {lists} 次计划调整中，平均每次替换 {replaced}。"
        ),
        "no_churn": "尚无更早的计划可比较。",
        "recent": "名单中（纳入计划或进入等级）有 {n} 个网格在最近 {window}{unit}内采取过工作措施。此后风险下降 {fell} 个、上升 {rose} 个：",
        "recent_more": "（仅列出排名最高的 {n} 个）",
        "group_names": {"town": "乡镇（街道）", "district": "区县"},
        "recent_item": "{n}{unit}前采取措施；当时风险 {then}，现在 {now}",
        "recent_item_now": "{n}{unit}前采取措施；现在风险 {now}",
        "recent_note": (
            "这里的风险指不采取措施时的风险：仅因走访不会使网格移出名单。没有发生的升级无法在名单中看到；"
            "下文的效果估计比较了刚好纳入与刚好未纳入计划的网格。"
        ),
        "no_recent": "名单中没有网格在最近 {n}{unit}内采取过工作措施。",
        "effect_title": "工作措施的效果",
        "no_effect": "尚无效果估计：请运行 riskwarn effect --data 数据目录 --watchlist 本目录（需要工作措施记录和此处保存的历次名单）。",
    },
}
