"""Every model by its config name, built the same way for the backtest and training."""

from __future__ import annotations

import networkx as nx
from sklearn.base import BaseEstimator

from riskwarn.errors import ConfigError
from riskwarn.models.baselines import BASELINES
from riskwarn.models.boosting import LightGBMCount, LightGBMEscalation
from riskwarn.models.diffusion import GraphDiffusion
from riskwarn.models.ensemble import CalibratedEnsemble
from riskwarn.models.hawkes import GraphHawkes

COUNT_MAX_ROWS = 100_000
"""Rows the Poisson twin keeps at most (down-sampled with weights, like the classifier)."""

GRAPH_MODELS = ("graph_hotspot", "graph_hawkes", "graph_diffusion")
"""Models that need the grid graph; without one they are skipped."""


def available_models(names, has_graph: bool) -> tuple[list[str], list[str]]:
    """The models that can run, and those skipped for want of a graph."""
    run = [n for n in names if has_graph or n not in GRAPH_MODELS]
    return run, [n for n in names if n not in run]


def make_model(name: str, *, horizon: int, graph: nx.Graph | None, seed: int = 0) -> BaseEstimator:
    """An unfitted model for one horizon.

    ``lightgbm`` is the classifier; its Poisson twin for expected counts is
    :func:`make_count_model`. The ensemble stacks LightGBM, the graph models (when
    there is a graph) and the best of the baselines.
    """
    if name in BASELINES:
        return BASELINES[name]()
    if name == "lightgbm":
        return LightGBMEscalation(gap=horizon, random_state=seed)
    if name == "graph_hawkes":
        return GraphHawkes(graph=graph, horizon=horizon)
    if name == "graph_diffusion":
        return GraphDiffusion(graph=graph)
    if name == "ensemble":
        has_graph = graph is not None
        components = {"lightgbm": LightGBMEscalation(gap=horizon, random_state=seed)}
        if has_graph:
            components["graph_hawkes"] = GraphHawkes(graph=graph, horizon=horizon)
            components["graph_diffusion"] = GraphDiffusion(graph=graph)
        baselines, _ = available_models(list(BASELINES), has_graph)
        return CalibratedEnsemble(
            components=components,
            # hist_rate first: it is what the ensemble falls back on with too little data
            baselines={n: BASELINES[n]() for n in dict.fromkeys(["hist_rate", *baselines])},
            robust=("best_baseline", "graph_hawkes") if has_graph else ("best_baseline",),
            horizon=horizon,
        )
    raise ConfigError(f"unknown model {name!r}.")


def make_count_model(horizon: int, seed: int = 0, rounds: int | None = None) -> LightGBMCount:
    """The LightGBM Poisson regressor that gives ``expected_events`` for one horizon.

    ``rounds`` reuses the classifier's early-stopped rounds (both boost the log of a
    rate on the same rows), which halves the cost of the pair. It samples half the
    classifier's rows: expected counts are a secondary output, shown beside the
    ranking, not what ranks the grids.
    """
    return LightGBMCount(gap=horizon, random_state=seed, rounds=rounds, max_rows=COUNT_MAX_ROWS)
