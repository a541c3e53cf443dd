"""Exogenous drivers of tension, as grid x period intensity matrices.

Three kinds of shock push a grid's tension up: land-requisition and demolition
projects (months long, mostly where the city grows into the countryside), the
wage-arrears season before Lunar New Year (industrial grids), and small local
shocks such as a property-management or environmental complaint wave (urban
grids). Each is drawn up front, before the dynamics run, because none of them
depends on what the grids do.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskwarn.lunar import LUNAR_NEW_YEAR
from riskwarn.simulate.params import ShockParams
from riskwarn.simulate.periods import US_PER_DAY, Timeline


@dataclass(frozen=True)
class Shocks:
    """Shock intensities, each of shape (n_grids, n_periods), time-averaged per period.

    Attributes
    ----------
    land, demolition : np.ndarray of float64
        Active land-requisition / demolition project intensity in the grid itself.
    season : np.ndarray of float64
        Wage-arrears pressure: grid exposure x yearly factor x share of the period that
        lies in the season.
    property_mgmt, environment : np.ndarray of float64
        Active small local shocks.
    n_projects : int
        Projects active at some point of the simulated span.
    """

    land: np.ndarray
    demolition: np.ndarray
    season: np.ndarray
    property_mgmt: np.ndarray
    environment: np.ndarray
    n_projects: int

    @property
    def project(self) -> np.ndarray:
        return self.land + self.demolition


def interval_intensity(
    grid: np.ndarray,
    start_day: np.ndarray,
    end_day: np.ndarray,
    intensity: np.ndarray,
    timeline: Timeline,
    n_grids: int,
) -> np.ndarray:
    """Spread intervals ``[start_day, end_day)`` of constant intensity over periods.

    Each period gets ``intensity`` times the share of the period the interval covers,
    so monthly and weekly periods see the same total exposure.

    Parameters
    ----------
    grid : np.ndarray of int, shape (k,)
    start_day, end_day : np.ndarray of float, shape (k,)
        Days since the first period start; may reach outside the span.
    intensity : np.ndarray of float, shape (k,)
    timeline : Timeline
    n_grids : int

    Returns
    -------
    np.ndarray of float64, shape (n_grids, n_periods)
    """
    edges = timeline.edges_day
    n_t = timeline.n_periods
    s = np.maximum(start_day, 0.0)
    e = np.minimum(end_day, edges[-1])
    keep = e > s
    grid, s, e, w = grid[keep], s[keep], e[keep], intensity[keep]
    p0 = np.searchsorted(edges, s, side="right") - 1
    p1 = np.searchsorted(edges, e, side="left") - 1
    # Full weight on periods p0..p1 via a difference array, then take back what the
    # first and last periods are not covered.
    width = n_t + 1
    diff = np.bincount(grid * width + p0, weights=w, minlength=n_grids * width)
    diff -= np.bincount(grid * width + p1 + 1, weights=w, minlength=n_grids * width)
    out = np.cumsum(diff.reshape(n_grids, width), axis=1)[:, :n_t]
    length = timeline.days
    cover0 = (np.minimum(e, edges[p0 + 1]) - s) / length[p0]
    cover1 = (e - np.maximum(s, edges[p1])) / length[p1]
    single = p0 == p1
    miss = np.where(single, 1.0 - (e - s) / length[p0], 1.0 - cover0)
    out -= np.bincount(grid * n_t + p0, weights=w * miss, minlength=n_grids * n_t).reshape(
        n_grids, n_t
    )
    miss1 = np.where(single, 0.0, 1.0 - cover1)
    out -= np.bincount(grid * n_t + p1, weights=w * miss1, minlength=n_grids * n_t).reshape(
        n_grids, n_t
    )
    return np.maximum(out, 0.0)  # cumulative sums leave -1e-16 where nothing is active


def _arrivals(
    rng: np.random.Generator,
    rate_per_year: np.ndarray,
    days: tuple[int, int],
    mean_intensity: float,
    span_days: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Poisson arrivals per grid, including ones that began before the span."""
    lead = float(days[1])  # earlier arrivals could still be running at the start
    counts = rng.poisson(rate_per_year / 365.25 * (span_days + lead))
    grid = np.repeat(np.arange(len(rate_per_year)), counts)
    start = rng.uniform(-lead, span_days, size=len(grid))
    end = start + rng.integers(days[0], days[1] + 1, size=len(grid))
    intensity = rng.gamma(2.0, mean_intensity / 2.0, size=len(grid))
    return grid, start, end, intensity


def _season_share(timeline: Timeline, rng: np.random.Generator, params: ShockParams):
    """Share of each period inside a wage-arrears season, and which season it is.

    Returns
    -------
    share : np.ndarray, shape (n_periods,)
    season_index : np.ndarray of int, shape (n_periods,)
        Index into the tabulated years of the season overlapping the period most.
    """
    years = sorted(LUNAR_NEW_YEAR)
    tz = timeline.timezone
    origin = timeline.edges_us[0]
    share = np.zeros(timeline.n_periods)
    best = np.full(timeline.n_periods, -1.0)
    index = np.zeros(timeline.n_periods, dtype=np.int64)
    for k, year in enumerate(years):
        length = int(rng.integers(params.season_days[0], params.season_days[1] + 1))
        lny: dt.date = LUNAR_NEW_YEAR[year]
        end_us = pd.Timestamp(lny).tz_localize(tz).as_unit("us").value
        end = (end_us - origin) / US_PER_DAY
        start = end - length
        cover = np.clip(
            np.minimum(end, timeline.edges_day[1:]) - np.maximum(start, timeline.edges_day[:-1]),
            0.0,
            None,
        )
        share += cover / timeline.days
        better = cover > best
        index[better] = k
        best[better] = cover[better]
    return share, index


def draw_shocks(
    timeline: Timeline,
    grid_type: np.ndarray,
    periurban: np.ndarray,
    rng: np.random.Generator,
    params: ShockParams,
) -> Shocks:
    """Draw all exogenous shocks for the simulated span.

    Parameters
    ----------
    timeline : Timeline
    grid_type : np.ndarray of int8, shape (n_grids,)
    periurban : np.ndarray of bool, shape (n_grids,)
    rng : numpy.random.Generator
    params : ShockParams

    Returns
    -------
    Shocks
    """
    n = len(grid_type)
    span = float(timeline.edges_day[-1])
    type_rate = np.array(
        [params.project_rate_urban, params.project_rate_industrial, params.project_rate_rural]
    )
    rate = np.where(periurban, params.project_rate_periurban, type_rate[grid_type])
    g, s, e, w = _arrivals(rng, rate, params.project_days, params.project_intensity_mean, span)
    # Requisition of collective land in the countryside, demolition in the built-up city;
    # industrial grids see both.
    p_land = np.array([0.1, 0.5, 0.9])[grid_type[g]]
    is_land = rng.random(len(g)) < p_land
    land = interval_intensity(g[is_land], s[is_land], e[is_land], w[is_land], timeline, n)
    demolition = interval_intensity(g[~is_land], s[~is_land], e[~is_land], w[~is_land], timeline, n)
    n_projects = int(np.count_nonzero((e > 0) & (s < span)))

    share, season_index = _season_share(timeline, rng, params)
    exposure_mean = np.array(params.season_exposure)[grid_type]
    exposure = rng.gamma(1.5, exposure_mean / 1.5)
    # Which employers fall behind changes from one year to the next.
    year_factor = np.exp(
        params.season_year_sd * rng.standard_normal((n, len(LUNAR_NEW_YEAR)))
        - params.season_year_sd**2 / 2
    )
    season = exposure[:, None] * year_factor[:, season_index] * share[None, :]

    lg, ls, le, lw = _arrivals(
        rng,
        np.array(params.local_rate)[grid_type],
        params.local_days,
        params.local_intensity_mean,
        span,
    )
    is_env = rng.random(len(lg)) < np.array(params.local_environment_share)[grid_type[lg]]
    environment = interval_intensity(lg[is_env], ls[is_env], le[is_env], lw[is_env], timeline, n)
    property_mgmt = interval_intensity(
        lg[~is_env], ls[~is_env], le[~is_env], lw[~is_env], timeline, n
    )
    return Shocks(
        land=land,
        demolition=demolition,
        season=season,
        property_mgmt=property_mgmt,
        environment=environment,
        n_projects=n_projects,
    )
