"""Benchmark the database sink: one scoring's rows into a real PostgreSQL server.

    python benchmarks/sink.py --rows 20000 200000 --runs 5

For each size, a watchlist of that many grids (the watchlist's columns and types, three
reasons per grid in both languages, the default quantiles and a 4-period curve) is
written by :class:`riskwarn.scoring.sink.WatchlistSink` into a server started here
(tests/postgres.py, durable: fsync on), as a rerun of the same as-of date over a
table that already holds the week before and that week's rows (the usual weekly case:
replace, never duplicate). The embedded path hands the frame over in memory; the Spark
path (``--engine spark``) reads Spark's partition of every grid back from Parquet in
batches on the driver, which is what is timed here from a partition written by pyarrow
in Spark's layout (the Spark job before it is timed by benchmarks/spark.py). The time
is the whole transaction: COPY into the staging table, the delete and insert, the card,
the grids, the commit. Medians of ``--runs``. Writes bench_output/sink.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/postgres.py starts the server

from riskwarn.scoring.sink import WatchlistSink  # noqa: E402
from riskwarn.scoring.spark import PARTITION_COLUMN, partition_frames  # noqa: E402
from tests.postgres import SUPERUSER_PASSWORD, PostgresServer  # noqa: E402

OUT = HERE.parent / "bench_output"
ZONE = "Asia/Shanghai"


def watchlist(n: int, as_of: pd.Timestamp, seed: int = 0) -> pd.DataFrame:
    """``n`` grids' watchlist rows of the real columns and types (made up values)."""
    rng = np.random.default_rng(seed)
    score = np.sort(rng.beta(0.6, 12, n))[::-1]
    rank = np.arange(1, n + 1, dtype=np.int32)
    tier = pd.array(np.where(rank <= n // 100, 1, np.where(rank <= n // 20, 2, pd.NA)), "Int8")
    reason = {
        "feature": "pet_n_w4",
        "text_en": "petitions received in the last 4 weeks: 16, about 3× its usual (raises the risk)",
        "text_zh": "最近4周信访件数：16，约为该网格平时的3倍（推高风险）",
        "value": 16.0,
        "contribution": 0.41,
        "suppressed": False,
    }
    reasons = [[reason, {**reason, "feature": "dis_open"}, {**reason, "feature": "inc_n_w13"}]] * n
    frame = pd.DataFrame(
        {
            "grid_id": [f"G{i:07d}" for i in range(n)],
            "as_of": as_of,
            "horizon": np.int16(4),
            "rank": rank,
            "score": score,
            "expected_events": score * 1.3,
            "events_q10": np.zeros(n, dtype=np.int64),
            "events_q90": (score > 0.2).astype(np.int64) + 1,
            "tier": tier,
            "reasons": reasons,
            "reasons_en": "; ".join(r["text_en"] for r in reasons[0]),
            "reasons_zh": "；".join(r["text_zh"] for r in reasons[0]),
            "prev_rank": pd.array(rng.permutation(rank), "Int32"),
            "prev_tier": tier,
            "change": rng.choice(["up", "down", "same"], n),
            "model_name": "riskwarn-escalation",
            "model_version": "3",
            "run_id": "0" * 32,
            "data_hash": "f" * 64,
            "generated_at": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
        }
    )
    for h in range(1, 5):
        frame[f"risk_h{h}"] = 1 - (1 - score) ** (h / 4)
    return frame


def spark_partition(frame: pd.DataFrame, root: Path) -> str:
    """The frame as Spark writes its partition: naive UTC ``as_of``, nullable ints."""
    day = f"{frame['as_of'].iloc[0]:%Y-%m-%d}"
    out = frame.copy()
    out["as_of"] = out["as_of"].dt.tz_convert("UTC").dt.tz_localize(None)
    folder = root / f"{PARTITION_COLUMN}={day}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(out, preserve_index=False), folder / "part-0.parquet")
    return day


def grids(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "grid_id": [f"G{i:07d}" for i in range(n)],
            "name": [f"网格{i}" for i in range(n)],
            "town": [f"镇{i % 97}" for i in range(n)],
        }
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    os.environ["PGPASSWORD"] = SUPERUSER_PASSWORD
    server = PostgresServer(durable=True).start()
    results = []
    try:
        for n in args.rows:
            engine = "spark" if n >= 100_000 else "duckdb"
            week = pd.Timestamp("2026-11-30", tz=ZONE)
            card = {"generated_at": pd.Timestamp.now(tz="UTC").isoformat(), "rows": n}
            sink = WatchlistSink(server.url()).open()
            server.execute("DROP VIEW IF EXISTS riskwarn_watchlist_latest")
            server.execute(
                "DROP TABLE IF EXISTS riskwarn_watchlist, riskwarn_model_card, "
                "riskwarn_grids, riskwarn_schema"
            )
            sink.write([watchlist(n, week - pd.Timedelta(weeks=1))], card, grids(n))
            frame = watchlist(n, week, seed=1)
            with tempfile.TemporaryDirectory() as tmp:
                day = spark_partition(frame, Path(tmp)) if engine == "spark" else None
                times = []
                for run in range(args.runs + 1):  # the first run adds the week: not timed
                    t0 = time.perf_counter()
                    batches = partition_frames(tmp, day) if day else [frame]
                    written = sink.write(batches, card, grids(n))
                    if run:
                        times.append(time.perf_counter() - t0)
                    assert written == n
            total = server.execute("SELECT count(*) FROM riskwarn_watchlist")[0][0]
            assert total == 2 * n, total  # two weeks, the reruns replaced, never added
            sink.close()
            result = {
                "rows": n,
                "path": "spark partition read back by the driver" if day else "in memory",
                "median_s": round(statistics.median(times), 2),
                "runs_s": [round(t, 2) for t in times],
                "rows_per_s": round(n / statistics.median(times)),
            }
            print(json.dumps(result), flush=True)
            results.append(result)
    finally:
        server.stop()
    OUT.mkdir(exist_ok=True)
    summary = {"machine": platform.platform(), "cpus": os.cpu_count(), "results": results}
    (OUT / "sink.json").write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
