"""Quality of the backtested models against the simulator's true escalation risk.

    python benchmarks/backtest_quality.py                    # (a) 2,000 x 156 weeks, seed 1
    python benchmarks/backtest_quality.py --seeds 1,2,3 --small-seeds 1-10

(a) City: a simulated city (default 2,000 grids x 156 weeks), label horizon 1, the
default test window (riskwarn's default start: the last year of labelled as-of
dates; checked, see ``year_window``), refits every 4 periods, every model. The
simulator's true probability of an escalation in the period that starts at each
as-of date is joined to the horizon-1 predictions and scored on exactly the same
rows, with riskwarn's own ``evaluate`` (AP and ECE pooled over all rows, PAI@5% per
as-of date with grid areas, then averaged over dates). Targets: the
ensemble's AP >= 0.8 x the truth's AP and >= 1.3 x the best baseline's AP (the
baseline with the highest AP on these same test rows), and the ensemble's ECE <= 0.02.

(b) Small data in the shapes real cities have: 80 grids x 60 months (freq "MS"),
seeds 1-5, in eight shapes: all tables; incidents only; incidents only in 50 grids
over 36 months; petitions only; disputes and
incidents with only the required columns (and the label's) and no graph; the same
over a single year of weeks (52 periods, "W-MON"); all tables with a level break
(every rate x2, and x0.5, from month 48, inside the test span; after a break the
truth's rate is also given as a forecaster blind to the break until its first period
is in the data would expect it). Each city is
labelled as the simulator says its tables support (``_truth/label.toml``), with the
default label horizon of 4; the default test window (12 monthly dates; 24 weekly), refits every
4 periods, every model. Per shape and horizon (1 and 4): the ensemble's AP minus the
best baseline's AP per seed, their mean and standard error (sample sd / sqrt(seeds)),
and the seeds more than 1 SE below 0; also each seed's own standard error of its
difference (its test dates resampled) and the seeds more than that below 0. Targets:
the mean >= 0 and no seed more than 1 SE below. Calibration in the large: the
ensemble's mean score over the test rows divided by the realised rate, target within
20 %; where the label is the simulator's own escalation (the all-tables shapes) the
truth's expected rate over the same rows is divided by the realised rate too, which
shows how far a perfect forecast would be from the target on that seed.

Simulated cities are cached under bench_output/ (the weekly ones under the same
names as benchmarks/features.py uses), and each backtest's files under
bench_output/quality_runs/ (``--reuse`` reads them back instead of rerunning).
Writes bench_output/backtest_quality.json and bench_output/backtest_quality.md.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench_output"
TARGET_VS_TRUTH = 0.8
TARGET_VS_BASELINE = 1.3
TARGET_ECE = 0.02


def seed_list(text: str) -> list[int]:
    """``"1,2,5"`` or ``"1-5"`` (or a mix) → a list of seeds."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            lo, hi = (int(x) for x in part.split("-"))
            seeds.extend(range(lo, hi + 1))
        elif part:
            seeds.append(int(part))
    return seeds


def ensure_city(grids: int, periods: int, seed: int, freq: str) -> Path:
    from riskwarn.simulate import simulate_city, write_city

    suffix = "" if freq == "W-MON" else f"_{freq}"
    folder = OUT / f"city_{grids}x{periods}_s{seed}{suffix}"
    if not (folder / "_truth" / "simulation.json").exists():
        print(f"simulating {grids} x {periods} ({freq}) into {folder} …", flush=True)
        city = simulate_city(n_grids=grids, n_periods=periods, seed=seed, freq=freq)
        write_city(city, folder)
    return folder


SHAPES: dict[str, dict[str, Any]] = {
    "all tables": {},
    "incidents only": {"tables": ("incidents",)},
    "petitions only": {"tables": ("petitions",)},
    "disputes + incidents, minimal columns, no graph": {
        "tables": ("disputes", "incidents"),
        "minimal_columns": True,
        "no_graph": True,
    },
    "all tables, level break x2 at month 48": {"break": (48, 2.0)},
    # a city's activity halving (a real series fell like this in its test span)
    "all tables, level break x0.5 at month 48": {"break": (48, 0.5)},
    # a single year of weekly exports (a real set had no more)
    "disputes + incidents, minimal columns, no graph, 52 weeks": {
        "tables": ("disputes", "incidents"),
        "minimal_columns": True,
        "no_graph": True,
        "periods": 52,
        "freq": "W-MON",
    },
    # the fewest areas and the shortest monthly history a city may bring
    "incidents only, 50 grids, 36 months": {
        "tables": ("incidents",),
        "grids": 50,
        "periods": 36,
    },
}
"""The small-data shapes of (b): DataShape arguments, a level break (at, factor), and
the size, length and frequency where they are not the part's own (``grids``,
``periods``, ``freq``)."""


def ensure_shaped_city(name: str, grids: int, periods: int, seed: int, freq: str = "MS") -> Path:
    """A simulated city written in one of the :data:`SHAPES` (cached under bench_output/)."""
    from riskwarn.simulate import (
        DataShape,
        LevelBreak,
        SimulationParams,
        simulate_city,
        write_city,
    )

    spec = dict(SHAPES[name])
    level_break = spec.pop("break", None)
    periods, freq = spec.pop("periods", periods), spec.pop("freq", freq)
    grids = spec.pop("grids", grids)
    slug = "".join(c if c.isalnum() else "_" for c in name).strip("_")
    folder = OUT / f"shape_{slug}_{grids}x{periods}_s{seed}_{freq}"
    if not (folder / "_truth" / "simulation.json").exists():
        params = SimulationParams(level_break=LevelBreak(*level_break) if level_break else None)
        city = simulate_city(n_grids=grids, n_periods=periods, seed=seed, freq=freq, params=params)
        write_city(city, folder, shape=DataShape(**spec))
    return folder


def cached_backtest(folder: Path, out: Path, backtest_toml: str, reuse: bool) -> dict:
    """Backtest ``folder`` with its own label (``_truth/label.toml``) plus the
    ``[backtest]`` lines given, into ``out``; with ``reuse``, read an earlier run of
    the same config back. Returns ``metrics.json`` as a dict."""
    from riskwarn.config import load_config
    from riskwarn.workflows import run_backtest_files

    toml = (folder / "_truth" / "label.toml").read_text() + backtest_toml
    config_path = out / "config.toml"
    done = out / "metrics.json"
    if not (reuse and done.exists() and config_path.exists() and config_path.read_text() == toml):
        out.mkdir(parents=True, exist_ok=True)
        done.unlink(missing_ok=True)
        config_path.write_text(toml)
        t0 = time.perf_counter()
        run_backtest_files(folder, load_config(config_path), out, track=False)
        print(f"  backtest of {folder.name} in {time.perf_counter() - t0:.0f}s", flush=True)
    return json.loads(done.read_text())


def shape_backtest(folder: Path, refit_every: int, reuse: bool) -> dict[str, Any]:
    """The backtest of one shaped city with its own label (``_truth/label.toml``)."""
    import pandas as pd

    out = OUT / "quality_runs" / f"{folder.name}_r{refit_every}"
    metrics = cached_backtest(folder, out, f"[backtest]\nrefit_every = {refit_every}\n", reuse)
    return {"metrics": metrics, "predictions": pd.read_parquet(out / "predictions.parquet")}


def date_bootstrap_se(pred, model: str, other: str, h: int, reps: int = 200) -> float:
    """Standard error of AP(model) - AP(other) on one backtest, resampling test dates.

    The rows of one as-of date share that date's level, so dates (not rows) are
    resampled, with replacement; the seed is fixed so the figure repeats.
    """
    import numpy as np
    from sklearn.metrics import average_precision_score

    rows = pred[(pred["horizon"] == h) & pred["label"].notna()]
    a = rows[rows["model"] == model].sort_values(["as_of", "grid_id"])
    b = rows[rows["model"] == other].sort_values(["as_of", "grid_id"])
    y = a["label"].to_numpy(float)
    sa, sb = a["score"].to_numpy(float), b["score"].to_numpy(float)
    code = np.unique(a["as_of"].to_numpy(), return_inverse=True)[1]
    by_date = [np.flatnonzero(code == d) for d in range(code.max() + 1)]
    rng = np.random.default_rng(0)
    diffs = []
    for _ in range(reps):
        idx = np.concatenate([by_date[d] for d in rng.integers(0, len(by_date), len(by_date))])
        if y[idx].sum() == 0:
            continue
        diffs.append(
            average_precision_score(y[idx], sa[idx]) - average_precision_score(y[idx], sb[idx])
        )
    return float(np.std(diffs, ddof=1))


def read_truth(folder: Path):
    """The simulator's truth per grid and period: ``grid_id`` (str), ``as_of`` (the
    period's start, UTC, microseconds), ``probability``, ``expected``, ``escalations``."""
    import pandas as pd

    truth = pd.read_parquet(folder / "_truth" / "escalation_probability.parquet")
    return pd.DataFrame(
        {
            "grid_id": truth["grid_id"].astype(str),
            "as_of": pd.to_datetime(truth["period_start"])
            .dt.tz_convert("UTC")
            .astype("datetime64[us, UTC]"),
            "probability": truth["probability"].to_numpy(float),
            "expected": truth["expected"].to_numpy(float),
            "escalations": truth["escalations"].to_numpy(int),
        }
    )


def truth_rate(folder: Path, pred, h: int, blind_to: tuple[int, float] | None = None) -> float:
    """The simulator's expected escalation rate over the ensemble's test rows at horizon h.

    P(an escalation in the h periods from as-of t) = 1 - prod(1 - p) over the periods
    that start at t, ..., t + h - 1. Only meaningful where the label is the
    simulator's own escalation (all tables with their columns).

    ``blind_to`` = (period, factor) of a level break: the rate a forecaster would
    expect who knows the truth up to the as-of date but cannot see the break before
    its data does. From as-of dates up to the break's period (their features end
    before it), the periods from the break on keep the rate of before, the
    probability's intensity divided by the factor (1 - p becomes (1 - p) ** (1 /
    factor)); from the next as-of date on the break is known at once. An upper
    bound for a forecaster that learns the new level from data, which takes periods.
    """
    import numpy as np
    import pandas as pd

    truth = read_truth(folder).sort_values(["grid_id", "as_of"])
    log_keep = np.log1p(-truth["probability"].clip(upper=1 - 1e-12))

    def ahead(values):
        # the sum of the next h periods' log(1 - p), from each period on
        return values.groupby(truth["grid_id"]).transform(
            lambda x: x[::-1].rolling(h, min_periods=h).sum()[::-1]
        )

    window = ahead(log_keep)
    if blind_to is not None:
        at, factor = blind_to
        period = pd.Index(np.sort(truth["as_of"].unique())).get_indexer(truth["as_of"])
        unseen = ahead(log_keep.where(period < at, log_keep / factor))
        window = window.where(period > at, unseen)
    truth = truth.assign(p_h=1 - np.exp(window))
    rows = pred[(pred["model"] == "ensemble") & (pred["horizon"] == h) & pred["label"].notna()]
    rows = rows.assign(
        grid_id=rows["grid_id"].astype(str),
        as_of=pd.to_datetime(rows["as_of"]).dt.tz_convert("UTC").astype("datetime64[us, UTC]"),
    )
    joined = rows[["grid_id", "as_of"]].merge(
        truth[["grid_id", "as_of", "p_h"]], on=["grid_id", "as_of"], how="left"
    )
    if joined["p_h"].isna().any():
        raise SystemExit(f"{joined['p_h'].isna().sum()} test rows have no truth at h={h}")
    return float(joined["p_h"].mean())


def shapes_part(
    grids: int, periods: int, seeds: list[int], refit_every: int, reuse: bool
) -> dict[str, Any]:
    """(b): per shape and horizon, ensemble AP minus the best baseline's, and calibration."""
    out: dict[str, Any] = {}
    for name in SHAPES:
        runs, folders = [], []
        for seed in seeds:
            folder = ensure_shaped_city(name, grids, periods, seed)
            run = shape_backtest(folder, refit_every, reuse)
            runs.append((seed, run))
            folders.append(folder)
        # the truth's rate is comparable where the label is the simulator's own escalation
        own_label = "tables" not in SHAPES[name] and "minimal_columns" not in SHAPES[name]
        by_h: dict[str, Any] = {}
        horizons = runs[0][1]["metrics"]["settings"]["horizons"]
        for h in sorted({1, max(horizons)}):
            per_seed = []
            for (seed, run), folder in zip(runs, folders, strict=True):
                metrics, pred = run["metrics"], run["predictions"]
                rows = {r["model"]: r for r in metrics["overall"] if r["horizon"] == h}
                best = metrics["best_baseline"][str(h)]
                ens = pred[(pred["model"] == "ensemble") & (pred["horizon"] == h)]
                ens = ens[ens["label"].notna()]
                rate = float(ens["label"].astype(float).mean())
                expected = truth_rate(folder, pred, h) if own_label else None
                level_break = SHAPES[name].get("break")
                blind = truth_rate(folder, pred, h, level_break) if level_break else None
                # The historical rate's own calibration on the same rows: how far the
                # test span's level moved from the history's (no model sees it coming).
                hist = pred[(pred["model"] == "hist_rate") & (pred["horizon"] == h)]
                hist = hist[hist["label"].notna()]
                per_seed.append(
                    {
                        "seed": seed,
                        "n_positive": rows["ensemble"]["n_positive"],
                        "ensemble_ap": rows["ensemble"]["ap"],
                        "lightgbm_ap": rows.get("lightgbm", {}).get("ap"),
                        "best_baseline": best,
                        "best_baseline_ap": rows[best]["ap"],
                        "difference": rows["ensemble"]["ap"] - rows[best]["ap"],
                        "difference_se": date_bootstrap_se(pred, "ensemble", best, h),
                        "mean_score": float(ens["score"].mean()),
                        "realised_rate": rate,
                        "calibration_ratio": float(ens["score"].mean()) / rate,
                        "truth_rate": expected,
                        "truth_calibration_ratio": expected / rate if expected else None,
                        "blind_truth_calibration_ratio": blind / rate if blind else None,
                        "history_calibration_ratio": (
                            float(hist["score"].mean()) / rate if len(hist) else None
                        ),
                        "notes": metrics["notes"],
                    }
                )
            diffs = [r["difference"] for r in per_seed]
            n = len(diffs)
            se = statistics.stdev(diffs) / math.sqrt(n) if n >= 2 else float("nan")
            mean = statistics.fmean(diffs)
            ratios = [r["calibration_ratio"] for r in per_seed]
            by_h[str(h)] = {
                "per_seed": per_seed,
                "mean_difference": mean,
                "se_mean_difference": se,
                "seeds_below_minus_1se": [r["seed"] for r in per_seed if r["difference"] < -se],
                "seeds_below_own_1se": [
                    r["seed"] for r in per_seed if r["difference"] < -r["difference_se"]
                ],
                "mean_not_below_best_baseline": mean >= 0,
                "calibration_ratio_mean": statistics.fmean(ratios),
                "calibration_within_20pct": all(0.8 <= x <= 1.2 for x in ratios),
            }
        out[name] = by_h
    return out


def year_window(folder: Path, horizon: int = 1) -> tuple[str, int]:
    """riskwarn's default test window: its first date (tz-aware ISO) and its length.

    ``riskwarn.backtest.run.default_start`` (a year of test dates before the last
    labelled one, leaving at least half the dates to train) on the simulator's as-of
    dates, at nanosecond resolution (before commit 4b87cb3 it misread microsecond
    dates and fell back to half the data). The backtest must test exactly this window.
    """
    import pandas as pd

    from riskwarn.backtest.run import default_start
    from riskwarn.panel.periods import make_period_index

    meta = json.loads((folder / "_truth" / "simulation.json").read_text())
    tz = meta["timezone"]
    start = pd.Timestamp(meta["start"]).tz_convert(tz).tz_localize(None)
    end = pd.Timestamp(meta["end"]).tz_convert(tz).tz_localize(None)
    periods = make_period_index(meta["freq"], start, end, end=end)
    dates = periods.as_of_dates.as_unit("ns")
    n_labelled = periods.n_complete - horizon  # s_p is labelled when p <= n_complete - h
    first = default_start(dates, n_labelled, horizon)
    return first.tz_localize(tz).isoformat(), n_labelled - int(dates.get_loc(first))


def config_toml(folder: Path, refit_every: int, start: str | None) -> str:
    """The experiment: built-in defaults, horizon 1, the simulator's end and freq."""
    import pandas as pd

    meta = json.loads((folder / "_truth" / "simulation.json").read_text())
    end = pd.Timestamp(meta["end"]).tz_convert(meta["timezone"]).tz_localize(None)
    text = (
        f'[data]\nfreq = "{meta["freq"]}"\ntimezone = "{meta["timezone"]}"\n'
        f'end = "{end.isoformat()}"\n'
        "[label]\nhorizon = 1\n"
        f"[backtest]\nrefit_every = {refit_every}\n"
    )
    if start is not None:
        # tz-aware: RollingOriginSplit does not match a naive date to the frame's dates.
        text += f'start = "{start}"\n'
    return text


def backtest(
    folder: Path, refit_every: int, reuse: bool, verbose: bool, explicit_start: bool
) -> dict[str, Any]:
    """Run (or with ``reuse`` read back) the backtest of one city; in this process.

    The test window is riskwarn's default (a year of labelled dates); with
    ``explicit_start`` it is written into the config instead of left to riskwarn.
    """
    import pandas as pd

    from riskwarn.config import load_config
    from riskwarn.workflows import run_backtest_files

    out = OUT / "quality_runs" / f"{folder.name}_h1_r{refit_every}"
    start, n_dates = year_window(folder)
    toml = config_toml(folder, refit_every, start if explicit_start else None)
    config_path = out / "config.toml"
    done = out / "metrics.json"
    seconds = None
    if not (reuse and done.exists() and config_path.exists() and config_path.read_text() == toml):
        out.mkdir(parents=True, exist_ok=True)
        done.unlink(missing_ok=True)
        config_path.write_text(toml)
        t0 = time.perf_counter()

        def step(i: int, total: int, message: str) -> None:
            if verbose:
                print(f"  [{i}/{total}] {message} ({time.perf_counter() - t0:.0f}s)", flush=True)

        run_backtest_files(folder, load_config(config_path), out, steps=step)
        seconds = time.perf_counter() - t0
        print(f"  backtest of {folder.name} in {seconds:.0f}s", flush=True)
    else:
        print(f"  reusing {out}", flush=True)
    metrics = json.loads(done.read_text())
    if metrics["settings"]["n_as_of"] != n_dates:
        raise SystemExit(
            f"{folder.name}: the backtest tested {metrics['settings']['n_as_of']} as-of dates "
            f"({metrics['settings']['first_as_of']} to {metrics['settings']['last_as_of']}), "
            f"not the {n_dates} of a year of labelled dates from {start[:10]}."
        )
    return {
        "folder": out,
        "metrics": metrics,
        "predictions": pd.read_parquet(out / "predictions.parquet"),
        "seconds": seconds,
    }


def truth_metrics(folder: Path, predictions, metrics: dict) -> dict[str, Any]:
    """The simulator's true probability scored on the horizon-1 test rows, as evaluate does.

    The truth row for a horizon-1 prediction (grid, as-of t) is the period that starts
    at t. Also checks that the join is complete, that the truth's realised escalations
    match the labels, and that evaluate's AP of each model is recomputed from these rows.
    """
    import numpy as np
    import pandas as pd

    from riskwarn.backtest import metrics as m
    from riskwarn.backtest.evaluate import evaluate

    pred = predictions[(predictions["horizon"] == 1) & predictions["label"].notna()].copy()
    pred["grid_id"] = pred["grid_id"].astype(str)
    pred["as_of"] = pd.to_datetime(pred["as_of"]).dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    truth = read_truth(folder)
    models = [str(x) for x in pred["model"].unique()]
    first = pred[pred["model"] == models[0]]
    keys = ["grid_id", "as_of"]
    for name in models[1:]:
        other = pred.loc[pred["model"] == name, keys]
        if len(other) != len(first) or not other.merge(first[keys]).shape[0] == len(first):
            raise SystemExit(f"{name} was tested on other rows than {models[0]}.")
    rows = first[[*keys, "label", "count"]].merge(truth, on=keys, how="left", validate="1:1")
    if rows["probability"].isna().any():
        missing = rows.loc[rows["probability"].isna(), keys].head(3).to_dict("records")
        raise SystemExit(f"{rows['probability'].isna().sum()} test rows have no truth: {missing}")
    agree = float(((rows["escalations"] > 0).astype(int) == rows["label"].astype(int)).mean())
    grids = pd.read_parquet(folder / "grids.parquet")
    keep = [c for c in ("grid_id", "grid_type", "population", "area_km2") if c in grids]
    fake = pd.DataFrame(
        {
            "model": "truth",
            "grid_id": rows["grid_id"],
            "as_of": rows["as_of"],
            "horizon": 1,
            "score": rows["probability"],
            "label": rows["label"],
            "count": rows["count"],
            "expected_events": rows["expected"],
        }
    )
    k = tuple(metrics.get("k", (0.01, 0.05, 0.1)))
    record = evaluate(fake, grids=grids[keep].astype({"grid_id": str}), k=k)["overall"][0]
    # evaluate's AP of every model, recomputed on the joined rows: the same rows.
    y = rows.set_index(keys)["label"].astype(float)
    worst = 0.0
    for r in metrics["overall"]:
        if r["horizon"] != 1:
            continue
        block = pred[pred["model"] == r["model"]].set_index(keys)["score"].reindex(y.index)
        ap = m.average_precision(y.to_numpy(), block.to_numpy(float))
        worst = max(worst, abs(ap - r["ap"]))
    if worst > 1e-9:
        raise SystemExit(f"AP recomputed on the joined rows differs from metrics.json by {worst}")
    return {
        "n_rows": len(rows),
        "n_dates": int(rows["as_of"].nunique()),
        "n_positive": int(rows["label"].sum()),
        "label_matches_truth_escalations": agree,
        "mean_truth_probability": float(np.mean(rows["probability"])),
        "ap": record["ap"],
        "ece": record["ece"],
        "roc_auc": record["roc_auc"],
        "pai_at_5pct": record.get("pai_at_5pct", float("nan")),
    }


def city_part(folder: Path, refit_every: int, reuse: bool, explicit: bool) -> dict[str, Any]:
    run = backtest(folder, refit_every, reuse, verbose=True, explicit_start=explicit)
    metrics = run["metrics"]
    truth = truth_metrics(folder, run["predictions"], metrics)
    best = metrics["best_baseline"]["1"]
    h1 = {r["model"]: r for r in metrics["overall"] if r["horizon"] == 1}
    rows = []
    for name, r in h1.items():
        rows.append(
            {
                "model": name,
                "ap": r["ap"],
                "ap_vs_truth": r["ap"] / truth["ap"],
                "ap_vs_best_baseline": r["ap"] / h1[best]["ap"],
                "ece": r["ece"],
                "pai_at_5pct": r.get("pai_at_5pct"),
            }
        )
    ens = next((r for r in rows if r["model"] == "ensemble"), None)
    targets = {}
    if ens is not None:
        targets = {
            f"ensemble AP >= {TARGET_VS_TRUTH} x truth AP": ens["ap_vs_truth"] >= TARGET_VS_TRUTH,
            f"ensemble AP >= {TARGET_VS_BASELINE} x best baseline AP": ens["ap_vs_best_baseline"]
            >= TARGET_VS_BASELINE,
            f"ensemble ECE <= {TARGET_ECE}": ens["ece"] <= TARGET_ECE,
        }
    return {
        "city": folder.name,
        "backtest_folder": str(run["folder"].relative_to(REPO)),
        "backtest_seconds": run["seconds"],
        "settings": metrics["settings"],
        "best_baseline": best,
        "truth": truth,
        "models": rows,
        "targets": targets,
        "passed": bool(targets) and all(targets.values()),
    }


def _f(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def markdown(result: dict[str, Any]) -> str:
    lines = ["# Backtest quality against the simulated truth", ""]
    for part in result["city"]:
        s, t = part["settings"], part["truth"]
        lines += [
            f"## (a) {part['city']}: horizon 1, {s['n_as_of']} test dates "
            f"({s['first_as_of']} to {s['last_as_of']}), {s['n_folds']} refits",
            "",
            f"{t['n_rows']:,} test rows, {t['n_positive']:,} escalations; the label matches "
            f"the simulator's realised escalations on {t['label_matches_truth_escalations']:.2%} "
            f"of rows. Best baseline: {part['best_baseline']}.",
            "",
            "| model | AP | AP / truth AP | AP / best baseline AP | ECE | PAI@5% |",
            "|---|---|---|---|---|---|",
            f"| truth | {_f(t['ap'])} | 1.000 | – | {_f(t['ece'], 4)} | {_f(t['pai_at_5pct'], 2)} |",
        ]
        for r in part["models"]:
            lines.append(
                f"| {r['model']} | {_f(r['ap'])} | {_f(r['ap_vs_truth'])} | "
                f"{_f(r['ap_vs_best_baseline'])} | {_f(r['ece'], 4)} | {_f(r['pai_at_5pct'], 2)} |"
            )
        lines.append("")
        for name, ok in part["targets"].items():
            lines.append(f"- {name}: {'PASS' if ok else 'FAIL'}")
        lines.append("")
    shapes = result.get("shapes")
    if shapes:
        c = result["shapes_config"]
        lines += [
            f"## (b) small data in {len(shapes)} shapes: {c['grids']} grids x {c['periods']} periods "
            f"({c['freq']}) unless the shape says otherwise, seeds {c['seeds']}, "
            f"refit every {c['refit_every']}",
            "",
            "Ensemble AP minus the best baseline's AP (the baseline with the highest AP on "
            "the same test rows, which favours it slightly), per seed with its own standard "
            "error (test dates resampled); SE = sd over seeds / sqrt(seeds). Calibration = "
            "the ensemble's mean score / the realised rate over the test rows; where the "
            "label is the simulator's own escalation, the truth's expected rate / the "
            "realised rate in brackets (the noise no model can remove); after a level "
            "break also, after a slash, the same for a truth blind to the break until its "
            "first period is in the data (the most a forecaster from data could reach). "
            "Last column: the historical rate's own calibration on the same rows (the "
            "history's level over the test span's: below 1, the test span has more "
            "escalations than the history had).",
            "",
            "| shape | horizon | per seed (own SE) | mean | SE | seeds < -1 SE | "
            "seeds < -own SE | LightGBM - best | calibration per seed | historical rate's |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for name, by_h in shapes.items():
            for h, r in by_h.items():
                per = ", ".join(
                    f"{x['difference']:+.3f} ({x['difference_se']:.3f})" for x in r["per_seed"]
                )
                lgb = [
                    x["lightgbm_ap"] - x["best_baseline_ap"]
                    for x in r["per_seed"]
                    if x["lightgbm_ap"] is not None
                ]
                cal = ", ".join(
                    f"{x['calibration_ratio']:.2f}"
                    + (
                        f" ({x['truth_calibration_ratio']:.2f}"
                        + (
                            f" / {x['blind_truth_calibration_ratio']:.2f}"
                            if x.get("blind_truth_calibration_ratio")
                            else ""
                        )
                        + ")"
                        if x.get("truth_calibration_ratio")
                        else ""
                    )
                    for x in r["per_seed"]
                )
                history = ", ".join(
                    _f(x.get("history_calibration_ratio"), 2) for x in r["per_seed"]
                )
                lines.append(
                    f"| {name} | {h} | {per} | {r['mean_difference']:+.4f} | "
                    f"{_f(r['se_mean_difference'], 4)} | {r['seeds_below_minus_1se'] or 'none'} | "
                    f"{r['seeds_below_own_1se'] or 'none'} | "
                    f"{statistics.fmean(lgb):+.4f} | {cal} | {history} |"
                )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grids", type=int, default=2000)
    ap.add_argument("--periods", type=int, default=156)
    ap.add_argument("--seeds", default="1", help="city seeds, e.g. 1,2,3 or 1-3")
    ap.add_argument("--refit-every", type=int, default=4)
    ap.add_argument("--small-grids", type=int, default=80)
    ap.add_argument("--small-periods", type=int, default=60)
    ap.add_argument("--small-seeds", default="1-5", help="small-data seeds, e.g. 1-5")
    ap.add_argument("--small-refit-every", type=int, default=4)
    ap.add_argument("--only", choices=["city", "small"], default=None)
    ap.add_argument("--reuse", action="store_true", help="reuse earlier backtest files")
    ap.add_argument(
        "--explicit-start",
        action="store_true",
        help="write the default test window's start into the config instead of leaving "
        "it to riskwarn",
    )
    ap.add_argument(
        "--json",
        type=Path,
        default=None,
        help="where to write (default bench_output/backtest_quality.json, or "
        "backtest_quality_shapes.json with --only small); the .md goes beside it",
    )
    args = ap.parse_args(argv)
    if args.json is None:
        name = "backtest_quality_shapes" if args.only == "small" else "backtest_quality"
        args.json = OUT / f"{name}.json"
    OUT.mkdir(exist_ok=True)
    result: dict[str, Any] = {"benchmark": "backtest_quality", "city": []}
    if args.only != "small":
        result["city_config"] = {
            "grids": args.grids,
            "periods": args.periods,
            "freq": "W-MON",
            "refit_every": args.refit_every,
            "seeds": seed_list(args.seeds),
        }
        for seed in seed_list(args.seeds):
            folder = ensure_city(args.grids, args.periods, seed, "W-MON")
            print(f"(a) backtest of {folder.name}", flush=True)
            result["city"].append(
                city_part(folder, args.refit_every, args.reuse, args.explicit_start)
            )
    if args.only != "city":
        seeds = seed_list(args.small_seeds)
        result["shapes_config"] = {
            "grids": args.small_grids,
            "periods": args.small_periods,
            "freq": "MS",
            "refit_every": args.small_refit_every,
            "seeds": seeds,
        }
        print(f"(b) small-data backtests in {len(SHAPES)} shapes, seeds {seeds}", flush=True)
        result["shapes"] = shapes_part(
            args.small_grids, args.small_periods, seeds, args.small_refit_every, args.reuse
        )
    from riskwarn.workflows import json_ready

    text = markdown(result)
    args.json.write_text(json.dumps(json_ready(result), indent=2) + "\n")
    args.json.with_suffix(".md").write_text(text + "\n")
    print(text)
    print(f"written to {args.json} and {args.json.with_suffix('.md')}")
    return result


if __name__ == "__main__":
    main()
