"""The riskwarn scorer as an MLflow pyfunc ("models from code": no pickled object).

MLflow stores this file with the model and runs it to load the model; the model's
state comes from the ``scorer`` artifact folder (JSON and LightGBM text).

Input: the feature frame of one as-of date (``riskwarn features``, or
``build_features(..., as_of=...)``), ``as_of`` as naive local time or as an instant
(``riskwarn features`` writes UTC; text with an offset, as REST clients send it,
works too); output: ``grid_id, as_of, score, expected_events``, the
calibrated quantiles of the count ``events_q{NN}`` (``events_q10``, ``events_q90``
by default), the risk curve ``risk_h1 .. risk_h{horizon}``, the reason columns
``reason_{i}_feature / _value / _contribution / _usual / _about / _about_value``, and the reasons in plain words, ``reasons_en`` and ``reasons_zh``
(:mod:`riskwarn.models.reasons`, as in the watchlist files).
"""

from __future__ import annotations

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

from riskwarn.models.reasons import joined, reason_lists
from riskwarn.tracking.bundle import load_bundle


class RiskwarnScorerModel(PythonModel):
    """Loads the scorer bundle and scores feature frames."""

    def load_context(self, context) -> None:
        self.bundle = load_bundle(context.artifacts["scorer"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        frame = model_input.copy()
        timezone = self.bundle.config.data.timezone
        as_of = pd.to_datetime(frame["as_of"], utc=_has_zone(frame["as_of"]))
        if as_of.dt.tz is None:
            as_of = as_of.dt.tz_localize(timezone)
        frame["as_of"] = as_of.dt.tz_convert(timezone)
        out = self.bundle.scorer.score(frame)
        reasons = reason_lists(
            out, self.bundle.manifest, self.bundle.config.watchlist.suppress_below
        )
        out["reasons_en"], out["reasons_zh"] = joined(reasons, "en"), joined(reasons, "zh")
        out["as_of"] = out["as_of"].dt.tz_convert(timezone).dt.tz_localize(None)
        return out


def _has_zone(values: pd.Series) -> bool:
    """Whether ``as_of`` values carry a zone (instants, or text with an offset or Z)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return True
    first = values.dropna().iloc[0] if values.notna().any() else None
    if isinstance(first, pd.Timestamp):
        return first.tzinfo is not None
    if isinstance(first, str):
        text = first.strip()
        return text.endswith("Z") or (
            len(text) > 19 and text[19:].lstrip(".0123456789")[:1] in "+-"
        )
    return False


mlflow.models.set_model(RiskwarnScorerModel())
