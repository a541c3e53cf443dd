"""The grid graph from each of its three sources, and without one."""

from __future__ import annotations

import networkx as nx
import pandas as pd
import pytest

from riskwarn.data.validate import load_dataset
from riskwarn.panel.graph import build_grid_graph
from tests.conftest import base_tables, square, write_tables


def _grids(**cols) -> pd.DataFrame:
    return pd.DataFrame(
        {"grid_id": [f"G{i}" for i in range(len(next(iter(cols.values()))))], **cols}
    )


def test_adjacency_table_is_preferred_and_keeps_islands_and_weights():
    grids = _grids(geometry_wkt=[square(0, 0), square(1, 0), square(2, 0), square(9, 9)])
    adjacency = pd.DataFrame({"grid_a": ["G0"], "grid_b": ["G2"], "weight": [2.5]})
    g = build_grid_graph(grids, adjacency)
    assert g.source == "adjacency"
    assert set(g.graph.nodes) == {"G0", "G1", "G2", "G3"}
    assert list(g.graph.edges(data="weight")) == [("G0", "G2", 2.5)]
    s = g.summary
    assert (s.n_edges, s.n_islands, s.n_components) == (1, 2, 3)
    assert s.mean_degree == pytest.approx(0.5)


def test_missing_weight_means_unweighted():
    grids = _grids(lon=[0.0, 1.0])
    adjacency = pd.DataFrame({"grid_a": ["G0"], "grid_b": ["G1"]})
    g = build_grid_graph(grids, adjacency)
    assert g.graph["G0"]["G1"]["weight"] == 1.0


def test_queen_contiguity_links_corner_neighbours():
    # 3x3 block plus one far-away island: the centre touches all 8 (queen),
    # a rook graph would give the centre only 4.
    cells = [square(x, y) for y in range(3) for x in range(3)] + [square(10, 10)]
    g = build_grid_graph(_grids(geometry_wkt=cells))
    assert g.source == "queen_contiguity"
    assert g.graph.degree("G4") == 8
    assert g.graph.has_edge("G0", "G4")  # diagonal
    assert g.graph.degree("G9") == 0
    assert g.summary.n_islands == 1 and g.summary.n_components == 2
    assert any("island" in w for w in g.warnings)


def test_grids_without_geometry_become_islands_with_a_warning():
    g = build_grid_graph(_grids(geometry_wkt=[square(0, 0), square(1, 0), None]))
    assert g.graph.has_edge("G0", "G1") and g.graph.degree("G2") == 0
    assert any("no geometry_wkt" in w for w in g.warnings)


def test_knn_from_centroids_is_symmetric_and_has_no_self_loops():
    lon = [113.0 + 0.01 * i for i in range(10)]
    g = build_grid_graph(_grids(lon=lon, lat=[23.0] * 10), k=2)
    assert g.source == "knn"
    assert nx.number_of_selfloops(g.graph) == 0
    assert g.graph.has_edge("G0", "G1") and g.graph.has_edge("G0", "G2")
    assert not g.graph.has_edge("G0", "G5")
    assert min(d for _, d in g.graph.degree()) >= 2


def test_knn_projects_longitude():
    # At 60N a degree of longitude is half a degree of latitude in km:
    # 0.015 deg east (0.83 km) is nearer than 0.01 deg north (1.1 km).
    g = build_grid_graph(_grids(lon=[10.0, 10.015, 10.0], lat=[60.0, 60.0, 60.01]), k=1)
    assert g.graph.has_edge("G0", "G1")


def test_knn_with_shared_centroids_and_one_grid():
    g = build_grid_graph(_grids(lon=[1.0, 1.0, 1.0], lat=[2.0, 2.0, 2.0]), k=6)
    assert g.summary.n_edges == 3 and g.summary.n_islands == 0
    one = build_grid_graph(_grids(lon=[1.0], lat=[2.0]))
    assert one.summary.n_nodes == 1 and one.summary.n_islands == 1


def test_no_graph_source_gives_no_graph_and_a_warning():
    g = build_grid_graph(_grids(population=[1, 2]))
    assert g.source == "none" and g.graph is None and not g.available
    assert "graph features and graph models are skipped" in g.warnings[0]


@pytest.mark.parametrize("source", ["adjacency", "queen_contiguity", "knn", "none"])
def test_sources_from_a_validated_dataset(tmp_path, config, source):
    tables = base_tables()
    if source == "adjacency":
        tables["adjacency"] = pd.DataFrame({"grid_a": ["G1", "G2"], "grid_b": ["G2", "G3"]})
    if source == "queen_contiguity":
        tables["grids"]["geometry_wkt"] = [square(0, 0), square(1, 1), square(2, 2), square(7, 7)]
    if source == "knn":
        tables["grids"]["lon"] = ["113.0", "113.01", "113.02", "113.5"]
        tables["grids"]["lat"] = ["23.0", "23.0", "23.0", "23.5"]
    dataset = load_dataset(write_tables(tmp_path, tables), config)
    g = build_grid_graph(dataset.grids, dataset.adjacency, k=2)
    assert g.source == source
    assert g.summary.n_nodes == 4
    if source == "queen_contiguity":
        assert sorted(g.graph.edges()) == [("G1", "G2"), ("G2", "G3")]
        assert g.summary.n_islands == 1
