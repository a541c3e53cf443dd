"""Benchmark the city simulator: simulate_city + write_city at full size.

Each run happens in a fresh process (multiprocessing 'spawn'), so its peak resident
memory (``ru_maxrss``) is that run's alone and no run warms the next one's caches.

    python benchmarks/simulate.py --grids 20000 --periods 260 --runs 3

Prints a summary and writes it to ``bench_output/simulate.json`` (under the repo).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import platform
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from features import city_parser, rss_mb

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JSON = REPO / "bench_output" / "simulate.json"


def one_run(
    grids: int, periods: int, seed: int, freq: str, fmt: str, out_dir: str
) -> dict[str, Any]:
    """Simulate and write one city; runs in a child process and reports its own figures."""
    from riskwarn.simulate import simulate_city, write_city

    t0 = time.perf_counter()
    city = simulate_city(n_grids=grids, n_periods=periods, seed=seed, freq=freq)
    t1 = time.perf_counter()
    write_city(city, out_dir, fmt=fmt)
    t2 = time.perf_counter()
    peak_mb = rss_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    disk = sum(p.stat().st_size for p in Path(out_dir).rglob("*") if p.is_file())
    return {
        "simulate_seconds": t1 - t0,
        "write_seconds": t2 - t1,
        "seconds": t2 - t0,
        "peak_rss_mb": peak_mb,
        "disk_mb": disk / 1e6,
        "summary": city.summary,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = city_parser(__doc__)
    ap.add_argument("--freq", default="W-MON")
    ap.add_argument("--fmt", default="parquet", choices=["parquet", "csv"])
    ap.add_argument(
        "--out", default=None, help="folder for the city (default: a temporary folder, removed)"
    )
    ap.add_argument("--json", default=str(DEFAULT_JSON), help="where to write the summary")
    args = ap.parse_args(argv)

    out_dir = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="riskwarn-bench-"))
    ctx = mp.get_context("spawn")
    runs = []
    try:
        for k in range(args.runs):
            with ctx.Pool(1) as pool:
                res = pool.apply(
                    one_run,
                    (args.grids, args.periods, args.seed, args.freq, args.fmt, str(out_dir)),
                )
            runs.append(res)
            print(
                f"run {k + 1}/{args.runs}: {res['seconds']:.1f} s "
                f"(simulate {res['simulate_seconds']:.1f} s, write {res['write_seconds']:.1f} s), "
                f"peak RSS {res['peak_rss_mb']:.0f} MB",
                flush=True,
            )
    finally:
        if args.out is None:
            shutil.rmtree(out_dir, ignore_errors=True)

    summary = runs[-1]["summary"]  # identical across runs: same seed
    result = {
        "benchmark": "simulate",
        "grids": args.grids,
        "periods": args.periods,
        "freq": args.freq,
        "format": args.fmt,
        "seed": args.seed,
        "runs": args.runs,
        "seconds": [round(r["seconds"], 3) for r in runs],
        "simulate_seconds": [round(r["simulate_seconds"], 3) for r in runs],
        "write_seconds": [round(r["write_seconds"], 3) for r in runs],
        "median_seconds": round(statistics.median(r["seconds"] for r in runs), 3),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
        "disk_mb": round(runs[-1]["disk_mb"], 1),
        "events_per_table": summary["rows"],
        "total_events": summary["events_total"],
        "events_per_grid_period": round(summary["events_per_grid_period"], 4),
        "escalations_total": summary["escalations_total"],
        "escalation_base_rate": round(summary["escalation_base_rate"], 5),
        "mean_truth_probability": round(summary["mean_probability"], 5),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }
    text = json.dumps(result, indent=2)
    out_json = Path(args.json)
    out_json.parent.mkdir(parents=True, exist_ok=True)
    from riskwarn.atomic import write_text_atomic

    write_text_atomic(out_json, text + "\n")  # before printing: a closed pipe must not lose it
    print(text)
    print(f"written to {out_json}")
    return result


if __name__ == "__main__":
    main()
