"""What the models accept: a feature frame and a 0/1 label (checked the same way by all)."""

from __future__ import annotations

import inspect
import re

import numpy as np
import pandas as pd

from riskwarn.errors import RiskwarnError

KEY_COLUMNS = ("grid_id", "as_of")
_LABEL = re.compile(r"^(label|count)_h\d+$")


def check_labels(y, n_rows: int | None = None) -> np.ndarray:
    """``y`` as a float array of 0/1, shape (n_rows,); a clear error otherwise."""
    y = np.asarray(y, dtype=float)
    if y.ndim != 1 or np.isnan(y).any() or not np.isin(y, (0.0, 1.0)).all():
        raise RiskwarnError("labels must be a 1-d array of 0/1 without missing values.")
    if n_rows is not None and (len(y) != n_rows or n_rows == 0):
        raise RiskwarnError("X and y must have the same, non-zero number of rows.")
    return y


def check_counts(count, y: np.ndarray) -> np.ndarray:
    """Event counts, shape (n_rows,), non-negative and consistent with the labels."""
    count = np.asarray(count, dtype=float)
    if count.shape != y.shape or np.isnan(count).any() or (count < 0).any():
        raise RiskwarnError("count must be non-negative, without missing values, one per row.")
    if not np.array_equal(count > 0, y > 0):
        raise RiskwarnError("count and y disagree: a row is labelled 1 exactly when count > 0.")
    return count


def column_values(X: pd.DataFrame, columns, who: str, allow_missing: bool = False) -> np.ndarray:
    """The named columns as floats, shape (n_rows, len(columns))."""
    columns = list(columns)
    missing = [c for c in columns if c not in X.columns]
    if missing:
        raise RiskwarnError(f"{who} needs the feature column(s) {missing}, which X lacks.")
    values = X[columns].to_numpy(dtype=float, na_value=np.nan)
    if not allow_missing and np.isnan(values).any():
        raise RiskwarnError(f"{who}: feature column(s) {columns} have missing values.")
    return values


def feature_columns(X: pd.DataFrame) -> list[str]:
    """Every model input column: not a key, not a label, numeric or boolean.

    Keys are excluded by name so that a grid's identity can never become a
    feature (a model that learns ``grid_id`` learns nothing that transfers).
    """
    out = []
    for name in X.columns:
        if name in KEY_COLUMNS or _LABEL.match(str(name)):
            continue
        dtype = X[name].dtype
        if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
            out.append(str(name))
    return out


def fit_model(model, X: pd.DataFrame, y: np.ndarray, count=None):
    """``model.fit`` with the event counts for models that take them (Poisson, Hawkes)."""
    if count is not None and "count" in inspect.signature(model.fit).parameters:
        return model.fit(X, y, count=count)
    return model.fit(X, y)


def negative_sample_weights(target: np.ndarray, max_rows: int, seed: int) -> np.ndarray:
    """Row weights, shape (n_rows,): down-sample negatives above ``max_rows`` rows.

    All positives (``target > 0``) are kept; negatives are kept with the rate that
    brings the rows to ``max_rows`` and weighted by its inverse, so the weighted
    likelihood, and the probability scale, is that of the full data. Dropped rows
    weigh 0. No sampling when the positives alone fill ``max_rows``.
    """
    weight = np.ones(len(target))
    negative = np.flatnonzero(target == 0)
    n_keep = int(max_rows) - (len(target) - len(negative))
    if len(target) > max_rows and 0 < n_keep < len(negative):
        rate = n_keep / len(negative)
        # Seeded draw: the same rows are kept on every run with the same seed.
        draw = np.random.default_rng(seed).random(len(negative))
        weight[negative] = np.where(draw < rate, 1.0 / rate, 0.0)
    return weight
