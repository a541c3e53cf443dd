"""The watchlist on Spark: rank, explain and write every grid of a province.

The scores come from the registered model as a Spark UDF; the ranking is one
sort; the explanation (tier, reasons in plain text, change) is
:func:`~riskwarn.scoring.watchlist.watchlist_rows`, the same code the embedded
path runs, applied batch by batch on the executors. Every grid goes to a Parquet
dataset partitioned by as-of date (``watchlist_all/as_of_date=YYYY-MM-DD/``); the
top of the list goes to the usual small files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from riskwarn.backtest.metrics import top_k_size
from riskwarn.scoring.watchlist import extra_columns, watchlist_rows

#: The folder (under the watchlist folder) of the partitioned full watchlist.
PARTITIONED = "watchlist_all"
PARTITION_COLUMN = "as_of_date"

_REASON = (
    "struct<feature: string, text_en: string, text_zh: string, value: double, "
    "contribution: double, suppressed: boolean>"
)


def watchlist_ddl(quantiles: tuple[str, ...], curve: tuple[str, ...]) -> str:
    """The watchlist rows as a Spark DDL schema, for these quantile and curve columns."""
    return (
        "grid_id string, as_of timestamp_ntz, horizon smallint, rank int, score double, "
        "expected_events double, "
        + "".join(f"{q} int, " for q in quantiles)
        + f"tier tinyint, reasons array<{_REASON}>, reasons_en string, "
        "reasons_zh string, prev_rank int, prev_tier tinyint, change string, model_name string, "
        "model_version string, run_id string, data_hash string, generated_at string, "
        "periods_since_intervention smallint" + "".join(f", {c} double" for c in curve)
    )


def rank_on_spark(scored, previous=None):
    """Add ``rank`` (1 = highest score, ties by grid id), ``prev_rank`` and ``prev_tier``.

    One as-of date's grids are ranked in a single ordered window: Spark gathers
    the (few) score columns of every grid on one executor to number them, which is
    what a global rank needs.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    order = Window.orderBy(F.desc("score"), F.asc("grid_id"))
    ranked = scored.withColumn("rank", F.row_number().over(order).cast("int"))
    if previous is None:
        return ranked.withColumn("prev_rank", F.lit(None).cast("int")).withColumn(
            "prev_tier", F.lit(None).cast("tinyint")
        )
    return ranked.join(previous, "grid_id", "left")


def explain_on_spark(ranked, n: int, **settings):
    """The watchlist rows of a ranked Spark frame, explained batch by batch.

    ``settings`` are :func:`~riskwarn.scoring.watchlist.watchlist_rows`' keywords
    (horizon, manifest, tiers, suppress_below, provenance).
    """
    quantiles, curve = extra_columns(ranked)
    nullable = ("tier", "prev_rank", "prev_tier", *quantiles)

    def explain(batches):
        for batch in batches:
            rows = watchlist_rows(batch, n, **settings)
            # Arrow wants plain values: nullable integers as floats with NaN would
            # fail the tinyint/int fields, so hand them over as objects with None.
            for col in nullable:
                rows[col] = rows[col].astype(object).where(rows[col].notna(), None)
            yield rows

    return ranked.mapInPandas(explain, watchlist_ddl(quantiles, curve))


def tiered_count(n: int, tiers: tuple[float, ...]) -> int:
    """How many grids are in a tier (the widest tier's share of ``n``)."""
    return top_k_size(n, max(tiers)) if tiers else 0


def write_partition(watchlist, folder: str | Path, day: str, timezone: str) -> Path:
    """Write (or replace) the ``day`` partition of the full watchlist; ``as_of`` as an instant."""
    from pyspark.sql import functions as F

    root = Path(folder) / PARTITIONED
    frame = watchlist.withColumn("as_of", F.to_utc_timestamp(F.col("as_of"), timezone))
    frame = frame.withColumn(PARTITION_COLUMN, F.lit(day))
    # Replace only this date's partition: scoring a date again gives the same files.
    (
        frame.write.mode("overwrite")
        .option("partitionOverwriteMode", "dynamic")
        .partitionBy(PARTITION_COLUMN)
        .parquet(str(root))
    )
    return root


def with_plan_on_spark(watchlist, plan: pd.DataFrame):
    """The Spark watchlist with the plan's ``in_plan`` and ``plan_periods`` after ``tier``."""
    spark = watchlist.sparkSession
    rows = [
        (str(g), None if pd.isna(i) else bool(i), None if pd.isna(p) else int(p))
        for g, i, p in zip(plan["grid_id"], plan["in_plan"], plan["plan_periods"], strict=True)
    ]
    joined = watchlist.join(
        spark.createDataFrame(rows, "grid_id string, in_plan boolean, plan_periods smallint"),
        on="grid_id",
        how="left",
    )
    names = list(watchlist.columns)
    position = names.index("tier") + 1
    return joined.select(*names[:position], "in_plan", "plan_periods", *names[position:])


def partition_frames(root: str | Path, day: str, batch_rows: int = 50_000):
    """Yield the ``day`` partition of the full watchlist as pandas frames of at most
    ``batch_rows`` rows (``as_of`` a UTC instant), without holding it all in memory."""
    import pyarrow.dataset as ds

    folder = Path(root) / f"{PARTITION_COLUMN}={day}"
    for batch in ds.dataset(folder, format="parquet").to_batches(batch_size=batch_rows):
        if batch.num_rows:
            yield batch.to_pandas()


def to_local_rows(top: pd.DataFrame, timezone: str) -> pd.DataFrame:
    """Spark's top rows as the embedded watchlist frame (tz-aware ``as_of``, plain reasons)."""
    out = top.sort_values("rank", kind="stable").reset_index(drop=True)
    out["as_of"] = pd.to_datetime(out["as_of"]).dt.tz_localize(timezone)
    out["reasons"] = [
        [dict(r.asDict() if hasattr(r, "asDict") else r) for r in (rs if rs is not None else [])]
        for rs in out["reasons"]
    ]
    out["horizon"] = out["horizon"].astype(np.int16)
    out["rank"] = out["rank"].astype(np.int32)
    for col, dtype in (
        ("tier", "Int8"),
        ("in_plan", "boolean"),
        ("plan_periods", "Int16"),
        ("prev_rank", "Int32"),
        ("prev_tier", "Int8"),
    ):
        if col not in out:
            continue
        out[col] = pd.array(out[col], dtype=dtype)
    return out
