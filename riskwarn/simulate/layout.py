"""The city's geography: a square lattice of grids with towns, districts and land use.

Grids are cells of a square lattice. A smooth random field plus a radial fall-off
leaves some cells empty (lakes, hills, the city edge), so the city has an irregular
shape. Urban cores sit around a few centres, industrial patches lie near them, and
the rest is rural. Towns are square blocks of cells, districts are blocks of towns.

``geometry_wkt`` is the grid's lattice cell (all cells the same size), so queen
contiguity read from the geometry equals the adjacency table; ``area_km2`` is the
grid's own recorded area, drawn by grid type (urban grids small, rural ones large),
and is deliberately not the schematic cell's area.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import ndimage

from riskwarn.data.contract import ADJACENCY, GRIDS
from riskwarn.simulate.params import GRID_TYPES, INDUSTRIAL, RURAL, URBAN, LayoutParams

# Queen contiguity: the four "forward" neighbour offsets (row, col); the other four
# are their mirror images, so each undirected pair is found exactly once.
_FORWARD = ((0, 1), (1, -1), (1, 0), (1, 1))


@dataclass(frozen=True)
class Layout:
    """The static city.

    Attributes
    ----------
    grids : pd.DataFrame, shape (n_grids, 10)
        The ``grids`` table (contract columns).
    adjacency : pd.DataFrame, shape (n_pairs, 3)
        The ``adjacency`` table, each undirected pair once with ``grid_a < grid_b``.
    grid_type : np.ndarray of int8, shape (n_grids,)
        0 urban, 1 industrial, 2 rural (see ``params.GRID_TYPES``).
    population : np.ndarray of float64, shape (n_grids,)
    periurban : np.ndarray of bool, shape (n_grids,)
        Non-urban grids within a few cells of an urban one: where the city grows.
    adj : scipy.sparse.csr_matrix, shape (n_grids, n_grids)
        Symmetric 0/1 queen-contiguity matrix.
    """

    grids: pd.DataFrame
    adjacency: pd.DataFrame
    grid_type: np.ndarray
    population: np.ndarray
    periurban: np.ndarray
    adj: sp.csr_matrix

    @property
    def n_grids(self) -> int:
        return len(self.grid_type)

    @property
    def grid_ids(self) -> np.ndarray:
        return self.grids["grid_id"].to_numpy(dtype=object)


def _standardise(a: np.ndarray) -> np.ndarray:
    sd = a.std()
    return (a - a.mean()) / sd if sd > 0 else np.zeros_like(a)


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """A standardised Gaussian random field, correlated over about ``sigma`` cells."""
    return _standardise(ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="reflect"))


def _top(score: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of the ``k`` highest scores (ties broken by position, stably)."""
    mask = np.zeros(score.shape, dtype=bool)
    if k > 0:
        mask[np.argsort(-score, kind="stable")[:k]] = True
    return mask


def _lattice_shape(n_grids: int, keep_share: float) -> tuple[int, int]:
    # Tiny cities fill their lattice; larger ones leave room for lakes and an edge.
    cells = n_grids if n_grids <= 4 else math.ceil(n_grids / keep_share)
    rows = max(1, round(math.sqrt(cells)))
    return rows, math.ceil(cells / rows)


def _block_labels(codes: np.ndarray, prefix: str, width: int) -> np.ndarray:
    """Renumber block codes 1.. in order of first appearance and format them."""
    _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(1, len(first) + 1)
    width = max(width, len(str(len(first))))
    labels = np.array([f"{prefix} {i:0{width}d}" for i in range(1, len(first) + 1)], dtype=object)
    return labels[rank[inverse] - 1]


def build_layout(n_grids: int, rng: np.random.Generator, params: LayoutParams) -> Layout:
    """Lay out ``n_grids`` grids on a lattice and derive their attributes.

    Parameters
    ----------
    n_grids : int
        Number of grids (>= 1).
    rng : numpy.random.Generator
        The simulation's single random generator.
    params : LayoutParams

    Returns
    -------
    Layout
    """
    rows, cols = _lattice_shape(n_grids, params.keep_share)
    side = max(rows, cols)
    ii, jj = np.indices((rows, cols))
    # Keep the best-scoring cells: a smooth field makes lakes and bays, the radial term
    # keeps the city in one piece around the middle of the lattice.
    radial = ((ii - (rows - 1) / 2) / max(rows / 2, 1)) ** 2 + (
        (jj - (cols - 1) / 2) / max(cols / 2, 1)
    ) ** 2
    shape_score = 0.8 * _smooth_field(rng, (rows, cols), max(1.0, side / 12)) - 1.2 * radial
    kept = _top(shape_score.ravel(), n_grids).reshape(rows, cols)
    r, c = np.nonzero(kept)  # row-major, so grid index order = reading order on the map
    index = np.full((rows, cols), -1, dtype=np.int64)
    index[r, c] = np.arange(n_grids)

    # Urban cores: Gaussian bumps around a few centres, the first near the middle.
    n_centres = int(np.clip(round(math.sqrt(n_grids) / 12), 1, 6))
    centre_idx = [int(np.argmin((r - (rows - 1) / 2) ** 2 + (c - (cols - 1) / 2) ** 2))]
    for _ in range(n_centres - 1):
        d_min = np.min([(r - r[k]) ** 2 + (c - c[k]) ** 2 for k in centre_idx], axis=0)
        far = np.flatnonzero(d_min >= (side / 5) ** 2)
        centre_idx.append(int(rng.choice(far if len(far) else np.arange(n_grids))))
    urbanness = 0.15 * _smooth_field(rng, (rows, cols), max(1.0, side / 20))[r, c]
    # Bump widths sized so that the centres together cover about the urban share.
    typical = math.sqrt(params.urban_share * n_grids / (n_centres * math.pi))
    for k, ci in enumerate(centre_idx):
        scale = max(typical * rng.uniform(0.5, 0.8) * (1.3 if k == 0 else 1.0), 0.5)
        weight = 1.0 if k == 0 else rng.uniform(0.5, 0.9)
        urbanness += weight * np.exp(-((r - r[ci]) ** 2 + (c - c[ci]) ** 2) / (2 * scale**2))
    n_urban = max(1, round(params.urban_share * n_grids))
    urban = _top(urbanness, n_urban)

    # Distance (in cells, chessboard) to the nearest urban grid: industrial parks and
    # requisition projects sit on the edge of the built-up area.
    urban_lattice = np.zeros((rows, cols), dtype=bool)
    urban_lattice[r[urban], c[urban]] = True
    dist = ndimage.distance_transform_cdt(~urban_lattice, metric="chessboard")[r, c]
    n_industrial = min(round(params.industrial_share * n_grids), n_grids - n_urban)
    industrial_score = _smooth_field(rng, (rows, cols), max(1.0, side / 15))[r, c] + np.exp(
        -dist / 4.0
    )
    industrial_score[urban] = -np.inf
    industrial = _top(industrial_score, n_industrial)
    grid_type = np.full(n_grids, RURAL, dtype=np.int8)
    grid_type[industrial] = INDUSTRIAL
    grid_type[urban] = URBAN
    periurban = (grid_type != URBAN) & (dist <= params.periurban_cells)

    # Population and area: lognormal by type.
    med_pop = np.array([m for m, _ in params.population])[grid_type]
    sd_pop = np.array([s for _, s in params.population])[grid_type]
    population = np.rint(med_pop * np.exp(sd_pop * rng.standard_normal(n_grids))).astype(np.int64)
    med_area = np.array([m for m, _ in params.area_km2])[grid_type]
    sd_area = np.array([s for _, s in params.area_km2])[grid_type]
    area = np.maximum(np.round(med_area * np.exp(sd_area * rng.standard_normal(n_grids)), 3), 0.001)

    # Towns are blocks of cells; districts are blocks of towns (about a dozen in a big city).
    tb = params.town_block
    town_rows, town_cols = -(-rows // tb), -(-cols // tb)
    db = max(2, round(max(town_rows, town_cols) / 3.5))
    town_code = (r // tb) * town_cols + (c // tb)
    district_code = (r // (tb * db)) * (-(-town_cols // db)) + (c // (tb * db))
    town = _block_labels(town_code, "Town", 3)
    district = _block_labels(district_code, "District", 2)
    # Number grids within their town in reading order.
    order = np.lexsort((np.arange(n_grids), town_code))
    within = np.empty(n_grids, dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(town_code[order])) + 1]
    counts = np.diff(np.r_[starts, n_grids])
    within[order] = np.arange(n_grids) - np.repeat(starts, counts) + 1
    name = np.array([f"{t} Grid {w:03d}" for t, w in zip(town, within, strict=True)], dtype=object)

    # Geometry: cell squares whose shared edges use identical coordinates, so queen
    # contiguity computed from geometry_wkt equals the adjacency table.
    dx, dy = params.cell_deg
    lon0 = params.centre[0] - cols * dx / 2
    lat0 = params.centre[1] + rows * dy / 2
    x_edge = np.round(lon0 + np.arange(cols + 1) * dx, 6)
    y_edge = np.round(lat0 - np.arange(rows + 1) * dy, 6)
    x0, x1, y0, y1 = x_edge[c], x_edge[c + 1], y_edge[r + 1], y_edge[r]
    wkt = [
        f"POLYGON (({a:.6f} {b:.6f}, {e:.6f} {b:.6f}, {e:.6f} {d:.6f}, {a:.6f} {d:.6f}, "
        f"{a:.6f} {b:.6f}))"
        for a, b, e, d in zip(x0, y0, x1, y1, strict=True)
    ]
    width = max(6, len(str(n_grids - 1)))
    grid_ids = np.array([f"G{i:0{width}d}" for i in range(n_grids)], dtype=object)

    grids = pd.DataFrame(
        {
            "grid_id": pd.array(grid_ids, dtype="str"),
            "name": pd.array(name, dtype="str"),
            "population": population,
            "area_km2": area,
            "grid_type": pd.array(np.array(GRID_TYPES, dtype=object)[grid_type], dtype="str"),
            "town": pd.array(town, dtype="str"),
            "district": pd.array(district, dtype="str"),
            "lon": np.round((x0 + x1) / 2, 6),
            "lat": np.round((y0 + y1) / 2, 6),
            "geometry_wkt": pd.array(wkt, dtype="str"),
        }
    )[list(GRIDS.column_names)]

    # Adjacency pairs from the lattice; a < b because ids are zero-padded indices.
    a_parts, b_parts = [], []
    for di, dj in _FORWARD:
        nr, nc = r + di, c + dj
        ok = (nr >= 0) & (nr < rows) & (nc >= 0) & (nc < cols)
        nb = np.full(n_grids, -1, dtype=np.int64)
        nb[ok] = index[nr[ok], nc[ok]]
        has = nb >= 0
        src = np.arange(n_grids)[has]
        a_parts.append(np.minimum(src, nb[has]))
        b_parts.append(np.maximum(src, nb[has]))
    pa_, pb_ = np.concatenate(a_parts), np.concatenate(b_parts)
    order = np.lexsort((pb_, pa_))
    pa_, pb_ = pa_[order], pb_[order]
    adjacency = pd.DataFrame(
        {
            "grid_a": pd.array(grid_ids[pa_], dtype="str"),
            "grid_b": pd.array(grid_ids[pb_], dtype="str"),
            "weight": np.ones(len(pa_)),
        }
    )[list(ADJACENCY.column_names)]
    ones = np.ones(2 * len(pa_))
    adj = sp.csr_matrix(
        (ones, (np.r_[pa_, pb_], np.r_[pb_, pa_])), shape=(n_grids, n_grids), dtype=np.float64
    )
    return Layout(
        grids=grids,
        adjacency=adjacency,
        grid_type=grid_type,
        population=population.astype(np.float64),
        periurban=periurban,
        adj=adj,
    )
