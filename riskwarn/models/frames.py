"""What the models accept: a feature frame and a 0/1 label (checked the same way by all)."""

from __future__ import annotations

import inspect
import re

import numpy as np
import pandas as pd

from riskwarn.errors import RiskwarnError
from riskwarn.features.sample import sample_rates

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


def fit_model(model, X: pd.DataFrame, y: np.ndarray, count=None, fitted: dict | None = None):
    """``model.fit`` with what each model takes: the event counts (Poisson, Hawkes) and
    the models already fitted on the same rows (the ensemble's components)."""
    takes = inspect.signature(model.fit).parameters
    extra = {"count": count, "fitted": fitted}
    return model.fit(X, y, **{k: v for k, v in extra.items() if v is not None and k in takes})


def check_weights(sample_weight, n_rows: int) -> np.ndarray:
    """``sample_weight`` as floats, shape (n_rows,); finite and >= 0, or a clear error."""
    weight = np.asarray(sample_weight, dtype=float)
    if weight.shape != (n_rows,):
        raise RiskwarnError(f"sample_weight has shape {weight.shape}; expected ({n_rows},).")
    if not np.isfinite(weight).all() or (weight < 0).any():
        raise RiskwarnError("sample_weight must be finite and >= 0.")
    return weight


def downsample_weights(target: np.ndarray, max_rows: int, seed: int) -> np.ndarray:
    """Row weights, shape (n_rows,): at most ``max_rows`` rows kept, each class reweighted.

    Negatives (``target == 0``) are down-sampled to the rows the positives leave;
    when the positives are so many that fewer than half of ``max_rows`` would be
    left (long horizons at city scale), each class keeps half, positives sampled
    too. A kept row weighs the inverse of its class's sampling rate, so the
    weighted likelihood, and the probability scale, is that of the full data.
    Dropped rows weigh 0; below ``max_rows`` rows every row weighs 1.
    """
    target = np.asarray(target)
    n_rows = len(target)
    positive = target > 0
    rates = sample_rates(n_rows, int(positive.sum()), int(max_rows))
    if n_rows <= max_rows:
        return np.ones(n_rows)
    rate = np.where(positive, rates.rate_positive, rates.rate_negative)
    # Seeded draw: the same rows are kept on every run with the same seed.
    draw = np.random.default_rng(seed).random(n_rows)
    return np.where(draw < rate, 1.0 / rate, 0.0)


def select_rows(X: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
    """``X[mask]``, without a copy when the selected rows are one contiguous run.

    Feature frames are sorted by as-of date, so a time window is a run of rows: a
    slice shares the frame's memory (copy-on-write), where a boolean mask would copy
    gigabytes at city scale. The result must not be written to.
    """
    mask = np.asarray(mask, dtype=bool)
    index = np.flatnonzero(mask)
    if len(index) and index[-1] - index[0] + 1 == len(index):
        return X.iloc[index[0] : index[-1] + 1]
    return X[mask]
