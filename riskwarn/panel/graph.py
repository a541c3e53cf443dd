"""The grid graph: which grids are neighbours.

Sources, in order of preference: the ``adjacency`` table; queen contiguity of the
``geometry_wkt`` polygons; k nearest neighbours of the ``lon``/``lat`` centroids;
else no graph (graph features and graph models are skipped, with a warning).
Every grid is a node; grids without neighbours are islands, kept as nodes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
from libpysal.graph import Graph
from scipy.spatial import cKDTree

GRAPH_SOURCES = ("adjacency", "queen_contiguity", "knn", "none")


@dataclass(frozen=True)
class GraphSummary:
    """Shape of a grid graph, for reports."""

    source: str
    n_nodes: int
    n_edges: int
    n_components: int
    n_islands: int
    mean_degree: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class GridGraph:
    """A grid graph. ``graph`` is None when the data gives no way to build one."""

    source: str
    graph: nx.Graph | None
    summary: GraphSummary
    warnings: list[str] = field(default_factory=list)

    @property
    def available(self) -> bool:
        return self.graph is not None


def _summarise(source: str, graph: nx.Graph | None, n_grids: int) -> GraphSummary:
    if graph is None:
        return GraphSummary(source, n_grids, 0, n_grids, n_grids, 0.0)
    degrees = np.fromiter(
        (d for _, d in graph.degree()), dtype=float, count=graph.number_of_nodes()
    )
    return GraphSummary(
        source=source,
        n_nodes=graph.number_of_nodes(),
        n_edges=graph.number_of_edges(),
        n_components=nx.number_connected_components(graph),
        n_islands=int((degrees == 0).sum()),
        mean_degree=float(degrees.mean()) if len(degrees) else 0.0,
    )


def _graph_from_edges(grid_ids: pd.Series, a, b, w) -> nx.Graph:
    graph = nx.Graph()
    graph.add_nodes_from(grid_ids.astype(str))
    graph.add_weighted_edges_from(zip(map(str, a), map(str, b), map(float, w), strict=True))
    return graph


def _from_adjacency(grids: pd.DataFrame, adjacency: pd.DataFrame) -> nx.Graph:
    # An unweighted edge (no weight column, or an empty cell) counts as weight 1.
    if "weight" in adjacency:
        weight = adjacency["weight"].astype("Float64").fillna(1.0)
    else:
        weight = pd.Series(1.0, index=adjacency.index)
    return _graph_from_edges(grids["grid_id"], adjacency["grid_a"], adjacency["grid_b"], weight)


def _pysal_edges(g: Graph) -> tuple[np.ndarray, np.ndarray]:
    # libpysal stores an island as a self-loop of weight 0: drop those.
    adj = g.adjacency.reset_index()
    adj = adj[(adj.iloc[:, 0] != adj.iloc[:, 1]) & (adj.iloc[:, 2] > 0)]
    return adj.iloc[:, 0].to_numpy(), adj.iloc[:, 1].to_numpy()


def _from_geometry(grids: pd.DataFrame) -> tuple[nx.Graph, int]:
    has = grids["geometry_wkt"].notna()
    geoms = gpd.GeoSeries.from_wkt(
        grids.loc[has, "geometry_wkt"].astype(str).to_numpy(),
        index=grids.loc[has, "grid_id"].astype(str).to_numpy(),
    )
    if len(geoms) < 2:
        a = b = np.array([], dtype=object)
    else:
        # libpysal's default is rook; the design asks for queen contiguity.
        a, b = _pysal_edges(Graph.build_contiguity(geoms, rook=False))
    return _graph_from_edges(grids["grid_id"], a, b, np.ones(len(a))), int((~has).sum())


def _from_centroids(grids: pd.DataFrame, k: int) -> tuple[nx.Graph, int]:
    has = grids["lon"].notna() & grids["lat"].notna()
    pts = grids.loc[has]
    ids = pts["grid_id"].astype(str).to_numpy()
    lat = pts["lat"].astype(float).to_numpy()
    lon = pts["lon"].astype(float).to_numpy()
    # Local equirectangular projection in km, so that neighbours are not distorted
    # by longitude degrees shrinking away from the equator.
    xy = np.column_stack(
        [lon * 111.32 * np.cos(np.deg2rad(lat.mean() if len(lat) else 0)), lat * 110.57]
    )
    k_eff = min(k, len(ids) - 1)
    if k_eff < 1:
        a = b = np.array([], dtype=object)
    else:
        # scipy's KD-tree rather than libpysal's build_knn: the latter fails on
        # grids that share a centroid (pandas 3, libpysal 4.14); ties are broken by
        # row order, so the graph is deterministic.
        _, idx = cKDTree(xy).query(xy, k=k_eff + 1)
        rows = np.repeat(np.arange(len(ids)), k_eff + 1)
        cols = idx.ravel()
        keep = rows != cols
        rows, cols = rows[keep], cols[keep]
        # With coincident points a row may not list itself; keep its first k others.
        first_k = pd.Series(rows).groupby(rows).cumcount().to_numpy() < k_eff
        a, b = ids[rows[first_k]], ids[cols[first_k]]  # directed; nx.Graph symmetrises
    return _graph_from_edges(grids["grid_id"], a, b, np.ones(len(a))), int((~has).sum())


def build_grid_graph(
    grids: pd.DataFrame, adjacency: pd.DataFrame | None = None, k: int = 6
) -> GridGraph:
    """Build the grid graph from the best source the data offers.

    Parameters
    ----------
    grids : DataFrame, shape (n_grids, ...)
        Validated grids; ``geometry_wkt`` or ``lon``/``lat`` are used when present.
    adjacency : DataFrame, shape (n_edges, 2 or 3), optional
        Validated ``grid_a, grid_b[, weight]`` pairs; preferred when given.
    k : int
        Neighbours per grid for the centroid fallback.

    Returns
    -------
    GridGraph
        A networkx graph with one node per grid (islands included), or no graph.
    """
    n = len(grids)
    warnings: list[str] = []
    if adjacency is not None:
        graph, source = _from_adjacency(grids, adjacency), "adjacency"
    elif "geometry_wkt" in grids and grids["geometry_wkt"].notna().any():
        graph, missing = _from_geometry(grids)
        source = "queen_contiguity"
        if missing:
            warnings.append(f"{missing} grid(s) have no geometry_wkt; they are islands.")
    elif {"lon", "lat"} <= set(grids.columns) and (
        grids["lon"].notna() & grids["lat"].notna()
    ).any():
        graph, missing = _from_centroids(grids, k)
        source = "knn"
        if missing:
            warnings.append(f"{missing} grid(s) have no lon/lat; they are islands.")
    else:
        warnings.append(
            "no adjacency table, geometry_wkt or lon/lat: there is no grid graph, so graph "
            "features and graph models are skipped."
        )
        return GridGraph("none", None, _summarise("none", None, n), warnings)
    summary = _summarise(source, graph, n)
    if summary.n_islands:
        warnings.append(f"{summary.n_islands} grid(s) have no neighbours (islands).")
    return GridGraph(source, graph, summary, warnings)
