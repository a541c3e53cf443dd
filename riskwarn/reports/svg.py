"""Inline SVG for the report: the map of grids by tier and the trend lines.

Plain SVG text, no plotting library and no external files, so the report stays one
self-contained page that prints cleanly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from html import escape

import numpy as np

TIER_COLOURS = {1: "#b2182b", 2: "#ef8a62", 3: "#fddbc7", None: "#e6e6e6"}
LOWER_TIER_COLOUR = "#fef0e9"
"""Tiers beyond 3 (a config may ask for more) share one pale colour."""


def tier_colour(tier: int | None) -> str:
    """Fill colour of a tier; ``None`` is a grid in no tier."""
    return TIER_COLOURS.get(tier, LOWER_TIER_COLOUR)


def _rings(geometry: Mapping) -> list[list[list[float]]]:
    kind, coords = geometry.get("type"), geometry.get("coordinates")
    if kind == "Polygon":
        return list(coords)
    if kind == "MultiPolygon":
        return [ring for polygon in coords for ring in polygon]
    return []


def _point(geometry: Mapping) -> tuple[float, float] | None:
    if geometry.get("type") == "Point":
        lon, lat = geometry["coordinates"][:2]
        return float(lon), float(lat)
    return None


@dataclass(frozen=True)
class MapGrid:
    """What the map shows of one grid: its tier, its hover label and its town."""

    tier: int | None
    tip: str
    town: str | None = None


def _nice_length(km: float) -> float:
    """The largest of 1, 2, 5 × 10^n km not above ``km``."""
    if km <= 0:
        return 0.0
    power = 10 ** math.floor(math.log10(km))
    return max(m * power for m in (1, 2, 5) if m * power <= km)


def _path(geom) -> str:
    """SVG path data of a shapely (Multi)Polygon's rings, already in pixels."""
    polygons = getattr(geom, "geoms", [geom])
    parts = []
    for poly in polygons:
        if poly.is_empty or poly.geom_type != "Polygon":
            continue
        for ring in [poly.exterior, *poly.interiors]:
            xy = list(ring.coords)
            parts.append("M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in xy) + "Z")
    return " ".join(parts)


def _town_outlines(
    pieces: Mapping[str, list], radius: float
) -> list[tuple[str, str, float, float]]:
    """Per town: outline path, name and label position, from its grids' pixel shapes.

    Polygons are merged (the town's own boundary, holes and islands kept); points
    get the convex hull of the town's markers, widened by a marker and a half.
    """
    import shapely

    out = []
    for town, geoms in sorted(pieces.items()):
        points = [g for g in geoms if g.geom_type == "Point"]
        areas = [g for g in geoms if g.geom_type != "Point"]
        if areas:
            # A hair of buffer closes the slivers between neighbours whose vertices
            # were rounded differently, so the outline is the town's, not each grid's.
            merged = shapely.union_all([a.buffer(0.3) for a in areas]).buffer(-0.3)
        else:
            merged = shapely.MultiPoint(points).convex_hull.buffer(1.5 * radius)
        if merged.is_empty:
            continue
        spot = merged.representative_point()
        out.append((_path(merged), town, spot.x, spot.y))
    return out


def grid_map(
    shapes: Mapping[str, Mapping],
    grids: Mapping[str, MapGrid],
    *,
    scale_label: str = "{n} km",
    width: int = 640,
) -> str:
    """An SVG map of the grids, each filled by its tier, with towns, a scale and hover labels.

    Every grid carries ``data-tip`` (and a ``<title>``) with its label; the page's
    script shows it on hover and pans and zooms the ``viewport`` group. Grids given
    only as points are drawn as markers sized to the spacing of the grids, so a city
    of centroids reads as a map, not as specks.

    Parameters
    ----------
    shapes : mapping of grid id to GeoJSON geometry (Polygon, MultiPolygon or Point), lon/lat
    grids : mapping of grid id to :class:`MapGrid`
        A grid missing here is drawn untiered, labelled with its id.
    scale_label : str
        The scale bar's text, with ``{n}`` for the number of kilometres.
    width : int
        Width in pixels; the height follows the area's shape.

    Returns
    -------
    str
        ``<svg>`` text, or an empty string when no grid has a usable shape.
    """
    import shapely

    xs, ys = [], []
    for geometry in shapes.values():
        for ring in _rings(geometry):
            xs += [p[0] for p in ring]
            ys += [p[1] for p in ring]
        point = _point(geometry)
        if point:
            xs.append(point[0])
            ys.append(point[1])
    if not xs:
        return ""
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    # Equirectangular, with longitude shrunk by cos(latitude): true shapes at city scale.
    squeeze = math.cos(math.radians((y0 + y1) / 2))
    span_x = max((x1 - x0) * squeeze, 1e-9)
    span_y = max(y1 - y0, 1e-9)
    n_points = sum(1 for g in shapes.values() if _point(g))
    pad = 6
    if n_points:
        # Room for half a marker beyond the outermost centroids.
        pad = 30
    # Fit in a width x width box, keeping the area's proportions.
    scale = min((width - 2 * pad) / span_x, (width - 2 * pad) / span_y)
    if span_x < 1e-6 and span_y < 1e-6:
        scale = 1.0  # one point, or all at one place: no extent to fit
    width = int(math.ceil(span_x * scale + 2 * pad))
    height = int(math.ceil(span_y * scale + 2 * pad)) + 28  # the scale bar below

    def px(lon: float, lat: float) -> tuple[float, float]:
        return pad + (lon - x0) * squeeze * scale, pad + (y1 - lat) * scale

    # Markers: about 40 % of the spacing the grids would have if spread evenly.
    spacing = math.sqrt(max(span_x * span_y * scale * scale, 1.0) / max(n_points, 1))
    radius = float(np.clip(0.4 * spacing, 4.0, 14.0)) if n_points > 1 else 6.0

    def grid_of(grid: str) -> MapGrid:
        return grids.get(grid) or MapGrid(None, grid)

    # Untiered grids first, so the tiered ones are drawn on top.
    order = sorted(shapes, key=lambda g: (-(grid_of(g).tier or 4), g))
    parts = []
    pieces: dict[str, list] = {}
    for grid in order:
        info = grid_of(grid)
        geometry = shapes[grid]
        colour = tier_colour(info.tier)
        tip = escape(info.tip)
        attrs = f'class="grid" data-grid="{escape(grid)}" data-tip="{tip}" fill="{colour}"'
        point = _point(geometry)
        if point:
            x, y = px(*point)
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius:.1f}" {attrs} stroke="#555" '
                f'stroke-width="0.6"><title>{tip}</title></circle>'
            )
            if info.town:
                pieces.setdefault(info.town, []).append(shapely.Point(x, y))
            continue
        rings = [[px(p[0], p[1]) for p in ring] for ring in _rings(geometry)]
        d = " ".join(
            "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in ring) + "Z" for ring in rings if ring
        )
        if d:
            # evenodd: a hole in a polygon stays a hole
            parts.append(f'<path d="{d}" {attrs} fill-rule="evenodd"><title>{tip}</title></path>')
            if info.town:
                shape = shapely.geometry.shape(geometry)
                if not shape.is_valid:
                    shape = shape.buffer(0)
                pieces.setdefault(info.town, []).append(
                    shapely.transform(shape, lambda c: np.column_stack(px(c[:, 0], c[:, 1])))
                )
    towns = _town_outlines(pieces, radius) if pieces else []
    outline = "".join(
        f'<path class="town" d="{d}" fill="none" stroke="#333" stroke-width="1.4" '
        f'stroke-dasharray="{"4 3" if n_points else "none"}"/>'
        for d, _, _, _ in towns
    )
    labels = "".join(
        f'<text class="town-label" x="{x:.1f}" y="{y:.1f}" text-anchor="middle" '
        f'font-size="12" font-weight="600" fill="#222" stroke="#fff" stroke-width="3" '
        f'paint-order="stroke">{escape(name)}</text>'
        for _, name, x, y in towns
    )
    # The scale bar: a round number of km about a fifth of the map's width.
    km_per_px = 111.32 / scale  # one degree of latitude is 111.32 km
    km = _nice_length(0.2 * (width - 2 * pad) * km_per_px)
    bar = km / km_per_px if km else 0.0
    scale_bar = ""
    if bar >= 1:
        shown = f"{km:g}"
        y = height - 12
        scale_bar = (
            f'<g class="scalebar"><path d="M{pad},{y - 5} V{y} H{pad + bar:.1f} V{y - 5}" '
            f'fill="none" stroke="#222" stroke-width="1.5"/>'
            f'<text x="{pad + bar + 6:.1f}" y="{y}" font-size="11" fill="#222">'
            f"{escape(scale_label.format(n=shown))}</text></g>"
        )
    return (
        f'<svg class="map" id="map" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" xmlns="http://www.w3.org/2000/svg">'
        f'<g class="viewport"><g stroke="#ffffff" stroke-width="0.3">{"".join(parts)}</g>'
        f'<g class="towns" pointer-events="none">{outline}{labels}</g>{scale_bar}</g></svg>'
    )


def sparkline(
    values: Iterable[float], top: float, width: int = 84, height: int = 22, label: str = ""
) -> str:
    """A small SVG line of a grid's scores over past watchlists, on a shared 0..``top`` scale.

    A faint line marks the top of the scale and the base; ``label`` (the dates and
    scores) is the hover text.
    """
    v = np.asarray(list(values), dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0 or top <= 0:
        return ""
    pad = 2
    xs = np.linspace(pad, width - pad, len(v)) if len(v) > 1 else np.array([width - pad])
    ys = height - pad - (np.clip(v / top, 0, 1) * (height - 2 * pad))
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
    line = (
        f'<polyline points="{points}" fill="none" stroke="#555" stroke-width="1.2"/>'
        if len(v) > 1
        else ""
    )
    title = f"<title>{escape(label)}</title>" if label else ""
    frame = (
        f'<path d="M{pad},{pad} H{width - pad} M{pad},{height - pad} H{width - pad}" '
        'stroke="#ddd" stroke-width="0.8"/>'
    )
    return (
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg">{title}{frame}{line}'
        f'<circle cx="{xs[-1]:.1f}" cy="{ys[-1]:.1f}" r="2" fill="#b2182b"/></svg>'
    )


def risk_curve(values: Iterable[float], width: int = 60, height: int = 22, label: str = "") -> str:
    """Bars of the risk within 1, 2, … periods on a fixed 0..100 % scale (hover: ``label``).

    A missing value is a gap. The scale is the same in every row, so two grids'
    curves can be compared by eye.
    """
    v = np.asarray([np.nan if x is None else float(x) for x in values], dtype=float)
    if len(v) == 0 or not np.isfinite(v).any():
        return ""
    pad, gap = 1, 2
    bar = max((width - 2 * pad - gap * (len(v) - 1)) / len(v), 1.0)
    rects = []
    for i, p in enumerate(v):
        if not np.isfinite(p):
            continue
        h = float(np.clip(p, 0, 1)) * (height - 2 * pad)
        x = pad + i * (bar + gap)
        rects.append(
            f'<rect x="{x:.1f}" y="{height - pad - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
            'fill="#b2182b"/>'
        )
    title = f"<title>{escape(label)}</title>" if label else ""
    frame = (
        f'<path d="M{pad},{pad} H{width - pad} M{pad},{height - pad} H{width - pad}" '
        'stroke="#ddd" stroke-width="0.8"/>'
    )
    return (
        f'<svg class="curve" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg">{title}{frame}{"".join(rects)}</svg>'
    )
