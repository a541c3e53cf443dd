"""How much a backtest overstates AP when it ignores reporting delays.

    python benchmarks/delays.py                      # 200 grids x 104 weeks, seeds 1-3
    python benchmarks/delays.py --grids 200 --periods 80 --seeds 1

A city is simulated with ``--delays`` (``recorded_at``: most records entered the same
day, a long tail for disputes and incidents; records entered after the extraction
moment are not in the export). The same exported rows are backtested twice with the
same config (label horizon 4, the default test window, refits every 13 periods;
persistence, the historical rate and LightGBM, the model whose features the delays
touch most; the ensemble is left out for time):

- *honoured*: with ``recorded_at``: each as-of date sees only the rows recorded before
  it, as scoring will (this is the AP a deployment can expect);
- *ignored*: the ``recorded_at`` column dropped: every row counts as known when it
  happened, which is what a backtest on an export without the column does.

Labels are the same in both (they count by event time). Per model and horizon
(1 and 4): AP honoured, AP ignored, and the overstatement ``ignored / honoured - 1``;
medians over the seeds. Writes bench_output/delays.json and bench_output/delays.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench_output"
MODELS = ("persistence", "hist_rate", "lightgbm")


def seeds_of(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        if "-" in part:
            lo, hi = (int(x) for x in part.split("-"))
            out.extend(range(lo, hi + 1))
        elif part.strip():
            out.append(int(part))
    return out


def cities(grids: int, periods: int, seed: int, scale: float) -> tuple[Path, Path]:
    """The delayed export and the same rows without ``recorded_at`` (cached)."""
    import pandas as pd

    from riskwarn.data.contract import EVENT_TABLES
    from riskwarn.simulate import DataShape, simulate_city, write_city
    from riskwarn.simulate.delays import with_recorded_at

    tag = "" if scale == 1 else f"_x{scale:g}"
    honoured = OUT / f"delays_{grids}x{periods}_s{seed}{tag}"
    ignored = OUT / f"delays_{grids}x{periods}_s{seed}{tag}_ignored"
    if not (honoured / "_truth" / "simulation.json").exists():
        city = simulate_city(n_grids=grids, n_periods=periods, seed=seed)
        write_city(city, honoured, shape=DataShape(delays=True))
        if scale != 1:  # the same draws as simulate --delays, stretched
            tables = with_recorded_at(city.tables(), seed, city.end, scale)
            for name in EVENT_TABLES:
                tables[name].to_parquet(honoured / f"{name}.parquet", index=False)
    if not (ignored / "_truth").exists():
        ignored.mkdir(parents=True, exist_ok=True)
        for path in honoured.glob("*.parquet"):
            frame = pd.read_parquet(path)
            frame.drop(columns=["recorded_at"], errors="ignore").to_parquet(
                ignored / path.name, index=False
            )
        shutil.copytree(honoured / "_truth", ignored / "_truth")
    return honoured, ignored


def backtest(folder: Path, reuse: bool) -> dict[tuple[str, int], float]:
    """AP per (model, horizon) of one city's backtest (cached under bench_output/)."""
    from backtest_quality import cached_backtest

    lines = f"[backtest]\nrefit_every = 13\nmodels = {json.dumps(list(MODELS))}\n"
    metrics = cached_backtest(folder, OUT / "delay_runs" / folder.name, lines, reuse)
    return {(r["model"], r["horizon"]): r["ap"] for r in metrics["overall"]}


def _build_once(folder: str, queue) -> None:
    from riskwarn.config import load_config
    from riskwarn.data.validate import load_dataset
    from riskwarn.features.build import prepare_features

    config = load_config(Path(folder) / "_truth" / "label.toml")
    dataset = load_dataset(folder, config)
    t0 = time.perf_counter()
    builder = prepare_features(dataset, config)
    builder.to_pandas(labels=True)
    queue.put(time.perf_counter() - t0)


def build_times(grids: int, periods: int, runs: int) -> dict[str, float]:
    """Median seconds of the whole-panel build (load into the engine + features and
    labels) with recorded_at and without, each run in a fresh process."""
    import multiprocessing as mp

    honoured, ignored = cities(grids, periods, 1, 1.0)
    ctx = mp.get_context("spawn")
    out = {}
    for name, folder in (("with recorded_at", honoured), ("without", ignored)):
        times = []
        for _ in range(runs):
            queue = ctx.Queue()
            proc = ctx.Process(target=_build_once, args=(str(folder), queue))
            proc.start()
            times.append(queue.get())
            proc.join()
        out[name] = statistics.median(times)
        print(f"  build {name}: {[round(t, 1) for t in times]} s", flush=True)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, default=200)
    parser.add_argument("--periods", type=int, default=104)
    parser.add_argument("--seeds", default="1-3")
    parser.add_argument("--scale", type=float, default=1.0, help="every delay times this")
    parser.add_argument("--reuse", action="store_true", help="read earlier runs back")
    parser.add_argument(
        "--build-grids",
        type=int,
        default=0,
        help="also time the feature build with and without recorded_at on this many grids",
    )
    args = parser.parse_args(argv)
    per_seed = []
    for seed in seeds_of(args.seeds):
        honoured, ignored = cities(args.grids, args.periods, seed, args.scale)
        a, b = backtest(honoured, args.reuse), backtest(ignored, args.reuse)
        per_seed.append({"seed": seed, "honoured": a, "ignored": b})
    rows = []
    for model in MODELS:
        for h in (1, 4):
            key = (model, h)
            pairs = [
                (s["honoured"][key], s["ignored"][key]) for s in per_seed if key in s["honoured"]
            ]
            if not pairs:
                continue
            rows.append(
                {
                    "model": model,
                    "horizon": h,
                    "ap_honoured": statistics.median(p[0] for p in pairs),
                    "ap_ignored": statistics.median(p[1] for p in pairs),
                    "overstatement": statistics.median(p[1] / p[0] - 1 for p in pairs),
                    "per_seed": [{"honoured": p[0], "ignored": p[1]} for p in pairs],
                }
            )
    times: dict[str, float] = {}
    lines_build: list[str] = []
    if args.build_grids:
        times = build_times(args.build_grids, args.periods, 3)
        lines_build = [
            "",
            f"Feature build, {args.build_grids} grids x {args.periods} weeks (median of 3): "
            + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()),
        ]
    result = {
        "build_seconds": times,
        "scale": args.scale,
        "grids": args.grids,
        "periods": args.periods,
        "seeds": seeds_of(args.seeds),
        "rows": rows,
    }
    OUT.mkdir(exist_ok=True)
    name = "delays" if args.scale == 1 else f"delays_x{args.scale:g}"
    (OUT / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"# AP with reporting delays honoured and ignored ({args.grids} grids x "
        f"{args.periods} weeks, seeds {args.seeds}, delays x{args.scale:g}, medians)",
        "",
        "| model | horizon | AP honoured | AP ignored | overstatement |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['horizon']} | {r['ap_honoured']:.3f} | {r['ap_ignored']:.3f} "
            f"| {r['overstatement']:+.1%} |"
        )
    text = "\n".join(lines + lines_build) + "\n"
    (OUT / f"{name}.md").write_text(text)
    print(text)
    return result


if __name__ == "__main__":
    main()
