"""A discrete-time self-exciting (Hawkes) model of escalations on the grid graph.

The expected number of escalations of grid ``i`` in the window of ``horizon``
periods starting at as-of date ``t`` is a sum of non-negative parts::

    Lambda_it = horizon * mu_i                     background of the grid
              + sum_b alpha_b * own_b,it           its own recent escalations
              + sum_b beta_b  * nbr_b,it           its neighbours' ones (summed)
              + sum_c gamma_c * log1p(prec_c,it)   precursors (group petitions, ...)

and ``P(at least one escalation) = 1 - exp(-Lambda_it)``. The ``own_b`` columns
are a basis of a decaying kernel over the grid's past (last period, exponentially
decayed counts); the ``nbr_b`` columns are the escalations summed over the grid's
graph neighbours over the last period and a longer window, which the feature
builder puts in each row (``nbr_esc_n_w*``). So a row's score depends on that row
alone, never on which other grids are scored with it.

Fitting is the branching-structure EM of Hawkes processes: each escalation (or,
with 0/1 labels only, its expected number given that there was at least one) is
shared out among the parts in proportion to their size, and each coefficient is
then the share it received over the exposure it had. Every update is closed form
and the objective never decreases.

The grid backgrounds have a Gamma prior centred on the background rate of the
grid's type (urban, rural, ...), worth ``prior_periods`` periods of data, so a grid
with little history gets about its type's rate (maximum a posteriori, still closed
form). The type rates are empirical Bayes: the background escalations allocated to
the type over its exposure. They start from a run in which all grids of a type
share one background, and are then re-centred on what the per-grid fit implies
until they settle. Within each run the prior centre is held fixed, so the run
maximises one fixed penalised likelihood and no EM step can lower it; moving the
centre at every step instead would change the objective from step to step.

Each EM iteration only touches the rows with an escalation: the others enter the
likelihood through ``-sum(Lambda)``, which needs only column sums and the number of
rows per grid, computed once.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import gammaln, xlogy
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from riskwarn.errors import RiskwarnError
from riskwarn.models.frames import check_counts, check_labels, column_values
from riskwarn.models.roles import resolve

# Expected counts below this are treated as this: keeps log(Lambda) and the E-step
# division finite for a row whose every part is zero.
_FLOOR = 1e-12
_NO_TYPE = "all"  # the one group when X has none of the type columns
_OTHER_TYPE = "other"  # rows whose type one-hot is all zero
# Re-centring of the prior stops when no type rate moves by more than this share.
_CENTRE_RTOL = 1e-4
_MAX_ROUNDS = 100


def _names(columns: Sequence[str] | str | None, what: str) -> list[str]:
    if columns is None:
        return []
    if isinstance(columns, str):
        raise RiskwarnError(
            f"{what} must be a tuple of column names, got the single string {columns!r}; "
            f"write ({columns!r},) instead."
        )
    names = list(columns)
    if not all(isinstance(c, str) for c in names):
        raise RiskwarnError(f"{what} must be column names (strings), got {names!r}.")
    return names


def _non_negative(values: np.ndarray, columns: list[str], who: str) -> np.ndarray:
    if values.size and (values < 0).any():
        bad = [c for c, neg in zip(columns, (values < 0).any(axis=0), strict=True) if neg]
        raise RiskwarnError(
            f"{who}: column(s) {bad} have negative values; the self-exciting parts are "
            "counts, so pass the count features as built."
        )
    return values


def _grid_ids(X: pd.DataFrame, who: str) -> np.ndarray:
    if "grid_id" not in X.columns:
        raise RiskwarnError(
            f"{who} needs the key column 'grid_id' in X to give each grid its own "
            "background; pass the feature frame as built (grid_id, as_of, features)."
        )
    ids = X["grid_id"].astype(str).to_numpy()
    return ids


class GraphHawkes(BaseEstimator):
    """Self-exciting escalation model: background + own and neighbours' excitation.

    Parameters
    ----------
    horizon : int
        Length in periods of the window the label covers (``label_h{horizon}``).
    own_columns : tuple of str or None
        Basis of the grid's own-history kernel: escalation counts, each >= 0. None
        takes the data's (last period and each decayed count, ``esc_n_w1``,
        ``esc_n_decay_h4``, ``esc_n_decay_h13`` by default).
    neighbour_columns : tuple of str or None
        Escalation counts summed over the grid's graph neighbours, each >= 0 or
        missing (a grid without neighbours: read as 0). None takes the data's
        (``nbr_esc_n_w1``, ``nbr_esc_n_w13`` by default; none without a graph,
        which leaves the neighbour part out); ``()`` leaves them out.
    precursor_columns : tuple of str or None
        Precursor counts (collective and repeat petitions, open disputes); they
        enter as ``log1p(count)`` so that a large stuck backlog does not dominate.
        None takes whichever the data has (none at all leaves the model with
        background, own and neighbour excitation); ``()`` leaves them out.
    type_columns : tuple of str or None
        One-hot grid type columns; a grid's background shrinks towards the rate of
        its type (the argmax). Columns X lacks are left out; with none, all grids
        form one group. None takes every ``grid_type_*`` column.
    prior_periods : float
        Weight of the type rate in a grid's background, in periods of data: a grid
        with ``T`` rows gets ``T / (T + prior_periods)`` of its own evidence (for
        ``horizon`` 1). 0 means no shrinkage.
    max_iter : int
        Maximum EM iterations of each run (see the module notes).
    tol : float
        Stop when an iteration raises the objective by less than ``tol`` times
        its absolute value.

    Attributes
    ----------
    background_ : Series, shape (n_grids,)
        Background escalation rate per period of each training grid (index grid_id).
    type_rate_ : Series, shape (n_types,)
        Background rate per period of each grid type (index: type column name,
        ``"other"`` for rows with no type set, ``"all"`` without type columns): the
        prior centre, and the background of a grid not seen in fit.
    overall_rate_ : float
        Background rate per period over all training rows, for an unseen grid of a
        type not seen in fit.
    own_coef_, neighbour_coef_, precursor_coef_ : dict of str to float
        Coefficient of each basis column (0 where the column never left 0).
    type_columns_ : list of str
        The type columns used (those X had in fit).
    own_columns_, neighbour_columns_, precursor_columns_ : list of str
        The basis columns used.
    likelihood_ : {"poisson", "bernoulli"}
        Poisson when fitted on counts, Bernoulli when on 0/1 labels only.
    log_likelihood_ : float
        Log-likelihood of the training rows at the fitted parameters (without prior).
    objective_paths_ : list of ndarray
        One per per-grid run (the prior re-centred between runs; the last is the
        final fit): the penalised log-likelihood (log-likelihood plus log prior of
        the backgrounds) before each EM iteration and at the end. Within a run it
        never decreases.
    n_iter_ : int
        EM iterations of all per-grid runs.
    """

    def __init__(
        self,
        horizon: int = 1,
        own_columns: tuple[str, ...] | None = None,
        neighbour_columns: tuple[str, ...] | None = None,
        precursor_columns: tuple[str, ...] | None = None,
        type_columns: tuple[str, ...] | None = None,
        prior_periods: float = 52.0,
        max_iter: int = 500,
        tol: float = 1e-7,
    ) -> None:
        self.horizon = horizon
        self.own_columns = own_columns
        self.neighbour_columns = neighbour_columns
        self.precursor_columns = precursor_columns
        self.type_columns = type_columns
        self.prior_periods = prior_periods
        self.max_iter = max_iter
        self.tol = tol

    # ------------------------------------------------------------------ inputs

    def _check_params(self) -> None:
        for name in ("horizon", "max_iter"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise RiskwarnError(f"{name} must be a whole number >= 1, got {value!r}.")
        for name in ("prior_periods", "tol"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                raise RiskwarnError(f"{name} must be a number >= 0, got {value!r}.")
            if not np.isfinite(value) or value < 0:
                raise RiskwarnError(f"{name} must be a finite number >= 0, got {value!r}.")

    def _resolve(self, X: pd.DataFrame) -> None:
        """Fix the basis columns: as given, or what the data has for each role."""
        who = type(self).__name__
        given = self.own_columns
        own = (
            _names(given, "own_columns")
            if given is not None
            else resolve("escalation_kernel", X.columns)
        )
        if not own:
            raise RiskwarnError(f"{who} needs escalation counts (esc_n_w*), which X lacks.")
        self.own_columns_ = own
        for attr, role in (
            ("neighbour_columns", "neighbour_escalations"),
            ("precursor_columns", "precursors"),
        ):
            given = getattr(self, attr)
            cols = _names(given, attr) if given is not None else resolve(role, X.columns)
            setattr(self, f"{attr}_", cols)

    def _groups(self) -> tuple[list[str], list[str], list[str]]:
        return self.own_columns_, self.neighbour_columns_, self.precursor_columns_

    def _basis(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Own, neighbour and precursor values, each shape (n_rows, n_columns), all >= 0."""
        who = type(self).__name__
        own_cols, nbr_cols, prec_cols = self._groups()
        own = _non_negative(column_values(X, own_cols, who), own_cols, who)
        # Missing is a grid without neighbours: nothing comes from next door.
        nbr = np.nan_to_num(column_values(X, nbr_cols, who, allow_missing=True), nan=0.0)
        nbr = _non_negative(nbr, nbr_cols, who)
        prec = np.log1p(_non_negative(column_values(X, prec_cols, who), prec_cols, who))
        return own, nbr, prec

    def _row_types(self, X: pd.DataFrame, columns: list[str]) -> np.ndarray:
        """Type name of each row, shape (n_rows,): the argmax of the one-hot."""
        if not columns:
            return np.full(len(X), _NO_TYPE, dtype=object)
        onehot = column_values(X, columns, type(self).__name__, allow_missing=True)
        onehot = np.nan_to_num(onehot, nan=0.0)
        names = np.array([*columns, _OTHER_TYPE], dtype=object)
        pick = np.where(onehot.max(axis=1) > 0, onehot.argmax(axis=1), len(columns))
        return names[pick]

    # --------------------------------------------------------------------- fit

    def fit(self, X: pd.DataFrame, y, count=None) -> GraphHawkes:
        """Fit the background per grid and the excitation coefficients by EM.

        Parameters
        ----------
        X : DataFrame, shape (n_rows, n_columns)
            Feature frame with ``grid_id``, ``as_of`` and the basis columns; label
            columns are ignored.
        y : array-like of 0/1, shape (n_rows,)
            At least one escalation in the window.
        count : array-like, shape (n_rows,), optional
            Number of escalations in the window. With it the likelihood is Poisson;
            without it Bernoulli (a censored Poisson).

        Returns
        -------
        GraphHawkes
        """
        self._check_params()
        y = check_labels(y, len(X))
        z = None if count is None else check_counts(count, y)
        grid_ids = _grid_ids(X, type(self).__name__)
        self._resolve(X)
        own, nbr, prec = self._basis(X)
        basis = np.hstack([own, nbr, prec])
        wanted = self.type_columns
        type_cols = (
            [c for c in _names(wanted, "type_columns") if c in X.columns]
            if wanted is not None
            else resolve("grid_types", X.columns)
        )
        row_types = self._row_types(X, type_cols)

        grid_code, grids = pd.factorize(pd.Series(grid_ids), sort=True)
        n_grids = len(grids)
        rows_per_grid = np.bincount(grid_code, minlength=n_grids).astype(float)
        type_code_row, types = pd.factorize(pd.Series(row_types), sort=True)
        grid_type = _type_of_grid(grid_code, type_code_row, X, n_grids)
        h = float(self.horizon)

        problem = _EMProblem(
            basis_sums=basis.sum(axis=0),
            basis_pos=basis[y > 0],
            grid_pos=grid_code[y > 0],
            count_pos=None if z is None else z[y > 0],
            exposure=h * rows_per_grid,
            grid_type=grid_type,
            n_types=len(types),
            horizon=h,
        )
        coef, background, type_rate, paths = problem.fit(
            float(self.prior_periods), int(self.max_iter), float(self.tol)
        )

        own_cols, nbr_cols, prec_cols = self._groups()
        split = np.cumsum([len(own_cols), len(nbr_cols)])
        own_c, nbr_c, prec_c = np.split(coef, split)
        self.own_coef_ = dict(zip(own_cols, own_c.tolist(), strict=True))
        self.neighbour_coef_ = dict(zip(nbr_cols, nbr_c.tolist(), strict=True))
        self.precursor_coef_ = dict(zip(prec_cols, prec_c.tolist(), strict=True))
        self.background_ = pd.Series(background, index=pd.Index(grids, name="grid_id"))
        self.type_rate_ = pd.Series(type_rate, index=pd.Index(types, name="type"))
        self.overall_rate_ = float(
            np.sum(type_rate * np.bincount(grid_type, weights=rows_per_grid, minlength=len(types)))
            / rows_per_grid.sum()
        )
        self.type_columns_ = type_cols
        self.likelihood_ = "bernoulli" if z is None else "poisson"
        self.log_likelihood_ = problem.log_likelihood(
            background[problem.grid_pos], coef, background
        )
        self.objective_paths_ = paths
        self.n_iter_ = sum(len(path) - 1 for path in paths)
        self.n_features_in_ = len(own_cols) + len(nbr_cols) + len(prec_cols) + len(type_cols)
        return self

    # ----------------------------------------------------------------- predict

    def parts(self, X: pd.DataFrame) -> pd.DataFrame:
        """Expected escalations in the window, split by where they come from.

        Parameters
        ----------
        X : DataFrame, shape (n_rows, n_columns)

        Returns
        -------
        DataFrame, shape (n_rows, 4)
            Columns ``background``, ``own``, ``neighbours``, ``precursors`` (index of
            X); they sum to :meth:`predict_expected`.
        """
        check_is_fitted(self, "background_")
        grid_ids = _grid_ids(X, type(self).__name__)
        own, nbr, prec = self._basis(X)
        rate = self.background_.reindex(grid_ids).to_numpy(dtype=float, copy=True)
        unseen = np.isnan(rate)
        if unseen.any():
            # A grid without training rows has no history of its own: its prior.
            types = self._row_types(X, self.type_columns_)[unseen]
            by_type = self.type_rate_.reindex(types).to_numpy(dtype=float)
            rate[unseen] = np.where(np.isnan(by_type), self.overall_rate_, by_type)
        coef = [
            np.fromiter(d.values(), dtype=float, count=len(d))
            for d in (self.own_coef_, self.neighbour_coef_, self.precursor_coef_)
        ]
        return pd.DataFrame(
            {
                "background": float(self.horizon) * np.maximum(rate, _FLOOR),
                "own": np.einsum("ij,j->i", own, coef[0]),
                "neighbours": np.einsum("ij,j->i", nbr, coef[1]),
                "precursors": np.einsum("ij,j->i", prec, coef[2]),
            },
            index=X.index,
        )

    def predict_expected(self, X: pd.DataFrame) -> np.ndarray:
        """Expected escalations in the window, shape (n_rows,), always > 0."""
        return self.parts(X).to_numpy().sum(axis=1)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Shape (n_rows, 2): probabilities of no escalation and of an escalation."""
        p = -np.expm1(-self.predict_expected(X))
        return np.column_stack([1 - p, p])


def _type_of_grid(
    grid_code: np.ndarray, type_code_row: np.ndarray, X: pd.DataFrame, n_grids: int
) -> np.ndarray:
    """Type code of each grid, shape (n_grids,): the type of its latest row."""
    if "as_of" in X.columns:
        date_code, _ = pd.factorize(X["as_of"], sort=True)
    else:
        date_code = np.arange(len(X))
    order = np.lexsort((date_code, grid_code))
    last = np.r_[grid_code[order][1:] != grid_code[order][:-1], True]
    out = np.empty(n_grids, dtype=np.int64)
    out[grid_code[order][last]] = type_code_row[order][last]
    return out


class _EMProblem:
    """The EM on the rows that count: only rows with an escalation get allocations.

    Rows without one enter the likelihood only through ``-sum(Lambda)``, which is
    linear in the parameters and needs only the per-column sums and the exposure
    per grid, so each iteration costs O(positive rows), not O(rows).

    Parameters
    ----------
    basis_sums : ndarray, shape (k,)
    basis_pos : ndarray, shape (n_pos, k)
        Basis values of the rows with y = 1.
    grid_pos : ndarray of int, shape (n_pos,)
    count_pos : ndarray, shape (n_pos,), or None
        Counts of those rows (Poisson), or None (Bernoulli).
    exposure : ndarray, shape (n_grids,)
        ``horizon * rows`` of each grid.
    grid_type : ndarray of int, shape (n_grids,)
    n_types : int
    horizon : float
    """

    def __init__(
        self,
        basis_sums: np.ndarray,
        basis_pos: np.ndarray,
        grid_pos: np.ndarray,
        count_pos: np.ndarray | None,
        exposure: np.ndarray,
        grid_type: np.ndarray,
        n_types: int,
        horizon: float,
    ) -> None:
        self.basis_sums = basis_sums
        self.basis_pos = basis_pos
        self.grid_pos = grid_pos
        self.count_pos = count_pos
        self.exposure = exposure
        self.grid_type = grid_type
        self.n_types = n_types
        self.horizon = horizon
        self.type_exposure = np.bincount(grid_type, weights=exposure, minlength=n_types)
        self.active = basis_sums > 0  # a column that is always 0 keeps coefficient 0
        self.const = 0.0 if count_pos is None else -float(gammaln(count_pos + 1).sum())

    def _lam(self, bg_pos: np.ndarray, coef: np.ndarray) -> np.ndarray:
        # einsum, not BLAS: a skinny product that BLAS threads make slow and erratic.
        return np.maximum(bg_pos + np.einsum("ij,j->i", self.basis_pos, coef), _FLOOR)

    def log_likelihood(self, rate_pos: np.ndarray, coef: np.ndarray, rate: np.ndarray) -> float:
        """Log-likelihood; ``rate`` is the background per period of each grid."""
        lam = self._lam(self.horizon * rate_pos, coef)
        total = float(self.exposure @ rate + self.basis_sums @ coef)
        if self.count_pos is None:
            # y = 1 rows: log(1 - e^-L); y = 0 rows: -L, written as -sum(L) + L on y = 1.
            return float(np.sum(np.log(-np.expm1(-lam)) + lam)) - total
        return float(np.sum(self.count_pos * np.log(lam))) - total + self.const

    def _e_step(self, bg_pos: np.ndarray, coef: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Expected escalations allocated to the background (per row) and to each column."""
        lam = self._lam(bg_pos, coef)
        if self.count_pos is None:
            # E[N | N >= 1] = L / (1 - e^-L); each part gets its share part / L of it.
            weight = 1.0 / -np.expm1(-lam)
        else:
            weight = self.count_pos / lam
        return weight * bg_pos, coef * np.einsum("i,ij->j", weight, self.basis_pos)

    def _coef_update(self, allocated: np.ndarray) -> np.ndarray:
        out = np.zeros_like(allocated)
        out[self.active] = allocated[self.active] / self.basis_sums[self.active]
        return out

    def _start(self) -> tuple[np.ndarray, np.ndarray]:
        """Each part (background and every live column) explains an equal share."""
        events = float(len(self.grid_pos) if self.count_pos is None else self.count_pos.sum())
        share = max(events, 1.0) / (1 + int(self.active.sum()))
        coef = np.zeros(len(self.basis_sums))
        coef[self.active] = share / self.basis_sums[self.active]
        rate = np.full(self.n_types, share / self.exposure.sum())
        return coef, rate

    def type_rate(self, bg_alloc: np.ndarray) -> np.ndarray:
        """Background escalations allocated to each type over its exposure, shape (n_types,)."""
        per_type = np.bincount(
            self.grid_type[self.grid_pos], weights=bg_alloc, minlength=self.n_types
        )
        return per_type / np.maximum(self.type_exposure, _FLOOR)

    def fit_pooled(self, max_iter: int, tol: float) -> tuple[np.ndarray, np.ndarray]:
        """One background per type, by maximum likelihood: coefficients and type rates."""
        coef, type_rate = self._start()
        type_pos = self.grid_type[self.grid_pos]
        last = self.log_likelihood(type_rate[type_pos], coef, type_rate[self.grid_type])
        for _ in range(max_iter):
            bg_alloc, col_alloc = self._e_step(self.horizon * type_rate[type_pos], coef)
            coef, type_rate = self._coef_update(col_alloc), self.type_rate(bg_alloc)
            now = self.log_likelihood(type_rate[type_pos], coef, type_rate[self.grid_type])
            if now - last <= tol * abs(last):
                break
            last = now
        return coef, type_rate

    def objective(
        self, rate: np.ndarray, coef: np.ndarray, centre: np.ndarray, prior: float
    ) -> float:
        """Log-likelihood plus the log prior of the backgrounds (up to a constant)."""
        # The Gamma(prior * centre + 1, prior) log density, shifted to be 0 at the
        # centre: -prior * D(centre || rate), D the generalised KL divergence.
        log_likelihood = self.log_likelihood(rate[self.grid_pos], coef, rate)
        if prior == 0:
            return log_likelihood  # a rate of 0 would give 0 * inf below
        deviance = xlogy(centre, centre) - xlogy(centre, rate) - centre + rate
        return log_likelihood - prior * float(deviance.sum())

    def fit_centred(
        self,
        coef: np.ndarray,
        rate: np.ndarray,
        centre: np.ndarray,
        prior: float,
        max_iter: int,
        tol: float,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
        """MAP EM of the per-grid backgrounds with the prior centred on ``centre``.

        Parameters
        ----------
        coef : ndarray, shape (k,)
        rate : ndarray, shape (n_grids,)
            Starting backgrounds.
        centre : ndarray, shape (n_grids,)
            Prior centre of each grid (its type's rate); fixed during the run.
        prior, max_iter, tol
            As in :class:`GraphHawkes`.

        Returns
        -------
        coef, rate, bg_alloc, path, converged
            ``bg_alloc`` (shape (n_pos,)) is the last E-step's background share of
            the positive rows; ``path`` the objective before each iteration and at
            the end.
        """
        path = [self.objective(rate, coef, centre, prior)]
        converged = False
        bg_alloc = np.zeros(len(self.grid_pos))
        for _ in range(max_iter):
            bg_alloc, col_alloc = self._e_step(self.horizon * rate[self.grid_pos], coef)
            coef = self._coef_update(col_alloc)
            grid_alloc = np.bincount(self.grid_pos, weights=bg_alloc, minlength=len(rate))
            # MAP under the prior: (events + pseudo-events) / (exposure + pseudo-periods).
            rate = (grid_alloc + prior * centre) / np.maximum(self.exposure + prior, _FLOOR)
            path.append(self.objective(rate, coef, centre, prior))
            if path[-1] - path[-2] <= tol * abs(path[-2]):
                converged = True
                break
        return coef, rate, bg_alloc, np.asarray(path), converged

    def fit(
        self, prior: float, max_iter: int, tol: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
        """The whole fit: pooled start, then per-grid runs with a re-centred prior.

        Returns
        -------
        coef : ndarray, shape (k,)
        rate : ndarray, shape (n_grids,)
            Background per period of each grid.
        type_rate : ndarray, shape (n_types,)
            The prior centre of the final run.
        paths : list of ndarray
            Objective of each per-grid run, iteration by iteration.
        """
        coef, type_rate = self.fit_pooled(max_iter, tol)
        rate = type_rate[self.grid_type]
        converged = settled = False
        paths: list[np.ndarray] = []
        # Empirical Bayes: re-centre the prior on the type rates that the per-grid
        # fit implies, until they settle; each run maximises a fixed objective.
        while not settled and len(paths) < _MAX_ROUNDS:
            coef, rate, bg_alloc, path, converged = self.fit_centred(
                coef, rate, type_rate[self.grid_type], prior, max_iter, tol
            )
            paths.append(path)
            implied = self.type_rate(bg_alloc)
            settled = bool(np.all(np.abs(implied - type_rate) <= _CENTRE_RTOL * type_rate))
            if prior == 0 or not settled:
                # Without a prior the centre does not enter the fit, only unseen grids
                # use it, so one run is enough.
                settled = settled or prior == 0
                type_rate = implied
        if not (converged and settled):
            warnings.warn(
                f"GraphHawkes: EM stopped before the fit settled (max_iter={max_iter}, "
                f"tol={tol}); raise max_iter for a tighter fit.",
                ConvergenceWarning,
                stacklevel=3,
            )
        return coef, rate, type_rate, paths
