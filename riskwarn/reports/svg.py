"""Inline SVG for the report: the map of grids by tier and the trend lines.

Plain SVG text, no plotting library and no external files, so the report stays one
self-contained page that prints cleanly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
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


def grid_map(
    shapes: Mapping[str, Mapping],
    tiers: Mapping[str, int | None],
    titles: Mapping[str, str],
    width: int = 640,
) -> str:
    """An SVG map of the grids, each filled by its tier.

    Parameters
    ----------
    shapes : mapping of grid id to GeoJSON geometry (Polygon, MultiPolygon or Point), lon/lat
    tiers : mapping of grid id to tier (1, 2, 3) or None
    titles : mapping of grid id to hover text (only these grids get one)
    width : int
        Width in pixels; the height follows the area's shape.

    Returns
    -------
    str
        ``<svg>`` text, or an empty string when no grid has a usable shape.
    """
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
    pad = 6
    # Fit in a width x width box, keeping the area's proportions.
    scale = min((width - 2 * pad) / span_x, (width - 2 * pad) / span_y)
    width = int(math.ceil(span_x * scale + 2 * pad))
    height = int(math.ceil(span_y * scale + 2 * pad))

    def xy(lon: float, lat: float) -> str:
        return f"{pad + (lon - x0) * squeeze * scale:.1f},{pad + (y1 - lat) * scale:.1f}"

    # Untiered grids first, so the tiered ones are drawn on top.
    order = sorted(shapes, key=lambda g: -(tiers.get(g) or 4))
    parts = []
    for grid in order:
        geometry = shapes[grid]
        colour = tier_colour(tiers.get(grid))
        title = f"<title>{escape(titles[grid])}</title>" if grid in titles else ""
        point = _point(geometry)
        if point:
            x, y = xy(*point).split(",")
            parts.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{colour}">{title}</circle>')
            continue
        d = " ".join(
            "M" + " L".join(xy(p[0], p[1]) for p in ring) + "Z" for ring in _rings(geometry)
        )
        if d:
            # evenodd: a hole in a polygon stays a hole
            parts.append(f'<path d="{d}" fill="{colour}" fill-rule="evenodd">{title}</path>')
    return (
        f'<svg class="map" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" xmlns="http://www.w3.org/2000/svg"><g stroke="#ffffff" '
        f'stroke-width="0.3">{"".join(parts)}</g></svg>'
    )


def sparkline(values: Iterable[float], top: float, width: int = 84, height: int = 22) -> str:
    """A small SVG line of a grid's scores over past watchlists, on a shared 0..``top`` scale."""
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
    return (
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg">{line}'
        f'<circle cx="{xs[-1]:.1f}" cy="{ys[-1]:.1f}" r="2" fill="#b2182b"/></svg>'
    )
