"""Every label of the report, in Chinese and English."""

from __future__ import annotations

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
        "col_expected": "Expected escalations",
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
        "unit_W": "weeks",
        "unit_M": "months",
        "unit_D": "days",
        "unit_Q": "quarters",
        "unit": "periods",
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
        "col_expected": "预计升级事件数",
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
        "unit_W": "周",
        "unit_M": "个月",
        "unit_D": "天",
        "unit_Q": "个季度",
        "unit": "期",
        "lang": "zh-CN",
    },
}


def unit_key(freq: str | None) -> str:
    """The label key of a period length given as a pandas alias (``W-MON`` -> ``unit_W``).

    A multiple (``2W``) has no word of its own: its periods are just "periods".
    """
    head = (freq or "").split("-")[0].upper()
    digits = head[: len(head) - len(head.lstrip("0123456789"))]
    if digits and int(digits) != 1:
        return "unit"
    head = head[len(digits) :]
    for letter in ("W", "M", "D", "Q"):
        if head.startswith(letter):
            return f"unit_{letter}"
    return "unit"
