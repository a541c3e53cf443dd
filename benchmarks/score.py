"""Benchmark batch scoring: ``riskwarn score`` for one as-of date at city scale.

    python benchmarks/score.py --grids 20000 --periods 260 --runs 3

Target (issue: MLflow and watchlists): scoring 20,000 grids for one as-of date end
to end (a fresh process: load the registered model, validate the data, build that
date's features, score, write the watchlist files) in <= 30 s, median of the runs.

The model is trained once with ``riskwarn train --register`` on the same simulated
city (benchmarks/features.py caches it under bench_output/) into a tracking store of
its own, bench_output/score_mlruns.db; later invocations reuse the registered
version. Training is timed and reported too, without a target. Each scoring run is
a fresh process, so its wall time and peak resident memory (``os.wait4``) are its
own. Writes a JSON summary to bench_output/score.json.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from backtest import test_window
from features import OUT, city_parser, ensure_city, rss_mb

TARGET_S = 30.0
NAME = "riskwarn-bench"


def _run(cmd: list[str], env: dict[str, str], log: Path) -> tuple[float, float]:
    """Run a CLI command in a fresh process: wall seconds and peak RSS in MB."""
    t0 = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{' '.join(cmd[2:4])} failed; see {log}")
    return wall, rss_mb(usage.ru_maxrss)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = city_parser(__doc__)
    ap.add_argument("--retrain", action="store_true", help="train a new version first")
    args = ap.parse_args(argv)
    OUT.mkdir(exist_ok=True)
    folder = ensure_city(args.grids, args.periods, args.seed)
    # the latest as-of date, and a backtest over the last 13 labelled dates at horizon 4
    window = test_window(folder, horizon=4, n_dates=13)
    end, as_of, start = window["data_end"], window["latest_as_of"], window["start"]
    tag = f"{args.grids}x{args.periods}_s{args.seed}"
    store = OUT / f"score_mlruns_{tag}.db"
    uri = f"sqlite:///{store.resolve()}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MLFLOW_TRACKING_URI": uri}
    config = OUT / f"score_{tag}.toml"
    # A light backtest for the promotion evidence: one refit over the last 13 dates.
    config.write_text(
        "# benchmarks/score.py: built-in defaults, a short backtest for the registry.\n"
        f'[data]\nend = "{end}"\n[backtest]\nrefit_every = 13\nstart = "{start}"\n'
        f'[train]\nregistered_name = "{NAME}"\n',
        encoding="utf-8",
    )
    cli = [sys.executable, "-m", "riskwarn.cli"]
    train_s = None
    if args.retrain or not store.exists():
        print(f"training and registering {NAME} on {folder.name} …", flush=True)
        train_s, train_mb = _run(
            [*cli, "train", "--data", str(folder), "--config", str(config), "--register"],
            env,
            OUT / f"score_train_{tag}.log",
        )
        print(f"  trained in {train_s:.0f}s, peak {train_mb / 1024:.1f} GB", flush=True)
    runs = []
    for i in range(args.runs):
        out = OUT / f"score_run_{tag}"
        wall, mb = _run(
            [
                *cli,
                "score",
                "--data",
                str(folder),
                "--model",
                f"models:/{NAME}@challenger",
                "--as-of",
                as_of,
                "--out",
                str(out),
            ],
            env,
            OUT / f"score_run{i + 1}_{tag}.log",
        )
        runs.append({"wall_s": round(wall, 2), "peak_rss_mb": round(mb)})
        print(f"run {i + 1}/{args.runs}: {wall:.1f}s, peak {mb / 1024:.2f} GB", flush=True)
    walls = [r["wall_s"] for r in runs]
    summary = {
        "benchmark": "score",
        "grids": args.grids,
        "periods": args.periods,
        "as_of": as_of,
        "runs": runs,
        "wall_s_median": round(statistics.median(walls), 2),
        "wall_s_range": [min(walls), max(walls)],
        "peak_rss_gb_median": round(statistics.median(r["peak_rss_mb"] for r in runs) / 1024, 2),
        "target_s": TARGET_S,
        "meets_target": statistics.median(walls) <= TARGET_S,
        "train_s": None if train_s is None else round(train_s, 1),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    (OUT / "score.json").write_text(json.dumps(summary, indent=2) + "\n")
    verdict = "meets" if summary["meets_target"] else "MISSES"
    print(
        f"score {args.grids:,} grids at {as_of}: median {summary['wall_s_median']:.1f}s "
        f"(range {min(walls):.1f}-{max(walls):.1f}; target <= {TARGET_S:.0f}s: {verdict}); "
        f"peak {summary['peak_rss_gb_median']:.2f} GB"
    )
    return summary


if __name__ == "__main__":
    main()
