"""Naive baselines: what a model must beat to earn its keep.

Each baseline reads one or a few feature columns of the as-of rows (so it is as-of
correct by construction), turns them into a score, and maps the score to a
probability learned on the training rows (a rate per group, or an isotonic fit), so
that calibration metrics compare like with like. They follow the scikit-learn
estimator contract: ``__init__`` stores parameters, ``fit`` validates and returns
``self``, fitted attributes end in ``_``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from riskwarn.errors import RiskwarnError
from riskwarn.models.calibration import fit_isotonic
from riskwarn.models.frames import check_labels, column_values
from riskwarn.models.roles import columns_or_role, resolve


def _labels(y) -> np.ndarray:
    return check_labels(y)


def _columns(X: pd.DataFrame, columns: tuple[str, ...], who: str) -> np.ndarray:
    return column_values(X, columns, who)


class PersistenceBaseline(BaseEstimator):
    """An escalation last period predicts one this period.

    Parameters
    ----------
    column : str or None
        Escalations in the last period; None takes the data's shortest window
        (``esc_n_w1`` by default).

    Attributes
    ----------
    column_ : str
        The column used.
    rate_quiet_, rate_escalated_ : float
        Training label rate of rows without / with an escalation last period
        (the overall rate where a group has no training rows).
    """

    def __init__(self, column: str | None = None) -> None:
        self.column = column

    def fit(self, X: pd.DataFrame, y) -> PersistenceBaseline:
        y = _labels(y)
        who = type(self).__name__
        given = None if self.column is None else (self.column,)
        self.column_ = columns_or_role(given, "escalations_last", X.columns, who)[0]
        hot = _columns(X, (self.column_,), who)[:, 0] > 0
        if len(y) != len(hot) or len(y) == 0:
            raise RiskwarnError("X and y must have the same, non-zero number of rows.")
        overall = y.mean()
        self.rate_quiet_ = float(y[~hot].mean()) if (~hot).any() else float(overall)
        self.rate_escalated_ = float(y[hot].mean()) if hot.any() else float(overall)
        self.n_features_in_ = 1
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Shape (n_rows, 2): probabilities of no escalation and of an escalation."""
        check_is_fitted(self, "rate_escalated_")
        hot = _columns(X, (self.column_,), type(self).__name__)[:, 0] > 0
        p = np.where(hot, self.rate_escalated_, self.rate_quiet_)
        return np.column_stack([1 - p, p])


class _IsotonicScoreBaseline(BaseEstimator):
    """Score = sum of some feature columns; probability = isotonic fit of the label on it.

    ``columns`` None takes the columns of the class's ``role`` that the data has;
    the fitted ``columns_`` are the ones used.
    """

    columns: tuple[str, ...] | None = None
    role: str = ""

    def _resolve(self, X: pd.DataFrame) -> None:
        self.columns_ = columns_or_role(self.columns, self.role, X.columns, type(self).__name__)

    def _score(self, X: pd.DataFrame) -> np.ndarray:
        return _columns(X, tuple(self.columns_), type(self).__name__).sum(axis=1)

    def fit(self, X: pd.DataFrame, y):
        y = _labels(y)
        self._resolve(X)
        score = self._score(X)
        if len(y) != len(score) or len(y) == 0:
            raise RiskwarnError("X and y must have the same, non-zero number of rows.")
        self.isotonic_ = fit_isotonic(score, y)
        self.n_features_in_ = len(self.columns_)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Shape (n_rows, 2): probabilities of no escalation and of an escalation."""
        check_is_fitted(self, "isotonic_")
        p = self.isotonic_.predict(self._score(X))
        return np.column_stack([1 - p, p])


class HistoricalRateBaseline(_IsotonicScoreBaseline):
    """The grid's recent escalation rate (escalations over the long window, ``esc_n_w52``)."""

    role = "escalations_long"

    def __init__(self, columns: tuple[str, ...] | None = None) -> None:
        self.columns = columns


class HotspotBaseline(_IsotonicScoreBaseline):
    """Recent event counts of every event table the data has (``pet_n_w4`` + ...)."""

    role = "recent_totals"

    def __init__(self, columns: tuple[str, ...] | None = None) -> None:
        self.columns = columns


class GraphHotspotBaseline(_IsotonicScoreBaseline):
    """Recent counts diffused one step over the grid graph: own plus neighbours' mean.

    The neighbour means come from the spatial features, which are missing for a
    grid without neighbours; there the neighbours add nothing (an island's
    neighbourhood is empty, so its diffused count is its own). ``columns`` and
    ``neighbour_columns`` None take what the data has (recent totals of every
    table; the neighbours' mean petitions and incidents, else escalations).
    """

    role = "recent_totals"

    def __init__(
        self,
        columns: tuple[str, ...] | None = None,
        neighbour_columns: tuple[str, ...] | None = None,
    ) -> None:
        self.columns = columns
        self.neighbour_columns = neighbour_columns

    def _resolve(self, X: pd.DataFrame) -> None:
        super()._resolve(X)
        if self.neighbour_columns is None and not resolve("neighbour_totals", X.columns):
            raise RiskwarnError(
                "GraphHotspotBaseline needs the neighbours' recent counts (spatial "
                "features); the data has no grid graph (or [features] spatial = false), "
                "so use HotspotBaseline instead."
            )
        self.neighbour_columns_ = columns_or_role(
            self.neighbour_columns, "neighbour_totals", X.columns, type(self).__name__
        )

    def _score(self, X: pd.DataFrame) -> np.ndarray:
        own = _columns(X, tuple(self.columns_), type(self).__name__).sum(axis=1)
        missing = [c for c in self.neighbour_columns_ if c not in X.columns]
        if missing:
            raise RiskwarnError(
                f"GraphHotspotBaseline needs the neighbour feature(s) {missing}; the data "
                "has no grid graph, so use HotspotBaseline instead."
            )
        nbr = X[list(self.neighbour_columns_)].to_numpy(dtype=float)
        return own + np.nansum(nbr, axis=1)


BASELINES = {
    "persistence": PersistenceBaseline,
    "hist_rate": HistoricalRateBaseline,
    "hotspot": HotspotBaseline,
    "graph_hotspot": GraphHotspotBaseline,
}
