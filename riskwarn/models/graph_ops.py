"""Spreading feature values over the grid graph, for models that take the graph.

The graph models get the grid graph as a parameter (a ``networkx.Graph`` whose nodes
are grid ids, or None for no graph) and combine each row with the rows of its
neighbours *at the same as-of date*. A grid absent from the graph is an island; a
neighbour absent from the frame at that date contributes nothing (a neighbour we
have no row for adds no excitation, it does not count as a zero-valued grid in a
mean either: means divide by the weight of the neighbours present).
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
from scipy import sparse

from riskwarn.errors import RiskwarnError


def _keys(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    for column in ("grid_id", "as_of"):
        if column not in frame.columns:
            raise RiskwarnError(
                f"a graph model needs the key column {column!r} in X to find each row's "
                "neighbours; pass the feature frame as built (grid_id, as_of, features)."
            )
    date_code, _ = pd.factorize(frame["as_of"], sort=True)
    grid_code, grids = pd.factorize(frame["grid_id"].astype(str), sort=True)
    if pd.MultiIndex.from_arrays([date_code, grid_code]).has_duplicates:
        raise RiskwarnError("X has more than one row for the same grid_id and as_of.")
    return date_code, grid_code, pd.Index(grids)


def adjacency(graph: nx.Graph | None, grids: pd.Index) -> sparse.csr_matrix:
    """Weighted adjacency among ``grids``, shape (n_grids, n_grids), islands as empty rows.

    Parameters
    ----------
    graph : networkx.Graph or None
        Nodes are grid ids; an edge attribute ``weight`` (default 1) is the weight.
    grids : Index, shape (n_grids,)
        The grid ids, in the order of the rows and columns of the result.
    """
    n = len(grids)
    if graph is None or n == 0:
        return sparse.csr_matrix((n, n))
    if not isinstance(graph, nx.Graph):
        raise RiskwarnError(
            f"graph must be a networkx.Graph of grid ids or None, got {type(graph).__name__}."
        )
    position = pd.Series(np.arange(n), index=grids)
    edges = [(a, b, float(d.get("weight", 1.0))) for a, b, d in graph.edges(data=True)]
    if not edges:
        return sparse.csr_matrix((n, n))
    a, b, w = (np.asarray(v) for v in zip(*edges, strict=True))
    ia = position.reindex(a.astype(str)).to_numpy()
    ib = position.reindex(b.astype(str)).to_numpy()
    keep = ~(np.isnan(ia) | np.isnan(ib)) & (ia != ib)
    ia, ib, w = ia[keep].astype(np.int64), ib[keep].astype(np.int64), w[keep].astype(float)
    m = sparse.coo_matrix(
        (np.concatenate([w, w]), (np.concatenate([ia, ib]), np.concatenate([ib, ia]))),
        shape=(n, n),
    )
    return m.tocsr()


def neighbour_values(
    frame: pd.DataFrame,
    values: np.ndarray,
    graph: nx.Graph | None,
    hops: int = 1,
    how: str = "mean",
) -> list[np.ndarray]:
    """Neighbour aggregates of ``values`` within each as-of date, for 1..``hops`` hops.

    Parameters
    ----------
    frame : DataFrame, shape (n_rows, ...)
        Must hold ``grid_id`` and ``as_of``; one row per grid and date.
    values : ndarray, shape (n_rows, n_columns)
        The values to spread, aligned with ``frame``'s rows; NaN counts as absent.
    graph : networkx.Graph or None
    hops : int
        Number of propagation steps; hop 2 spreads the hop-1 result once more.
    how : {"mean", "sum"}
        ``"mean"``: weighted mean over the neighbours present (NaN where there are
        none); ``"sum"``: weighted sum (0 where there are none).

    Returns
    -------
    list of ndarray, each shape (n_rows, n_columns)
        One array per hop.
    """
    if how not in ("mean", "sum"):
        raise RiskwarnError(f"how must be 'mean' or 'sum', got {how!r}.")
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or len(values) != len(frame):
        raise RiskwarnError("values must be 2-d with one row per row of the frame.")
    date_code, grid_code, grids = _keys(frame)
    n_dates, n_grids, n_cols = int(date_code.max(initial=-1)) + 1, len(grids), values.shape[1]
    w = adjacency(graph, grids)
    # Grid-major dense blocks: (n_grids, n_dates * n_cols), so one sparse product
    # spreads every date and column at once. Rows map to it by one flat index
    # (a 1-d take is several times faster than 2-d fancy indexing at city scale).
    flat = grid_code.astype(np.int64) * n_dates + date_code
    present = np.zeros(n_grids * n_dates)
    present[flat] = 1.0
    present = present.reshape(n_grids, n_dates)
    current = np.full((n_grids * n_dates, n_cols), np.nan)
    current[flat] = values
    out = []
    for hop in range(hops):
        have = ~np.isnan(current)
        complete = bool(have.all())
        filled = (current if complete else np.where(have, current, 0.0)).reshape(n_grids, -1)
        total = (w @ filled).reshape(n_grids, n_dates, n_cols)
        if how == "sum":
            result = total
        else:
            if complete:
                # Every grid-date has a value: the neighbour weight is the same for
                # every column, one product over (grid, date) instead of per column.
                weight = (w @ present)[:, :, None]
            else:
                weight = (w @ have.reshape(n_grids, -1).astype(float)).reshape(
                    n_grids, n_dates, n_cols
                )
            # No neighbour present means a zero total over a zero weight: 0/0 is the
            # NaN a mean over nothing should be (weights are positive).
            with np.errstate(invalid="ignore", divide="ignore"):
                result = total / weight
        result = result.reshape(n_grids * n_dates, n_cols)
        out.append(np.take(result, flat, axis=0))
        if hop + 1 < hops:
            # The next hop spreads only what grids with a row hold: a grid absent at
            # a date has no value of its own to pass on, even if its neighbours have one.
            current = np.where(present.reshape(-1, 1) > 0, result, np.nan)
    return out
