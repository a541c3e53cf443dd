"""Training samples of a feature table too big for one machine (a province).

The whole panel stays in the engine (Spark, or DuckDB); two samples come out:

- **the training sample**: every labelled row with an escalation and a random
  share of the others, each kept row weighted by the inverse of its class's
  sampling rate, so a model fitted with those weights has the probability scale
  of the full data (the weighted likelihood is an unbiased estimate of the full
  one). The rule is :func:`riskwarn.models.frames.downsample_weights`'s;
- **the backtest sample**: whole grids drawn at random, every row of each, so the
  rolling-origin backtest and its metrics (shares of grids, per date) are those
  of a random part of the province.

Draws are hashes of the grid, the date and the seed: the same rows on every run
and on any number of executors (the hash is the engine's, so Spark and DuckDB
draw different, equally random, samples).
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

_MODULUS = 1_000_003  # a prime: hash values modulo it are close to uniform


def uniform_draw(key: ir.StringValue, seed: int) -> ir.FloatingValue:
    """A number in [0, 1) from the engine's hash of ``key`` and ``seed``."""
    h = key.concat(ibis.literal(f"|{int(seed)}")).hash()
    m = ibis.literal(_MODULUS, "int64")
    return (((h.cast("int64") % m) + m) % m).cast("float64") / _MODULUS


@dataclass(frozen=True)
class SampleRates:
    """How a training sample was drawn: rows and escalations, and the rates kept."""

    n_rows: int
    n_positive: int
    rate_positive: float
    rate_negative: float

    @property
    def expected_rows(self) -> int:
        n_negative = self.n_rows - self.n_positive
        return round(self.n_positive * self.rate_positive + n_negative * self.rate_negative)


def sample_rates(n_rows: int, n_positive: int, max_rows: int) -> SampleRates:
    """The rates that keep about ``max_rows`` rows (all positives while they fit half)."""
    n_negative = n_rows - n_positive
    if n_rows <= max_rows:
        return SampleRates(n_rows, n_positive, 1.0, 1.0)
    keep_negative = max(int(max_rows) - n_positive, int(max_rows) // 2)
    keep_positive = int(max_rows) - keep_negative
    rate_pos = min(keep_positive / n_positive, 1.0) if n_positive else 1.0
    rate_neg = min(keep_negative / n_negative, 1.0) if n_negative else 1.0
    return SampleRates(n_rows, n_positive, rate_pos, rate_neg)


def count_labelled(con, table: ir.Table, label: str) -> tuple[int, int]:
    """``(labelled rows, rows with label 1)`` of ``table``."""
    counts = table.aggregate(
        n=table[label].count(), positive=(table[label] == 1).cast("int64").sum()
    )
    row = con.to_pyarrow(counts).to_pylist()[0]
    return int(row["n"] or 0), int(row["positive"] or 0)


def weighted_sample(table: ir.Table, label: str, rates: SampleRates, seed: int) -> ir.Table:
    """The labelled rows kept at ``rates``, with ``sample_weight`` = 1 / rate."""
    labelled = table.filter(table[label].notnull())
    positive = labelled[label] == 1
    rate = ibis.ifelse(positive, rates.rate_positive, rates.rate_negative)
    key = labelled["grid_id"].concat("|", labelled["as_of"].cast("string"))
    kept = labelled.filter(uniform_draw(key, seed) < rate)
    return kept.mutate(sample_weight=(1.0 / rate.cast("float64")).name("sample_weight"))


def grid_sample(con, table: ir.Table, n_grids: int, seed: int) -> list[str]:
    """``n_grids`` grid ids drawn at random (all grids when there are fewer)."""
    grids = table.select("grid_id").distinct()
    drawn = grids.mutate(u=uniform_draw(grids["grid_id"], seed))
    picked = drawn.order_by(["u", "grid_id"]).limit(int(n_grids))
    return sorted(str(g) for g in con.to_pyarrow(picked)["grid_id"].to_pylist())
