"""The calibrated ensemble: stack the components on one window, calibrate on a later one.

Time layout of the training rows (as-of dates ascending)::

    | components train ............ | gap | validation | gap | calibration |

The components (LightGBM, the graph models, the baselines) are fitted on the
first part only. Their scores on the validation window fit the stacking weights,
and the stacked score is calibrated (Platt or isotonic) on the calibration window,
which neither the components nor the weights have seen. The fitted components are
the ones used to predict, so the calibration is honest for them. Each gap is
``horizon`` dates, so no label window straddles two parts.

Small data falls back gracefully: the stacking weights are pulled towards a prior
that trusts only the robust components (the best baseline and the Hawkes model)
with a fixed strength, which matters when the validation window holds few
escalations and fades as it holds many; with too little data for the windows,
the ensemble is the best robust baseline fitted on everything.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit, logit
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import average_precision_score
from sklearn.utils.validation import check_is_fitted

from riskwarn.errors import RiskwarnError
from riskwarn.models.calibration import fit_isotonic
from riskwarn.models.frames import check_counts, check_labels, fit_model, select_rows

_CLIP = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    return logit(np.clip(p, _CLIP, 1 - _CLIP))


class CalibratedEnsemble(BaseEstimator):
    """Stacked, calibrated combination of components and the best baseline.

    Parameters
    ----------
    components : dict of str to estimator
        Unfitted models with ``fit`` and ``predict_proba``, stacked as given.
    baselines : dict of str to estimator
        Candidate baselines; the one with the best average precision on the
        validation window joins the stack as ``best_baseline``.
    robust : tuple of str
        Components the small-data prior trusts (``"best_baseline"`` names the
        chosen baseline); the prior gives them equal weight.
    horizon : int
        Label horizon in periods: the gap between the time windows.
    window_periods : int or None
        Dates in each of the validation and calibration windows; None takes a
        sixth of the dates, between 1 and 13.
    prior_strength : float
        Pull of the stacking weights towards the prior, in units of the summed log
        loss (a fixed amount, so it dominates small windows and fades in large ones).
    min_positives : int
        Escalations needed in each window (and in the components' part) to use the
        windows at all; below it the ensemble is the best robust baseline.
    method : {"auto", "platt", "isotonic"}
        Calibration; ``"auto"`` is isotonic from ``isotonic_min_positives``
        escalations in the calibration window, Platt below.
    isotonic_min_positives : int
    refit : bool
        Refit the components on every training row once the weights and the
        calibrator are fitted (on out-of-sample scores). False keeps the components
        that never saw the two windows.

    Attributes
    ----------
    mode_ : {"stacked", "fallback"}
    components_ : dict of str to fitted estimator
    best_baseline_ : str
    weights_ : dict of str to float
        Stacking weights on the components' log-odds, plus ``"intercept"``.
    calibration_ : {"platt", "isotonic", "none"}
    calibrator_ : fitted calibrator or None
    windows_ : dict
        First and last as-of date of each part, for the record.
    """

    def __init__(
        self,
        components: dict | None = None,
        baselines: dict | None = None,
        robust: tuple[str, ...] = ("best_baseline", "graph_hawkes"),
        horizon: int = 1,
        window_periods: int | None = None,
        prior_strength: float = 5.0,
        min_positives: int = 10,
        method: str = "auto",
        isotonic_min_positives: int = 1000,
        refit: bool = False,
    ) -> None:
        self.components = components
        self.baselines = baselines
        self.robust = robust
        self.horizon = horizon
        self.window_periods = window_periods
        self.prior_strength = prior_strength
        self.min_positives = min_positives
        self.method = method
        self.isotonic_min_positives = isotonic_min_positives
        self.refit = refit

    # -- fitting -------------------------------------------------------------------
    def _check(self) -> tuple[dict, dict]:
        components = dict(self.components or {})
        baselines = dict(self.baselines or {})
        if not baselines:
            raise RiskwarnError("CalibratedEnsemble needs at least one baseline to fall back on.")
        if "best_baseline" in components:
            raise RiskwarnError("'best_baseline' is reserved for the chosen baseline.")
        if self.method not in ("auto", "platt", "isotonic"):
            raise RiskwarnError(f"method must be auto, platt or isotonic, got {self.method!r}.")
        if int(self.horizon) < 1:
            raise RiskwarnError(f"horizon must be >= 1, got {self.horizon!r}.")
        return components, baselines

    def _parts(self, dates: pd.DatetimeIndex) -> dict[str, np.ndarray] | None:
        unique = dates.unique().sort_values()
        n = len(unique)
        window = self.window_periods or int(np.clip(n // 6, 1, 13))
        gap = int(self.horizon)
        # components need at least as many dates as one window
        if n < 3 * window + 2 * gap:
            return None
        cal_start = unique[n - window]
        val_start = unique[n - 2 * window - gap]
        val_end = unique[n - window - gap - 1]
        train_end = unique[n - 2 * window - 2 * gap - 1]
        return {
            "train": np.asarray(dates <= train_end),
            "validation": np.asarray((dates >= val_start) & (dates <= val_end)),
            "calibration": np.asarray(dates >= cal_start),
        }

    def fit(self, X: pd.DataFrame, y, count=None) -> CalibratedEnsemble:
        components, baselines = self._check()
        y = check_labels(y, len(X))
        if count is not None:
            count = check_counts(count, y)
        if "as_of" not in X.columns:
            raise RiskwarnError("X needs the as_of column: the ensemble's windows are dates.")
        dates = pd.DatetimeIndex(X["as_of"])
        parts = self._parts(dates)
        if parts is not None and any(y[m].sum() < self.min_positives for m in parts.values()):
            parts = None
        if parts is None:
            return self._fit_fallback(X, y, count, baselines)
        self.mode_ = "stacked"
        train, val, cal = parts["train"], parts["validation"], parts["calibration"]
        self.windows_ = {
            name: (str(dates[m].min()), str(dates[m].max())) for name, m in parts.items()
        }
        X_train, y_train = select_rows(X, train), y[train]
        c_train = count[train] if count is not None else None
        X_val, X_cal = select_rows(X, val), select_rows(X, cal)
        # The best baseline is chosen on the validation window, like the weights.
        fitted_baselines = {
            name: fit_model(clone(m), X_train, y_train, c_train) for name, m in baselines.items()
        }
        ap = {
            name: average_precision_score(y[val], m.predict_proba(X_val)[:, 1])
            for name, m in fitted_baselines.items()
        }
        self.baseline_scores_ = ap
        self.best_baseline_ = max(sorted(ap), key=ap.get)
        self.components_ = {
            name: fit_model(clone(m), X_train, y_train, c_train) for name, m in components.items()
        }
        self.components_["best_baseline"] = fitted_baselines[self.best_baseline_]
        names = list(self.components_)
        Z_val = self._log_odds(X_val)
        prior = np.array([1.0 if n in self.robust else 0.0 for n in names])
        prior = prior / prior.sum() if prior.sum() else np.full(len(names), 1 / len(names))
        self.prior_ = dict(zip(names, prior.tolist(), strict=True))
        coef = self._stack_weights(Z_val, y[val], prior)
        self.weights_ = {
            "intercept": float(coef[0]),
            **dict(zip(names, coef[1:].tolist(), strict=True)),
        }
        self._calibrate(self._stacked(X_cal), y[cal])
        if self.refit:
            # The weights and the calibrator were fitted on scores the components
            # made out of sample; the components are then refitted on every row, as
            # scikit-learn's CalibratedClassifierCV(ensemble=False) does, so the
            # latest periods inform the ranking too.
            chosen = {**components, "best_baseline": baselines[self.best_baseline_]}
            self.components_ = {name: fit_model(clone(chosen[name]), X, y, count) for name in names}
        self.n_features_in_ = X.shape[1]
        return self

    def _fit_fallback(self, X, y, count, baselines) -> CalibratedEnsemble:
        self.mode_ = "fallback"
        self.windows_ = {"train": (str(X["as_of"].min()), str(X["as_of"].max()))}
        # Without windows to compare on, trust the first robust-looking baseline
        # that fits; ``hist_rate``-like baselines need the least data.
        name = next(iter(baselines))
        self.best_baseline_ = name
        self.baseline_scores_ = {}
        self.components_ = {"best_baseline": fit_model(clone(baselines[name]), X, y, count)}
        self.prior_ = {"best_baseline": 1.0}
        self.weights_ = {"intercept": 0.0, "best_baseline": 1.0}
        self.calibration_ = "none"
        self.calibrator_ = None
        self.n_features_in_ = X.shape[1]
        return self

    def _stack_weights(self, Z: np.ndarray, y: np.ndarray, prior: np.ndarray) -> np.ndarray:
        strength = float(self.prior_strength)
        rate = float(np.clip(y.mean(), _CLIP, 1 - _CLIP))
        start = np.concatenate([[0.0], prior])

        def loss(theta):
            eta = theta[0] + Z @ theta[1:]
            # log(1 + exp(eta)) - y * eta, written stably
            value = np.logaddexp(0.0, eta) - y * eta
            p = expit(eta)
            diff = theta[1:] - prior
            grad = np.concatenate([[np.sum(p - y)], Z.T @ (p - y)])
            grad[1:] += 2 * strength * diff
            return value.sum() + strength * diff @ diff, grad

        # The intercept starts where the prior's scores meet the base rate.
        start[0] = logit(rate) - float(np.mean(Z @ prior))
        bounds = [(None, None)] + [(0.0, None)] * Z.shape[1]
        result = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds)
        return result.x

    def _calibrate(self, s: np.ndarray, y: np.ndarray) -> None:
        n_pos = int(y.sum())
        method = self.method
        if method == "auto":
            method = "isotonic" if n_pos >= self.isotonic_min_positives else "platt"
        if method == "isotonic":
            self.calibrator_ = fit_isotonic(s, y)
        else:
            a, b = self._platt(s, y)
            self.calibrator_ = {"slope": a, "intercept": b}
        self.calibration_ = method

    @staticmethod
    def _platt(s: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        # Platt's targets keep one positive or negative from pinning the fit to 0 or 1.
        n_pos, n_neg = y.sum(), len(y) - y.sum()
        t = np.where(y > 0, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))

        def loss(theta):
            eta = theta[0] * s + theta[1]
            p = expit(eta)
            value = np.logaddexp(0.0, eta) - t * eta
            return value.sum(), np.array([np.sum((p - t) * s), np.sum(p - t)])

        result = minimize(loss, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
        return float(result.x[0]), float(result.x[1])

    # -- prediction ---------------------------------------------------------------
    def _log_odds(self, X: pd.DataFrame) -> np.ndarray:
        return np.column_stack(
            [_logit(m.predict_proba(X)[:, 1]) for m in self.components_.values()]
        )

    def _stacked(self, X: pd.DataFrame) -> np.ndarray:
        Z = self._log_odds(X)
        w = np.array([self.weights_[n] for n in self.components_])
        return self.weights_["intercept"] + Z @ w

    def component_scores(self, X: pd.DataFrame) -> pd.DataFrame:
        """Each fitted component's probability, shape (n_rows, n_components)."""
        check_is_fitted(self, "components_")
        return pd.DataFrame(
            {n: m.predict_proba(X)[:, 1] for n, m in self.components_.items()}, index=X.index
        )

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Shape (n_rows, 2): calibrated probabilities of no escalation and of one."""
        check_is_fitted(self, "components_")
        if self.mode_ == "fallback":
            return self.components_["best_baseline"].predict_proba(X)
        s = self._stacked(X)
        if self.calibration_ == "isotonic":
            p = self.calibrator_.predict(s)
        else:
            p = expit(self.calibrator_["slope"] * s + self.calibrator_["intercept"])
        return np.column_stack([1 - p, p])
