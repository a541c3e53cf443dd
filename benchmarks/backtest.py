"""Benchmark the backtest at city scale: ``riskwarn backtest`` end to end.

    python benchmarks/backtest.py --grids 20000 --periods 260 --runs 1

Targets (issue: backtest): 20,000 grids x 260 weeks, built-in defaults (label horizon
4, every model) with ``[backtest] refit_every = 13`` and 52 weekly test as-of dates
ending at the last labelled date, in <= 20 min wall and <= 12 GB peak memory.

Every run is a fresh ``riskwarn backtest`` process (the config is a TOML file beside
its output), so its wall time and peak resident memory (``os.wait4``) are its own.
The CLI prints one line per fitting step with the elapsed seconds when its output is
not a terminal; those lines give the time per phase (data and features, each model,
metrics and writing), to the second. The simulated city is the one
benchmarks/features.py caches under bench_output/ (same name, same seed). Writes a
JSON summary to bench_output/backtest.json and each run's log beside it.
"""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from features import OUT, city_parser, ensure_city, rss_mb

TARGET_S = 20 * 60
TARGET_MB = 12 * 1024
HORIZON = 4  # the built-in [label] horizon
# "[14/144] fold 4/4 (…), h=3, ensemble (133s, about 1239s left)": the CLI logs the
# start of fitting ([0/N]) and every tenth of the fits.
STEP = re.compile(r"^\[(\d+)/(\d+)\] (.*) \((\d+)s(?:, about \d+s left)?\)$")
FIT = re.compile(r"^fold (\d+)/(\d+) \(train to [^)]*\), h=(\d+), (\w+)$")
TOTAL = re.compile(r"^backtest of .* in ([\d.]+)s$")


def _local(stamp: str, timezone: str):
    import pandas as pd

    return pd.Timestamp(stamp).tz_convert(timezone).tz_localize(None)


def test_window(folder: Path, horizon: int, n_dates: int) -> dict[str, Any]:
    """First and last test as-of date: ``n_dates`` dates ending at the last labelled one.

    Uses riskwarn's own period index over the simulator's start and end: as-of dates
    are the boundaries ``s_1 .. s_n`` (``n`` complete periods) and the label window of
    ``s_p`` (periods ``p .. p + h - 1``) is observed when ``p <= n - h``.
    """
    from riskwarn.panel.periods import make_period_index

    meta = json.loads((folder / "_truth" / "simulation.json").read_text())
    tz = meta["timezone"]
    start, end = _local(meta["start"], tz), _local(meta["end"], tz)
    periods = make_period_index(meta["freq"], start, end, end=end)
    last = periods.n_complete - horizon
    first = last - (n_dates - 1)
    if first < horizon + 1:  # as-of dates start at s_1; training needs s_{first - h} >= s_1
        raise SystemExit(
            f"{periods.n_complete} periods are too few for {n_dates} test dates at horizon "
            f"{horizon}: use more --periods or fewer --test-dates."
        )
    return {
        "data_end": end.isoformat(),
        # A tz-aware start: riskwarn's feature frame has tz-aware as-of dates and
        # RollingOriginSplit does not match a naive local date against them.
        "start": periods.boundaries[first].tz_localize(tz).isoformat(),
        "last": periods.boundaries[last].tz_localize(tz).isoformat(),
        "n_complete": periods.n_complete,
        "latest_as_of": f"{periods.as_of_dates[-1]:%Y-%m-%d}",
    }


def config_text(window: dict[str, Any], refit_every: int, train_periods: int | None) -> str:
    text = (
        "# benchmarks/backtest.py: built-in defaults, quarterly refits, a year of test dates.\n"
        f'[data]\nend = "{window["data_end"]}"\n'
        f'[backtest]\nrefit_every = {refit_every}\nstart = "{window["start"]}"\n'
    )
    if train_periods is not None:
        text += f"train_periods = {train_periods}\n"
    return text


def phases(lines: list[str], wall_s: float) -> dict[str, Any]:
    """Seconds per phase from the CLI's step lines (1 s resolution)."""
    steps = []
    cli_total = None
    for line in lines:
        if (m := STEP.match(line.strip())) is not None:
            steps.append((int(m.group(1)), int(m.group(2)), m.group(3), int(m.group(4))))
        elif (t := TOTAL.match(line.strip())) is not None:
            cli_total = float(t.group(1))
    if not steps or steps[-1][2] != "done" or steps[0][0] != 0:
        return {"available": False}
    # Per model, horizon and fold only when every step was logged (the CLI now logs a
    # tenth of them: the time between two sampled lines is not one fit's).
    every_step = len(steps) == steps[-1][1] + 1
    per_model: dict[str, float] = {}
    per_horizon: dict[str, float] = {}
    per_fold: dict[str, float] = {}
    pairs = zip(steps[:-1], steps[1:], strict=True) if every_step else ()
    for (_, _, message, t0), (_, _, _, t1) in pairs:
        fit = FIT.match(message)
        if fit is None:
            continue
        fold, _, h, model = fit.groups()
        for table, key in ((per_model, model), (per_horizon, h), (per_fold, fold)):
            table[key] = table.get(key, 0) + (t1 - t0)
    out = {
        "available": True,
        "steps": steps[-1][1],
        "data_and_features_s": steps[0][3],
        "fitting_s": steps[-1][3] - steps[0][3],
        "fit_s_per_model": per_model,
        "fit_s_per_horizon": per_horizon,
        "fit_s_per_fold": per_fold,
    }
    if cli_total is not None:
        out["metrics_and_write_s"] = round(cli_total - steps[-1][3], 1)
        out["startup_s"] = round(wall_s - cli_total, 1)
    return out


class PhaseMemory:
    """The resident memory of a running process, sampled twice a second from
    ``/proc/<pid>/status`` (Linux; elsewhere nothing is recorded), and its peak in
    each phase of the CLI's log: before fitting, fitting (from ``[0/N]`` to the
    ``done`` line), after fitting."""

    def __init__(self, pid: int) -> None:
        self.status = Path(f"/proc/{pid}/status")
        self.phase = "data_and_features"
        self.peak: dict[str, float] = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.done.wait(0.5):
            try:
                text = self.status.read_text()
            except OSError:
                return
            kb = next((int(x.split()[1]) for x in text.splitlines() if x.startswith("VmRSS")), 0)
            self.peak[self.phase] = max(self.peak.get(self.phase, 0.0), kb / 1024)

    def line(self, line: str) -> None:
        if (m := STEP.match(line.strip())) is not None:
            self.phase = "after_fitting" if m.group(3) == "done" else "fitting"

    def stop(self) -> None:
        self.done.set()
        self.thread.join()

    def peaks(self) -> dict[str, float]:
        return {k: round(v) for k, v in self.peak.items()}


def one_run(folder: Path, config: Path, out: Path, log: Path) -> dict[str, Any]:
    """One ``riskwarn backtest`` in a fresh process: wall time, peak RSS, its step lines."""
    cmd = [sys.executable, "-m", "riskwarn.cli", "backtest", "--data", str(folder)]
    cmd += ["--config", str(config), "--out", str(out)]
    # The run is logged in MLflow as riskwarn backtest always does; the store lives
    # in bench_output/ (artifacts beside it), not in the working folder.
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "MLFLOW_TRACKING_URI": f"sqlite:///{(OUT / 'mlruns.db').resolve()}",
    }
    lines = []
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    memory = PhaseMemory(proc.pid)
    with log.open("w") as fh:
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            memory.line(line)
            fh.write(line)
            print(f"  | {line}", end="", flush=True)
    memory.stop()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"riskwarn backtest failed (exit {proc.returncode}); see {log}")
    metrics = json.loads((out / "metrics.json").read_text())
    return {
        "wall_s": wall,
        "peak_rss_mb": rss_mb(usage.ru_maxrss),
        "settings": metrics["settings"],
        "phases": phases(lines, wall),
        "peak_rss_mb_by_phase": memory.peaks(),
        "ap_h1": {r["model"]: r["ap"] for r in metrics["overall"] if r["horizon"] == 1},
    }


def _spread(values: list[float], digits: int = 1) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


def _median_table(runs: list[dict], key: str) -> dict[str, float]:
    tables = [r["phases"][key] for r in runs if r["phases"].get("available")]
    if not tables:
        return {}
    return {k: round(statistics.median(t.get(k, 0) for t in tables), 1) for k in tables[0]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = city_parser(__doc__, runs=1, runs_help="one full run takes ~15-20 min")
    ap.add_argument("--test-dates", type=int, default=52)
    ap.add_argument("--refit-every", type=int, default=13)
    ap.add_argument(
        "--train-periods",
        type=int,
        default=None,
        help="[backtest] train_periods: fit on the latest N as-of dates (default: all)",
    )
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    tag = "" if args.train_periods is None else f"_tp{args.train_periods}"
    if args.json is None:
        args.json = OUT / f"backtest{tag}.json"
    OUT.mkdir(exist_ok=True)
    folder = ensure_city(args.grids, args.periods, args.seed)
    window = test_window(folder, HORIZON, args.test_dates)
    config = OUT / f"backtest{tag}.toml"
    config.write_text(config_text(window, args.refit_every, args.train_periods))
    out = OUT / f"backtest_run{tag}"
    runs = []
    for i in range(args.runs):
        print(f"run {i + 1}/{args.runs}: riskwarn backtest on {folder.name}", flush=True)
        run = one_run(folder, config, out, OUT / f"backtest{tag}_run{i + 1}.log")
        n_as_of = run["settings"]["n_as_of"]
        if n_as_of != args.test_dates or run["settings"]["last_as_of"] != window["last"][:10]:
            raise SystemExit(
                f"the backtest tested {n_as_of} as-of dates ({run['settings']['first_as_of']} "
                f"to {run['settings']['last_as_of']}), not the {args.test_dates} ending "
                f"{window['last'][:10]} this benchmark asks for."
            )
        runs.append(run)
        print(
            f"run {i + 1}: {run['wall_s']:.0f} s wall, peak RSS {run['peak_rss_mb']:.0f} MB",
            flush=True,
        )
    wall = _spread([r["wall_s"] for r in runs])
    rss = _spread([r["peak_rss_mb"] for r in runs], 0)
    settings = runs[0]["settings"]
    summary = {
        "benchmark": "backtest",
        "grids": args.grids,
        "periods": args.periods,
        "seed": args.seed,
        "runs": args.runs,
        "config": config.read_text(),
        "horizons": settings["horizons"],
        "models": settings["models"],
        "first_as_of": settings["first_as_of"],
        "last_as_of": settings["last_as_of"],
        "n_as_of": settings["n_as_of"],
        "n_folds": settings["n_folds"],
        "wall_s": wall,
        "wall_min_median": round(wall["median"] / 60, 2),
        "peak_rss_mb": rss,
        "peak_rss_gb_median": round(rss["median"] / 1024, 2),
        "target_wall_s": TARGET_S,
        "target_peak_rss_mb": TARGET_MB,
        "meets_wall_target": wall["median"] <= TARGET_S,
        "meets_memory_target": rss["median"] <= TARGET_MB,
        "phases_s_median": {
            k: round(statistics.median(r["phases"][k] for r in runs), 1)
            for k in ("data_and_features_s", "fitting_s", "metrics_and_write_s", "startup_s")
            if all(k in r["phases"] for r in runs)
        },
        "peak_rss_mb_by_phase_median": {
            k: round(statistics.median(r["peak_rss_mb_by_phase"].get(k, 0) for r in runs))
            for k in runs[0]["peak_rss_mb_by_phase"]
        },
        "fit_s_per_model_median": _median_table(runs, "fit_s_per_model"),
        "fit_s_per_horizon_median": _median_table(runs, "fit_s_per_horizon"),
        "ap_h1_last_run": runs[-1]["ap_h1"],
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "all_runs": runs,
    }
    args.json.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "all_runs"}, indent=2))
    ok = {True: "meets", False: "MISSES"}
    print(
        f"wall {wall['median'] / 60:.1f} min (range {wall['min'] / 60:.1f}-"
        f"{wall['max'] / 60:.1f}; target <= 20 min: {ok[summary['meets_wall_target']]}); "
        f"peak RSS {rss['median'] / 1024:.2f} GB (range {rss['min'] / 1024:.2f}-"
        f"{rss['max'] / 1024:.2f}; target <= 12 GB: {ok[summary['meets_memory_target']]}); "
        f"{summary['n_as_of']} as-of dates, {summary['n_folds']} refits",
        flush=True,
    )
    return summary


if __name__ == "__main__":
    main()
