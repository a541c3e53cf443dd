"""Graph diffusion: a grid's counts and its neighbourhood's, into a logistic model.

The design matrix holds, for each count column, ``log1p`` of the grid's own value
and that signal diffused over the row-normalised adjacency: the mean over the
neighbours (hop 1) and the mean of those means (hop 2), all at the same as-of
date. A grid with no neighbour row at its date (an island, or no graph) has no
neighbourhood: its hop values are 0 and an indicator column says so, so the model
learns what an empty neighbourhood means instead of being told it is a quiet one.

The columns are standardised with statistics of the training rows and fed to an
L2-regularised logistic regression, without class weights, so that the
probabilities stay calibrated to the training label rate.
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from riskwarn.errors import RiskwarnError
from riskwarn.models.frames import (
    check_counts,
    check_labels,
    column_values,
    downsample_weights,
)
from riskwarn.models.graph_ops import neighbour_values
from riskwarn.models.roles import columns_or_role

NO_NEIGHBOURS = "no_neighbours"


class GraphDiffusion(BaseEstimator):
    """Own and diffused (1..``hops`` hop) log counts into a logistic regression.

    Parameters
    ----------
    graph : networkx.Graph or None
        Grid graph (nodes are grid ids, edge attribute ``weight``, default 1). None
        means no graph: only the own columns and the indicator carry information.
    columns : tuple of str or None
        Count features (>= 0) to take in and diffuse; None takes those the data
        has of: escalations over every window and the longest decay, recent
        petitions, collective petitions, disputes, open disputes, incidents and
        serious incidents.
    hops : int
        Number of diffusion steps (0 = own values only).
    C : float
        Inverse L2 strength of the logistic regression.
    max_iter : int
        Iteration limit of the lbfgs solver.
    max_rows : int
        Above this many training rows, rows are down-sampled (seeded by
        ``random_state``) and weighted by the inverse of their class's sampling
        rate (see ``downsample_weights``).
    random_state : int

    Attributes
    ----------
    columns_ : list of str
        The count features used.
    design_columns_ : list of str
        Names of the design matrix columns, in order.
    scaler_ : StandardScaler
        Standardisation learned on the training rows.
    logistic_ : LogisticRegression
    coef_ : Series, shape (n_design_columns,)
        Logistic coefficient of each design column (standardised scale).
    """

    def __init__(
        self,
        graph: nx.Graph | None = None,
        columns: tuple[str, ...] | None = None,
        hops: int = 2,
        C: float = 1.0,
        max_iter: int = 1000,
        max_rows: int = 400_000,
        random_state: int = 0,
    ) -> None:
        self.graph = graph
        self.columns = columns
        self.hops = hops
        self.C = C
        self.max_iter = max_iter
        self.max_rows = max_rows
        self.random_state = random_state

    def _check_params(self) -> None:
        for name, low in (("hops", 0), ("max_iter", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
                raise RiskwarnError(f"{name} must be a whole number >= {low}, got {value!r}.")
        if (
            isinstance(self.C, bool)
            or not isinstance(self.C, int | float | np.number)
            or not np.isfinite(self.C)
            or self.C <= 0
        ):
            raise RiskwarnError(f"C must be a finite number > 0, got {self.C!r}.")
        if self.graph is not None and not isinstance(self.graph, nx.Graph):
            raise RiskwarnError(
                "graph must be a networkx.Graph of grid ids or None, got "
                f"{type(self.graph).__name__}; pass GridGraph.graph, not the GridGraph."
            )

    def _column_names(self, X: pd.DataFrame) -> list[str]:
        """The fitted ``columns_``; before fit, ``columns`` or what X has for the role."""
        if hasattr(self, "columns_"):
            return list(self.columns_)
        columns = self.columns
        if columns is None:
            return columns_or_role(None, "diffusion_inputs", X.columns, type(self).__name__)
        if isinstance(columns, str) or not isinstance(columns, Sequence) or not columns:
            raise RiskwarnError(
                f"columns must be a non-empty tuple of column names, got {columns!r}."
            )
        return [str(c) for c in columns]

    def design_matrix(self, X: pd.DataFrame) -> pd.DataFrame:
        """The unscaled model inputs, one row per row of X.

        Parameters
        ----------
        X : DataFrame, shape (n_rows, n_columns)
            Feature frame with ``grid_id``, ``as_of`` (when ``hops`` > 0) and the
            count columns.

        Returns
        -------
        DataFrame, shape (n_rows, len(columns) * (1 + hops) + (hops > 0))
            ``log1p_<c>``, then ``hop<k>_mean_<c>`` for k = 1..hops, then
            ``no_neighbours`` (1.0 where the grid has no neighbour row at its date).
        """
        matrix, columns = self._design(X)
        return pd.DataFrame(matrix, index=X.index, columns=columns)

    def _design(
        self, X: pd.DataFrame, rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, list[str]]:
        # One preallocated array, filled block by block: at city scale a frame of
        # blocks and its copy would cost two more matrices of millions of rows.
        # ``rows`` (a boolean mask) keeps only those rows of the matrix: neighbour
        # means need every row of a date, the model only the sampled ones.
        self._check_params()
        names = self._column_names(X)
        who = type(self).__name__
        values = column_values(X, names, who)
        if (values < 0).any():
            bad = [c for c, neg in zip(names, (values < 0).any(axis=0), strict=True) if neg]
            raise RiskwarnError(
                f"{who}: column(s) {bad} have negative values; pass count features (>= 0)."
            )
        own = np.log1p(values)
        del values
        keep = slice(None) if rows is None else np.flatnonzero(rows)
        m = own.shape[1]
        columns = [f"log1p_{c}" for c in names]
        if self.hops == 0:
            return own[keep], columns
        for k in range(1, self.hops + 1):
            columns += [f"hop{k}_mean_{c}" for c in names]
        columns.append(NO_NEIGHBOURS)
        kept = own[keep]
        matrix = np.empty((len(kept), len(columns)))
        matrix[:, :m] = kept
        del kept
        current = own
        for k in range(1, self.hops + 1):
            if self.graph is None:
                current = np.full_like(own, np.nan)
            else:
                # One hop at a time, so that a grid without a row at the date (whose
                # hop values would be computed all the same) never enters a mean.
                current = neighbour_values(X, current, self.graph, hops=1, how="mean")[0]
            hop = current[keep]
            if k == 1:
                # Hop 1 is missing exactly when no neighbour is present; hop k > 1 then too.
                matrix[:, -1] = np.isnan(hop[:, 0])
            matrix[:, k * m : (k + 1) * m] = np.nan_to_num(hop, nan=0.0)
        return matrix, columns

    def fit(self, X: pd.DataFrame, y, count=None) -> GraphDiffusion:
        """Standardise the design matrix and fit the logistic regression.

        Parameters
        ----------
        X : DataFrame, shape (n_rows, n_columns)
        y : array-like of 0/1, shape (n_rows,)
        count : array-like, shape (n_rows,), optional
            Checked against ``y`` but not used: the model is for the 0/1 label.
            Accepted so that every model can be fitted the same way.

        Returns
        -------
        GraphDiffusion
        """
        y = check_labels(y, len(X))
        if count is not None:
            check_counts(count, y)
        if len(np.unique(y)) < 2:
            raise RiskwarnError(
                "GraphDiffusion needs training rows with and without an escalation; "
                "widen the training window."
            )
        self.__dict__.pop("columns_", None)  # a refit resolves the columns again
        self.columns_ = self._column_names(X)
        weight = downsample_weights(y, self.max_rows, self.random_state)
        rows = weight > 0
        matrix, self.design_columns_ = self._design(X, None if rows.all() else rows)
        target, weight = y[rows].astype(int), weight[rows]
        self.n_rows_trained_ = int(rows.sum())
        self.scaler_ = StandardScaler().fit(matrix, sample_weight=weight)
        self.logistic_ = LogisticRegression(C=self.C, solver="lbfgs", max_iter=self.max_iter)
        self.logistic_.fit(self.scaler_.transform(matrix), target, sample_weight=weight)
        self.coef_ = pd.Series(self.logistic_.coef_[0], index=self.design_columns_)
        self.n_features_in_ = len(self.columns_)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Shape (n_rows, 2): probabilities of no escalation and of an escalation."""
        check_is_fitted(self, "logistic_")
        matrix, _ = self._design(X)
        return self.logistic_.predict_proba(self.scaler_.transform(matrix))
