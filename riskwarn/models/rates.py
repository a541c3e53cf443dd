"""The long-run escalation rate of each grid, shrunk towards its type's (empirical Bayes).

What the historical rate does right on small, real panels: some areas always see
more escalations than others, and that is most of what can be known about them.
:class:`ShrunkRateBaseline` estimates each grid's rate of escalating within the
label window from its own training rows, and shrinks it towards the rate of its
grid type by how much history it has::

    rate_i = (sum_t w_t y_it + m r_g) / (sum_t w_t + m)

``r_g`` is the (weighted) rate of the grid's type, ``m`` the prior's weight in
rows, estimated from the data (method of moments: the spread of the grids' rates
beyond what chance gives), and ``w_t = 0.5 ** (age_t / half_life)`` weighs recent
rows more where the series changed level. The half-life is chosen out of time:
each candidate is fitted on the rows before the last validation block (with the
label gap) and scored on that block by log loss; the best is refitted on all rows.

The rate is a parameter of the grid, learnt from labels observed before the fit's
cut-off, like the Hawkes background; a grid not seen in fit gets its type's rate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from riskwarn.errors import RiskwarnError
from riskwarn.models.frames import check_labels, column_values
from riskwarn.models.roles import resolve

_ALL = "all"
_CLIP = 1e-4
# Bounds of the prior's weight, in independent label windows: at least half a window
# (a grid's own record always counts for something), at most 10,000 (full pooling).
_PRIOR_BOUNDS = (0.5, 1e4)


def _group_of(X: pd.DataFrame, type_columns: list[str]) -> np.ndarray:
    """Each row's grid type (argmax of the one-hot), shape (n_rows,); ``"all"`` without."""
    if not type_columns:
        return np.full(len(X), _ALL, dtype=object)
    onehot = np.nan_to_num(
        column_values(X, type_columns, "ShrunkRateBaseline", allow_missing=True), nan=0.0
    )
    names = np.array([*type_columns, "other"], dtype=object)
    return names[np.where(onehot.max(axis=1) > 0, onehot.argmax(axis=1), len(type_columns))]


class ShrunkRateBaseline(BaseEstimator):
    """Each grid's long-run escalation rate, shrunk towards its grid type's rate.

    Parameters
    ----------
    horizon : int
        Periods of the label window: consecutive rows' windows overlap, so a grid
        with ``n`` rows holds about ``n / horizon`` independent windows (the unit
        of the prior's weight), and the validation block is cut ``horizon`` dates
        after the rows it is fitted on.
    half_life : float, "auto" or None
        Weight of older rows: ``0.5 ** (age / half_life)`` with age in as-of dates
        before the latest; None weighs every row the same; "auto" chooses among
        None and ``half_lives`` out of time.
    half_lives : tuple of float
        Candidate half-lives for "auto", as shares of the training span in dates.
    prior_windows : float or None
        The prior's weight in independent label windows; None estimates it.
    validation_share : float
        Share of the training dates in the validation block of "auto" (at least
        ``horizon`` dates).

    Attributes
    ----------
    rate_ : Series, shape (n_grids,)
        Shrunk rate per grid seen in fit (index grid_id).
    group_rate_ : Series, shape (n_groups,)
        Rate per grid type (``"all"`` without type columns).
    overall_rate_ : float
    prior_rows_ : float
        The prior's weight ``m`` in rows.
    half_life_ : float or None
        The half-life used, in dates.
    validation_loss_ : dict of str to float
        Log loss of each candidate half-life on the validation block ("auto" only).
    type_columns_ : list of str
    """

    def __init__(
        self,
        horizon: int = 1,
        half_life: float | str | None = "auto",
        half_lives: tuple[float, ...] = (0.5, 0.25),
        prior_windows: float | None = None,
        validation_share: float = 0.2,
    ) -> None:
        self.horizon = horizon
        self.half_life = half_life
        self.half_lives = half_lives
        self.prior_windows = prior_windows
        self.validation_share = validation_share

    def _check_params(self) -> None:
        if isinstance(self.horizon, bool) or not isinstance(self.horizon, int | np.integer):
            raise RiskwarnError(f"horizon must be a whole number >= 1, got {self.horizon!r}.")
        if self.horizon < 1:
            raise RiskwarnError(f"horizon must be a whole number >= 1, got {self.horizon!r}.")
        hl = self.half_life
        if not (hl is None or hl == "auto" or (isinstance(hl, int | float) and hl > 0)):
            raise RiskwarnError(f"half_life must be > 0, 'auto' or None, got {hl!r}.")
        if any(not (isinstance(s, int | float) and 0 < s) for s in self.half_lives):
            raise RiskwarnError(f"half_lives must be positive shares, got {self.half_lives!r}.")
        if self.prior_windows is not None and not self.prior_windows > 0:
            raise RiskwarnError(f"prior_windows must be > 0 or None, got {self.prior_windows!r}.")
        if not 0 < self.validation_share < 1:
            raise RiskwarnError(
                f"validation_share must lie in (0, 1), got {self.validation_share!r}."
            )

    # -- fitting ----------------------------------------------------------------------
    def _estimate(self, grid: np.ndarray, group: np.ndarray, y: np.ndarray, w: np.ndarray):
        """Rates per grid and group, and the prior weight in rows, from weighted rows."""
        frame = pd.DataFrame({"grid": grid, "group": group, "wy": w * y, "w": w})
        by_grid = frame.groupby("grid", sort=True).agg(
            wy=("wy", "sum"), w=("w", "sum"), group=("group", "last")
        )
        by_group = frame.groupby("group", sort=True)[["wy", "w"]].sum()
        group_rate = (by_group["wy"] / by_group["w"].where(by_group["w"] > 0)).clip(
            _CLIP, 1 - _CLIP
        )
        overall = float(np.clip(frame["wy"].sum() / max(frame["w"].sum(), 1e-12), _CLIP, 1 - _CLIP))
        group_rate = group_rate.fillna(overall)
        centre = group_rate.reindex(by_grid["group"]).to_numpy()
        h = float(self.horizon)
        if self.prior_windows is not None:
            prior_rows = float(self.prior_windows) * h
        else:
            # Method of moments: the grids' raw rates spread around their type's rate
            # by chance (r(1-r)/n over n independent windows) plus the true spread tau^2;
            # a beta prior of weight m has tau^2 = r(1-r)/(m+1).
            n_eff = by_grid["w"].to_numpy() / h
            raw = by_grid["wy"].to_numpy() / np.maximum(by_grid["w"].to_numpy(), 1e-12)
            ok = n_eff > 0
            chance = centre * (1 - centre) / np.where(ok, n_eff, np.inf)
            weights = n_eff / n_eff.sum() if n_eff.sum() > 0 else np.ones_like(n_eff)
            spread = float(np.sum(weights * ((raw - centre) ** 2 - chance)))
            bernoulli = float(np.sum(weights * centre * (1 - centre)))
            m = bernoulli / spread - 1 if spread > 0 else _PRIOR_BOUNDS[1]
            prior_rows = float(np.clip(m, *_PRIOR_BOUNDS)) * h
        rate = (by_grid["wy"] + prior_rows * centre) / (by_grid["w"] + prior_rows)
        return rate.rename("rate"), group_rate, overall, prior_rows

    def _weights(self, date_code: np.ndarray, n_dates: int, half_life: float | None) -> np.ndarray:
        if half_life is None:
            return np.ones(len(date_code))
        age = (n_dates - 1) - date_code
        return 0.5 ** (age / float(half_life))

    def fit(self, X: pd.DataFrame, y) -> ShrunkRateBaseline:
        """Fit the rates on rows of ``X`` (``grid_id``, ``as_of``, grid types) and 0/1 ``y``."""
        self._check_params()
        y = check_labels(y, len(X))
        for key in ("grid_id", "as_of"):
            if key not in X.columns:
                raise RiskwarnError(
                    f"ShrunkRateBaseline needs the key column {key!r} in X: a rate per grid, "
                    "weighted by date; pass the feature frame as built."
                )
        grid = X["grid_id"].astype(str).to_numpy()
        date_code, dates = pd.factorize(pd.DatetimeIndex(X["as_of"]), sort=True)
        n_dates = len(dates)
        self.type_columns_ = resolve("grid_types", X.columns)
        group = _group_of(X, self.type_columns_)
        self.validation_loss_ = {}
        half_life = self.half_life
        if half_life == "auto":
            half_life = self._choose_half_life(grid, group, y, date_code, n_dates)
        self.half_life_ = None if half_life is None else float(half_life)
        w = self._weights(date_code, n_dates, self.half_life_)
        self.rate_, self.group_rate_, self.overall_rate_, self.prior_rows_ = self._estimate(
            grid, group, y, w
        )
        self.n_features_in_ = len(self.type_columns_)
        return self

    def _choose_half_life(self, grid, group, y, date_code, n_dates) -> float | None:
        h = int(self.horizon)
        block = max(h, int(round(self.validation_share * n_dates)))
        train_end = n_dates - block - h  # dates < train_end fit; the last `block` validate
        candidates: list[float | None] = [None]
        candidates += [max(float(s) * n_dates, float(h)) for s in self.half_lives]
        val = date_code >= n_dates - block
        train = date_code < train_end
        if train_end < max(2 * h, 4) or y[val].sum() == 0 or y[train].sum() == 0:
            return None  # too little history to tell: every row counts the same
        losses = {}
        for hl in candidates:
            w = self._weights(date_code[train], train_end, hl)
            rate, group_rate, overall, _ = self._estimate(grid[train], group[train], y[train], w)
            p = rate.reindex(grid[val]).to_numpy()
            unseen = np.isnan(p)
            if unseen.any():
                p[unseen] = group_rate.reindex(group[val][unseen]).fillna(overall).to_numpy()
            p = np.clip(p, _CLIP, 1 - _CLIP)
            yv = y[val]
            losses["none" if hl is None else f"{hl:g}"] = (
                float(-np.mean(yv * np.log(p) + (1 - yv) * np.log(1 - p))),
                hl,
            )
        self.validation_loss_ = {k: v[0] for k, v in losses.items()}
        # Ties keep the first candidate: no decay unless it does better.
        best = min(losses.values(), key=lambda v: v[0])
        return best[1]

    # -- prediction -------------------------------------------------------------------
    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Shape (n_rows, 2): probabilities of no escalation and of an escalation."""
        check_is_fitted(self, "rate_")
        if "grid_id" not in X.columns:
            raise RiskwarnError("ShrunkRateBaseline needs the key column 'grid_id' in X.")
        p = self.rate_.reindex(X["grid_id"].astype(str).to_numpy()).to_numpy(dtype=float)
        unseen = np.isnan(p)
        if unseen.any():
            groups = _group_of(X, self.type_columns_)[unseen]
            p[unseen] = (
                self.group_rate_.reindex(groups).fillna(self.overall_rate_).to_numpy(dtype=float)
            )
        return np.column_stack([1 - p, p])
