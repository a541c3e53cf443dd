"""The riskwarn scorer as an MLflow pyfunc ("models from code": no pickled object).

MLflow stores this file with the model and runs it to load the model; the model's
state comes from the ``scorer`` artifact folder (JSON and LightGBM text).

Input: the feature frame of one as-of date (``riskwarn features``, or
``build_features(..., as_of=...)``) with ``as_of`` as naive local time (MLflow's
schema has no time zones); output: ``grid_id, as_of, score, expected_events`` and
the reason columns ``reason_{i}_feature / _value / _contribution``.
"""

from __future__ import annotations

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

from riskwarn.tracking.bundle import load_bundle


class RiskwarnScorerModel(PythonModel):
    """Loads the scorer bundle and scores feature frames."""

    def load_context(self, context) -> None:
        self.bundle = load_bundle(context.artifacts["scorer"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        frame = model_input.copy()
        timezone = self.bundle.config.data.timezone
        as_of = pd.to_datetime(frame["as_of"])
        if as_of.dt.tz is None:
            frame["as_of"] = as_of.dt.tz_localize(timezone)
        out = self.bundle.scorer.score(frame)
        out["as_of"] = out["as_of"].dt.tz_convert(timezone).dt.tz_localize(None)
        return out


mlflow.models.set_model(RiskwarnScorerModel())
