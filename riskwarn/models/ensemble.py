"""The calibrated ensemble: stacked out of time, shrunk towards a robust prior, calibrated.

Time layout of the training rows (as-of dates ascending), for ``K`` blocks::

    | components fit ............ | gap | block 1 |
    | components fit ......................... | gap | block 2 |
    | components fit ...................................... | gap | block 3 |

For each validation block the components (LightGBM, the graph models) and the
baselines are fitted on the rows whose label window closed before the block
(``horizon`` dates of gap), and score the block: out-of-time predictions made the
way the fitted ensemble will be used. Blocks are added, latest first, until they
hold ``target_positives`` escalations or ``n_blocks`` are used, so big data needs
one block and small data pools the evidence of several.

On the pooled out-of-time scores:

1. non-negative stacking weights on the log-odds of every component and baseline
   are fitted by penalised logistic regression, pulled towards a prior of equal
   weights on the robust ones (the learner, and the models of recent activity: the
   hotspots and its diffusion over the graph, which follow a change of level
   within a few periods) with a fixed strength per horizon period: a label
   window of ``h`` periods counts each escalation in up to ``h`` overlapping
   rows, so the log loss overstates the evidence by about that much. The static
   long-run rates are stacked but not in the prior (on blocks before a change of
   level they look better than they will be after it), unless the best of them
   ranks better on the blocks than every robust model, as on a short history;
2. the final weights mix the stack and the prior by the evidence: a share
   ``n / (n + prior_positives)`` for the stack, ``n`` the blocks' escalations over
   the horizon. With a city's thousands of escalations the stack decides; with a
   district's hundreds the equal-weight combination of a learner and the
   baselines that follow the recent level keeps most of the say. A combination of
   forecasts that err differently is more robust than any one of them, and far
   more robust than one chosen on a few noisy blocks: choosing the mix by held-out
   AP over the blocks was tried and lost to this fixed rule on every small shape;
3. the weights are normalised to sum to one, and the probability is the weighted
   average of the refitted components' log-odds (a logarithmic opinion pool):
   each component is calibrated on every training row (LightGBM by its log loss,
   the baselines by construction), so the pool is on their scale; one intercept,
   set on those rows, gives it their rate (an average of log-odds that disagree
   sits below it). A
   recalibration on the blocks (``method``: Platt, isotonic) or a shift to the
   latest block's rate (``recent_level``) is available, but on small data their
   intercepts move with the blocks' noise from one refit to the next: over a
   test year that cost more average precision than it gained in calibration, on
   every small shape measured (``benchmarks/backtest_quality.py``), and at city
   scale they change little;
4. what the components cannot see is the level of the whole city: a grid's own
   recent count is mostly chance, the city's is not. Half the log change of the
   city's events (recent window against the long one, a feature of every row) is
   added to every grid's log-odds, continuously from one date to the next, where a
   level reset at each refit would jump.

Finally the components are refitted on every training row (as scikit-learn's
``CalibratedClassifierCV(ensemble=False)`` does), so the latest periods inform the
ranking; components without weight are dropped. With too little data for a
single block, the ensemble is the first baseline (the shrunk long-run rate)
fitted on everything.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import brentq, minimize
from scipy.special import expit, logit
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import average_precision_score
from sklearn.utils.validation import check_is_fitted

from riskwarn.errors import RiskwarnError
from riskwarn.models.calibration import fit_isotonic
from riskwarn.models.frames import (
    check_counts,
    check_labels,
    column_values,
    fit_model,
    select_rows,
)
from riskwarn.models.roles import resolve

_CLIP = 1e-6
#: The LightGBM of the next period's escalation the catalogue stacks from horizon 2
#: on; it shares the learner's place in the default prior.
NEXT_PERIOD = "lightgbm_next"


def _logit(p: np.ndarray) -> np.ndarray:
    return logit(np.clip(p, _CLIP, 1 - _CLIP))


def _ap(y: np.ndarray, score: np.ndarray) -> float:
    """Average precision; 0 where there is no escalation to find."""
    return float(average_precision_score(y, score)) if y.sum() > 0 else 0.0


def _same_model(model, other):
    """``other`` if it is a fitted model of ``model``'s class and parameters, else None."""
    if other is None or type(other) is not type(model):
        return None
    try:
        same = model.get_params(deep=False) == other.get_params(deep=False)
    except (TypeError, ValueError):  # parameters that do not compare (arrays)
        return None
    return other if same is True else None


class CalibratedEnsemble(BaseEstimator):
    """Stacked, calibrated combination of components and baselines.

    Parameters
    ----------
    components : dict of str to estimator
        Unfitted models with ``fit`` and ``predict_proba``, stacked as given.
    baselines : dict of str to estimator
        The baselines, stacked beside the components (the first is the fallback).
    robust : tuple of str or of tuples of str
        Components and baselines the small-data prior trusts, with equal weight
        (those present), joined by the baseline with the best out-of-time AP when
        it ranks better than each of them on the blocks. A tuple is one slot whose
        members share its weight: the learner of the label horizon and the one of
        the next period (``lightgbm_next``, from horizon 2 on), which together weigh
        as much as one hotspot, so that a short history, where learners are weakest,
        does not lean on them more than before.
        GraphDiffusion joined LightGBM and the hotspots: on the 25 small cities of
        ``benchmarks/backtest_quality.py`` it raised the mean AP over the best
        baseline on every shape with a graph, at horizons 1 and 4, and changed
        nothing where there is no graph (it does not run there).
    horizon : int
        Label horizon in periods: the gap between a block and the rows fitted for it.
    window_periods : int or None
        Dates in each validation block; None takes an eighth of the dates,
        between 1 and 13.
    n_blocks : int
        Most validation blocks.
    target_positives : int
        Escalations the blocks should hold together: blocks are added until they do
        (or ``n_blocks`` are used).
    prior_strength : float
        Pull of the stacking weights towards the prior, in units of the summed log
        loss (a fixed amount, so it dominates small blocks and fades in large ones).
    min_positives : int
        Escalations needed in the blocks together (and in the rows fitted for each
        block) to use them at all; below it the ensemble is the first baseline.
    method : {"none", "auto", "platt", "isotonic"}
        Recalibration of the pool on the blocks' out-of-time scores; ``"none"``
        keeps the pool of calibrated components, ``"auto"`` is isotonic from
        ``isotonic_min_positives`` escalations in the blocks, Platt below.
    isotonic_min_positives : int
    prior_positives : float
        Escalations (over the horizon) at which the stack and the prior share the
        final weights equally.
    recent_level : bool
        Shift the probabilities on the log-odds scale so that their mean over the
        latest block is that block's rate.
    level_rows : int
        Most training rows (a systematic sample) on which the pool's intercept is
        set to the training rate, when there is no recalibration.
    level_weight : float
        Share of the city's change of level added to every grid's log-odds: the
        feature ``city_all_n_trend_{short}_{long}`` (log of the city's events per
        period over the short window against the long one) times this weight, where
        the frame has it. The components follow a change of level only in part (the
        hotspots within their windows, the long-run rates and the trees' levels not
        at all), so after a doubling or halving of activity the pool stayed near the
        old level for months. Half the city's log change, measured on the shapes of
        ``benchmarks/backtest_quality.py``: after a doubling every seed's mean score
        came within 20 % of the realised rate one period ahead (0.84-1.12, from
        0.72-0.98); after a halving 0.83-1.66 (from 0.90-1.94); the steady shapes'
        mean AP moved by less than 0.003. 0 leaves it out.
    refit : bool
        Refit the components on every training row once the weights and the
        calibrator are fitted (on out-of-time scores). False keeps the components
        fitted for the latest block.
    other_label_below : float
        A component that learns another label column of ``X`` (the next period's
        escalation) is stacked only while the training rows hold fewer escalations
        than this, counted per label window (escalations / horizon). Above it the
        learner of the label's own window has data enough (on a 2,000-grid city,
        a few thousand windows, the next period's LightGBM still ranked the
        four-week windows better, by 0.002 AP), and on a 20,000-grid city the
        extra fits per block took the backtest from 18.5 to 25 minutes.

    Attributes
    ----------
    mode_ : {"stacked", "fallback"}
    components_ : dict of str to fitted estimator
        The components and baselines with a weight above 0.
    best_baseline_ : str
        The baseline with the best out-of-time AP (the fallback's, in fallback mode).
    baseline_scores_ : dict of str to float
        Out-of-time average precision of each baseline over the blocks.
    component_scores_ : dict of str to float
        The same for each component (and the best baseline).
    weights_ : dict of str to float
        Weights (summing to one) on the components' log-odds, plus ``"intercept"``:
        without recalibration, the shift that gives the pool the training rate.
    prior_ : dict of str to float
    blend_ : float
        Share of the fitted stack in ``weights_`` (1: the stack, 0: the prior).
    calibration_ : {"none", "platt", "isotonic"}
    calibrator_ : fitted calibrator or None
    level_shift_ : float
        Log-odds added after calibration to meet the latest block's rate.
    level_column_ : str or None
        The city's level column added to the log-odds (None: the frame had none, or
        ``level_weight`` is 0, or fallback mode).
    windows_ : dict
        First and last as-of date of each block and of the rows fitted for it.
    skipped_ : dict of str to str
        Components left out, with the reason: one that learns a label column ``X``
        lacks (such as ``label_h1``), or that ``other_label_below`` leaves out.
    """

    def __init__(
        self,
        components: dict | None = None,
        baselines: dict | None = None,
        robust: tuple[str | tuple[str, ...], ...] = (
            ("lightgbm", NEXT_PERIOD),
            "hotspot",
            "graph_hotspot",
            "graph_diffusion",
        ),
        horizon: int = 1,
        window_periods: int | None = None,
        n_blocks: int = 3,
        target_positives: int = 1000,
        prior_strength: float = 5.0,
        min_positives: int = 10,
        method: str = "none",
        isotonic_min_positives: int = 1000,
        prior_positives: float = 100.0,
        recent_level: bool = False,
        level_rows: int = 200_000,
        level_weight: float = 0.5,
        refit: bool = True,
        other_label_below: float = 10_000,
    ) -> None:
        self.components = components
        self.baselines = baselines
        self.robust = robust
        self.horizon = horizon
        self.window_periods = window_periods
        self.n_blocks = n_blocks
        self.target_positives = target_positives
        self.prior_strength = prior_strength
        self.min_positives = min_positives
        self.method = method
        self.isotonic_min_positives = isotonic_min_positives
        self.prior_positives = prior_positives
        self.recent_level = recent_level
        self.level_rows = level_rows
        self.level_weight = level_weight
        self.refit = refit
        self.other_label_below = other_label_below

    # -- fitting -------------------------------------------------------------------
    def _check(self) -> tuple[dict, dict]:
        components = dict(self.components or {})
        baselines = dict(self.baselines or {})
        if not baselines:
            raise RiskwarnError("CalibratedEnsemble needs at least one baseline to fall back on.")
        if set(components) & set(baselines):
            raise RiskwarnError(
                f"{sorted(set(components) & set(baselines))} named both as a component and "
                "as a baseline: give each model one name."
            )
        if self.method not in ("none", "auto", "platt", "isotonic"):
            raise RiskwarnError(
                f"method must be none, auto, platt or isotonic, got {self.method!r}."
            )
        for name in ("horizon", "n_blocks"):
            if int(getattr(self, name)) < 1:
                raise RiskwarnError(f"{name} must be >= 1, got {getattr(self, name)!r}.")
        if not float(self.prior_positives) >= 0:
            raise RiskwarnError(f"prior_positives must be >= 0, got {self.prior_positives!r}.")
        return components, baselines

    def _blocks(self, code: np.ndarray, n: int, y: np.ndarray) -> list[tuple[int, int, int]]:
        """Validation blocks, latest first: (last fitted date, first, last block date)."""
        window = self.window_periods or int(np.clip(n // 8, 1, 13))
        gap = int(self.horizon)
        min_fit = max(window, 2 * gap)
        blocks, pooled = [], 0
        for k in range(int(self.n_blocks)):
            first, last = n - (k + 1) * window, n - k * window - 1
            fit_last = first - gap
            if fit_last + 1 < min_fit:
                break
            if y[code <= fit_last].sum() < self.min_positives:
                break
            blocks.append((fit_last, first, last))
            pooled += int(y[(code >= first) & (code <= last)].sum())
            if pooled >= self.target_positives:
                break
        if pooled < self.min_positives:
            return []
        return blocks

    def fit(self, X: pd.DataFrame, y, count=None, fitted: dict | None = None) -> CalibratedEnsemble:
        """Fit the blocks, the weights and the components on every row.

        Parameters
        ----------
        X : DataFrame, shape (n_rows, n_features)
            With ``as_of`` (the blocks are dates).
        y : array, shape (n_rows,)
            1 = an escalation within the horizon.
        count : array, shape (n_rows,) or None
            Events within the horizon, for the models that take counts.
        fitted : dict of str to fitted estimator, or None
            Models already fitted on exactly these ``X``, ``y`` and ``count`` (a
            backtest fits the same models beside the ensemble): a component or
            baseline with the same class and parameters is taken from here
            instead of being refitted on every row. The blocks are always fitted.
        """
        components, baselines = self._check()
        prefit = dict(fitted or {})
        y = check_labels(y, len(X))
        # A component that learns one of the frame's label columns (the next period's
        # escalation) needs it (a frame of features alone stacks the others), and is
        # worth its fits only while the label's own windows are few.
        windows = float(y.sum()) / int(self.horizon)
        self.skipped_ = {}
        for n, m in components.items():
            other = getattr(m, "target", None)
            if other is not None and other not in X.columns:
                self.skipped_[n] = f"X has no {other!r} column to learn"
            elif other is not None and windows >= float(self.other_label_below):
                self.skipped_[n] = (
                    f"{windows:,.0f} escalation windows: enough for the learner of the "
                    "label's own (other_label_below)"
                )
        components = {n: m for n, m in components.items() if n not in self.skipped_}
        if count is not None:
            count = check_counts(count, y)
        if "as_of" not in X.columns:
            raise RiskwarnError("X needs the as_of column: the ensemble's blocks are dates.")
        dates = pd.DatetimeIndex(X["as_of"])
        code, unique = pd.factorize(dates, sort=True)
        blocks = self._blocks(code, len(unique), y)
        if not blocks:
            return self._fit_fallback(X, y, count, baselines)
        self.mode_ = "stacked"
        level = resolve("city_level", X.columns)
        self.level_column_ = level[0] if level and self.level_weight else None
        models = {**components, **baselines}
        names = list(models)
        Z_parts, y_parts, group, level_parts = [], [], [], []
        self.windows_ = {}
        last_fitted = {}
        # Oldest block first, so the pooled rows run forward in time.
        for b, (fit_last, first, last) in enumerate(reversed(blocks)):
            fit_rows = code <= fit_last
            block_rows = (code >= first) & (code <= last)
            X_fit, X_block = select_rows(X, fit_rows), select_rows(X, block_rows)
            c_fit = count[fit_rows] if count is not None else None
            fitted = {
                name: fit_model(clone(m), X_fit, y[fit_rows], c_fit) for name, m in models.items()
            }
            Z_parts.append(
                np.column_stack([_logit(fitted[n].predict_proba(X_block)[:, 1]) for n in names])
            )
            y_parts.append(y[block_rows])
            level_parts.append(self._level(X_block))
            group.append(np.full(int(block_rows.sum()), b))
            self.windows_[f"block_{b + 1}"] = {
                "fit": (str(unique[0]), str(unique[fit_last])),
                "scored": (str(unique[first]), str(unique[last])),
            }
            last_fitted = fitted
        Z, y_val, group = np.concatenate(Z_parts), np.concatenate(y_parts), np.concatenate(group)
        self.component_scores_ = {n: _ap(y_val, Z[:, j]) for j, n in enumerate(names)}
        self.baseline_scores_ = {n: self.component_scores_[n] for n in baselines}
        self.best_baseline_ = max(sorted(baselines), key=self.baseline_scores_.get)
        prior = self._prior(names)
        self.prior_ = dict(zip(names, prior.tolist(), strict=True))
        coef = self._stack_weights(Z, y_val, prior)
        evidence = float(y_val.sum()) / int(self.horizon)
        self.blend_ = evidence / (evidence + float(self.prior_positives)) if evidence else 0.0
        weights = self.blend_ * coef[1:] + (1 - self.blend_) * prior
        # Weights under 1 % of the total change no rank that matters and would cost
        # a fit and every prediction.
        weights = np.where(weights >= 0.01 * weights.sum(), weights, 0.0)
        # Weights that sum to one: a weighted average of the components' log-odds,
        # each component calibrated on every training row.
        weights = weights / weights.sum()
        # Components without weight are not kept: they would cost every prediction.
        used = [n for n, w in zip(names, weights, strict=True) if w > 0]
        if self.refit:
            self.components_ = {
                n: _same_model(models[n], prefit.get(n)) or fit_model(clone(models[n]), X, y, count)
                for n in used
            }
        else:
            self.components_ = {n: last_fitted[n] for n in used}
        self.weights_ = {"intercept": 0.0, **{n: float(weights[names.index(n)]) for n in used}}
        # Without recalibration the pool's level comes from the rows the components
        # were fitted on, not from the blocks, whose noise moves it from refit to refit;
        # a recalibration or the latest block's level is fitted on top of it.
        if self.method == "none":
            self.weights_["intercept"] = self._pool_level(X, y)
        pooled = self.weights_["intercept"] + Z @ weights + np.concatenate(level_parts)
        self._calibrate(pooled, y_val, group == group.max())
        self.n_features_in_ = X.shape[1]
        return self

    def _pool_level(self, X: pd.DataFrame, y: np.ndarray) -> float:
        """The intercept that gives the pool the training rows' rate.

        Each component matches the training rate on its own, but an average of
        log-odds that disagree sits below it (the average of the log-odds is the
        log-odds of a geometric mean): the intercept restores the level on the same
        rows the components were fitted on, a systematic sample of at most
        ``level_rows`` of them, so it moves far less from one refit to the next than
        a level fitted on the blocks would. (Setting it on the latest 6 or 12 dates
        instead halved the calibration error on the small shapes of
        ``benchmarks/backtest_quality.py`` but cost AP at horizon 4 on every one of
        them: a level from few recent rows follows their noise from refit to refit.)
        """
        step = max(1, int(np.ceil(len(X) / int(self.level_rows))))
        rows = np.zeros(len(X), dtype=bool)
        rows[::step] = True
        return self._level_shift(expit(self._pooled(select_rows(X, rows))), y[rows])

    def _prior(self, names: list[str]) -> np.ndarray:
        """Equal weights on the robust models present, and on the best baseline when
        its out-of-time AP beats every one of them (or none is present).

        A short history can leave the learner and the hotspots' few-period windows
        noisier than a grid's long-run rate: on 80 grids with 52 weeks and two tables
        the prior of LightGBM and the hotspot alone put the ensemble 0.05 AP below
        the historical rate; with the rate in the prior when the blocks say so, 0.012
        above it. Where the robust models rank better on the blocks nothing
        changes (on the 60-month shapes of ``benchmarks/backtest_quality.py`` it
        applied in a few fits and moved no mean AP by more than 0.002).
        """
        # a name's share of its slot: a slot of several names (the learner of the
        # horizon and of the next period) weighs as one robust model
        share = {}
        for slot in self.robust:
            group = [n for n in ((slot,) if isinstance(slot, str) else slot) if n in names]
            share.update({n: 1.0 / len(group) for n in group})
        members = [n for n in names if n in share]
        best = self.best_baseline_
        top = max((self.component_scores_[n] for n in members), default=-np.inf)
        if best not in members and self.component_scores_[best] > top:
            share[best] = 1.0
        w = np.array([share.get(n, 0.0) for n in names])
        return w / w.sum()

    def _fit_fallback(self, X, y, count, baselines) -> CalibratedEnsemble:
        self.mode_ = "fallback"
        self.windows_ = {"fit": (str(X["as_of"].min()), str(X["as_of"].max()))}
        # Without blocks to compare on, trust the first baseline: the shrunk long-run
        # rate needs the least data.
        name = next(iter(baselines))
        self.best_baseline_ = name
        self.baseline_scores_ = {}
        self.component_scores_ = {}
        self.components_ = {name: fit_model(clone(baselines[name]), X, y, count)}
        self.prior_ = {name: 1.0}
        self.weights_ = {"intercept": 0.0, name: 1.0}
        self.blend_ = 0.0
        self.calibration_ = "none"
        self.calibrator_ = None
        self.level_shift_ = 0.0
        self.level_column_ = None
        self.n_features_in_ = X.shape[1]
        return self

    def _stack_weights(self, Z: np.ndarray, y: np.ndarray, prior: np.ndarray) -> np.ndarray:
        strength = float(self.prior_strength) * int(self.horizon)
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

    def _calibrate(self, s: np.ndarray, y: np.ndarray, latest: np.ndarray) -> None:
        n_pos = int(y.sum())
        method = self.method
        if method == "auto":
            method = "isotonic" if n_pos >= self.isotonic_min_positives else "platt"
        if method == "none":
            self.calibrator_ = None
        elif method == "isotonic":
            self.calibrator_ = fit_isotonic(s, y)
        else:
            a, b = self._platt(s, y)
            self.calibrator_ = {"slope": a, "intercept": b}
        self.calibration_ = method
        self.level_shift_ = 0.0
        if self.recent_level:
            self.level_shift_ = self._level_shift(self._calibrated(s[latest]), y[latest])

    @staticmethod
    def _level_shift(p: np.ndarray, y: np.ndarray) -> float:
        """Log-odds shift that makes the mean of ``p`` the rate of ``y``.

        The rate is taken as (escalations + 0.5) / (rows + 1), so a block without
        an escalation lowers the level without sending it to zero.
        """
        target = (float(y.sum()) + 0.5) / (len(y) + 1.0)
        z = _logit(p)

        def gap(c: float) -> float:
            return float(np.mean(expit(z + c))) - target

        lo, hi = -20.0, 20.0
        if gap(lo) > 0 or gap(hi) < 0:
            return 0.0
        return float(brentq(gap, lo, hi, xtol=1e-6))

    def _calibrated(self, s: np.ndarray) -> np.ndarray:
        if self.calibration_ == "none":
            return expit(s)
        if self.calibration_ == "isotonic":
            return np.asarray(self.calibrator_.predict(s), dtype=float)
        return expit(self.calibrator_["slope"] * s + self.calibrator_["intercept"])

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
    def _pooled(self, X: pd.DataFrame) -> np.ndarray:
        """The weighted sum of the components' log-odds, shape (n_rows,).

        Added up component by component, each row on its own: a matrix product's
        summation order (and so its last bits) depends on how many rows it is given,
        and a grid must score the same alone as in its whole city.
        """
        z = np.zeros(len(X))
        for name, model in self.components_.items():
            z += self.weights_[name] * _logit(model.predict_proba(X)[:, 1])
        return z + self._level(X)

    def _level(self, X: pd.DataFrame) -> np.ndarray:
        """The city's level term of each row's log-odds, shape (n_rows,): its recent
        events against its long run, times ``level_weight`` (0 without the column)."""
        column = getattr(self, "level_column_", None)  # None in bundles written before it
        if column is None:
            return np.zeros(len(X))
        level = column_values(X, [column], "CalibratedEnsemble", allow_missing=True)[:, 0]
        return float(self.level_weight) * np.nan_to_num(level, nan=0.0)

    def _stacked(self, X: pd.DataFrame) -> np.ndarray:
        return self.weights_["intercept"] + self._pooled(X)

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
            return self.components_[self.best_baseline_].predict_proba(X)
        p = self._calibrated(self._stacked(X))
        if self.level_shift_:
            p = expit(_logit(p) + self.level_shift_)
        return np.column_stack([1 - p, p])
