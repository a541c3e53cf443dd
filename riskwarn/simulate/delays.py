"""Reporting delays: when each simulated record entered the system (``recorded_at``).

Real platforms enter most records the day they happen and some much later: a
mediation case written up after it closed, an incident entered in a monthly
clean-up. Each table gets a mixture: a share entered within hours, gamma-distributed
delays of days for the rest, and a long exponential tail for a few (longest for
disputes and incidents). A record whose delay carries it past the extraction moment
is not in the export at all, as in a real one. The delays come from their own seeded
stream, so writing a city with or without them leaves its events unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskwarn.data.contract import EVENT_TABLES, RECORDED, TABLES


@dataclass(frozen=True)
class RecordingDelay:
    """Delay mixture of one table, in days: ``same_day`` share within 0-3 hours; else
    gamma(``shape``, ``scale``); a ``tail`` share exponential with mean ``tail_mean``."""

    same_day: float
    shape: float
    scale: float
    tail: float
    tail_mean: float


DELAYS = {
    "petitions": RecordingDelay(same_day=0.70, shape=1.2, scale=1.5, tail=0.02, tail_mean=20.0),
    "disputes": RecordingDelay(same_day=0.35, shape=1.5, scale=4.0, tail=0.10, tail_mean=45.0),
    "incidents": RecordingDelay(same_day=0.55, shape=1.0, scale=3.0, tail=0.06, tail_mean=60.0),
}
_STREAM = 0x5EC0D  # the delays' own random stream beside the city's seed


def recording_delays(rng: np.random.Generator, delay: RecordingDelay, n: int) -> np.ndarray:
    """Delays in days, shape (n,), all >= 0."""
    kind = rng.random(n)
    days = rng.gamma(delay.shape, delay.scale, size=n)
    hours = rng.uniform(0.0, 3.0, size=n) / 24.0
    tail = rng.exponential(delay.tail_mean, size=n)
    return np.where(
        kind < delay.same_day, hours, np.where(kind < delay.same_day + delay.tail, tail, days)
    )


def with_recorded_at(
    tables: dict[str, pd.DataFrame], seed: int, end: pd.Timestamp, scale: float = 1.0
) -> dict[str, pd.DataFrame]:
    """Event tables gain ``recorded_at``; rows recorded at or after ``end`` are dropped.

    Parameters
    ----------
    tables : dict of str to DataFrame
        The city's tables; only the event tables change (copies).
    seed : int
        The city's seed.
    end : Timestamp
        The extraction moment (tz-aware).
    scale : float
        Every delay times this (> 0): 4 is a platform where records come in weeks late.
    """
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale!r}")
    rng = np.random.default_rng([int(seed), _STREAM])
    out = dict(tables)
    for name in EVENT_TABLES:
        frame = tables[name]
        when = frame[TABLES[name].time_column]
        days = recording_delays(rng, DELAYS[name], len(frame)) * scale
        # whole seconds: every file format and reader keeps them exactly
        recorded = when + pd.to_timedelta(np.round(days * 86400.0), unit="s")
        f = frame.assign(**{RECORDED: recorded})
        out[name] = f[f[RECORDED] < end].reset_index(drop=True)
    return out
