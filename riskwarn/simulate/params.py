"""Parameters of the simulated city, grouped by mechanism.

Every number that shapes the simulation lives here, so a benchmark or a test can
change one mechanism (for example switch off self-excitation) without touching
the code, and ``simulation.json`` can record exactly what produced a dataset.

Rates are *weekly* at zero tension and are converted to per-day rates times the
period length, so weekly, monthly and daily cities share one calibration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Grid types, in the order used for integer codes throughout the package.
GRID_TYPES: tuple[str, ...] = ("urban", "industrial", "rural")
URBAN, INDUSTRIAL, RURAL = 0, 1, 2


@dataclass(frozen=True)
class LayoutParams:
    """Lattice, land use, population and area."""

    keep_share: float = 0.78  # share of lattice cells that hold a grid (rest: lakes, hills)
    urban_share: float = 0.35
    industrial_share: float = 0.15
    periurban_cells: int = 3  # non-urban cells within this lattice distance are peri-urban
    town_block: int = 6  # a town is a block of town_block x town_block lattice cells
    cell_deg: tuple[float, float] = (0.006, 0.0055)  # (lon, lat) degrees, ~0.6 km at 23 N
    centre: tuple[float, float] = (113.3, 23.1)  # (lon, lat)
    # (median, log-sd) of lognormal population and area per grid type (urban, industrial, rural)
    population: tuple[tuple[float, float], ...] = ((3500.0, 0.28), (1700.0, 0.30), (780.0, 0.35))
    area_km2: tuple[tuple[float, float], ...] = ((0.32, 0.22), (1.2, 0.30), (4.0, 0.35))


@dataclass(frozen=True)
class ShockParams:
    """Drivers of tension: projects, wage-arrears seasons, local shocks."""

    # Land-requisition / demolition projects: arrivals per grid per year.
    project_rate_urban: float = 0.04
    project_rate_industrial: float = 0.10
    project_rate_rural: float = 0.05
    project_rate_periurban: float = 0.30  # non-urban grids next to the city grow into it
    project_days: tuple[int, int] = (56, 280)  # 8 to 40 weeks
    project_intensity_mean: float = 1.0
    # Wage arrears in the weeks before Lunar New Year.
    season_days: tuple[int, int] = (42, 56)  # 6 to 8 weeks, drawn per year
    season_exposure: tuple[float, float, float] = (0.12, 1.0, 0.08)  # mean by grid type
    season_year_sd: float = 0.5  # log-sd of a grid's exposure from one year to the next
    # Small local shocks (property management, environment): arrivals per grid per year.
    local_rate: tuple[float, float, float] = (3.0, 1.5, 0.3)
    local_days: tuple[int, int] = (14, 56)
    local_intensity_mean: float = 0.5
    local_environment_share: tuple[float, float, float] = (0.35, 0.7, 0.6)


@dataclass(frozen=True)
class DynamicsParams:
    """Latent tension and the escalation intensity."""

    tension_persistence: float = 0.85  # weekly AR(1) coefficient
    tension_diffusion: float = 0.15  # weekly share of tension mixed in from neighbours
    tension_sd: float = 0.5  # stationary sd of the noise part
    grid_effect_sd: float = 0.35  # persistent per-grid level (some areas are always tenser)
    w_project: float = 1.3
    w_project_neighbours: float = 0.3  # spill-over per active neighbouring project
    project_neighbour_cap: float = 2.0
    w_season: float = 1.4
    w_local: float = 0.8
    # log escalation rate per week: b0 + b_type + b_pop*log(pop/2000) + b_tension*x
    #   + b_backlog*log1p(open disputes) + b_precursor*log1p(recent repeat/group petitions)
    #   + a_self*log1p(own decayed escalations) + a_neighbours*log1p(neighbours' ones)
    b0: float = -4.95
    b_type: tuple[float, float, float] = (0.0, 0.35, 0.15)
    b_pop: float = 0.5
    b_tension: float = 1.1
    b_backlog: float = 0.3
    b_precursor: float = 0.35
    a_self: float = 0.45
    a_neighbours: float = 0.25
    # Weekly decay factors (in (0, 1)) of the event memories behind the rate.
    excitation_decay: float = 0.75  # own and neighbours' escalations
    precursor_decay: float = 0.8  # repeat and group petitions
    grievance_decay: float = 0.9  # unsatisfied closed petitions
    max_weekly_rate: float = 20.0  # numerical guard; never reached with default parameters


@dataclass(frozen=True)
class EventParams:
    """Ordinary event volumes and attributes."""

    # weekly events per 1000 residents at zero tension, by grid type (urban, industrial, rural)
    petition_rate: tuple[float, float, float] = (0.14, 0.17, 0.19)
    dispute_rate: tuple[float, float, float] = (0.09, 0.11, 0.10)
    incident_rate: tuple[float, float, float] = (0.07, 0.09, 0.06)
    petition_tension: float = 0.45  # log-rate per unit tension
    dispute_tension: float = 0.35
    incident_tension: float = 0.4
    # logit of P(repeat) = repeat0 + repeat_tension*x + repeat_grievance*log1p(open/unsatisfied)
    repeat0: float = -2.8
    repeat_tension: float = 0.5
    repeat_grievance: float = 0.6
    # logit of P(group of 2-4) = group0 + group_tension*x + group_shock*min(shock, 2)
    group0: float = -3.0
    group_tension: float = 0.6
    group_shock: float = 0.8
    # petition closure: gamma(shape, mean*exp(tension*x)) days; a share stays open much longer
    close_shape: float = 1.5
    close_mean_days: float = 30.0
    close_tension: float = 0.3
    close_stuck_share: float = 0.05
    close_stuck_mean_days: float = 200.0
    unsatisfied0: float = -0.8  # logit of P(unsatisfied) at zero tension
    unsatisfied_tension: float = 0.5
    # dispute resolution: gamma(shape, mean*exp(tension*x)) days; some get stuck
    resolve_shape: float = 0.8
    resolve_mean_days: float = 25.0
    resolve_tension: float = 0.45
    resolve_stuck_share: float = 0.10
    resolve_stuck_mean_days: float = 365.0
    # logit of P(severity 2) for ordinary incidents
    severity2_0: float = -1.4
    severity2_tension: float = 0.7
    # logit of P(an escalation is a collective petition rather than a severe incident)
    collective0: float = -0.6
    collective_shock: float = 1.5


@dataclass(frozen=True)
class InterventionPolicy:
    """A city that acts on its own risk each period, with a known effect.

    Each period the ``capacity`` grids (default: 2 % of the grids, at least one) with the
    highest noisy risk signal, among those not already being treated, get an intervention
    at the period's start; from then on their escalation hazard is multiplied by
    ``1 - effect`` for ``periods`` periods. The signal is what a city sees in its own
    records: the log of one plus its recent escalations and precursors (decayed) plus
    half the log of one plus its open disputes, plus a normal error of sd ``noise`` (not
    the latent tension, which no city observes). The draws of the city's own process
    are those of a city without the policy; the policy has a random stream of its own.
    """

    capacity: int | None = None
    effect: float = 0.3
    periods: int = 8
    noise: float = 0.5
    kind: str = "mediation"

    def capacity_for(self, n_grids: int) -> int:
        """Grids treated per period: ``capacity``, or 2 % of the grids (at least one)."""
        return self.capacity if self.capacity is not None else max(1, round(0.02 * n_grids))


@dataclass(frozen=True)
class LevelBreak:
    """A level shift in every event rate, like a policy change or a new reporting system.

    From period index ``at`` (0-based, ``1 <= at < n_periods``) on, the escalation
    intensity and the rates of ordinary petitions, disputes and incidents are all
    multiplied by ``factor`` (> 0): a real change of level shows in every table, not
    only in the escalations. Only the rates move; tension, shocks and the attributes
    of each event keep their mechanisms, and nothing before ``at`` changes.

    The stocks that feed the escalation rate (open disputes, recent repeat and group
    petitions, recent escalations) follow the new volumes, so the escalation
    probability moves further than ``factor``: about ``factor ** 1.5`` with the
    default parameters (``factor = 2`` gave 2.1 to 3.0 times the probability of the
    same city without the break, ``0.5`` gave 0.34 to 0.45 times, over 15 to 52
    periods after it). The truth file records the true probability throughout.
    """

    at: int
    factor: float


@dataclass(frozen=True)
class SimulationParams:
    """All parameters of :func:`riskwarn.simulate.simulate_city`.

    ``level_break`` is ``None`` (no break, the default) or a :class:`LevelBreak`.
    """

    layout: LayoutParams = field(default_factory=LayoutParams)
    shocks: ShockParams = field(default_factory=ShockParams)
    dynamics: DynamicsParams = field(default_factory=DynamicsParams)
    events: EventParams = field(default_factory=EventParams)
    level_break: LevelBreak | None = None
    interventions: InterventionPolicy | None = None


def parse_policy(text: str) -> InterventionPolicy:
    """``--interventions`` as a policy: ``top`` (the defaults) or ``top:KEY=VALUE,...``
    with ``capacity`` (grids per period), ``effect`` (the share the hazard falls by, in
    [0, 1)), ``periods`` (how long it lasts) and ``noise`` (the signal's error sd)."""
    from riskwarn.errors import RiskwarnError

    name, _, rest = str(text).strip().partition(":")
    usage = (
        "--interventions takes 'top' or e.g. 'top:capacity=20,effect=0.3,periods=8,noise=0.5' "
        "(each period the top grids by a noisy risk signal are treated; the hazard falls "
        "by 'effect' for 'periods' periods)."
    )
    if name != "top":
        raise RiskwarnError(f"unknown policy {name!r}: {usage}")
    values: dict = {}
    kinds = {"capacity": int, "effect": float, "periods": int, "noise": float}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, _, value = part.partition("=")
        if key not in kinds:
            raise RiskwarnError(f"unknown policy setting {key!r}: {usage}")
        try:
            values[key] = kinds[key](value)
        except ValueError:
            raise RiskwarnError(
                f"policy setting {key}={value!r} is not a number: {usage}"
            ) from None
    policy = InterventionPolicy(**values)
    if (
        (policy.capacity is not None and policy.capacity < 1)
        or not 0 <= policy.effect < 1
        or policy.periods < 1
        or policy.noise < 0
    ):
        raise RiskwarnError(
            "the policy needs capacity >= 1, 0 <= effect < 1, periods >= 1 and noise >= 0."
        )
    return policy
