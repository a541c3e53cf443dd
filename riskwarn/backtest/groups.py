"""The rows of each model and horizon of a backtest's predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd


def model_horizon_rows(predictions: pd.DataFrame) -> list[tuple[tuple, np.ndarray]]:
    """The row positions of each ``(model, horizon)``, in the order they first occur.

    From the columns' codes: no per-row copy of the model names (tens of millions
    of rows in a city's backtest).
    """
    groups = predictions.groupby(["model", "horizon"], observed=True, sort=False).indices
    return sorted(groups.items(), key=lambda item: item[1][0])
