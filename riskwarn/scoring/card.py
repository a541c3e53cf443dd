"""The model card written beside each watchlist: what the score is, and how good it was.

A report is made from the watchlist folder alone, so everything it says about the
model travels with the watchlist in ``model_card.json``: the label definition, the
training span, the backtest of the model and of its best baseline (overall and per
grid type), and where the watchlist came from.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from riskwarn import __version__
from riskwarn.config import Config
from riskwarn.scoring.watchlist import Provenance

MODEL_CARD_FILE = "model_card.json"

INTENDED_USE = (
    "area-level support: directing mediation, legal aid and services to grids early; "
    "never a judgement about any person, household or group"
)


def label_text(config: Config) -> str:
    """The label's rules as one line, e.g. ``incidents.severity >= 3 or petitions.group_size >= 5``."""

    def value(v) -> str:
        return "{" + ", ".join(map(str, v)) + "}" if isinstance(v, list | tuple) else str(v)

    return " or ".join(f"{r.table}.{r.column} {r.op} {value(r.value)}" for r in config.label.any_of)


# How a label rule reads, per table and column: (English, Chinese) with {op} and
# {value} filled in; any other column reads "<a table's row> whose <column> {op} {value}".
_RULE_WORDS = {
    ("incidents", "severity"): ("an incident of severity {value}{op_after}", "{value}{op_after_zh}严重程度的事件"),
    ("petitions", "group_size"): ("a petition by {value}{op_after} people", "{value}人{op_after_zh}的联名信访"),
}  # fmt: skip
_ONE = {"petitions": ("a petition", "信访"), "disputes": ("a dispute", "纠纷"),
        "incidents": ("an incident", "事件")}  # fmt: skip
_OP_AFTER = {">=": (" or more", "及以上"), "<=": (" or less", "及以下"),
             ">": (" (more than that)", "以上"), "<": (" (less than that)", "以下")}  # fmt: skip
_OP_WORDS = {"==": ("is", "为"), "!=": ("is not", "不为"), ">=": ("is at least", "不低于"),
             "<=": ("is at most", "不高于"), ">": ("is above", "高于"), "<": ("is below", "低于"),
             "in": ("is one of", "属于")}  # fmt: skip


def _value_words(value) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def label_words(config: Config) -> dict[str, str]:
    """The label's rules in plain words, in English and Chinese.

    ``incidents.severity >= 3 or petitions.group_size >= 5`` reads "an incident of
    severity 3 or more, or a petition by 5 or more people" and
    "3级及以上严重程度的事件，或5人及以上的联名信访".
    """
    en, zh = [], []
    for r in config.label.any_of:
        value = _value_words(r.value)
        template = _RULE_WORDS.get((r.table, r.column))
        if template is not None and r.op in _OP_AFTER:
            after_en, after_zh = _OP_AFTER[r.op]
            en.append(template[0].format(value=value, op_after=after_en))
            zh_value = f"{value}级" if r.column == "severity" else value
            zh.append(
                template[1].format(value=zh_value, op_after_zh=after_zh).replace("人人", "人")
            )
            continue
        one_en, one_zh = _ONE.get(r.table, (f"a row of {r.table}", r.table))
        op_en, op_zh = _OP_WORDS[r.op]
        en.append(f"{one_en} whose {r.column} {op_en} {value}")
        zh.append(f"{r.column}{op_zh}{value}的{one_zh}")
    return {"en": ", or ".join(en), "zh": "，或".join(zh)}


def model_card(
    *,
    bundle_info: dict[str, Any],
    config: Config,
    horizon: int,
    provenance: Provenance,
    as_of: pd.Timestamp,
    champion: str | None = None,
) -> dict[str, Any]:
    """The card's content as plain JSON values.

    ``bundle_info`` is what training recorded with the model (its training span and
    backtest); a model trained before the card existed gives an empty ``backtest``.
    ``champion`` is the version that held the alias ``champion`` when the model was
    loaded (None: no version did); the card says whether the scoring model is it.
    """
    backtest = dict(bundle_info.get("backtest") or {})
    return {
        "model_name": provenance.model_name,
        "model_version": provenance.model_version,
        "run_id": provenance.run_id,
        "model": config.train.model,
        "horizon": int(horizon),
        "frequency": config.data.freq,
        "label": label_text(config),
        "label_words": label_words(config),
        "timezone": config.data.timezone,
        "champion_version": champion,
        "is_champion": champion is not None and str(champion) == str(provenance.model_version),
        "as_of": f"{as_of:%Y-%m-%d}",
        "tiers": list(config.watchlist.tiers),
        "trained": {
            k: bundle_info.get(k)
            for k in ("first_as_of", "last_as_of", "n_rows", "n_grids", "data_sha256")
        },
        "backtest": backtest,
        "data_hash": provenance.data_hash,
        "generated_at": provenance.generated_at,
        "intended_use": INTENDED_USE,
        "riskwarn_version": __version__,
    }
