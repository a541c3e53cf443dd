"""How honest the count forecasts are: coverage by risk band, CRPS skill, PIT, curves.

    python benchmarks/forecast_quality.py                      # 2,000 x 156 weeks, seed 2
    python benchmarks/forecast_quality.py --small-seeds 1-5    # and the small cities

(a) City: a simulated city (default 2,000 grids x 156 weeks, seed 2: a seed the
models were not tuned on), label horizon 4 (horizons 1-4 backtested), the default
test window (the last year of labelled dates), refits every ``--refit-every``
periods. For each model with a count distribution (lightgbm, graph_hawkes,
ensemble) at horizons 1 and 4: coverage of the 80 % interval overall and in each of
the five risk bands (targets: 0.80-0.90 overall, >= 0.75 in every band), the same
on the rows whose intervals were calibrated (every fold but the first), the
coverage of the randomised PIT (what a calibrated distribution gives exactly:
counts are whole numbers, so the interval "0" of a quiet grid covers more than
80 %), CRPS skill against the naive count forecast (a Poisson at the grid's
historical mean), the PIT histogram, the share of rows with score <= expected
events (must be 1) and of grid-dates whose curve over horizons 1-4 never falls
(must be 1). The ensemble's AP at horizon 1 against the simulator's true
probability on the same rows (target >= 0.85 x).

(b) Small cities (``--small-seeds``): the shapes of
``benchmarks/backtest_quality.py`` (80 grids x 60 months, label horizon 4), the
same figures at horizons 1 and 4, per shape the worst band's coverage over seeds.

Cities and backtests are cached under bench_output/ (``--reuse`` reads a finished
backtest back). Writes bench_output/forecast_quality.json and .md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from backtest_quality import (
    OUT,
    SHAPES,
    cached_backtest,
    ensure_city,
    ensure_shaped_city,
    read_truth,
    seed_list,
)

MODELS = ("lightgbm", "graph_hawkes", "ensemble")


def _calibrated_coverage(pred, model: str, h: int) -> float | None:
    rows = pred[
        (pred["model"] == model)
        & (pred["horizon"] == h)
        & pred["interval_calibrated"]
        & pred["label"].notna()
    ]
    if not len(rows):
        return None
    y = rows["count"].to_numpy(float)
    return float(((rows["events_q10"] <= y) & (y <= rows["events_q90"])).mean())


def forecast_figures(metrics: dict, pred, horizons) -> list[dict[str, Any]]:
    """Per model and horizon: the interval, CRPS and PIT figures of one backtest."""
    forecast = metrics["forecast"]
    out = []
    for r in forecast["overall"]:
        if r["horizon"] not in horizons:
            continue
        bands = [
            b["coverage_80"]
            for b in forecast["by_band"]
            if b["model"] == r["model"] and b["horizon"] == r["horizon"]
        ]
        kinds = {
            b["group"]: b["coverage_80"]
            for b in forecast["by_grid_type"]
            if b["model"] == r["model"] and b["horizon"] == r["horizon"]
        }
        pit = next(
            p["histogram"]
            for p in forecast["pit"]
            if p["model"] == r["model"] and p["horizon"] == r["horizon"]
        )
        out.append(
            {
                "model": r["model"],
                "horizon": r["horizon"],
                "coverage_80": r["coverage_80"],
                "coverage_80_calibrated_rows": _calibrated_coverage(pred, r["model"], r["horizon"]),
                "coverage_80_by_band": bands,
                "coverage_80_by_grid_type": kinds,
                "pit_coverage_80": r["pit_coverage_80"],
                "interval_score_80": r["interval_score_80"],
                "width_80": r["width_80"],
                "crps": r["crps"],
                "crps_naive": r["crps_naive"],
                "crps_skill": r["crps_skill"],
                "score_le_expected_share": r["score_le_expected_share"],
                "monotone_share": forecast["monotone_share"].get(r["model"]),
                "calibrated_share": r["calibrated_share"],
                "pit_histogram": pit,
            }
        )
    return out


def truth_ap(folder: Path, pred, model: str = "ensemble") -> dict[str, float]:
    """AP at horizon 1 of ``model`` and of the simulator's true probability, same rows."""
    import pandas as pd

    from riskwarn.backtest import metrics as m

    rows = pred[(pred["model"] == model) & (pred["horizon"] == 1) & pred["label"].notna()].copy()
    rows["grid_id"] = rows["grid_id"].astype(str)
    rows["as_of"] = pd.to_datetime(rows["as_of"]).dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    joined = rows.merge(read_truth(folder), on=["grid_id", "as_of"], how="left", validate="1:1")
    if joined["probability"].isna().any():
        raise SystemExit("test rows without a truth")
    y = joined["label"].to_numpy(float)
    ap_model = m.average_precision(y, joined["score"].to_numpy(float))
    ap_truth = m.average_precision(y, joined["probability"].to_numpy(float))
    return {"ap": ap_model, "truth_ap": ap_truth, "ap_vs_truth": ap_model / ap_truth}


def city_part(grids: int, periods: int, seed: int, refit_every: int, reuse: bool) -> dict:
    import pandas as pd

    folder = ensure_city(grids, periods, seed, "W-MON")
    # the city's own label and time line (label horizon 4, the default)
    extra = f"[backtest]\nrefit_every = {refit_every}\nmodels = {json.dumps(list(MODELS))}\n"
    out = OUT / "quality_runs" / f"{folder.name}_forecast_h4_r{refit_every}"
    metrics = cached_backtest(folder, out, extra, reuse)
    pred = pd.read_parquet(out / "predictions.parquet")
    return {
        "city": folder.name,
        "refit_every": refit_every,
        "figures": forecast_figures(metrics, pred, (1, 4)),
        "ap": {name: truth_ap(folder, pred, name) for name in ("lightgbm", "ensemble")},
    }


def small_part(seeds: list[int], refit_every: int, reuse: bool) -> dict:
    import pandas as pd

    out: dict[str, Any] = {}
    for name in SHAPES:
        per_seed = []
        for seed in seeds:
            folder = ensure_shaped_city(name, 80, 60, seed)
            run_dir = OUT / "quality_runs" / f"{folder.name}_r{refit_every}"
            metrics = cached_backtest(
                folder, run_dir, f"[backtest]\nrefit_every = {refit_every}\n", reuse
            )
            pred = pd.read_parquet(run_dir / "predictions.parquet")
            figures = [
                f for f in forecast_figures(metrics, pred, (1, 4)) if f["model"] == "ensemble"
            ]
            per_seed.append({"seed": seed, "figures": figures})
        out[name] = per_seed
    return out


def markdown(result: dict) -> str:
    lines = ["# Count forecasts: coverage, CRPS skill, PIT", ""]
    city = result.get("city")
    if city:
        lines += [
            f"## {city['city']} (label horizon 4, refit every {city['refit_every']})",
            "",
            "| model | h | coverage 80 % | calibrated rows | worst band | bands | PIT coverage | "
            "CRPS skill | score <= E[N] | monotone |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for f in city["figures"]:
            bands = " ".join(f"{b:.2f}" for b in f["coverage_80_by_band"])
            cal = f["coverage_80_calibrated_rows"]
            lines.append(
                f"| {f['model']} | {f['horizon']} | {f['coverage_80']:.3f} | "
                f"{'–' if cal is None else f'{cal:.3f}'} | {min(f['coverage_80_by_band']):.3f} | "
                f"{bands} | {f['pit_coverage_80']:.3f} | {f['crps_skill']:.3f} | "
                f"{f['score_le_expected_share']:.3f} | {f['monotone_share']:.3f} |"
            )
        lines += ["", "PIT histograms (10 bins, flat = 0.10):", ""]
        for f in city["figures"]:
            hist = " ".join(f"{x:.3f}" for x in f["pit_histogram"])
            lines.append(f"- {f['model']} h{f['horizon']}: {hist}")
        lines += ["", "AP at horizon 1 against the truth on the same rows:", ""]
        for name, a in city["ap"].items():
            lines.append(
                f"- {name}: AP {a['ap']:.4f}, truth {a['truth_ap']:.4f}, "
                f"ratio {a['ap_vs_truth']:.3f}"
            )
    small = result.get("small")
    if small:
        lines += [
            "",
            "## Small cities (80 grids x 60 months, ensemble)",
            "",
            "| shape | h | coverage 80 % (seeds) | worst band over seeds | PIT coverage | CRPS skill |",
            "|---|---|---|---|---|---|",
        ]
        for name, per_seed in small.items():
            for h in (1, 4):
                figs = [f for s in per_seed for f in s["figures"] if f["horizon"] == h]
                if not figs:
                    continue
                cov = " ".join(f"{f['coverage_80']:.2f}" for f in figs)
                worst = min(min(f["coverage_80_by_band"]) for f in figs)
                pit = sum(f["pit_coverage_80"] for f in figs) / len(figs)
                skill = sum(f["crps_skill"] for f in figs) / len(figs)
                lines.append(f"| {name} | {h} | {cov} | {worst:.2f} | {pit:.3f} | {skill:.3f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grids", type=int, default=2000)
    parser.add_argument("--periods", type=int, default=156)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--refit-every", type=int, default=4)
    parser.add_argument("--small-seeds", type=str, default="")
    parser.add_argument("--no-city", action="store_true")
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {}
    if not args.no_city:
        result["city"] = city_part(
            args.grids, args.periods, args.seed, args.refit_every, args.reuse
        )
    if args.small_seeds:
        result["small"] = small_part(seed_list(args.small_seeds), 4, args.reuse)
    OUT.mkdir(exist_ok=True)
    (OUT / "forecast_quality.json").write_text(json.dumps(result, indent=1) + "\n")
    text = markdown(result)
    (OUT / "forecast_quality.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
