"""Every model by its config name, built the same way for the backtest and training."""

from __future__ import annotations

import networkx as nx
from sklearn.base import BaseEstimator

from riskwarn.errors import ConfigError
from riskwarn.models.baselines import BASELINES
from riskwarn.models.boosting import LightGBMCount, LightGBMEscalation
from riskwarn.models.diffusion import GraphDiffusion
from riskwarn.models.ensemble import NEXT_PERIOD, CalibratedEnsemble
from riskwarn.models.hawkes import GraphHawkes
from riskwarn.models.rates import ShrunkRateBaseline
from riskwarn.models.roles import resolve

COUNT_MAX_ROWS = 100_000
"""Rows the Poisson twin keeps at most (down-sampled with weights, like the classifier)."""

BASELINE_NAMES = ("persistence", "hist_rate", "shrunk_rate", "hotspot", "graph_hotspot")
"""The naive baselines a model must beat (the best of them on the same rows)."""

GRAPH_MODELS = ("graph_hotspot", "graph_hawkes", "graph_diffusion")
"""Models that need the grid graph; without one they are skipped."""

MODEL_NEEDS: dict[str, tuple[str, ...]] = {
    "persistence": ("escalations_last",),
    "hist_rate": ("escalations_long",),
    "shrunk_rate": (),
    "hotspot": ("recent_totals",),
    "graph_hotspot": ("recent_totals", "neighbour_totals"),
    "lightgbm": (),
    "graph_hawkes": ("escalation_kernel",),
    "graph_diffusion": ("diffusion_inputs",),
    "ensemble": (),
}
"""The feature roles (``riskwarn.models.roles``) each model cannot run without.

Everything else a model uses is optional: GraphHawkes without precursors is
background plus own and neighbour excitation, the hotspot baselines sum the tables
there are, LightGBM takes whatever features exist.
"""


def skip_reason(name: str, columns, has_graph: bool) -> str | None:
    """Why model ``name`` cannot run on features ``columns``, or None when it can.

    Parameters
    ----------
    name : str
        A catalogue name (``riskwarn.config.MODEL_NAMES``).
    columns : iterable of str
        The feature names of the data (the manifest's, or a frame's columns).
    has_graph : bool
        Whether the data gives a grid graph.
    """
    if name not in MODEL_NEEDS:
        raise ConfigError(f"unknown model {name!r}.")
    if name in GRAPH_MODELS and not has_graph:
        return "the data gives no grid graph (no adjacency table, no geometry_wkt, no lon/lat)"
    columns = list(columns)
    for role in MODEL_NEEDS[name]:
        if not resolve(role, columns):
            if role == "neighbour_totals":
                return "there are no neighbour features ([features] spatial = false)"
            return f"the data has no {role.replace('_', ' ')} features"
    return None


def available_models(names, columns, has_graph: bool) -> tuple[list[str], dict[str, str]]:
    """The models of ``names`` that can run, and why each of the others cannot.

    Decided from the feature names alone, before anything is fitted, so that a
    user learns it at once; the order of ``names`` is kept.
    """
    names = list(dict.fromkeys(names))
    reasons = {n: skip_reason(n, columns, has_graph) for n in names}
    return [n for n in names if reasons[n] is None], {
        n: r for n, r in reasons.items() if r is not None
    }


def skip_notes(skipped: dict[str, str]) -> list[str]:
    """One line per skipped model: ``"graph_hawkes skipped: <reason>."``."""
    return [f"{name} skipped: {reason}." for name, reason in skipped.items()]


def runnable_models(
    names, columns, has_graph: bool, *, required: str | None = None
) -> tuple[list[str], dict[str, str]]:
    """:func:`available_models`, or a ``ConfigError`` with the fix when nothing can run.

    ``required`` (the ``[train] model``) must be able to run too.
    """
    runnable, skipped = available_models(names, columns, has_graph)
    if required is not None and required in skipped:
        raise ConfigError(
            f"[train] model {required!r} cannot run on this data: {skipped[required]}. "
            'Set [train] model = "ensemble" (it combines what runs) or "lightgbm".'
        )
    if not runnable:
        raise ConfigError(
            "no model of [backtest] models can run on this data: "
            + " ".join(skip_notes(skipped))
            + ' Add a model that needs no graph, e.g. models = ["shrunk_rate", "lightgbm", '
            '"ensemble"].'
        )
    return runnable, skipped


def make_model(
    name: str,
    *,
    horizon: int,
    graph: nx.Graph | None,
    seed: int = 0,
    columns=None,
) -> BaseEstimator:
    """An unfitted model for one horizon.

    ``lightgbm`` is the classifier; its Poisson twin for expected counts is
    :func:`make_count_model`. The ensemble stacks LightGBM, the graph models (when
    there is a graph) and the best of the baselines; given the data's feature
    ``columns``, it takes only the components and baselines that can run on them.

    From horizon 2 on the ensemble also stacks a LightGBM of the next period's
    escalation (:data:`NEXT_PERIOD`, learning the frame's ``label_h1``): a window
    of ``h`` periods overlaps the windows of ``h - 1`` neighbouring dates, so a
    learner of the long window has about ``1/h`` as many independent labels, and
    which grids are about to escalate ranks which will within ``h`` periods
    nearly as well: on each of the six 60-month shapes of
    ``benchmarks/backtest_quality.py`` (mean of five seeds) the next period's
    LightGBM ranked the four-month windows better than the four-month LightGBM did,
    by 0.012 to 0.029 AP (on the 36-month shape equally, on a 2,000-grid city by
    0.002).
    """
    if name in BASELINES:
        return BASELINES[name]()
    if name == "shrunk_rate":
        return ShrunkRateBaseline(horizon=horizon)
    if name == "lightgbm":
        return LightGBMEscalation(gap=horizon, random_state=seed)
    if name == "graph_hawkes":
        return GraphHawkes(horizon=horizon)
    if name == "graph_diffusion":
        return GraphDiffusion()
    if name == "ensemble":
        has_graph = graph is not None

        def runs(n: str) -> bool:
            return columns is None or skip_reason(n, columns, has_graph) is None

        components = {"lightgbm": LightGBMEscalation(gap=horizon, random_state=seed)}
        if horizon > 1:
            components[NEXT_PERIOD] = LightGBMEscalation(
                gap=1, random_state=seed, target="label_h1"
            )
        if has_graph and runs("graph_hawkes"):
            components["graph_hawkes"] = GraphHawkes(horizon=horizon)
        if has_graph and runs("graph_diffusion"):
            components["graph_diffusion"] = GraphDiffusion()
        baselines = [n for n in BASELINE_NAMES if (has_graph or n not in GRAPH_MODELS) and runs(n)]
        return CalibratedEnsemble(
            components=components,
            # shrunk_rate first: it is what the ensemble falls back on with too little data
            baselines={
                n: make_model(n, horizon=horizon, graph=graph, seed=seed)
                for n in dict.fromkeys(["shrunk_rate", *baselines])
            },
            horizon=horizon,
        )
    raise ConfigError(f"unknown model {name!r}.")


def lightgbm_in(model: BaseEstimator) -> LightGBMEscalation | None:
    """The fitted LightGBM classifier ``model`` is or holds (an ensemble's
    component), whose settings its count twin borrows; None if there is none."""
    if isinstance(model, LightGBMEscalation):
        return model
    found = [
        c for c in getattr(model, "components_", {}).values() if isinstance(c, LightGBMEscalation)
    ]
    # the learner of the model's own label first (not the next period's)
    return next((c for c in found if c.target is None), next(iter(found), None))


def make_count_model(
    horizon: int, seed: int = 0, like: LightGBMEscalation | None = None
) -> LightGBMCount:
    """The LightGBM Poisson regressor that gives ``expected_events`` for one horizon.

    ``like``, a fitted classifier, lends its early-stopped rounds, its learning
    rate and leaves (both boost the log of a rate on the same rows), which halves
    the cost of the pair, and its time decay. It samples half the classifier's rows: expected counts are
    a secondary output, shown beside the ranking, not what ranks the grids.
    """
    settings = {}
    if like is not None:
        settings = {
            "rounds": int(like.best_iteration_),
            "learning_rate": like.params_["learning_rate"],
            "num_leaves": like.params_["num_leaves"],
            "half_life": like.half_life_,
        }
    return LightGBMCount(gap=horizon, random_state=seed, max_rows=COUNT_MAX_ROWS, **settings)
