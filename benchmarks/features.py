"""Benchmark the feature build at city scale, against a plain pandas reference.

    python benchmarks/features.py --grids 20000 --periods 260 --runs 3

Targets (issue: features): full feature matrix <= 60 s wall and <= 6 GB peak memory;
a single-as-of build for scoring <= 5 s; >= 10x faster than a straightforward pandas
``groupby().rolling()`` implementation of the count and spatial-lag families.

Every run is a fresh process ('spawn'), so its peak resident memory is its own.
The simulated city is generated once and cached under bench_output/. Writes a JSON
summary to bench_output/features.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import resource
import statistics
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench_output"


def rss_mb(max_rss: int) -> float:
    """``ru_maxrss`` in MB: it is in kilobytes on Linux, bytes on macOS."""
    return max_rss / (1024 * 1024 if platform.system() == "Darwin" else 1024)


def _peak_mb() -> float:
    return rss_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def city_parser(doc: str, runs: int = 3, runs_help: str | None = None) -> argparse.ArgumentParser:
    """A benchmark's argument parser with the simulated city's options and ``--runs``."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--grids", type=int, default=20_000)
    ap.add_argument("--periods", type=int, default=260)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", type=int, default=runs, help=runs_help)
    return ap


def ensure_city(grids: int, periods: int, seed: int) -> Path:
    from riskwarn.simulate import simulate_city, write_city

    folder = OUT / f"city_{grids}x{periods}_s{seed}"
    meta = folder / "_truth" / "simulation.json"
    if not meta.exists():
        print(f"simulating {grids} x {periods} into {folder} …", flush=True)
        write_city(simulate_city(n_grids=grids, n_periods=periods, seed=seed), folder)
    return folder


def _config(folder: Path):
    from riskwarn.config import Config, DataConfig

    meta = json.loads((folder / "_truth" / "simulation.json").read_text())
    return Config(data=DataConfig(end=str(meta["end"])))


def full_run(folder: str, out: str) -> dict[str, Any]:
    """validate → load into DuckDB → build every as-of row with labels → Parquet."""
    from riskwarn.data.validate import load_dataset
    from riskwarn.features.build import prepare_features

    config = _config(Path(folder))
    t0 = time.perf_counter()
    dataset = load_dataset(folder, config)
    t1 = time.perf_counter()
    builder = prepare_features(dataset, config)
    n_events = int(sum(len(f) for f in dataset.events.values()))
    del dataset  # the engine holds the data now, as in `riskwarn features`
    t2 = time.perf_counter()
    builder.write_parquet(out, labels=True)
    t3 = time.perf_counter()
    import pyarrow.parquet as pq

    meta = pq.read_metadata(out)
    return {
        "validate_s": t1 - t0,
        "prepare_s": t2 - t1,
        "build_write_s": t3 - t2,
        "total_s": t3 - t0,
        "rows": meta.num_rows,
        "columns": meta.num_columns,
        "features": len(builder.manifest),
        "events": n_events,
        "peak_rss_mb": _peak_mb(),
    }


def single_run(folder: str) -> dict[str, Any]:
    """validate → load → build the rows of the last as-of date only."""
    from riskwarn.data.validate import load_dataset
    from riskwarn.features.build import prepare_features

    config = _config(Path(folder))
    t0 = time.perf_counter()
    dataset = load_dataset(folder, config)
    t1 = time.perf_counter()
    builder = prepare_features(dataset, config)
    t2 = time.perf_counter()
    frame = builder.to_pandas(as_of=builder.data.periods.as_of_dates[-1])
    t3 = time.perf_counter()
    return {
        "validate_s": t1 - t0,
        "prepare_s": t2 - t1,
        "query_s": t3 - t2,
        "build_s": t3 - t1,
        "rows": len(frame),
        "peak_rss_mb": _peak_mb(),
    }


def families_run(folder: str) -> dict[str, Any]:
    """riskwarn's time for the families the pandas reference computes.

    The whole-panel primitives (a superset of the reference's count windows: also
    decay, recency, backlog and z-score inputs) with the neighbour sums and maxima,
    from data already loaded into the engine (the reference starts from validated
    frames too), ready in the engine for the final selection.
    """
    from riskwarn.data.validate import load_dataset
    from riskwarn.features.build import prepare_features

    config = _config(Path(folder))
    builder = prepare_features(load_dataset(folder, config), config)
    t0 = time.perf_counter()
    base = builder._base_full(labels=False)
    assert "n1_sum___wsum__pet_n__4" in base.columns
    t1 = time.perf_counter()
    return {
        "seconds": t1 - t0,
        "primitives": len(builder.plan.primitives),
        "peak_rss_mb": _peak_mb(),
    }


def pandas_reference_run(folder: str) -> dict[str, Any]:
    """What a researcher would write: groupby().rolling() counts and a neighbour mean.

    Families: per-table totals over windows 1/4/13/52 and per-category counts over
    4/13 (the same windows riskwarn uses), plus the 1-hop neighbour mean of the
    4-period totals. Validation is not timed here (the reference would need it too).
    """
    import pandas as pd

    from riskwarn.data.validate import load_dataset
    from riskwarn.panel.graph import build_grid_graph
    from riskwarn.panel.periods import period_index_for

    config = _config(Path(folder))
    dataset = load_dataset(folder, config)
    periods = period_index_for(
        [dataset.petitions["received_at"], dataset.disputes["reported_at"],
         dataset.incidents["occurred_at"]], config
    )  # fmt: skip
    graph = build_grid_graph(dataset.grids, dataset.adjacency)
    t0 = time.perf_counter()
    grids = sorted(dataset.grids["grid_id"])
    n = periods.n_complete
    dense = pd.MultiIndex.from_product([grids, range(n)], names=["grid_id", "period"])
    columns = {}
    for name, time_col, cat_col in (
        ("petitions", "received_at", "category"),
        ("disputes", "reported_at", "category"),
        ("incidents", "occurred_at", "type"),
    ):
        ev = getattr(dataset, name)
        local = ev[time_col].dt.tz_convert(config.data.timezone).dt.tz_localize(None)
        df = pd.DataFrame({"grid_id": ev["grid_id"], "period": periods.period_of(local),
                           "cat": ev[cat_col]})  # fmt: skip
        df = df[df["period"] < n]
        total = df.groupby(["grid_id", "period"]).size().reindex(dense, fill_value=0)
        for w in (1, 4, 13, 52):
            columns[f"{name}_w{w}"] = (
                total.groupby(level="grid_id").rolling(w, min_periods=1).sum().droplevel(0)
            )
        by_cat = df.groupby(["grid_id", "period", "cat"]).size().unstack(fill_value=0)
        by_cat = by_cat.reindex(dense, fill_value=0)
        for w in (4, 13):
            rolled = by_cat.groupby(level="grid_id").rolling(w, min_periods=1).sum().droplevel(0)
            for c in rolled.columns:
                columns[f"{name}_{c}_w{w}"] = rolled[c]
    feats = pd.DataFrame(columns)
    edges = pd.DataFrame(list(graph.graph.edges()), columns=["a", "b"])
    edges = pd.concat([edges, edges.rename(columns={"a": "b", "b": "a"})])
    base = feats[[f"{t}_w4" for t in ("petitions", "disputes", "incidents")]].reset_index()
    joined = edges.merge(base, left_on="b", right_on="grid_id").drop(columns=["b", "grid_id"])
    nbr = joined.groupby(["a", "period"]).mean().add_prefix("nbr_mean_")
    nbr.index.names = ["grid_id", "period"]
    feats = feats.join(nbr)
    t1 = time.perf_counter()
    return {
        "seconds": t1 - t0,
        "rows": len(feats),
        "columns": feats.shape[1],
        "peak_rss_mb": _peak_mb(),
    }


def _in_child(fn, *args) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(fn, args)


def _median(runs: list[dict], key: str) -> float:
    return round(statistics.median(r[key] for r in runs), 2)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = city_parser(__doc__)
    ap.add_argument("--reference-runs", type=int, default=1)
    ap.add_argument("--json", type=Path, default=OUT / "features.json")
    args = ap.parse_args(argv)
    OUT.mkdir(exist_ok=True)
    folder = ensure_city(args.grids, args.periods, args.seed)
    out = OUT / "features_full.parquet"
    full, single, reference = [], [], []
    for i in range(args.runs):
        full.append(_in_child(full_run, str(folder), str(out)))
        print(
            f"full run {i + 1}: {json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in full[-1].items()})}",
            flush=True,
        )
        single.append(_in_child(single_run, str(folder)))
        print(
            f"single run {i + 1}: {json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in single[-1].items()})}",
            flush=True,
        )
    families = []
    for i in range(args.reference_runs):
        reference.append(_in_child(pandas_reference_run, str(folder)))
        print(f"pandas reference run {i + 1}: {reference[-1]}", flush=True)
    for i in range(args.runs if args.reference_runs else 0):
        families.append(_in_child(families_run, str(folder)))
        print(f"riskwarn same-families run {i + 1}: {families[-1]}", flush=True)
    summary = {
        "benchmark": "features",
        "grids": args.grids,
        "periods": args.periods,
        "runs": args.runs,
        "events": full[0]["events"],
        "rows": full[0]["rows"],
        "features": full[0]["features"],
        "full_total_s_median": _median(full, "total_s"),
        "full_build_write_s_median": _median(full, "build_write_s"),
        "full_validate_s_median": _median(full, "validate_s"),
        "full_peak_rss_mb_median": _median(full, "peak_rss_mb"),
        "single_build_s_median": _median(single, "build_s"),
        "single_query_s_median": _median(single, "query_s"),
        "single_total_s_median": _median(single, [k for k in single[0] if k == "build_s"][0])
        + _median(single, "validate_s"),
        "pandas_reference_s_median": _median(reference, "seconds") if reference else None,
        "full_runs": full,
        "single_runs": single,
        "reference_runs": reference,
        "families_runs": families,
    }
    if reference:
        # riskwarn's time for the same rows: build + write of every family (more work
        # than the reference does), without validation (the reference skips it too).
        ours = summary["full_build_write_s_median"] + _median(full, "prepare_s")
        summary["speedup_vs_pandas_whole_build"] = round(
            summary["pandas_reference_s_median"] / ours, 1
        )
        same = _median(families, "seconds")
        summary["riskwarn_same_families_s_median"] = same
        summary["speedup_vs_pandas_same_families"] = round(
            summary["pandas_reference_s_median"] / same, 1
        )
    args.json.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if not k.endswith("_runs")}, indent=2))
    return summary


if __name__ == "__main__":
    main()
