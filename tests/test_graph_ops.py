"""Spreading values over the grid graph equals a brute-force loop over neighbours."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from riskwarn.errors import RiskwarnError
from riskwarn.models.graph_ops import neighbour_values


def _brute(frame, values, graph, how):
    """Hop-1 weighted mean/sum over the neighbours present at the same date."""
    index = {
        (g, d): i for i, (g, d) in enumerate(zip(frame["grid_id"], frame["as_of"], strict=True))
    }
    out = np.full(values.shape, np.nan if how == "mean" else 0.0)
    for i, (g, d) in enumerate(zip(frame["grid_id"], frame["as_of"], strict=True)):
        if g not in graph:
            continue
        rows = [
            (index[(n, d)], graph[g][n].get("weight", 1.0)) for n in graph[g] if (n, d) in index
        ]
        if not rows:
            continue
        for j in range(values.shape[1]):
            pairs = [(values[r, j], w) for r, w in rows if not np.isnan(values[r, j])]
            total = sum(v * w for v, w in pairs)
            weight = sum(w for _, w in pairs)
            if how == "sum":
                out[i, j] = total
            else:
                out[i, j] = total / weight if weight > 0 else np.nan
    return out


@pytest.mark.parametrize("how", ["mean", "sum"])
@pytest.mark.parametrize("drop", [0.0, 0.2])
def test_hop_one_equals_brute_force(how, drop):
    rng = np.random.default_rng(4)
    graph = nx.gnm_random_graph(30, 50, seed=2)
    graph = nx.relabel_nodes(graph, {n: f"G{n:02d}" for n in graph})
    for a, b in list(graph.edges)[:10]:
        graph[a][b]["weight"] = 2.5
    graph.add_node("G99")  # an island
    grids = sorted(graph.nodes)
    frame = pd.DataFrame(
        [(g, d) for d in range(4) for g in grids], columns=["grid_id", "as_of"]
    ).sample(frac=1.0 - drop, random_state=1)
    values = rng.poisson(2.0, size=(len(frame), 3)).astype(float)
    got = neighbour_values(frame, values, graph, hops=1, how=how)[0]
    np.testing.assert_allclose(got, _brute(frame, values, graph, how), equal_nan=True)


def test_hop_two_spreads_hop_one_once_more():
    graph = nx.path_graph(["a", "b", "c", "d"])
    frame = pd.DataFrame({"grid_id": list("abcd"), "as_of": [0] * 4})
    values = np.array([[1.0], [2.0], [3.0], [4.0]])
    one, two = neighbour_values(frame, values, graph, hops=2)
    np.testing.assert_allclose(one[:, 0], [2.0, 2.0, 3.0, 3.0])
    np.testing.assert_allclose(two[:, 0], [2.0, 2.5, 2.5, 3.0])


def test_bad_inputs():
    frame = pd.DataFrame({"grid_id": ["a", "a"], "as_of": [0, 0]})
    with pytest.raises(RiskwarnError, match="more than one row"):
        neighbour_values(frame, np.ones((2, 1)), None)
    with pytest.raises(RiskwarnError, match="grid_id"):
        neighbour_values(frame[["as_of"]], np.ones((2, 1)), None)
    with pytest.raises(RiskwarnError, match="how"):
        neighbour_values(frame.iloc[:1], np.ones((1, 1)), None, how="max")
