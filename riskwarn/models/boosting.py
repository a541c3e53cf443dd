"""LightGBM models: a classifier per horizon and a Poisson regressor for counts.

Deterministic by construction (``deterministic=True``, ``force_row_wise=True``,
fixed seeds, at most two threads). Early stopping watches the last
``validation_periods`` as-of dates of the training rows, after a gap of ``gap``
dates so that no validation label window overlaps a training one; the model is
then refitted on every row with the number of rounds found.

Class imbalance: above ``max_rows`` training rows the rare positives are kept and
negatives are down-sampled (positives too, when they alone would fill more than
half of ``max_rows``); kept rows are weighted by the inverse of their sampling
rate, so the weighted likelihood (and hence the probability scale) is the same as
on the full data. ``is_unbalance`` or
``scale_pos_weight`` would inflate every probability, so they are not used.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from riskwarn.errors import RiskwarnError
from riskwarn.models.counts import fit_dispersion
from riskwarn.models.frames import (
    check_counts,
    check_labels,
    check_weights,
    downsample_weights,
    feature_columns,
    select_rows,
)
from riskwarn.models.roles import resolve


def capacity(n_positive: int) -> tuple[int, float]:
    """Leaves per tree and learning rate for a training set with ``n_positive`` escalations.

    What a few hundred escalations (a district's five years) can support is far
    less than what a city's tens of thousands can: small data gets smaller trees
    and slower learning, so that early stopping on a noisy validation window stops
    near a smooth model instead of far past it. Up to 1,000 escalations 4 leaves and
    a rate of 0.03; from 2,000 on, 7 leaves; in between, the leaves move with the
    log of the escalations and so does the rate, from 0.03 up to 0.05 (reached at
    about 1,350 escalations). Below 2,000 each round bags 70 % of the rows.

    The rate stays at 0.05 up to 10,000 escalations and rises log-linearly to 0.1
    at 40,000. A 2,000-grid city (a few thousand escalations) ranked better at 0.05
    than at 0.1 and varied less with the seed (AP 0.811 and 0.812 of the truth's
    with two seeds, against 0.792 and 0.807; as well on a second city). A
    20,000-grid city's fits (tens of thousands of escalations in a sample of at
    most ``max_rows`` rows) vary less from one fit to the next, and there 0.1 takes
    half the rounds: at 0.05 the fits of its backtest (``benchmarks/backtest.py``)
    took 26 min, more than the whole backtest's 20-minute budget.
    """
    n = max(int(n_positive), 1)
    t = float(np.clip(np.log2(n / 1000), 0.0, 1.0))
    rate = min(0.03 * (0.1 / 0.03) ** t, 0.05)
    # From 10,000 to 40,000 escalations: 0.05 to 0.1, with the log of the escalations.
    rate *= 2.0 ** float(np.clip(np.log2(n / 10_000) / 2, 0.0, 1.0))
    return int(round(4 + 3 * t)), round(rate, 4)


# Half-life of the time-decay weights tried against none, as a share of the dates a
# fit trains on: the oldest quarter of the history then weighs 1/16 of the newest.
_AUTO_HALF_LIFE = 0.25


def _decay(age: np.ndarray, half_life: float) -> np.ndarray:
    """Weight 0.5 ** (age / half_life) of rows ``age`` dates before the latest."""
    return np.power(0.5, np.asarray(age, dtype=float) / float(half_life))


class _LightGBMModel(BaseEstimator):
    objective: str = ""

    def __init__(
        self,
        features: tuple[str, ...] | None = None,
        n_estimators: int = 1000,
        learning_rate: float | None = None,
        num_leaves: int | None = None,
        min_child_samples: int | None = None,
        feature_fraction_bynode: float = 0.3,
        lambda_l2: float = 1.0,
        early_stopping_rounds: int = 50,
        validation_periods: int = 13,
        gap: int = 1,
        fallback_rounds: int = 100,
        rounds: int | None = None,
        max_rows: int = 200_000,
        half_life: float | str | None = "auto",
        random_state: int = 0,
        num_threads: int = 2,
        target: str | None = None,
    ) -> None:
        self.features = features
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.feature_fraction_bynode = feature_fraction_bynode
        self.lambda_l2 = lambda_l2
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_periods = validation_periods
        self.gap = gap
        self.fallback_rounds = fallback_rounds
        self.rounds = rounds
        self.max_rows = max_rows
        self.half_life = half_life
        self.random_state = random_state
        self.num_threads = num_threads
        self.target = target

    # -- fitting -------------------------------------------------------------------
    def _params(self, n_rows: int, n_positive: int) -> dict:
        # Few, large leaves: escalations are rare and noisy, so small leaves overfit.
        min_child = self.min_child_samples
        if min_child is None:
            min_child = int(np.clip(n_rows // 400, 20, 500))
        if not 1 <= int(self.num_threads) <= 2:
            raise RiskwarnError("num_threads must be 1 or 2 on this platform (never -1).")
        leaves, rate = capacity(n_positive)
        small = {}
        if n_positive < 2000:
            # Each round sees 70 % of the rows: on small data an average over many
            # half-independent trees varies less from one sample to the next.
            small = {
                "bagging_fraction": 0.7,
                "bagging_freq": 1,
                "bagging_seed": int(self.random_state),
            }
        return {
            **small,
            "objective": self.objective,
            "learning_rate": float(rate if self.learning_rate is None else self.learning_rate),
            "num_leaves": int(leaves if self.num_leaves is None else self.num_leaves),
            "min_data_in_leaf": int(min_child),
            # Features are sampled per node, not per tree: with row-wise histograms a
            # per-tree sample makes LightGBM copy the binned rows' columns every round,
            # which doubled the time of a fit at city scale.
            "feature_fraction_bynode": float(self.feature_fraction_bynode),
            "feature_fraction_seed": int(self.random_state),
            "lambda_l2": float(self.lambda_l2),
            "seed": int(self.random_state),
            "deterministic": True,
            "force_row_wise": True,
            # Always the same thread count, whatever the rows: LightGBM keeps it in
            # process-wide state, and two fits running at once in threads (the
            # backtest's n_jobs) with different counts crash it (a segfault, reproduced
            # with one thread training on 1 thread while another predicts on 2).
            "num_threads": int(self.num_threads),
            "verbosity": -1,
        }

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise RiskwarnError(
                f"{type(self).__name__} was fitted on features the frame lacks: {missing[:5]}"
                f"{' …' if len(missing) > 5 else ''}."
            )
        return X[list(self.feature_names_in_)].to_numpy(dtype=np.float32, na_value=np.nan)

    def _fit(self, X: pd.DataFrame, target: np.ndarray, sample_weight=None):
        if "as_of" not in X.columns:
            raise RiskwarnError("X needs the as_of column: early stopping uses the latest dates.")
        if self.features is not None:
            names = list(self.features)
        else:
            # The city's level is the same for every grid of a date, and a steady
            # history shows it little variation: a tree cannot carry a level it never
            # saw into the forecast. The ensemble adds it to the pooled log-odds.
            level = set(resolve("city_level", X.columns))
            names = [c for c in feature_columns(X) if c not in level]
        if not names:
            raise RiskwarnError(f"{type(self).__name__}: X has no feature columns.")
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        weight = downsample_weights(target, self.max_rows, self.random_state)
        if sample_weight is not None:
            # Rows that were themselves sampled (a province's training sample) keep
            # their inverse rates: the two corrections multiply.
            weight = weight * check_weights(sample_weight, len(X))
        kept = weight > 0
        # Only the kept rows become a float32 matrix: at city scale the full
        # training frame would double the memory for rows that are dropped anyway.
        rows = np.flatnonzero(kept)
        matrix = self._matrix(X.iloc[rows])
        target, weight = target[rows], weight[rows]
        dates = pd.DatetimeIndex(X["as_of"].iloc[rows])
        unique = pd.DatetimeIndex(X["as_of"]).unique().sort_values()
        n_val, gap = int(self.validation_periods), int(self.gap)
        params = self._params(len(rows), int((target > 0).sum()))
        self.params_ = {k: params[k] for k in ("learning_rate", "num_leaves", "min_data_in_leaf")}
        self.early_stopped_ = False
        rounds = int(self.fallback_rounds if self.rounds is None else self.rounds)
        # One binned dataset for every training run: the early-stopping split and
        # its validation window are subsets of it (binning once instead of three
        # times; the bins are the refit's, so the rounds found carry over exactly).
        full = lgb.Dataset(matrix, target, weight=weight, params={"verbosity": -1}).construct()
        code = np.searchsorted(unique, dates)
        half_life = self._check_half_life()
        self.half_life_ = None if half_life == "auto" else half_life
        if self.rounds is None and n_val > 0 and len(unique) >= n_val + gap + n_val:
            val_start = unique[len(unique) - n_val]
            train_end = len(unique) - n_val - gap - 1
            val = np.flatnonzero(np.asarray(dates >= val_start))
            train = np.flatnonzero(code <= train_end)
            if (target[val] > 0).any() and (target[train] > 0).any():
                candidates = [half_life]
                if half_life == "auto":
                    candidates = [None, max(1.0, _AUTO_HALF_LIFE * (train_end + 1))]
                boosters = []
                for h in candidates:
                    train_set = full.subset(train).construct()
                    if h is not None:
                        train_set.set_weight(weight[train] * _decay(train_end - code[train], h))
                    boosters.append(
                        lgb.train(
                            params,
                            train_set,
                            num_boost_round=int(self.n_estimators),
                            valid_sets=[full.subset(val)],
                            callbacks=[
                                lgb.early_stopping(int(self.early_stopping_rounds), verbose=False)
                            ],
                        )
                    )
                pick = 0
                if len(boosters) == 2:
                    pick = int(
                        self._recent_is_better(
                            boosters, matrix[val], target[val], weight[val], code[val]
                        )
                    )
                self.half_life_ = candidates[pick]
                rounds = max(int(boosters[pick].best_iteration), 1)
                self.early_stopped_ = True
        self.best_iteration_ = rounds
        if self.half_life_ is not None:
            full.set_weight(weight * _decay(len(unique) - 1 - code, self.half_life_))
        self.booster_ = lgb.train(params, full, num_boost_round=rounds)
        self.n_rows_trained_ = len(rows)
        return self

    def _check_half_life(self) -> float | str | None:
        h = self.half_life
        if h is None or h == "auto":
            return h
        if isinstance(h, str) or not float(h) > 0:
            raise RiskwarnError(
                f"half_life must be a number of periods > 0, 'auto' or None, got {h!r}."
            )
        return float(h)

    def _recent_is_better(self, boosters, matrix, target, weight, code) -> bool:
        """True when the time-decayed fit beats the plain one on the validation dates.

        Per validation date, the weighted mean loss of the plain fit minus the
        decayed one's; the decay is taken when their mean exceeds its standard error
        over the dates, inflated by the square root of the gap (a label window of
        ``gap`` periods makes neighbouring dates' losses move together). A tie keeps
        every period's weight: a choice on noise would change from refit to refit.
        """
        losses = [
            self._row_loss(
                b.predict(
                    matrix, num_iteration=b.best_iteration, num_threads=int(self.num_threads)
                ),
                target,
            )
            for b in boosters
        ]
        diff = pd.Series((losses[0] - losses[1]) * weight).groupby(code).sum()
        diff = diff / pd.Series(weight).groupby(code).sum()
        if len(diff) < 2:
            return False
        se = float(diff.std(ddof=1)) / np.sqrt(len(diff)) * np.sqrt(max(int(self.gap), 1))
        return bool(diff.mean() > se)

    # -- prediction ---------------------------------------------------------------
    def _raw(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "booster_")
        return self.booster_.predict(self._matrix(X), num_threads=int(self.num_threads))

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-feature contributions (SHAP values on the raw score), shape (n_rows, n_features + 1).

        The last column, ``bias``, is the expected raw score; a row's values sum to its
        raw score (log-odds for the classifier, log expected count for the regressor).
        """
        check_is_fitted(self, "booster_")
        contrib = self.booster_.predict(
            self._matrix(X), pred_contrib=True, num_threads=int(self.num_threads)
        )
        return pd.DataFrame(contrib, index=X.index, columns=[*self.feature_names_in_, "bias"])

    def feature_importance(self) -> pd.Series:
        """Total gain per feature, descending."""
        check_is_fitted(self, "booster_")
        gain = self.booster_.feature_importance(importance_type="gain")
        return pd.Series(gain, index=self.feature_names_in_, name="gain").sort_values(
            ascending=False
        )


class LightGBMEscalation(_LightGBMModel):
    """LightGBM classifier for one horizon: P(at least one escalation in the window).

    Fit one per horizon (direct multi-step forecasting).

    Parameters
    ----------
    features : tuple of str or None
        Input columns; None takes every numeric column except keys, labels and the
        city's level (``city_all_n_trend_*``, which the ensemble adds to its log-odds).
    n_estimators, learning_rate, num_leaves, min_child_samples, feature_fraction_bynode, lambda_l2
        LightGBM settings (``n_estimators`` is the cap on boosting rounds;
        ``min_child_samples=None`` scales the leaf size with the rows: n/400 in [20, 500];
        ``learning_rate`` and ``num_leaves`` None scale with the escalations, see
        :func:`capacity`).
    early_stopping_rounds, validation_periods, gap
        Early stopping on the last ``validation_periods`` dates, ``gap`` (= the horizon)
        dates after the rows it trains on.
    fallback_rounds : int
        Rounds used when the data is too short for a validation window.
    rounds : int or None
        A fixed number of rounds, without early stopping (for a twin model that
        reuses the rounds another one found).
    max_rows : int
        Above this, rows are down-sampled with weight correction (see ``downsample_weights``).
    half_life : float, "auto" or None
        Time-decay sample weights: a row ``a`` dates before the latest weighs
        ``0.5 ** (a / half_life)``, so a change of level is learnt sooner and the
        probabilities follow the recent rate. ``"auto"`` decides out of time: on the
        early-stopping window, a fit with a half-life of a quarter of its dates
        against one without, the decay kept only where it wins by more than its
        standard error over the validation dates. None: every row weighs the same.
    random_state, num_threads : int
    target : str or None
        A label column of ``X`` to learn instead of ``y``: ``"label_h1"``, the next
        period's escalation, makes the ensemble's second learner at longer horizons
        (:func:`riskwarn.models.catalogue.make_model`). None learns ``y``.

    Attributes
    ----------
    booster_ : lightgbm.Booster
    params_ : dict
        The learning rate, leaves and leaf size used.
    best_iteration_ : int
    early_stopped_ : bool
    half_life_ : float or None
        The half-life used, in dates (None: no decay).
    feature_names_in_ : ndarray of str
    """

    objective = "binary"

    @staticmethod
    def _row_loss(p: np.ndarray, y: np.ndarray) -> np.ndarray:
        p = np.clip(p, 1e-12, 1 - 1e-12)
        return -(y * np.log(p) + (1 - y) * np.log1p(-p))

    def fit(self, X: pd.DataFrame, y, sample_weight=None) -> LightGBMEscalation:
        """Fit on ``X`` (feature frame) and 0/1 ``y``; ``sample_weight`` (n_rows,) >= 0.

        With ``target`` set, the labels are ``X[target]`` instead of ``y`` (rows where
        it is missing are left out).
        """
        y = check_labels(y, len(X))
        if self.target is not None:
            if self.target not in X.columns:
                raise RiskwarnError(
                    f"LightGBMEscalation learns the label column {self.target!r}, which X "
                    "lacks: fit it on the feature frame with its label columns."
                )
            known = X[self.target].notna().to_numpy()
            X = select_rows(X, known)
            sample_weight = None if sample_weight is None else np.asarray(sample_weight)[known]
            y = check_labels(X[self.target].to_numpy(dtype=float), len(X))
        return self._fit(X, y, sample_weight)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Shape (n_rows, 2): probabilities of no escalation and of an escalation."""
        p = self._raw(X)
        return np.column_stack([1 - p, p])


class LightGBMCount(_LightGBMModel):
    """LightGBM Poisson regressor for the expected number of escalations in the window.

    Same parameters as :class:`LightGBMEscalation`; ``fit`` takes the counts. Its
    ``predict_proba`` is the Poisson probability of at least one event,
    ``1 - exp(-expected)``.

    Attributes
    ----------
    dispersion_ : float
        The negative-binomial dispersion ``alpha`` of the counts of the training rows
        with at least one event, given their fitted rates
        (:func:`riskwarn.models.counts.fit_dispersion`; 0 is the Poisson): the shape
        of the count distribution's tail (:mod:`riskwarn.models.counts`).
    """

    objective = "poisson"

    @staticmethod
    def _row_loss(mu: np.ndarray, y: np.ndarray) -> np.ndarray:
        mu = np.maximum(mu, 1e-12)
        return mu - y * np.log(mu)

    def fit(self, X: pd.DataFrame, y, count=None, sample_weight=None) -> LightGBMCount:
        y = check_labels(y, len(X))
        if self.target is not None:
            raise RiskwarnError("LightGBMCount learns the counts given; it takes no target.")
        if count is None:
            raise RiskwarnError("LightGBMCount needs the event counts: fit(X, y, count=...).")
        count = check_counts(count, y)
        self._fit(X, count, sample_weight)
        # In-sample rates: slightly too close to the counts, so the tail is if
        # anything too light; the conformal intervals correct their coverage.
        rows = np.flatnonzero(count >= 1)
        rate = self._raw(X.iloc[rows]) if len(rows) else np.zeros(0)
        self.dispersion_ = fit_dispersion(count[rows], rate, seed=int(self.random_state))
        return self

    def predict_expected(self, X: pd.DataFrame) -> np.ndarray:
        """Expected escalations in the window, shape (n_rows,)."""
        return self._raw(X)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Shape (n_rows, 2), from the Poisson probability of no event."""
        p = -np.expm1(-self._raw(X))
        return np.column_stack([1 - p, p])
