"""Expand grid x period counts and case rows into the contract's event tables.

Attributes are drawn for all rows at once from the state of the row's grid and
period (tension, active shocks, grid type). Escalations become either a severe
incident (severity 3-4) or a collective petition (group size >= 5); ordinary events
never reach those values, so the label "severity >= 3 or group_size >= 5" counts
exactly the simulated escalations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

from riskwarn.data.contract import DISPUTES, INCIDENTS, PETITIONS, RECORDED
from riskwarn.simulate.frames import sequential_ids, take_strings, timestamps
from riskwarn.simulate.params import EventParams
from riskwarn.simulate.periods import US_PER_MINUTE, Timeline
from riskwarn.simulate.process import CaseRows, Dynamics
from riskwarn.simulate.shocks import Shocks

PETITION_CATEGORIES = (
    "land_requisition",
    "demolition",
    "wage_arrears",
    "property_management",
    "environment",
    "social_security",
    "public_services",
    "other",
)
# Background weights by grid type (urban, industrial, rural), one row per category.
_PETITION_BASE = np.array(
    [
        [0.01, 0.03, 0.05],
        [0.03, 0.02, 0.01],
        [0.03, 0.08, 0.03],
        [0.30, 0.08, 0.04],
        [0.12, 0.20, 0.10],
        [0.20, 0.20, 0.25],
        [0.18, 0.12, 0.20],
        [0.10, 0.10, 0.12],
    ]
)
CHANNELS = ("visit", "letter", "hotline", "online")
OUTCOMES = ("resolved", "explained", "not_accepted", "referred")
DISPUTE_CATEGORIES = (
    "neighbourhood",
    "family",
    "labour",
    "land",
    "property",
    "contract",
    "other",
)
_DISPUTE_BASE = np.array(
    [
        [0.30, 0.15, 0.25],
        [0.20, 0.12, 0.22],
        [0.06, 0.25, 0.05],
        [0.02, 0.05, 0.18],
        [0.22, 0.10, 0.06],
        [0.12, 0.18, 0.10],
        [0.08, 0.08, 0.08],
    ]
)
# Median amount in yuan and the share of cases without an amount, per dispute category.
_AMOUNT_MEDIAN = np.array([2_000.0, 10_000.0, 15_000.0, 80_000.0, 30_000.0, 50_000.0, 5_000.0])
_AMOUNT_MISSING = np.array([0.5, 0.5, 0.15, 0.15, 0.15, 0.15, 0.3])
_EXTRA_PARTIES = np.array([0.3, 0.3, 2.5, 2.5, 0.6, 0.4, 0.4])
OPEN_STATUSES = ("unresolved", "in_progress", "referred", "unknown")
INCIDENT_TYPES = (
    "quarrel",
    "noise",
    "public_order",
    "traffic",
    "fire_hazard",
    "property_damage",
    "other",
)
_INCIDENT_BASE = np.array(
    [
        [0.25, 0.20, 0.30],
        [0.20, 0.08, 0.05],
        [0.15, 0.15, 0.15],
        [0.15, 0.20, 0.15],
        [0.08, 0.15, 0.10],
        [0.10, 0.12, 0.12],
        [0.07, 0.10, 0.13],
    ]
)
ESCALATION_INCIDENT_TYPES = ("mass_gathering", "road_blockade", "confrontation", "site_occupation")


@dataclass(frozen=True)
class EventTables:
    """The three event tables (contract columns, sorted by time, ids in time order)."""

    petitions: pd.DataFrame
    disputes: pd.DataFrame
    incidents: pd.DataFrame


def _columns(spec) -> list[str]:
    # recorded_at is added when a city is written with delays (riskwarn.simulate.delays)
    return [c for c in spec.column_names if c != RECORDED]


def _choose(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One draw per row from unnormalised ``weights`` of shape (m, k); returns codes (m,)."""
    cum = np.cumsum(weights, axis=1)
    u = rng.random(len(weights)) * cum[:, -1]
    return np.minimum((cum < u[:, None]).sum(axis=1), weights.shape[1] - 1)


def _choose_fixed(
    rng: np.random.Generator, p: tuple[float, ...] | np.ndarray, m: int
) -> np.ndarray:
    """``m`` draws of codes 0..len(p)-1 with probabilities proportional to ``p``."""
    return rng.choice(len(p), size=m, p=np.asarray(p) / np.sum(p))


def _time_order(t_us: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Stable order by time then grid, so case numbers run in time order."""
    return np.lexsort((np.arange(len(t_us)), grid, t_us))


def _escalation_rows(
    dyn: Dynamics,
    shocks: Shocks,
    rng: np.random.Generator,
    collective0: float,
    collective_shock: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid, period and kind (True = collective petition) of each escalation, shape (k,)."""
    n, n_t = dyn.escalations.shape
    flat = np.repeat(np.arange(n * n_t), dyn.escalations.ravel())
    grid, period = np.divmod(flat, n_t)
    shock = np.minimum(shocks.project[grid, period] + shocks.season[grid, period], 2.0)
    collective = rng.random(len(grid)) < expit(collective0 + collective_shock * shock)
    return grid, period, collective


def _uniform_times(rng: np.random.Generator, timeline: Timeline, period: np.ndarray) -> np.ndarray:
    """A uniform time in each row's period, floored to the minute (epoch microseconds)."""
    start = timeline.edges_us[period]
    length = timeline.edges_us[period + 1] - start
    return (
        start + (rng.random(len(period)) * length // US_PER_MINUTE).astype(np.int64) * US_PER_MINUTE
    )


def build_events(
    timeline: Timeline,
    grid_ids: np.ndarray,
    grid_type: np.ndarray,
    dyn: Dynamics,
    shocks: Shocks,
    rng: np.random.Generator,
    params: EventParams,
) -> EventTables:
    """Turn the dynamics into petitions, disputes and incidents tables.

    Parameters
    ----------
    timeline : Timeline
    grid_ids : np.ndarray of object, shape (n_grids,)
    grid_type : np.ndarray of int8, shape (n_grids,)
    dyn : Dynamics
    shocks : Shocks
    rng : numpy.random.Generator
    params : EventParams
        Uses ``collective0``/``collective_shock`` (which escalations are collective
        petitions) and ``severity2_0``/``severity2_tension`` (ordinary incidents).

    Returns
    -------
    EventTables
    """
    esc_grid, esc_period, esc_collective = _escalation_rows(
        dyn, shocks, rng, params.collective0, params.collective_shock
    )
    petitions = _petitions(
        timeline,
        grid_ids,
        grid_type,
        dyn,
        shocks,
        rng,
        esc_grid[esc_collective],
        esc_period[esc_collective],
    )
    disputes = _disputes(timeline, grid_ids, grid_type, dyn.disputes, shocks, rng)
    incidents = _incidents(
        timeline,
        grid_ids,
        grid_type,
        dyn,
        rng,
        esc_grid[~esc_collective],
        esc_period[~esc_collective],
        params.severity2_0,
        params.severity2_tension,
    )
    return EventTables(petitions=petitions, disputes=disputes, incidents=incidents)


def _petitions(
    timeline: Timeline,
    grid_ids: np.ndarray,
    grid_type: np.ndarray,
    dyn: Dynamics,
    shocks: Shocks,
    rng: np.random.Generator,
    col_grid: np.ndarray,
    col_period: np.ndarray,
) -> pd.DataFrame:
    rows: CaseRows = dyn.petitions
    m_o, m_c = len(rows.grid), len(col_grid)
    grid = np.r_[rows.grid, col_grid]
    period = np.r_[rows.period, col_period]
    collective = np.r_[np.zeros(m_o, dtype=bool), np.ones(m_c, dtype=bool)]
    x = dyn.tension[grid, period]
    gtype = grid_type[grid]

    # Collective petitions: mostly people who have petitioned before, closed slowly.
    col_x = x[m_o:]
    col_received = _uniform_times(rng, timeline, col_period)
    col_delay = rng.gamma(1.5, 30.0 * np.exp(0.3 * col_x), size=m_c)
    col_closed = col_received + (col_delay * 1440).astype(np.int64) * US_PER_MINUTE
    received = np.r_[rows.opened_us, col_received]
    closed_us = np.r_[rows.done_us, col_closed]
    is_repeat = np.r_[rows.is_repeat, rng.random(m_c) < expit(0.5 + 0.3 * col_x)]
    unsatisfied = np.r_[rows.unsatisfied, rng.random(m_c) < 0.65]
    is_group = np.r_[rows.is_group, np.zeros(m_c, dtype=bool)]

    # Categories follow the shocks active in the grid; collective petitions even more so.
    shock_mult = np.where(collective, 4.0, 1.0)[:, None]
    weights = _PETITION_BASE[:, gtype].T * np.where(collective, 0.5, 1.0)[:, None]
    weights[:, 0] += shock_mult[:, 0] * 1.5 * shocks.land[grid, period]
    weights[:, 1] += shock_mult[:, 0] * 1.5 * shocks.demolition[grid, period]
    weights[:, 2] += shock_mult[:, 0] * 2.0 * shocks.season[grid, period]
    weights[:, 3] += 1.0 * shocks.property_mgmt[grid, period]
    weights[:, 4] += 1.0 * shocks.environment[grid, period]
    category = _choose(rng, weights)

    channel = np.where(
        collective,
        _choose_fixed(rng, (0.70, 0.10, 0.05, 0.15), len(grid)),
        np.where(
            is_group,
            _choose_fixed(rng, (0.45, 0.10, 0.15, 0.30), len(grid)),
            _choose_fixed(rng, (0.22, 0.08, 0.30, 0.40), len(grid)),
        ),
    )
    group_size = np.where(
        collective,
        4 + np.ceil(rng.lognormal(1.8, 1.0, size=len(grid))).astype(np.int64),
        np.where(is_group, 2 + rng.binomial(2, 0.3, size=len(grid)), 1),
    )
    # Levels climb with tension and with repeated or group petitioning.
    p_up = expit(-1.6 + 0.35 * x + 0.9 * is_repeat + 0.4 * is_group)
    level = np.where(
        collective,
        2 + rng.binomial(4, expit(-0.3 + 0.3 * x)),
        1 + rng.binomial(5, p_up),
    )
    is_closed = closed_us < timeline.edges_us[-1]
    outcome_code = np.where(
        unsatisfied,
        _choose_fixed(rng, (0.15, 0.40, 0.30, 0.15), len(grid)),
        _choose_fixed(rng, (0.70, 0.30, 0.0, 0.0), len(grid)),
    )
    outcome_code[~is_closed] = len(OUTCOMES)  # the missing slot: not closed at extraction

    order = _time_order(received, grid)
    tz = timeline.timezone
    satisfied = pd.arrays.BooleanArray(~unsatisfied[order], ~is_closed[order])
    frame = pd.DataFrame(
        {
            "case_id": sequential_ids("P", len(order)),
            "grid_id": take_strings(grid_ids, grid[order]),
            "received_at": timestamps(received[order], tz),
            "category": take_strings(PETITION_CATEGORIES, category[order]),
            "channel": take_strings(CHANNELS, channel[order]),
            "group_size": group_size[order].astype(np.int64),
            "is_repeat": is_repeat[order],
            "level": level[order].astype(np.int64),
            "closed_at": timestamps(closed_us[order], tz, ~is_closed[order]),
            "outcome": take_strings((*OUTCOMES, None), outcome_code[order]),
            "satisfied": satisfied,
        }
    )
    return frame[_columns(PETITIONS)]


def _disputes(
    timeline: Timeline,
    grid_ids: np.ndarray,
    grid_type: np.ndarray,
    rows: CaseRows,
    shocks: Shocks,
    rng: np.random.Generator,
) -> pd.DataFrame:
    grid, period = rows.grid, rows.period
    m = len(grid)
    weights = _DISPUTE_BASE[:, grid_type[grid]].T.copy()
    weights[:, 2] += 2.0 * shocks.season[grid, period]
    weights[:, 3] += 1.5 * shocks.land[grid, period]
    weights[:, 4] += 1.0 * (shocks.demolition[grid, period] + shocks.property_mgmt[grid, period])
    category = _choose(rng, weights)
    parties = 2 + rng.poisson(_EXTRA_PARTIES[category])
    amount = np.round(_AMOUNT_MEDIAN[category] * np.exp(rng.standard_normal(m)), 0)
    amount[rng.random(m) < _AMOUNT_MISSING[category]] = np.nan
    # Status is what is true at extraction: resolved exactly when resolved_at is known.
    is_resolved = rows.done_us < timeline.edges_us[-1]
    open_status = _choose_fixed(rng, (0.45, 0.33, 0.17, 0.05), m)
    status = np.where(is_resolved, 0, 1 + open_status)

    order = _time_order(rows.opened_us, grid)
    tz = timeline.timezone
    frame = pd.DataFrame(
        {
            "case_id": sequential_ids("D", m),
            "grid_id": take_strings(grid_ids, grid[order]),
            "reported_at": timestamps(rows.opened_us[order], tz),
            "category": take_strings(DISPUTE_CATEGORIES, category[order]),
            "parties": parties[order].astype(np.int64),
            "status": take_strings(("resolved", *OPEN_STATUSES), status[order]),
            "resolved_at": timestamps(rows.done_us[order], tz, ~is_resolved[order]),
            "amount": amount[order],
        }
    )
    return frame[_columns(DISPUTES)]


def _incidents(
    timeline: Timeline,
    grid_ids: np.ndarray,
    grid_type: np.ndarray,
    dyn: Dynamics,
    rng: np.random.Generator,
    esc_grid: np.ndarray,
    esc_period: np.ndarray,
    severity2_0: float,
    severity2_tension: float,
) -> pd.DataFrame:
    n, n_t = dyn.incidents.shape
    flat = np.repeat(np.arange(n * n_t), dyn.incidents.ravel())
    o_grid, o_period = np.divmod(flat, n_t)
    m_o, m_e = len(o_grid), len(esc_grid)
    grid = np.r_[o_grid, esc_grid]
    period = np.r_[o_period, esc_period]
    severe = np.r_[np.zeros(m_o, dtype=bool), np.ones(m_e, dtype=bool)]
    x = dyn.tension[grid, period]
    occurred = _uniform_times(rng, timeline, period)

    # Ordinary incidents turn more serious (severity 2) as tension rises: a precursor.
    sev2 = rng.random(len(grid)) < expit(severity2_0 + severity2_tension * x)
    sev4 = rng.random(len(grid)) < expit(-1.6 + 0.5 * x)
    severity = np.where(severe, np.where(sev4, 4, 3), np.where(sev2, 2, 1))
    ordinary_type = _choose(rng, _INCIDENT_BASE[:, grid_type[grid]].T)
    severe_type = _choose_fixed(rng, (0.35, 0.25, 0.25, 0.15), len(grid))
    itype = np.where(severe, len(INCIDENT_TYPES) + severe_type, ordinary_type)
    crowd = 10 + np.floor(rng.lognormal(3.0, 0.8, size=len(grid))).astype(np.int64)
    participants = np.where(
        severe,
        np.where(severity == 4, 2 * crowd, crowd),
        np.where(
            severity == 2, 2 + rng.poisson(3.0, size=len(grid)), rng.poisson(1.5, size=len(grid))
        ),
    )

    order = _time_order(occurred, grid)
    frame = pd.DataFrame(
        {
            "event_id": sequential_ids("I", len(order)),
            "grid_id": take_strings(grid_ids, grid[order]),
            "occurred_at": timestamps(occurred[order], timeline.timezone),
            "type": take_strings(INCIDENT_TYPES + ESCALATION_INCIDENT_TYPES, itype[order]),
            "severity": severity[order].astype(np.int64),
            "participants": participants[order].astype(np.int64),
        }
    )
    return frame[_columns(INCIDENTS)]
