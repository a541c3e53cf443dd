"""Tension and escalation dynamics: the only loop over periods.

Each period, for all grids at once:

1. tension moves across the previous period: it persists (AR(1)), mixes with the
   neighbours' tension over the row-normalised adjacency, relaxes towards the level
   set by that period's shocks and the grid's own long-run level, and takes noise;
2. the state *at the start of the period* is read: tension, the backlog of unresolved
   disputes, a decayed stock of recent repeat and group petitions, the grievance stock
   (open petitions and recent unsatisfied closures) and the decayed count of the grid's
   own and its neighbours' escalations;
3. ordinary events are drawn from rates that scale with population and tension, and
   the escalation count from ``Poisson(mu)`` with

   ``log(mu / weeks) = b0 + b_type + b_pop*log(pop/2000) + b_tension*x
   + b_backlog*log1p(backlog) + b_precursor*log1p(precursors)
   + a_self*log1p(own escalations) + a_neighbours*log1p(neighbours' escalations)``.

   Self-excitation enters through ``log1p`` with ``a_self + a_neighbours < 1``, so the
   rate grows less than linearly in past escalations and the process stays stable.
   A level break (:class:`~riskwarn.simulate.params.LevelBreak`) multiplies ``mu`` and
   the ordinary event rates of the periods from the break on by its factor.

Petitions and disputes are drawn row by row here, because their closing dates feed
the backlog and grievance stocks that later periods read; incidents and escalations
are only counted and become rows in :mod:`riskwarn.simulate.events`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.special import expit

from riskwarn.simulate.params import DynamicsParams, EventParams
from riskwarn.simulate.periods import US_PER_MINUTE, Timeline
from riskwarn.simulate.shocks import Shocks


@dataclass(frozen=True)
class CaseRows:
    """Petition or dispute rows drawn inside the loop, all arrays of shape (n_rows,).

    ``opened_us`` is received_at/reported_at and ``done_us`` closed_at/resolved_at in
    microseconds since the epoch; ``done_us`` may lie after the data's end (then the
    case is still open at extraction). ``is_repeat``, ``is_group`` and ``unsatisfied``
    are only meaningful for petitions.
    """

    grid: np.ndarray
    period: np.ndarray
    opened_us: np.ndarray
    done_us: np.ndarray
    is_repeat: np.ndarray
    is_group: np.ndarray
    unsatisfied: np.ndarray


@dataclass(frozen=True)
class Dynamics:
    """Output of :func:`run_dynamics`; grid x period arrays have shape (n_grids, n_periods).

    Attributes
    ----------
    tension : np.ndarray of float64
        Latent tension at the start of each period.
    mu : np.ndarray of float64
        Expected number of escalations in the period given everything before its start.
    escalations : np.ndarray of int64
        Realised escalation counts.
    incidents : np.ndarray of int64
        Ordinary (severity 1-2) incident counts.
    backlog : np.ndarray of int64
        Unresolved disputes at the start of each period.
    petitions, disputes : CaseRows
    untreated_mu : np.ndarray of float64
        ``mu`` had nothing been done this period (None without a policy).
    treated : np.ndarray of bool
        Whether the grid was being treated in the period (None without a policy).
    interventions : list of (np.ndarray, int)
        The grids chosen at each period.
    signal : np.ndarray of float64
        The city's risk signal per grid and period, the list it acted on (None without
        a policy); grids being treated have no noise drawn (they were not candidates).
    """

    tension: np.ndarray
    mu: np.ndarray
    escalations: np.ndarray
    incidents: np.ndarray
    backlog: np.ndarray
    petitions: CaseRows
    disputes: CaseRows
    untreated_mu: np.ndarray | None = None
    treated: np.ndarray | None = None
    interventions: list | None = None
    signal: np.ndarray | None = None


def _neighbour_mean(adj: sp.csr_matrix) -> sp.csr_matrix:
    """Row-normalised adjacency; an island (no neighbours) averages over itself."""
    deg = np.asarray(adj.sum(axis=1)).ravel()
    island = deg == 0
    w = adj + sp.diags(island.astype(np.float64))
    return sp.diags(1.0 / np.where(island, 1.0, deg)) @ w


def _delay_days(
    rng: np.random.Generator,
    mean_days: np.ndarray,
    shape: float,
    stuck_share: float,
    stuck_mean_days: float,
) -> np.ndarray:
    """Gamma delays, with a share of cases that get stuck (exponential, long mean)."""
    m = len(mean_days)
    regular = rng.gamma(shape, mean_days / shape, size=m)
    stuck = rng.exponential(stuck_mean_days, size=m)
    return np.where(rng.random(m) < stuck_share, stuck, regular)


def _period_of(edges_us: np.ndarray, t_us: np.ndarray) -> np.ndarray:
    """Period index of each time; ``n_periods`` for times at or after the end."""
    return np.minimum(np.searchsorted(edges_us, t_us, side="right") - 1, len(edges_us) - 1)


def _advance_tension(
    x: np.ndarray,
    drive: np.ndarray,
    weeks: float,
    w_mean: sp.csr_matrix,
    rng: np.random.Generator,
    dyn: DynamicsParams,
) -> np.ndarray:
    """Move tension (n,) across a period of ``weeks`` weeks under that period's ``drive``.

    Steps of at most a week: persistence, mixing with the neighbours and noise then
    act alike in weekly, monthly and daily cities (one monthly step would mix less
    and leave more unsmoothed noise, inflating monthly rates).
    """
    steps = max(1, int(np.ceil(weeks - 1e-9)))
    h = weeks / steps
    phi = dyn.tension_persistence**h
    gam = 1.0 - (1.0 - dyn.tension_diffusion) ** h
    noise_sd = dyn.tension_sd * np.sqrt(1.0 - phi**2)
    for _ in range(steps):
        mixed = (1.0 - gam) * x + gam * (w_mean @ x)
        x = phi * mixed + (1.0 - phi) * drive + noise_sd * rng.standard_normal(len(x))
    return x


def _decay(stock: np.ndarray, added: np.ndarray, weekly: float, weeks: float) -> np.ndarray:
    """Exponentially decayed event stock, advanced over a period of ``weeks`` weeks.

    Events of the period are spread uniformly over it, so each counts with its mean
    decay to the period's end. The stock then approximates the same continuous-time
    kernel whatever the period length, and monthly and weekly cities see comparable
    self-excitation instead of a month's events counting four times as much.
    """
    d = weekly**weeks
    rate = -np.log(weekly)
    return d * stock + added * ((1.0 - d) / (weeks * rate))


def _minute_offsets(rng: np.random.Generator, length_us: int, m: int) -> np.ndarray:
    """Uniform offsets in ``[0, length_us)`` floored to the minute (records keep minutes)."""
    return (rng.random(m) * length_us // US_PER_MINUTE).astype(np.int64) * US_PER_MINUTE


def _open_stock_update(
    diff: np.ndarray, grid: np.ndarray, t: int, done_period: np.ndarray, n: int
) -> None:
    """Record cases opened in period ``t`` as open from ``t + 1`` to ``done_period``.

    ``diff`` has shape (n, n_periods + 2); the open stock at the start of period ``s``
    is ``diff[:, 1:s + 1].sum(axis=1)``.
    """
    still_open = done_period > t
    diff[:, t + 1] += np.bincount(grid[still_open], minlength=n)
    np.subtract.at(diff, (grid[still_open], done_period[still_open] + 1), 1)


def run_dynamics(
    timeline: Timeline,
    grid_type: np.ndarray,
    population: np.ndarray,
    adj: sp.csr_matrix,
    shocks: Shocks,
    rng: np.random.Generator,
    dyn: DynamicsParams,
    ev: EventParams,
    rate_factor: np.ndarray | None = None,
    policy=None,
    policy_rng: np.random.Generator | None = None,
) -> Dynamics:
    """Run the grid x period process.

    Parameters
    ----------
    timeline : Timeline
    grid_type : np.ndarray of int8, shape (n_grids,)
    population : np.ndarray of float64, shape (n_grids,)
    adj : scipy.sparse.csr_matrix, shape (n_grids, n_grids)
        Symmetric 0/1 contiguity.
    shocks : Shocks
    rng : numpy.random.Generator
    dyn : DynamicsParams
    ev : EventParams
    rate_factor : np.ndarray of float64, shape (n_periods,), optional
        Multiplier of every event rate (escalations, petitions, disputes, ordinary
        incidents) per period; ``None`` means 1 throughout. It scales rates only, so
        the draws before the first period with a factor other than 1 are unchanged.

    policy : InterventionPolicy, optional
        Interventions chosen each period by a noisy risk signal, lowering the hazard of
        the treated grids (``policy_rng`` draws the signal's noise).

    Returns
    -------
    Dynamics
    """
    n, n_t = len(grid_type), timeline.n_periods
    # Kept only with a policy: a province without one would carry two more
    # grid x period arrays for nothing.
    treated = untreated_mu = signal_out = None
    chosen_at: list[tuple[np.ndarray, int]] = []
    until = np.zeros(n, dtype=np.int64)  # a grid is being treated while t < until
    capacity = 0
    if policy is not None:
        capacity = policy.capacity_for(n)
        treated = np.zeros((n, n_t), dtype=bool)
        untreated_mu = np.empty((n, n_t))
        signal_out = np.empty((n, n_t))
    # A factor of exactly 1.0 leaves every product bit for bit as it was, so the random
    # draws of a city without a break are those of the simulator before breaks existed.
    factor = np.ones(n_t) if rate_factor is None else np.asarray(rate_factor, dtype=np.float64)
    weeks = timeline.days / 7.0
    length_us = np.diff(timeline.edges_us)
    w_mean = _neighbour_mean(adj)

    # The level each grid's tension is pulled towards, period by period.
    grid_effect = dyn.grid_effect_sd * rng.standard_normal(n)
    project = shocks.project
    spill = np.minimum(np.asarray(adj @ project), dyn.project_neighbour_cap)
    drive = (
        grid_effect[:, None]
        + dyn.w_project * project
        + dyn.w_project_neighbours * spill
        + dyn.w_season * shocks.season
        + dyn.w_local * (shocks.property_mgmt + shocks.environment)
    )
    # Shocks that bring people together make group petitions likelier right away.
    group_shock = np.minimum(project + shocks.season, 2.0)

    pop_k = population / 1000.0
    log_pop = np.log(np.maximum(population, 1.0) / 2000.0)
    base_eta = dyn.b0 + np.array(dyn.b_type)[grid_type] + dyn.b_pop * log_pop
    pet_rate = np.array(ev.petition_rate)[grid_type] * pop_k
    dis_rate = np.array(ev.dispute_rate)[grid_type] * pop_k
    inc_rate = np.array(ev.incident_rate)[grid_type] * pop_k

    tension = np.empty((n, n_t))
    mu = np.empty((n, n_t))
    escalations = np.zeros((n, n_t), dtype=np.int64)
    incidents = np.zeros((n, n_t), dtype=np.int64)
    backlog_out = np.zeros((n, n_t), dtype=np.int64)
    dispute_diff = np.zeros((n, n_t + 2), dtype=np.int64)
    petition_diff = np.zeros((n, n_t + 2), dtype=np.int64)
    unsatisfied_in = np.zeros((n, n_t + 1), dtype=np.int64)
    backlog = np.zeros(n, dtype=np.int64)
    open_petitions = np.zeros(n, dtype=np.int64)
    grievance = np.zeros(n)
    precursors = np.zeros(n)
    excitation = np.zeros(n)
    last_precursors = np.zeros(n)
    pet_parts: list[tuple[np.ndarray, ...]] = []
    dis_parts: list[tuple[np.ndarray, ...]] = []

    x = drive[:, 0] + dyn.tension_sd * rng.standard_normal(n)  # start near stationarity
    for t in range(n_t):
        if t > 0:
            k_prev = weeks[t - 1]
            x = _advance_tension(x, drive[:, t - 1], k_prev, w_mean, rng, dyn)
            # Decayed stocks: what happened before this period's start.
            excitation = _decay(excitation, escalations[:, t - 1], dyn.excitation_decay, k_prev)
            precursors = _decay(precursors, last_precursors, dyn.precursor_decay, k_prev)
            grievance = _decay(grievance, unsatisfied_in[:, t - 1], dyn.grievance_decay, k_prev)
            backlog = backlog + dispute_diff[:, t]
            open_petitions = open_petitions + petition_diff[:, t]
        tension[:, t] = x
        backlog_out[:, t] = backlog
        k = weeks[t]
        f = factor[t]

        eta = (
            base_eta
            + dyn.b_tension * x
            + dyn.b_backlog * np.log1p(backlog)
            + dyn.b_precursor * np.log1p(precursors)
            + dyn.a_self * np.log1p(excitation)
            + dyn.a_neighbours * np.log1p(adj @ excitation)
        )
        # The break scales the weekly rate before the numerical guard caps it.
        mu[:, t] = np.minimum(np.exp(eta) * f, dyn.max_weekly_rate) * k
        if policy is not None:
            untreated_mu[:, t] = mu[:, t]
            free = np.flatnonzero(until <= t)
            # what the city sees: its recent escalations, precursors and open disputes
            # (recorded events, decayed), not the latent tension
            signal = np.log1p(excitation) + np.log1p(precursors) + 0.5 * np.log1p(backlog)
            signal[free] += policy.noise * policy_rng.standard_normal(len(free))
            signal_out[:, t] = signal
            pick = free[np.argsort(-signal[free], kind="stable")[:capacity]]
            until[pick] = t + policy.periods
            chosen_at.append((pick, t))
            treated[:, t] = until > t
            mu[treated[:, t], t] *= 1.0 - policy.effect
        escalations[:, t] = rng.poisson(mu[:, t])
        incidents[:, t] = rng.poisson(inc_rate * np.exp(ev.incident_tension * x) * k * f)

        # Petitions.
        n_p = rng.poisson(pet_rate * np.exp(ev.petition_tension * x) * k * f)
        g = np.repeat(np.arange(n), n_p)
        m = len(g)
        received = timeline.edges_us[t] + _minute_offsets(rng, int(length_us[t]), m)
        p_repeat = expit(
            ev.repeat0
            + ev.repeat_tension * x
            + ev.repeat_grievance * np.log1p(open_petitions + grievance)
        )
        is_repeat = rng.random(m) < p_repeat[g]
        p_group = expit(ev.group0 + ev.group_tension * x + ev.group_shock * group_shock[:, t])
        is_group = rng.random(m) < p_group[g]
        delay = _delay_days(
            rng,
            ev.close_mean_days * np.exp(ev.close_tension * x[g]),
            ev.close_shape,
            ev.close_stuck_share,
            ev.close_stuck_mean_days,
        )
        closed = received + (delay * 1440).astype(np.int64) * US_PER_MINUTE
        unsatisfied = rng.random(m) < expit(ev.unsatisfied0 + ev.unsatisfied_tension * x)[g]
        c = _period_of(timeline.edges_us, closed)
        _open_stock_update(petition_diff, g, t, c, n)
        hit = unsatisfied & (c < n_t)
        np.add.at(unsatisfied_in, (g[hit], c[hit]), 1)
        last_precursors = np.bincount(g[is_repeat | is_group], minlength=n).astype(np.float64)
        pet_parts.append((g, received, closed, is_repeat, is_group, unsatisfied))

        # Disputes: slower to resolve where tension is high, so a backlog builds up.
        n_d = rng.poisson(dis_rate * np.exp(ev.dispute_tension * x) * k * f)
        gd = np.repeat(np.arange(n), n_d)
        reported = timeline.edges_us[t] + _minute_offsets(rng, int(length_us[t]), len(gd))
        delay = _delay_days(
            rng,
            ev.resolve_mean_days * np.exp(ev.resolve_tension * x[gd]),
            ev.resolve_shape,
            ev.resolve_stuck_share,
            ev.resolve_stuck_mean_days,
        )
        resolved = reported + (delay * 1440).astype(np.int64) * US_PER_MINUTE
        _open_stock_update(dispute_diff, gd, t, _period_of(timeline.edges_us, resolved), n)
        dis_parts.append((gd, reported, resolved))

    return Dynamics(
        tension=tension,
        mu=mu,
        untreated_mu=untreated_mu,
        treated=treated,
        interventions=chosen_at,
        signal=signal_out,
        escalations=escalations,
        incidents=incidents,
        backlog=backlog_out,
        petitions=_stack(pet_parts, with_flags=True),
        disputes=_stack(dis_parts, with_flags=False),
    )


def _stack(parts: list[tuple[np.ndarray, ...]], *, with_flags: bool) -> CaseRows:
    """Concatenate per-period row blocks; the period index is the block number."""
    period = np.repeat(np.arange(len(parts)), [len(p[0]) for p in parts])
    cols = [np.concatenate([p[i] for p in parts]) for i in range(len(parts[0]))]
    if with_flags:
        grid, opened, done, is_repeat, is_group, unsatisfied = cols
    else:
        grid, opened, done = cols
        is_repeat = is_group = unsatisfied = np.zeros(len(grid), dtype=bool)
    return CaseRows(
        grid=grid,
        period=period,
        opened_us=opened,
        done_us=done,
        is_repeat=is_repeat,
        is_group=is_group,
        unsatisfied=unsatisfied,
    )
