"""Graph diffusion: a grid's counts and its neighbourhood's, into a logistic model.

The design matrix holds ``log1p`` of the grid's own counts and of its
neighbourhood's: the neighbours' mean events of each table and the mean two
steps out (``nbr_mean_*``, ``ring2_mean_*``), which the feature builder computes
over every grid at the as-of date and puts in each row. So a row's score depends
on that row alone, never on which other grids are scored with it. A grid with no
neighbours (an island) has no neighbourhood: its neighbourhood values are 0 and
an indicator column says so, so the model learns what an empty neighbourhood
means instead of being told it is a quiet one.

The columns are standardised with statistics of the training rows and fed to an
L2-regularised logistic regression, without class weights, so that the
probabilities stay calibrated to the training label rate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import expit
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
from riskwarn.models.roles import columns_or_role, resolve

NO_NEIGHBOURS = "no_neighbours"


class GraphDiffusion(BaseEstimator):
    """Own and neighbourhood log counts into a logistic regression.

    Parameters
    ----------
    columns : tuple of str or None
        The grid's own count features (>= 0); None takes those the data has of:
        escalations over every window and the longest decay, recent petitions,
        collective petitions, disputes, open disputes, incidents and serious
        incidents.
    neighbour_columns : tuple of str or None
        Neighbourhood count features (>= 0, missing for a grid without
        neighbours); None takes the data's (``nbr_mean_*``, ``ring2_mean_*``: none
        without a graph); ``()`` leaves them out.
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
    columns_, neighbour_columns_ : list of str
        The own and neighbourhood count features used.
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
        columns: tuple[str, ...] | None = None,
        neighbour_columns: tuple[str, ...] | None = None,
        C: float = 1.0,
        max_iter: int = 1000,
        max_rows: int = 400_000,
        random_state: int = 0,
    ) -> None:
        self.columns = columns
        self.neighbour_columns = neighbour_columns
        self.C = C
        self.max_iter = max_iter
        self.max_rows = max_rows
        self.random_state = random_state

    def _check_params(self) -> None:
        value = self.max_iter
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise RiskwarnError(f"max_iter must be a whole number >= 1, got {value!r}.")
        if (
            isinstance(self.C, bool)
            or not isinstance(self.C, int | float | np.number)
            or not np.isfinite(self.C)
            or self.C <= 0
        ):
            raise RiskwarnError(f"C must be a finite number > 0, got {self.C!r}.")

    @staticmethod
    def _given(columns, what: str) -> list[str]:
        if isinstance(columns, str) or not isinstance(columns, Sequence):
            raise RiskwarnError(f"{what} must be a tuple of column names, got {columns!r}.")
        return [str(c) for c in columns]

    def _column_names(self, X: pd.DataFrame) -> tuple[list[str], list[str]]:
        """The fitted own and neighbourhood columns; before fit, as given or by role."""
        if hasattr(self, "columns_"):
            return list(self.columns_), list(self.neighbour_columns_)
        if self.columns is None:
            own = columns_or_role(None, "diffusion_inputs", X.columns, type(self).__name__)
        else:
            own = self._given(self.columns, "columns")
            if not own:
                raise RiskwarnError(
                    f"columns must be a non-empty tuple of column names, got {self.columns!r}."
                )
        if self.neighbour_columns is None:
            nbr = resolve("neighbourhood", X.columns)
        else:
            nbr = self._given(self.neighbour_columns, "neighbour_columns")
        return own, nbr

    def design_matrix(self, X: pd.DataFrame) -> pd.DataFrame:
        """The unscaled model inputs, one row per row of X.

        Parameters
        ----------
        X : DataFrame, shape (n_rows, n_columns)
            Feature frame with the own and neighbourhood count columns.

        Returns
        -------
        DataFrame, shape (n_rows, n_own + n_neighbourhood [+ 1])
            ``log1p_<c>`` for each own then each neighbourhood column, then
            ``no_neighbours`` (1.0 where the row has no neighbourhood value) when
            there are neighbourhood columns.
        """
        matrix, columns = self._design(X)
        return pd.DataFrame(matrix, index=X.index, columns=columns)

    def _design(
        self, X: pd.DataFrame, rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, list[str]]:
        # ``rows`` (a boolean mask) keeps only those rows: the sampled ones in fit.
        self._check_params()
        own_names, nbr_names = self._column_names(X)
        who = type(self).__name__
        own = column_values(X, own_names, who)
        nbr = column_values(X, nbr_names, who, allow_missing=True)
        if rows is not None:
            own, nbr = own[rows], nbr[rows]
        for names, values in ((own_names, own), (nbr_names, nbr)):
            negative = (values < 0).any(axis=0)
            if negative.any():
                bad = [c for c, neg in zip(names, negative, strict=True) if neg]
                raise RiskwarnError(
                    f"{who}: column(s) {bad} have negative values; pass count features (>= 0)."
                )
        columns = [f"log1p_{c}" for c in (*own_names, *nbr_names)]
        blocks = [np.log1p(own)]
        if nbr_names:
            # Missing exactly where the grid has no neighbours (every column at once).
            empty = np.isnan(nbr).all(axis=1, keepdims=True)
            blocks += [np.log1p(np.nan_to_num(nbr, nan=0.0)), empty.astype(float)]
            columns.append(NO_NEIGHBOURS)
        return np.hstack(blocks), columns

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
        # a refit resolves the columns again
        self.__dict__.pop("columns_", None)
        self.__dict__.pop("neighbour_columns_", None)
        self.columns_, self.neighbour_columns_ = self._column_names(X)
        weight = downsample_weights(y, self.max_rows, self.random_state)
        rows = weight > 0
        matrix, self.design_columns_ = self._design(X, None if rows.all() else rows)
        target, weight = y[rows].astype(int), weight[rows]
        self.n_rows_trained_ = int(rows.sum())
        self.scaler_ = StandardScaler().fit(matrix, sample_weight=weight)
        self.logistic_ = LogisticRegression(C=self.C, solver="lbfgs", max_iter=self.max_iter)
        self.logistic_.fit(self.scaler_.transform(matrix), target, sample_weight=weight)
        self.coef_ = pd.Series(self.logistic_.coef_[0], index=self.design_columns_)
        self.n_features_in_ = len(self.columns_) + len(self.neighbour_columns_)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Shape (n_rows, 2): probabilities of no escalation and of an escalation."""
        check_is_fitted(self, "logistic_")
        scaled = self.scaler_.transform(self._design(X)[0])
        # The log-odds added up column by column, each row on its own: scikit-learn's
        # matrix product sums in an order that depends on how many rows it is given,
        # and a grid must score the same alone as in its whole city (its last bit
        # differed, found by the common checks of the ensemble at horizon 2).
        z = np.full(len(scaled), float(self.logistic_.intercept_[0]))
        for j, c in enumerate(self.logistic_.coef_[0]):
            z += float(c) * scaled[:, j]
        p = expit(z)
        return np.column_stack([1 - p, p])
