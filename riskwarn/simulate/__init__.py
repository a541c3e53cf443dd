"""Simulated city: grids, petitions, disputes and incidents with a known truth.

The test bed for every model in riskwarn: area-level data only (grids, never
persons), generated from a latent per-grid tension with shocks, diffusion over the
grid graph and self-exciting escalations, so that the true escalation probability
of every grid and period is known.

Modules: ``layout`` (lattice, grids, adjacency), ``shocks`` (projects, wage-arrears
seasons, local shocks), ``process`` (tension and escalation dynamics), ``events``
(counts to event rows), ``lunar`` (Lunar New Year dates), ``periods`` (time line),
``frames`` (fast column builders), ``city`` (``simulate_city``), ``writer``
(``write_city``), ``shapes`` (``DataShape``: which tables and columns are written),
``params`` (all mechanism parameters, the level break included).
"""

from riskwarn.simulate.city import SimulatedCity, simulate_city
from riskwarn.simulate.params import InterventionPolicy, LevelBreak, SimulationParams
from riskwarn.simulate.shapes import DataShape
from riskwarn.simulate.writer import write_city

__all__ = [
    "DataShape",
    "InterventionPolicy",
    "LevelBreak",
    "SimulatedCity",
    "SimulationParams",
    "simulate_city",
    "write_city",
]
