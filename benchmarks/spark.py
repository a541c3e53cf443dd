"""Benchmark the feature build on Spark (local mode) against DuckDB, and its scaling.

    python benchmarks/spark.py --sizes 20000,200000 --periods 104 --runs 3 --runs-large 2

For each size, a simulated province of ``grids x periods`` weeks is built with every
label into Parquet by each engine: validate -> load -> build -> write, as
``riskwarn features --labels`` does. Engines:

- ``duckdb``: the embedded default (DuckDB plus the in-memory array kernel);
- ``duckdb-sql``: DuckDB running the window-function kernel that Spark runs;
- ``spark``: Spark in local mode on 2 cores (``local[2]``).

Every run is a fresh process. Its peak memory is sampled from /proc every 0.2 s
over the whole process tree (Spark's JVM and its Python workers are children of
the run), so the figures compare like with like. Spark's driver gets 8 GB
(``RISKWARN_SPARK_DRIVER_MEMORY``). Writes bench_output/spark.json.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from features import OUT, _config, city_parser, ensure_city

# The embedded default runs last at each size: it holds the panel in memory, and
# at 200,000 grids it needs most of this machine.
ENGINES = ("spark", "duckdb-sql", "duckdb")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants, in MB."""
    tree, total, stack = _children(), 0, [pid]
    while stack:
        p = stack.pop()
        stack += tree.get(p, [])
        try:
            with open(f"/proc/{p}/statm") as fh:
                total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    return total / 2**20


def build_run(folder: str, out: str, engine: str) -> dict[str, Any]:
    """validate -> load into the engine -> build every as-of row with labels -> Parquet."""
    from riskwarn.data.validate import load_dataset
    from riskwarn.features.build import prepare_features

    config = _config(Path(folder))
    t0 = time.perf_counter()
    dataset = load_dataset(folder, config)
    t1 = time.perf_counter()
    builder = prepare_features(dataset, config, engine="spark" if engine == "spark" else "duckdb")
    if engine == "duckdb-sql":
        builder.kernel = "sql"
    n_events = int(sum(len(f) for f in dataset.events.values()))
    del dataset
    t2 = time.perf_counter()
    builder.write_parquet(out, labels=True)
    t3 = time.perf_counter()
    builder.close()
    import pyarrow.parquet as pq

    return {
        "validate_s": t1 - t0,
        "load_s": t2 - t1,
        "build_write_s": t3 - t2,
        "total_s": t3 - t0,
        "rows": pq.ParquetDataset(out).read(columns=["grid_id"]).num_rows,
        "events": n_events,
    }


def _child(conn, folder: str, out: str, engine: str) -> None:
    try:
        conn.send(build_run(folder, out, engine))
    except BaseException as exc:  # report, don't hang the parent
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        conn.close()


def measured(folder: Path, engine: str, out: Path) -> dict[str, Any]:
    """One run in a fresh process, with the process tree's peak memory."""
    import shutil

    if out.exists():
        shutil.rmtree(out) if out.is_dir() else out.unlink()
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, str(folder), str(out), engine))
    proc.start()
    peak = 0.0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_mb(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = parent.recv()
    except EOFError:  # the run died without a word: killed, out of memory most likely
        result = {"error": "the run's process died"}
    proc.join()
    if proc.exitcode:
        result.setdefault("error", f"exit code {proc.exitcode}")
    done.set()
    sampler.join()
    result["peak_tree_mb"] = round(peak, 1)
    return result


def main() -> None:
    ap = city_parser(__doc__)
    ap.set_defaults(periods=104)
    ap.add_argument("--sizes", default="20000,200000", help="comma-separated grid counts")
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--runs-large", type=int, default=2, help="runs for sizes above the smallest")
    args = ap.parse_args()
    # The driver's JVM is where local mode's executors run: 8 GB of this machine's 24.
    os.environ.setdefault("RISKWARN_SPARK_DRIVER_MEMORY", "8g")
    sizes = [int(s) for s in args.sizes.split(",")]
    engines = args.engines.split(",")
    summary: dict[str, Any] = {"benchmark": "spark", "periods": args.periods, "results": []}
    OUT.mkdir(exist_ok=True)
    for grids in sizes:
        folder = ensure_city(grids, args.periods, args.seed)
        for engine in engines:
            runs = []
            n_runs = args.runs if grids == min(sizes) or not args.runs_large else args.runs_large
            for i in range(n_runs):
                out = OUT / f"spark_bench_{engine}_{grids}.parquet"
                r = measured(folder, engine, out)
                print(f"{grids:>7} grids  {engine:<10} run {i + 1}: {json.dumps(r)}", flush=True)
                runs.append(r)
                if "error" in r:
                    break
            ok = [r for r in runs if "error" not in r]
            row = {"grids": grids, "engine": engine, "runs": runs}
            if ok:
                row["total_s_median"] = statistics.median(r["total_s"] for r in ok)
                row["build_write_s_median"] = statistics.median(r["build_write_s"] for r in ok)
                row["peak_tree_mb_median"] = statistics.median(r["peak_tree_mb"] for r in ok)
                row["rows"] = ok[0]["rows"]
            summary["results"].append(row)
            (OUT / "spark.json").write_text(json.dumps(summary, indent=1))
    by = {(r["grids"], r["engine"]): r for r in summary["results"] if "total_s_median" in r}
    if len(sizes) > 1:
        small, large = min(sizes), max(sizes)
        for engine in engines:
            if (small, engine) in by and (large, engine) in by:
                ratio = (
                    by[(large, engine)]["total_s_median"] / by[(small, engine)]["total_s_median"]
                )
                summary[f"growth_{engine}"] = {
                    "grids_ratio": large / small,
                    "time_ratio": round(ratio, 2),
                    "linear_or_better": ratio <= large / small,
                }
    (OUT / "spark.json").write_text(json.dumps(summary, indent=1))
    for row in summary["results"]:
        if "total_s_median" in row:
            print(
                f"{row['grids']:>7} grids  {row['engine']:<10} median {row['total_s_median']:.1f} s"
                f" (build+write {row['build_write_s_median']:.1f} s), "
                f"peak {row['peak_tree_mb_median']:.0f} MB"
            )
    for key, value in summary.items():
        if key.startswith("growth_"):
            print(key, value)


if __name__ == "__main__":
    main()
