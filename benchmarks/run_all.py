"""Run every benchmark (``make bench``); each writes its JSON to bench_output/.

Figures are medians of several runs on this machine; see each script's --help.
backtest.py (one 20,000-grid run, ~15-20 min), backtest_quality.py (the models
against the simulated truth, several backtests), forecast_quality.py (the count
intervals' coverage, a 2,000-grid backtest at horizons 1-4) and spark.py (a 200,000-grid
province on Spark's local mode and DuckDB, about an hour) take the longest.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    "simulate.py",
    "features.py",
    "score.py",
    "backtest.py",
    "backtest_quality.py",
    "delays.py",
    "forecast_quality.py",
    "interventions.py",
    "effect.py",
    "sink.py",
    "spark.py",
]


def main() -> int:
    failed = []
    for script in BENCHMARKS:
        print(f"== {script}", flush=True)
        if subprocess.run([sys.executable, str(HERE / script)], check=False).returncode:
            failed.append(script)
    if failed:
        print(f"failed: {failed}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
