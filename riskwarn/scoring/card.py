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


def model_card(
    *,
    bundle_info: dict[str, Any],
    config: Config,
    horizon: int,
    provenance: Provenance,
    as_of: pd.Timestamp,
) -> dict[str, Any]:
    """The card's content as plain JSON values.

    ``bundle_info`` is what training recorded with the model (its training span and
    backtest); a model trained before the card existed gives an empty ``backtest``.
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
