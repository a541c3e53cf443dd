"""The scorer a watchlist comes from: probability, expected events and reasons.

:class:`EscalationScorer` bundles the trained model (the calibrated ensemble by
default), the LightGBM Poisson twin for the expected number of escalations, and
the reasons for each grid's score. Reasons are additive contributions on the
log-odds scale of the ensemble's stacked score:

- each LightGBM feature: the ensemble's weight on LightGBM times the feature's
  ``pred_contrib`` value (SHAP on LightGBM's log-odds);
- the Hawkes parts (own recent escalations, neighbours', precursors): the
  ensemble's weight on the Hawkes model times the model's log-odds above its
  background-only log-odds, shared in proportion to each part's expected events.

Only positive contributions are reasons (what raises the risk); the largest come
first. Sources the ensemble gives no weight do not appear.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
from scipy.special import logit
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from riskwarn.errors import RiskwarnError
from riskwarn.features.streams import INTERVENTIONS
from riskwarn.models.baselines import PersistenceBaseline, _IsotonicScoreBaseline
from riskwarn.models.boosting import LightGBMEscalation
from riskwarn.models.catalogue import lightgbm_in, make_count_model, make_model
from riskwarn.models.counts import hurdle_expected
from riskwarn.models.ensemble import CalibratedEnsemble
from riskwarn.models.frames import KEY_COLUMNS, check_labels, feature_columns, fit_model
from riskwarn.models.hawkes import GraphHawkes
from riskwarn.models.horizons import curve_columns, monotone_in_horizon
from riskwarn.models.intervals import DEFAULT_QUANTILES, BandIntervals
from riskwarn.models.reasons import (
    CALENDAR_FEATURES,
    SEASON,
    context_sources,
    reason_context,
    showable,
)

_CLIP = 1e-6
HAWKES_PARTS = {
    "own": "hawkes_own",
    "neighbours": "hawkes_neighbours",
    "precursors": "hawkes_precursors",
}
"""Reason names of the GraphHawkes parts (they are not features of the frame)."""


def _logit(p: np.ndarray) -> np.ndarray:
    return logit(np.clip(np.asarray(p, dtype=float), _CLIP, 1 - _CLIP))


#: The intervention feature that the watchlist reports as ``periods_since_intervention``.
SINCE_INTERVENTION = f"{INTERVENTIONS}_periods_since_last"
TREATED_COLUMN = "periods_since_intervention"


def intervention_columns(columns) -> list[str]:
    """The intervention features among ``columns`` (``itv_n_*``)."""
    return [str(c) for c in columns if str(c).startswith(f"{INTERVENTIONS}_")]


def untreated(X: pd.DataFrame) -> pd.DataFrame:
    """``X`` as if nothing had been done: interventions counted 0, none yet since.

    Parameters
    ----------
    X : DataFrame, shape (n_rows, n_columns)

    Returns
    -------
    DataFrame, shape (n_rows, n_columns)
        A copy where the ``itv_n_w*`` counts are 0 and the periods since the last
        intervention missing ("none yet"); ``X`` itself when it has none of them.
    """
    columns = intervention_columns(X.columns)
    if not columns:
        return X
    out = X.copy()
    for c in columns:
        out[c] = np.nan if c == SINCE_INTERVENTION else 0
    return out


class EscalationScorer(BaseEstimator):
    """The trained model behind a watchlist.

    Parameters
    ----------
    graph : networkx.Graph or None
        The grid graph, for the graph models.
    horizon : int
        The label horizon the score is for (``label_h{horizon}``).
    model : str
        Catalogue name of the probability model (``"ensemble"`` by default).
    seed : int
    n_reasons : int
        Reasons per grid.
    quantiles : tuple of float
        Levels of the ``events_q{NN}`` columns (``[forecast] quantiles``).
    n_bands : int
        Risk bands of the interval calibration (``[forecast] bands``).

    Attributes
    ----------
    model_ : fitted estimator
        The probability model.
    counter_ : LightGBMCount
        The count model: the rate and dispersion of the count's shape, which with
        the score make one count distribution (:mod:`riskwarn.models.counts`).
    intervals_ : BandIntervals
        The interval calibration (on out-of-sample rows given to ``fit``, else the
        model's own quantiles).
    curve_ : dict of str to LightGBMEscalation
        A classifier per horizon ``h = 1..horizon`` (keyed ``str(h)``; empty without
        ``curve_labels``), whose shape the risk curve takes (:meth:`predict_curve`).
    feature_names_in_ : list of str
        Every feature column the scorer was trained with; scoring needs them all.
    """

    def __init__(
        self,
        graph: nx.Graph | None = None,
        horizon: int = 1,
        model: str = "ensemble",
        seed: int = 0,
        n_reasons: int = 3,
        quantiles: tuple[float, ...] = DEFAULT_QUANTILES,
        n_bands: int = 5,
    ) -> None:
        self.graph = graph
        self.horizon = horizon
        self.model = model
        self.seed = seed
        self.n_reasons = n_reasons
        self.quantiles = quantiles
        self.n_bands = n_bands

    def fit(
        self,
        X: pd.DataFrame,
        y,
        count=None,
        sample_weight=None,
        calibration=None,
        curve_labels=None,
    ) -> EscalationScorer:
        """Fit the probability model and the count model on the same rows.

        Parameters
        ----------
        X : DataFrame, shape (n_rows, n_columns)
            Feature frame (``grid_id``, ``as_of``, features).
        y : array-like of 0/1, shape (n_rows,)
        count : array-like, shape (n_rows,)
            Escalation events in each row's label window.
        sample_weight : array-like, shape (n_rows,), optional
            Inverse sampling rates of a down-sampled training sample (a province's).
            Only the ``lightgbm`` model takes weights: the graph models need every
            period of every grid, which a row sample does not have.
        calibration : DataFrame or None
            Out-of-sample forecasts of the same model (the backtest's latest rows):
            ``score, count, count_rate, count_dispersion``, which calibrate the
            intervals (:class:`~riskwarn.models.intervals.BandIntervals`). None
            keeps the distribution's own quantiles.
        curve_labels : dict of int to array-like, optional
            ``{h: labels of the h-period window}`` for shorter horizons
            ``1 <= h < horizon`` (each shape (n_rows,)), for the risk curve; a
            horizon without an escalation among them is left out of the curve.
        """
        y = check_labels(y, len(X))
        if count is None:
            raise RiskwarnError("EscalationScorer needs the event counts: fit(X, y, count=...).")
        if int(self.n_reasons) < 0:
            raise RiskwarnError(f"n_reasons must be >= 0, got {self.n_reasons!r}.")
        if sample_weight is not None and self.model != "lightgbm":
            raise RiskwarnError(
                f"a weighted training sample trains the lightgbm model, not {self.model!r}: "
                "the graph models and the ensemble need every period of every grid. Set "
                '[train] model = "lightgbm" to train on a sample.'
            )
        self.feature_names_in_ = feature_columns(X)
        self.n_features_in_ = len(self.feature_names_in_)
        model = make_model(self.model, horizon=self.horizon, graph=self.graph, seed=self.seed)
        if sample_weight is None:
            self.model_ = fit_model(model, X, y, count)
        else:
            self.model_ = model.fit(X, y, sample_weight=sample_weight)
        like = self.lightgbm_component()
        self.counter_ = make_count_model(self.horizon, seed=self.seed, like=like).fit(
            X, y, count=count, sample_weight=sample_weight
        )
        self.curve_ = {}
        horizons = {int(h): labels for h, labels in (curve_labels or {}).items()}
        for h in horizons:
            if not 1 <= h < int(self.horizon):
                raise RiskwarnError(
                    f"curve_labels are for horizons 1..{int(self.horizon) - 1}, got {h!r}."
                )
        if horizons:
            horizons[int(self.horizon)] = y
        for h, labels in sorted(horizons.items()):
            y_h = check_labels(labels, len(X))
            if y_h.sum() > 0:
                curve = make_model("lightgbm", horizon=h, graph=None, seed=self.seed)
                self.curve_[str(h)] = self._fitted_like(curve, X, y_h, sample_weight) or curve.fit(
                    X, y_h, sample_weight=sample_weight
                )
        self.intervals_ = BandIntervals(quantiles=tuple(self.quantiles), n_bands=self.n_bands)
        if calibration is None:
            self.intervals_.fit([], [], [], [])
        else:
            missing = {"score", "count", "count_rate", "count_dispersion"} - set(calibration)
            if missing:
                raise RiskwarnError(f"the calibration rows lack {sorted(missing)}.")
            self.intervals_.fit(
                calibration["score"],
                calibration["count"],
                calibration["count_rate"],
                calibration["count_dispersion"],
            )
        return self

    def _fitted_like(self, curve, X, y_h, sample_weight):
        """A component of the fitted model that is ``curve`` fitted on ``X, y_h``, or None.

        The ensemble's next-period learner (``target="label_h1"``), refitted on every
        row of ``X`` unweighted with the horizon-1 curve's settings, is on labels
        ``y_h`` equal to that column the same booster, bit for bit: train need not
        fit it twice.
        """
        model = self.model_
        if (
            sample_weight is not None
            or not isinstance(model, CalibratedEnsemble)
            or model.mode_ != "stacked"
            or not model.refit
        ):
            return None
        want = curve.get_params(deep=False)
        for comp in model.components_.values():
            if (
                isinstance(comp, LightGBMEscalation)
                and comp.target is not None
                and comp.get_params(deep=False) == {**want, "target": comp.target}
                and comp.target in X.columns
                and np.array_equal(X[comp.target].to_numpy(dtype=float), y_h)
            ):
                return comp
        return None

    # -- what the model is made of ---------------------------------------------------
    def _weighted(self) -> list[tuple[str, object, float]]:
        """(name, fitted component, weight on its log-odds) of the sources of reasons."""
        model = self.model_
        if isinstance(model, CalibratedEnsemble):
            return [
                (name, comp, float(model.weights_.get(name, 0.0)))
                for name, comp in model.components_.items()
            ]
        return [(self.model, model, 1.0)]

    def lightgbm_component(self) -> LightGBMEscalation | None:
        """The fitted LightGBM classifier the model is or holds, if any."""
        return lightgbm_in(self.model_)

    def _check(self, X: pd.DataFrame) -> None:
        check_is_fitted(self, "model_")
        missing = [c for c in (*KEY_COLUMNS, *self.feature_names_in_) if c not in X.columns]
        if missing:
            raise RiskwarnError(
                f"the data lacks {len(missing)} feature(s) the model was trained "
                f"with: {', '.join(missing[:8])}{' …' if len(missing) > 8 else ''}. Score with "
                "data that has the same tables and columns as the training data."
            )

    # -- outputs ----------------------------------------------------------------------
    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Shape (n_rows, 2): calibrated probabilities of no escalation and of one."""
        self._check(X)
        return self.model_.predict_proba(X)

    def predict_expected(self, X: pd.DataFrame) -> np.ndarray:
        """Expected escalation events in the window, shape (n_rows,)."""
        return self.predict_distribution(X)["expected_events"].to_numpy()

    def predict_distribution(self, X: pd.DataFrame) -> pd.DataFrame:
        """The count distribution of each row, shape (n_rows, 2 + n_quantiles).

        ``score`` = P(N >= 1), ``expected_events`` = E[N] and the calibrated
        quantiles ``events_q{NN}``, all from one distribution (so ``score <=
        expected_events`` and ``events_q{hi} >= 1`` wherever ``score >= 1 - hi``).
        """
        self._check(X)
        score = self.model_.predict_proba(X)[:, 1]
        return self._distribution(X, score)

    def predict_curve(self, X: pd.DataFrame) -> pd.DataFrame:
        """The risk within h periods for h = 1..horizon, shape (n_rows, horizon).

        Columns ``risk_h1 .. risk_h{horizon}``; the last is the score. The curve's
        level is the score's, its shape comes from a LightGBM classifier per horizon
        (``curve_``): the share ``rho_h`` of the label horizon's cumulative hazard
        ``-log(1 - p)`` that horizon ``h`` reaches, capped by the next horizon's
        share (:func:`~riskwarn.models.horizons.monotone_in_horizon`), gives
        ``risk_h = 1 - (1 - score) ** rho_h``, which never falls as ``h`` grows. A
        horizon without a classifier is missing (NaN).
        """
        self._check(X)
        return self._curve(X, self.model_.predict_proba(X)[:, 1])

    def _curve(self, X: pd.DataFrame, score: np.ndarray) -> pd.DataFrame:
        H = int(self.horizon)
        out = np.full((len(X), H), np.nan)
        out[:, H - 1] = score
        if str(H) in self.curve_:
            hazard = {
                int(h): -np.log1p(-np.clip(m.predict_proba(X)[:, 1], 0.0, 1 - _CLIP))
                for h, m in self.curve_.items()
            }
            top = np.maximum(hazard[H], 1e-12)
            rho = np.full((len(X), H), np.inf)
            for h, value in hazard.items():
                rho[:, h - 1] = np.minimum(value / top, 1.0)
            rho[:, H - 1] = 1.0
            rho = monotone_in_horizon(rho)
            known = np.isfinite(rho)
            out[known] = -np.expm1(
                np.log1p(-np.clip(np.broadcast_to(score[:, None], rho.shape)[known], 0, 1 - _CLIP))
                * rho[known]
            )
            out[:, H - 1] = score
            for h in range(1, H):
                if str(h) not in self.curve_:
                    out[:, h - 1] = np.nan
        return pd.DataFrame(out, index=X.index, columns=curve_columns(H))

    def _distribution(self, X: pd.DataFrame, score: np.ndarray) -> pd.DataFrame:
        rate = self.counter_.predict_expected(X)
        alpha = float(self.counter_.dispersion_)
        out = {"score": score, "expected_events": hurdle_expected(score, rate, alpha)}
        out.update(self.intervals_.predict(score, rate, alpha))
        return pd.DataFrame(out, index=X.index)

    def contributions(self, X: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Each source's contribution to the stacked log-odds, and the value it reports.

        Returns
        -------
        contribution : DataFrame, shape (n_rows, n_sources)
            Columns are feature names and the Hawkes part names of ``HAWKES_PARTS``.
        value : DataFrame, shape (n_rows, n_sources)
            The feature's value, or the part's expected events.
        """
        self._check(X)
        contribution: dict[str, np.ndarray] = {}
        value: dict[str, np.ndarray] = {}

        def add(name: str, c: np.ndarray, v: np.ndarray) -> None:
            contribution[name] = contribution.get(name, 0.0) + c
            value[name] = v

        for _, comp, weight in self._weighted():
            if weight <= 0:
                continue
            if isinstance(comp, LightGBMEscalation):
                contrib = comp.contributions(X).drop(columns="bias")
                for name in contrib.columns:
                    add(name, weight * contrib[name].to_numpy(), X[name].to_numpy(dtype=float))
            elif isinstance(comp, GraphHawkes):
                parts = comp.parts(X)
                background = parts["background"].to_numpy()
                excess = parts[list(HAWKES_PARTS)].to_numpy()
                above = excess.sum(axis=1)
                lift = _logit(-np.expm1(-(background + above))) - _logit(-np.expm1(-background))
                share = excess / np.where(above > 0, above, 1.0)[:, None]
                for j, part in enumerate(HAWKES_PARTS.values()):
                    add(part, weight * lift * share[:, j], excess[:, j])
            elif isinstance(comp, _IsotonicScoreBaseline | PersistenceBaseline):
                # A baseline's log-odds above those of a grid with no history, shared
                # among its input columns in proportion to their values.
                if isinstance(comp, PersistenceBaseline):
                    columns = [comp.column_]
                else:
                    columns = [*comp.columns_, *getattr(comp, "neighbour_columns_", ())]
                values = np.nan_to_num(X[columns].to_numpy(dtype=float), nan=0.0)
                zero = pd.DataFrame(0.0, index=[0], columns=columns)
                lift = _logit(comp.predict_proba(X)[:, 1]) - _logit(comp.predict_proba(zero)[0, 1])
                sums = values.sum(axis=1)
                share = values / np.where(sums > 0, sums, 1.0)[:, None]
                for j, name in enumerate(columns):
                    add(name, weight * lift * share[:, j], values[:, j])
        index = X.index
        return pd.DataFrame(contribution, index=index), pd.DataFrame(value, index=index)

    def reasons(self, X: pd.DataFrame) -> pd.DataFrame:
        """The top ``n_reasons`` positive contributions per row, with their context.

        The calendar features count as one reason, the season
        (:data:`~riskwarn.models.reasons.SEASON`, valued by the days to the Lunar
        New Year where that feature exists); a feature whose value is missing is
        passed over unless missing means "none yet"
        (:func:`~riskwarn.models.reasons.showable`).

        Returns
        -------
        DataFrame, shape (n_rows, 6 * n_reasons)
            For i = 1..n_reasons, largest first: ``reason_{i}_feature`` (None when
            fewer reasons), ``reason_{i}_value``, ``reason_{i}_contribution``, and
            the context of :func:`~riskwarn.models.reasons.reason_context`:
            ``reason_{i}_usual``, ``reason_{i}_about``, ``reason_{i}_about_value``.
        """
        contribution, value = self.contributions(X)
        # what was done is not a reason for the risk if nothing is done
        done = intervention_columns(contribution.columns)
        contribution, value = contribution.drop(columns=done), value.drop(columns=done)
        calendar = [c for c in contribution.columns if c in CALENDAR_FEATURES]
        if calendar:
            season = contribution[calendar].sum(axis=1)
            level = (
                value["days_to_lunar_new_year"]
                if "days_to_lunar_new_year" in value.columns
                else pd.Series(0.0, index=value.index)
            )
            contribution = pd.concat(
                [contribution.drop(columns=calendar), season.rename(SEASON)], axis=1
            )
            value = pd.concat(
                [value.drop(columns=calendar), level.fillna(0.0).rename(SEASON)], axis=1
            )
        n = int(self.n_reasons)
        out: dict[str, object] = {}
        names = np.asarray(contribution.columns, dtype=object)
        c = contribution.to_numpy(dtype=float) if len(names) else np.zeros((len(X), 0))
        v = value.to_numpy(dtype=float) if len(names) else np.zeros((len(X), 0))
        # A missing value that means nothing to a reader is never a reason.
        c = np.where(showable(names, v), c, -np.inf) if len(names) else c
        # Ties go to the earlier column, so the reasons are the same on every run.
        order = np.argsort(-c, axis=1, kind="stable")
        rows = np.arange(len(X))
        sources = context_sources([str(x) for x in X.columns])
        for i in range(n):
            feature = np.full(len(X), None, dtype=object)
            val = np.full(len(X), np.nan)
            con = np.full(len(X), np.nan)
            if i < c.shape[1]:
                pick = order[:, i]
                positive = c[rows, pick] > 0
                feature[positive] = names[pick[positive]]
                val[positive] = v[rows, pick][positive]
                con[positive] = c[rows, pick][positive]
            usual, about, about_value = reason_context(X, feature, sources)
            out[f"reason_{i + 1}_feature"] = feature
            out[f"reason_{i + 1}_value"] = val
            out[f"reason_{i + 1}_contribution"] = con
            out[f"reason_{i + 1}_usual"] = usual
            out[f"reason_{i + 1}_about"] = about
            out[f"reason_{i + 1}_about_value"] = about_value
        return pd.DataFrame(out, index=X.index)

    def score(self, X: pd.DataFrame) -> pd.DataFrame:
        """Everything a watchlist needs, one row per row of X.

        The score is the risk if nothing is done: the intervention features (where the
        data has an ``interventions`` table) are set to "none" first
        (:func:`untreated`), so that a visit alone does not push a grid off next week's
        list; ``periods_since_intervention`` says what was done (missing: nothing yet).

        Returns
        -------
        DataFrame, shape (n_rows, 4 + n_quantiles + horizon + 6 * n_reasons)
            ``grid_id, as_of, score, expected_events``, the quantiles
            ``events_q{NN}`` (:meth:`predict_distribution`), the risk curve
            ``risk_h1 .. risk_h{horizon}`` (:meth:`predict_curve`) and the reason
            columns.
        """
        self._check(X)
        since = (
            X[SINCE_INTERVENTION].to_numpy(dtype=float)
            if SINCE_INTERVENTION in X.columns
            else np.full(len(X), np.nan)
        )
        X = untreated(X)
        score = self.model_.predict_proba(X)[:, 1]
        head = pd.DataFrame(
            {"grid_id": X["grid_id"].astype(str).to_numpy(), "as_of": X["as_of"]}, index=X.index
        )
        # one count distribution: never fewer expected events than P(N >= 1)
        dist = self._distribution(X, score)
        curve = self._curve(X, score)
        treated = pd.DataFrame({TREATED_COLUMN: since}, index=X.index)
        return pd.concat([head, dist, treated, curve, self.reasons(X)], axis=1).reset_index(
            drop=True
        )
