"""Spatial features: what is happening next door, and where a grid sits in the graph.

Neighbour features average or take the maximum of integer window counts over the
grid's neighbours (one hop) and over the grids two hops away. Sums of integers are
exact, so these features are identical whatever order an engine adds them in.
A grid without neighbours (an island) gets missing values, not zeros: it has no
neighbourhood to describe.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from riskwarn.features.manifest import FeatureInfo
from riskwarn.features.streams import Stream
from riskwarn.panel.graph import GridGraph


def neighbour_jobs(plan) -> tuple[dict[str, str], dict[int, str], list[tuple[str, str, bool]]]:
    """Which neighbour aggregates a plan needs.

    Returns the window column per spatial base stream, the escalation columns per
    window, and the jobs ``(prefix, column, with_max)``: "n1" over direct neighbours,
    "n2" over grids two steps away (escalations only).
    """
    bases = {s: f"_wsum__{s}__{plan.short_w}" for s in plan.spatial_bases}
    esc_cols = {1: "_wsum__esc_n__1", plan.share_w: f"_wsum__esc_n__{plan.share_w}"}
    columns = sorted(set(bases.values()) | set(esc_cols.values()))
    jobs = [("n1", c, c in bases.values()) for c in columns]
    jobs.append(("n2", bases["esc_n"], False))
    return bases, esc_cols, jobs


def neighbour_counts(edges: ir.Table, prefix: str) -> ir.Table:
    """``grid_idx, {prefix}_n``: how many neighbours each grid has (grids with none absent)."""
    return edges.group_by("grid_idx").aggregate(**{f"{prefix}_n": edges["nbr_idx"].count()})


def neighbour_table(
    base: ir.Table, edges: ir.Table, jobs: list[tuple[str, bool]], prefix: str
) -> ir.Table:
    """``grid_idx, period, {prefix}_sum__c[, {prefix}_max__c]`` for every job column.

    Only rows where some count is positive are joined: zeros add nothing to a sum
    and nothing above zero to a maximum, and most grid-periods are quiet, so this
    joins a fraction of the panel. A grid with neighbours but no row here has
    sums 0 and maxima 0 (filled by the feature expressions from the neighbour
    counts). A distributed engine shuffles the rows of each join; joining the narrow busy rows
    to the edges once, and the result to the panel once, instead of once per column,
    keeps the wide panel from being shuffled again for every aggregate.

    Parameters
    ----------
    jobs : list of (column, with_max)
    """
    columns = [c for c, _ in jobs]
    busy = base.filter(ibis.or_(*[base[c] > 0 for c in columns]))
    nb = busy.select(
        nbr_idx=busy["grid_idx"],
        period=busy["period"],
        **{f"_v{i}": busy[c] for i, c in enumerate(columns)},
    )
    joined = edges.select("grid_idx", "nbr_idx").join(nb, "nbr_idx")
    aggs = {}
    for i, (column, with_max) in enumerate(jobs):
        aggs[f"{prefix}_sum__{column}"] = joined[f"_v{i}"].sum()
        if with_max:
            aggs[f"{prefix}_max__{column}"] = joined[f"_v{i}"].max()
    return joined.group_by(["grid_idx", "period"]).aggregate(**aggs)


def neighbour_arrays(
    values: np.ndarray, edges: pd.DataFrame, with_max: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Sums (and maxima) over neighbours of a (n_grids, n_periods) int array, in memory.

    The in-memory twin of :func:`neighbour_table`: a sparse product for the sums and a
    segmented maximum over the gathered neighbour rows. Grids without neighbours get
    0 here; the feature expressions make them missing through the neighbour count.
    """
    n_grids = values.shape[0]
    src = edges["grid_idx"].to_numpy()
    dst = edges["nbr_idx"].to_numpy()
    adj = sp.csr_matrix((np.ones(len(src), dtype=np.int32), (src, dst)), shape=(n_grids, n_grids))
    # int32 is ample: a sum over a grid's neighbours of counts in a few periods.
    sums = (adj @ values).astype(np.int32, copy=False)
    maxima = None
    if with_max:
        maxima = np.zeros(values.shape, dtype=values.dtype)
        if len(src):
            starts = np.flatnonzero(np.r_[True, src[1:] != src[:-1]])
            maxima[src[starts]] = np.maximum.reduceat(values[dst], starts, axis=0)
    return sums, maxima


def spatial_features(
    streams: dict[str, Stream], bases: dict[str, str], esc_cols: dict[int, str], short_w: int
) -> list[tuple[FeatureInfo, object]]:
    """Manifest entries and expressions over the joined neighbour aggregates."""
    out = []

    def total(t, prefix: str, col: str):
        # Missing for a grid without neighbours; 0 for one whose neighbours were quiet.
        return ibis.ifelse(
            t[f"{prefix}_n"].fill_null(0) > 0,
            t[f"{prefix}_sum__{col}"].fill_null(0),
            ibis.null("int64"),
        )

    def mean(prefix: str, col: str):
        return lambda t: (
            total(t, prefix, col).cast("float64") / t[f"{prefix}_n"].cast("float64")
        ).cast("float32")

    for s, col in bases.items():
        en, zh = streams[s].en, streams[s].zh
        w = short_w
        out.append((
            FeatureInfo(f"nbr_mean_{s}_w{w}", "spatial", w,
                        f"neighbouring grids' mean {en} in the last {w} periods",
                        f"相邻网格最近{w}期{zh}的平均数"),
            mean("n1", col),
        ))  # fmt: skip
        out.append((
            FeatureInfo(f"nbr_max_{s}_w{w}", "spatial", w,
                        f"the highest {en} in the last {w} periods among neighbouring grids",
                        f"相邻网格最近{w}期{zh}的最大值"),
            lambda t, c=col: ibis.ifelse(
                t["n1_n"].fill_null(0) > 0, t[f"n1_max__{c}"].fill_null(0), ibis.null("int64")
            ).cast("float32"),
        ))  # fmt: skip
        if s == "esc_n":  # two steps out, only escalations: the contagion signal
            out.append((
                FeatureInfo(f"ring2_mean_{s}_w{w}", "spatial", w,
                            f"mean {en} in the last {w} periods in grids two steps away",
                            f"二阶相邻网格最近{w}期{zh}的平均数"),
                mean("n2", col),
            ))  # fmt: skip
    for w, col in esc_cols.items():
        out.append((
            FeatureInfo(f"nbr_esc_n_w{w}", "spatial", w,
                        f"escalations in neighbouring grids in the last {w} period{'s' if w > 1 else ''}",
                        f"相邻网格最近{w}期升级事件总数"),
            lambda t, c=col: total(t, "n1", c).cast("float32"),
        ))  # fmt: skip
    return out


def graph_structure(graph: GridGraph, grid_ids: np.ndarray) -> pd.DataFrame:
    """Static structure per grid: degree, PageRank, clustering, size of its component.

    Every measure here is invariant to how grids are named or ordered. Louvain
    communities are not (their result depends on node order, so renaming grids moved
    grids between communities: a grid's identity leaking into a feature); the local
    clustering coefficient and the connected component's size describe the grid's
    community structure without that leak. Computed on the sparse adjacency matrix
    (the pure-Python graph routines take seconds at city scale).
    """
    order = list(grid_ids)
    n = len(order)
    adj = nx.to_scipy_sparse_array(graph.graph, nodelist=order, weight=None, format="csr")
    adj.setdiag(0)
    adj.eliminate_zeros()
    adj = (adj > 0).astype(np.float64)
    degree = np.asarray(adj.sum(axis=1)).ravel()
    # Triangles through each node: (A @ A) * A summed by row counts each twice.
    closed = np.asarray((adj @ adj).multiply(adj).sum(axis=1)).ravel()
    pairs = degree * (degree - 1)
    clustering = np.divide(closed, pairs, out=np.zeros(n), where=pairs > 0)
    _, labels = connected_components(adj, directed=False)
    size = np.bincount(labels)[labels]
    return pd.DataFrame(
        {
            "grid_idx": np.arange(n, dtype=np.int32),
            "graph_degree": degree.astype(np.float32),
            "graph_pagerank": (_pagerank(adj) * n).astype(np.float32),
            "graph_clustering": clustering.astype(np.float32),
            "graph_component_size": size.astype(np.float32),
        }
    )


def _pagerank(adj, alpha: float = 0.85, tol: float = 1e-10, max_iter: int = 200) -> np.ndarray:
    """PageRank of an undirected 0/1 adjacency (islands spread their rank evenly)."""
    n = adj.shape[0]
    degree = np.asarray(adj.sum(axis=1)).ravel()
    inv = np.divide(1.0, degree, out=np.zeros(n), where=degree > 0)
    rank = np.full(n, 1.0 / n)
    for _ in range(max_iter):
        dangling = rank[degree == 0].sum()
        new = alpha * (adj.T @ (rank * inv)) + (alpha * dangling + 1.0 - alpha) / n
        done = np.abs(new - rank).sum() < tol
        rank = new
        if done:
            break
    return rank


GRAPH_INFO = [
    FeatureInfo("graph_degree", "graph", None, "number of neighbouring grids", "相邻网格数"),
    FeatureInfo("graph_pagerank", "graph", None,
                "how central the grid is in the grid graph (PageRank, 1 = average)",
                "网格在网格关系图中的中心性(PageRank,1为平均)"),
    FeatureInfo("graph_clustering", "graph", None,
                "share of the grid's neighbours that are neighbours of each other",
                "相邻网格之间彼此相邻的比例(聚集系数)"),
    FeatureInfo("graph_component_size", "graph", None,
                "number of grids connected to this grid through neighbours",
                "通过相邻关系连通的网格数"),
]  # fmt: skip
