"""Interventions in the data: a model with the intervention features against one without.

    python benchmarks/interventions.py --grids 600 --periods 156 --seeds 1-3

Each seed simulates a city that acts on its own records (``riskwarn simulate
--interventions top``: each period the top 2 % of grids by a noisy signal of their
recent escalations, precursors and open disputes; their escalation hazard falls by 30 %
for 8 periods) and backtests LightGBM and the historical rate at horizon 4 (the last
year, refits every 13 weeks) twice: with the ``interventions`` table (the intervention
features) and without it (the file removed). Reported per seed and as medians:

- AP of LightGBM on the untreated grid-periods (no intervention in the label window);
- the recall-against-churn sweep of the plan (capacity 2 % of the grids) with the
  table;
- for the grid-periods of grids treated within the 8 periods before the as-of date
  ("treated risky grids"), their mean score percentile in each model, beside the
  percentile of their true untreated risk: a model that learnt treated grids are safe
  ranks them lower.

Writes bench_output/interventions.json and .md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from riskwarn.cli import main as cli

OUT = Path(__file__).resolve().parent.parent / "bench_output"
CONFIG = """
[data]
end = "{end}"
[label]
horizon = 4
[backtest]
refit_every = 13
models = ["hist_rate", "lightgbm"]
[train]
model = "lightgbm"
[watchlist]
capacity = {capacity}
hold_periods = 4
"""


def _seeds(text: str) -> list[int]:
    a, _, b = text.partition("-")
    return list(range(int(a), int(b or a) + 1))


def _percentile(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame.groupby("as_of")[column].rank(pct=True)


def one_seed(seed: int, grids: int, periods: int, work: Path) -> dict:
    city = work / f"city{seed}"
    assert cli(["simulate", "--out", str(city), "--grids", str(grids), "--periods",
                str(periods), "--seed", str(seed), "--interventions", "top"]) == 0  # fmt: skip
    meta = json.loads((city / "_truth" / "simulation.json").read_text())
    end = pd.Timestamp(meta["end"]).tz_localize(None).isoformat()
    config = work / f"config{seed}.toml"
    config.write_text(CONFIG.format(end=end, capacity=max(1, round(0.02 * grids))))
    without = work / f"city{seed}_without"
    shutil.copytree(city, without)
    (without / "interventions.parquet").unlink()
    result = {"seed": seed}
    truth = pd.read_parquet(city / "_truth" / "escalation_probability.parquet")
    truth["grid_id"] = truth["grid_id"].astype(str)
    for name, data in (("with", city), ("without", without)):
        out = work / f"bt{seed}_{name}"
        code = cli(["backtest", "--data", str(data), "--config", str(config), "--out",
                    str(out), "--no-track"])  # fmt: skip
        assert code == 0, name
        metrics = json.loads((out / "metrics.json").read_text())
        pred = pd.read_parquet(out / "predictions.parquet")
        pred = pred[(pred["model"] == "lightgbm") & (pred["horizon"] == 4)].copy()
        pred["grid_id"] = pred["grid_id"].astype(str)
        if name == "with":
            split = metrics["by_treatment"]
            result["treated_share"] = split["treated_share"]
            result["plan"] = metrics["plan"]["sweep"]
        # untreated rows: the label windows of the city with the table
        untreated_ap = None
        if "by_treatment" in metrics:
            untreated_ap = next(
                r["ap"]
                for r in metrics["by_treatment"]["untreated"]
                if r["model"] == "lightgbm" and r["horizon"] == 4
            )
        result[f"ap_{name}"] = next(
            r["ap"] for r in metrics["overall"] if r["model"] == "lightgbm" and r["horizon"] == 4
        )
        result[f"untreated_ap_{name}"] = untreated_ap
        result[f"_pred_{name}"] = pred
    # the untreated AP of the model without the table, on the same untreated rows
    from riskwarn.backtest.evaluate import evaluate
    from riskwarn.backtest.treatment import treated_rows
    from riskwarn.config import load_config
    from riskwarn.data.validate import load_dataset

    cfg = load_config(config)
    visits = load_dataset(city, cfg).interventions
    for name in ("with", "without"):
        pred = result.pop(f"_pred_{name}")
        flags = treated_rows(pred, visits, "W-MON")
        result[f"untreated_ap_{name}"] = evaluate(pred[~flags])["overall"][0]["ap"]
        # grids treated within the 8 periods before the as-of date
        recent = np.zeros(len(pred), dtype=bool)
        starts = visits["started_at"].dt.tz_convert(pred["as_of"].dt.tz)
        by_grid = {
            g: np.sort(s.to_numpy("datetime64[ns]"))
            for g, s in starts.groupby(visits["grid_id"].astype(str))
        }
        as_of = pred["as_of"].to_numpy("datetime64[ns]")
        for g, idx in pred.groupby("grid_id").indices.items():
            times = by_grid.get(g)
            if times is None:
                continue
            lo = np.searchsorted(times, as_of[idx] - np.timedelta64(8 * 7, "D"))
            hi = np.searchsorted(times, as_of[idx])
            recent[idx] = hi > lo
        pred["score_pct"] = _percentile(pred, "score")
        merged = pred.merge(
            truth.rename(columns={"period_start": "as_of"})[
                ["grid_id", "as_of", "untreated_probability"]
            ],
            on=["grid_id", "as_of"],
            how="left",
        )
        merged["truth_pct"] = _percentile(merged, "untreated_probability")
        result[f"treated_recently_score_pct_{name}"] = float(merged.loc[recent, "score_pct"].mean())
        result["treated_recently_truth_pct"] = float(merged.loc[recent, "truth_pct"].mean())
        result["treated_recently_rows"] = int(recent.sum())
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, default=600)
    parser.add_argument("--periods", type=int, default=156)
    parser.add_argument("--seeds", default="1-3")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="riskwarn-itv-") as tmp:
        for seed in _seeds(args.seeds):
            r = one_seed(seed, args.grids, args.periods, Path(tmp))
            print(json.dumps({k: v for k, v in r.items() if k != "plan"}), flush=True)
            results.append(r)
    keys = ["untreated_ap_with", "untreated_ap_without", "ap_with", "ap_without",
            "treated_recently_score_pct_with", "treated_recently_score_pct_without",
            "treated_recently_truth_pct", "treated_share"]  # fmt: skip
    medians = {k: statistics.median(r[k] for r in results) for k in keys}
    sweep = pd.DataFrame([{**row, "seed": r["seed"]} for r in results for row in r["plan"]])
    table = sweep.groupby(["hold_periods", "exit_ratio"])[
        ["recall", "jaccard", "replaced"]
    ].median()
    OUT.mkdir(exist_ok=True)
    (OUT / "interventions.json").write_text(
        json.dumps({"args": vars(args), "medians": medians, "seeds": results}, indent=1) + "\n"
    )
    lines = [
        f"# Interventions: {args.grids} grids x {args.periods} weeks, seeds {args.seeds}",
        "",
        *(f"- {k}: {v:.4f}" for k, v in medians.items()),
        "",
        "Plan sweep (medians over seeds):",
        "",
        "| hold | exit rule | recall | Jaccard | replaced |",
        "|---|---|---|---|---|",
        *(
            f"| {h} | {'off' if e == 0 else e} | {row.recall:.3f} | {row.jaccard:.3f} | "
            f"{row.replaced:.3f} |"
            for (h, e), row in table.iterrows()
        ),
        "",
    ]
    (OUT / "interventions.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
