"""The effect estimate against a known effect: coverage of its interval and its bias.

    python benchmarks/effect.py --grids 2000 --periods 156 --seeds 1-5

Each seed simulates a city that acts on its own lists (``riskwarn simulate
--interventions top``: each period the top 2 % of grids by a noisy signal of their
recent escalations, precursors and open disputes, among those not being treated; their
escalation hazard is multiplied by 0.7 for 8 periods, the truth in
``_truth/interventions.json``) and writes those lists under ``history/`` as ``riskwarn
score`` keeps its own. ``riskwarn effect`` then estimates the effect at the lists' cut-off
from the data alone (escalations counted by the label, not read from the truth).

Reported per seed: the estimate, its 90 % interval, whether it covers the true effect
(-30 %), the grid-periods and escalations near the cut-off, and the run time; over the
seeds: coverage, the bias (mean estimate minus the truth) with its standard error,
and the median run time. ``--freq MS`` runs monthly cities (fewer, fuller periods).
Writes bench_output/effect_<grids>x<periods>_<freq>_seeds<seeds>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from riskwarn.cli import main as cli

OUT = Path(__file__).resolve().parent.parent / "bench_output"


def _seeds(text: str) -> list[int]:
    a, _, b = text.partition("-")
    return list(range(int(a), int(b or a) + 1))


def run_seed(root: Path, grids: int, periods: int, seed: int, freq: str) -> dict:
    data = root / f"city_{seed}"
    call = ["simulate", "--out", str(data), "--grids", str(grids), "--periods", str(periods)]
    call += ["--seed", str(seed), "--freq", freq, "--interventions", "top"]
    if cli(call) != 0:
        raise SystemExit(f"simulate failed for seed {seed}")
    truth = json.loads((data / "_truth" / "interventions.json").read_text(encoding="utf-8"))
    watch = root / f"watch_{seed}"
    shutil.copytree(data / "history", watch / "history")
    t0 = time.perf_counter()
    # the city's own time line and label (a monthly city is not cut into weeks)
    config = data / "_truth" / "label.toml"
    code = cli(["effect", "--data", str(data), "--config", str(config), "--watchlist", str(watch)])
    seconds = time.perf_counter() - t0
    true_effect = truth["hazard_multiplier"] - 1.0
    if code != 0:
        return {"seed": seed, "estimate": None, "true_effect": true_effect, "seconds": seconds}
    est = json.loads((watch / "effect.json").read_text(encoding="utf-8"))
    shutil.rmtree(data)
    return {
        "seed": seed,
        "true_effect": true_effect,
        "estimate": est["effect"],
        "low": est["low"],
        "high": est["high"],
        "covers": est["low"] <= true_effect <= est["high"],
        "n_inside": est["n_inside"],
        "n_outside": est["n_outside"],
        "events_inside": est["events_inside"],
        "events_outside": est["events_outside"],
        "bandwidth": est["bandwidth"],
        "seconds": seconds,
    }


def summarise(rows: list[dict]) -> dict:
    done = [r for r in rows if r["estimate"] is not None]
    out = {"seeds": len(rows), "estimated": len(done)}
    if done:
        errors = [r["estimate"] - r["true_effect"] for r in done]
        out["covered"] = sum(r["covers"] for r in done)
        out["bias"] = statistics.fmean(errors)
        out["bias_se"] = statistics.stdev(errors) / len(errors) ** 0.5 if len(done) > 1 else None
        out["mean_width"] = statistics.fmean(r["high"] - r["low"] for r in done)
    out["median_seconds"] = statistics.median(r["seconds"] for r in rows)
    return out


def markdown(rows: list[dict], summary: dict, args) -> str:
    lines = [
        f"# Effect estimate: {args.grids} grids x {args.periods} periods ({args.freq}), "
        "true effect -30 %",
        "",
        "| seed | estimate | 90% interval | covers | inside (esc.) | outside (esc.) | s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["estimate"] is None:
            lines.append(f"| {r['seed']} | no estimate | | | | | {r['seconds']:.1f} |")
            continue
        lines.append(
            f"| {r['seed']} | {100 * r['estimate']:+.1f}% | {100 * r['low']:+.1f}% to "
            f"{100 * r['high']:+.1f}% | {'yes' if r['covers'] else 'no'} | "
            f"{r['n_inside']:,} ({r['events_inside']}) | {r['n_outside']:,} "
            f"({r['events_outside']}) | {r['seconds']:.1f} |"
        )
    s = summary
    if s["estimated"]:
        se = f" (SE {100 * s['bias_se']:.1f})" if s.get("bias_se") is not None else ""
        lines += [
            "",
            f"Covered: {s['covered']} of {s['estimated']}; bias {100 * s['bias']:+.1f} "
            f"points{se}; mean interval width {100 * s['mean_width']:.0f} points; median "
            f"run {s['median_seconds']:.1f} s.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grids", type=int, default=2000)
    parser.add_argument("--periods", type=int, default=156)
    parser.add_argument("--seeds", default="1-5")
    parser.add_argument("--freq", default="W-MON")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="riskwarn-effect-") as tmp:
        for seed in _seeds(args.seeds):
            rows.append(run_seed(Path(tmp), args.grids, args.periods, seed, args.freq))
            print(json.dumps(rows[-1]), flush=True)
    summary = summarise(rows)
    OUT.mkdir(exist_ok=True)
    stem = f"effect_{args.grids}x{args.periods}_{args.freq}_seeds{args.seeds}"
    record = {"settings": vars(args), "seeds": rows, "summary": summary}
    (OUT / f"{stem}.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    (OUT / f"{stem}.md").write_text(markdown(rows, summary, args), encoding="utf-8")
    print(markdown(rows, summary, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
