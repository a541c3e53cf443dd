"""``metrics.md``: the backtest metrics as tables a person can read."""

from __future__ import annotations

import math

from riskwarn.backtest.evaluate import FAIRNESS_MIN_ESCALATIONS, headline_k
from riskwarn.config import k_label
from riskwarn.models.catalogue import BASELINE_NAMES


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines + [""]


def metrics_markdown(metrics: dict, title: str = "Backtest metrics") -> str:
    """Render :func:`riskwarn.backtest.evaluate.evaluate`'s result as Markdown tables."""
    k_values = metrics["k"]
    main_k = k_label(headline_k(k_values))
    lines = [f"# {title}", ""]
    for note in metrics.get("notes", []):
        lines.append(f"- {note}")
    if metrics.get("notes"):
        lines.append("")
    settings = metrics.get("settings")
    if settings:
        lines += [
            f"Test as-of dates {settings['first_as_of']} to {settings['last_as_of']} "
            f"({settings['n_as_of']} dates, {settings['n_folds']} refits); "
            f"{settings['n_grids']:,} grids.",
            "",
        ]
    lines += [
        "Probability metrics pool all test rows; top-k metrics are computed at each as-of "
        "date (k = share of grids) and averaged. Brier skill is against the best baseline "
        "(highest AP) at the same horizon.",
        "",
    ]
    horizons = sorted({r["horizon"] for r in metrics["overall"]})
    for h in horizons:
        rows = [r for r in metrics["overall"] if r["horizon"] == h]
        best = metrics["best_baseline"].get(str(h), "–")
        lines += [f"## Horizon {h} (best baseline: {best})", ""]
        pct = main_k.replace("pct", "%").replace("_", ".")
        header = ["model", "AP", "ROC AUC", "Brier", "Brier skill", "log loss", "ECE"]
        header += [f"{name}@{pct}" for name in ("P", "R", "PAI", "PEI*", "NDCG", "missed")]
        body = []
        for r in rows:
            body.append(
                [r["model"]]
                + [_fmt(r[c], 4) for c in ("ap", "roc_auc", "brier", "brier_skill")]
                + [_fmt(r["log_loss"], 4), _fmt(r["ece"], 4)]
                + [
                    _fmt(r[f"{name}_at_{main_k}"])
                    for name in ("precision", "recall", "pai", "pei_star", "ndcg", "missed")
                ]
            )
        lines += _table(header, body)
        header = ["model"] + [
            f"{name}@{k_label(k).replace('pct', '%').replace('_', '.')}"
            for name in ("P", "R", "PAI")
            for k in k_values
        ]
        body = [
            [r["model"]]
            + [
                _fmt(r[f"{metric}_at_{k_label(k)}"])
                for metric in ("precision", "recall", "pai")
                for k in k_values
            ]
            for r in rows
        ]
        lines += ["Top-k at every k:", ""] + _table(header, body)
        for view, name in (
            ("by_grid_type", "grid type"),
            ("by_population_band", "population band"),
        ):
            records = [r for r in metrics.get(view, []) if r["horizon"] == h]
            if not records:
                continue
            share = next(c for c in records[0] if c.startswith("top_") and c.endswith("_share"))
            header = [
                "model",
                name,
                "rows",
                "escalations",
                "AP",
                "base rate",
                "mean score",
                "ECE",
                share.replace("_", " "),
                "escalation share",
                "ratio",
            ]
            body = [
                [
                    r["model"],
                    r["group"],
                    _fmt(r["n_rows"]),
                    _fmt(r["n_positive"]),
                    _fmt(r["ap"], 4),
                    _fmt(r["base_rate"], 4),
                    _fmt(r["mean_score"], 4),
                    _fmt(r["ece"], 4),
                    _fmt(r[share]),
                    _fmt(r["escalation_share"]),
                    _fmt(r["ranking_ratio"], 2),
                ]
                for r in records
            ]
            lines += [
                f"By {name} (ratio = share of top slots / share of escalations; "
                "far from 1 = over- or under-ranked):",
                "",
            ] + _table(header, body)
    lines += fairness_markdown(metrics)
    lines += forecast_markdown(metrics)
    lines += plan_markdown(metrics)
    lines += treatment_markdown(metrics)
    lines += effect_markdown(metrics)
    for name, by_h in metrics.get("parts", {}).items():
        lines += [
            f"## Where {name}'s expected escalations come from (mean per grid and window)",
            "",
        ]
        sources = list(next(iter(by_h.values())))
        body = []
        for h, values in sorted(by_h.items(), key=lambda kv: int(kv[0])):
            total = sum(values.values())
            body.append(
                [str(h)]
                + [f"{values[s]:.4f} ({values[s] / total:.0%})" if total else "–" for s in sources]
            )
        lines += _table(["horizon", *sources], body)
    return "\n".join(lines)


def forecast_markdown(metrics: dict) -> list[str]:
    """The count forecasts' table: CRPS skill, each interval's coverage overall and by band."""
    forecast = metrics.get("forecast") or {}
    records = forecast.get("overall") or []
    if not records:
        return []
    names = list(forecast.get("intervals") or {})
    lines = [
        "## Count forecasts",
        "",
        "One count distribution per grid and horizon (the score is its P(N >= 1)). CRPS "
        "skill is against a Poisson at the grid's historical mean count (above 0 is "
        "better). Coverage is the share of counts inside the calibrated central interval; "
        "counts are whole numbers, so it is often above the nominal level (a quiet grid's "
        "interval 0-0 covers more than asked); PIT coverage is what the randomised PIT "
        "gives, exact for a calibrated distribution. Bands are equal-count risk bands of "
        "the score.",
        "",
    ]
    header = ["model", "horizon", "CRPS", "CRPS naive", "CRPS skill"]
    for n in names:
        header += [f"coverage {n}%", f"worst band {n}%", f"PIT coverage {n}%", f"width {n}%"]
    header += ["score <= E[N]", "monotone"]
    body = []
    for r in records:
        bands = [
            b
            for b in forecast.get("by_band", [])
            if b["model"] == r["model"] and b["horizon"] == r["horizon"]
        ]
        row = [r["model"], str(r["horizon"]), _fmt(r["crps"], 4), _fmt(r["crps_naive"], 4)]
        row.append(_fmt(r["crps_skill"]))
        for n in names:
            worst = min((b[f"coverage_{n}"] for b in bands), default=float("nan"))
            row += [
                _fmt(r.get(f"coverage_{n}")),
                _fmt(worst),
                _fmt(r.get(f"pit_coverage_{n}")),
                _fmt(r.get(f"width_{n}"), 2),
            ]
        row.append(_fmt(r["score_le_expected_share"]))
        row.append(_fmt((forecast.get("monotone_share") or {}).get(r["model"])))
        body.append(row)
    return lines + _table(header, body)


_VIEW_WORDS = {"by_grid_type": "grid type", "by_population_band": "population band"}


def fairness_sentence(flag: dict) -> str:
    """One flagged group in plain words, with its figures and what it may mean."""
    k = flag["k"].replace("pct", "%").replace("_", ".")
    kind = _VIEW_WORDS.get(flag["view"], "group")
    head = (
        f"{kind} '{flag['group']}' holds {100 * flag['top_share']:.1f}% of the top {k} "
        f"but {100 * flag['escalation_share']:.1f}% of the escalations "
        f"(ratio {flag['ratio']:.2f}, {flag['n_positive']:,} escalations)"
    )
    if flag["direction"] == "under":
        return (
            f"{head}: the list may under-serve these areas, or their escalations may be "
            "harder to foresee from what is recorded."
        )
    return (
        f"{head}: the list may over-rank these areas, for example where more is reported "
        "there than elsewhere."
    )


def fairness_markdown(metrics: dict) -> list[str]:
    """The fairness flags of the non-baseline models, per horizon, as Markdown lines."""
    fairness = metrics.get("fairness") or {}
    ratio = fairness.get("ratio")
    if ratio is None:
        return []
    flags = [f for f in fairness.get("flags", []) if f["model"] not in BASELINE_NAMES]
    lines = [
        "## Fairness flags",
        "",
        f"A group is flagged where its share of the top-k slots is more than {ratio:g}× or "
        f"less than 1/{ratio:g} of its share of the escalations, among groups with at least "
        f"{FAIRNESS_MIN_ESCALATIONS} escalations in the test rows ([backtest] fairness_ratio).",
        "",
    ]
    if not flags:
        return lines + ["No group is flagged.", ""]
    for f in flags:
        lines.append(f"- {f['model']}, horizon {f['horizon']}: {fairness_sentence(f)}")
    return lines + [""]


def plan_markdown(metrics: dict) -> list[str]:
    """The plan's recall against churn for each stability setting, as Markdown lines."""
    plan = metrics.get("plan")
    if not plan:
        return []
    lines = [
        "## The plan at capacity: recall against churn",
        "",
        f"{plan['model']}, horizon {plan['horizon']}; capacity: {plan['note']}"
        + (f" (per {plan['capacity_by']})" if plan.get("capacity_by") else "")
        + ". Each test date's plan is chosen from that date's scores and the plan before it. "
        "Recall: escalations in planned grids / all escalations; reached: escalations in "
        "planned grids per date; Jaccard and replaced: between consecutive plans; "
        "displacement: mean change of rank of the planned grids. * the configured setting.",
        "",
    ]
    rows = [
        [
            f"{r['hold_periods']}" + (" *" if r["configured"] else ""),
            "off" if r["exit_ratio"] == 0 else f"{r['exit_ratio']:g}",
            _fmt(r["recall"]),
            _fmt(r["reached"], 2),
            _fmt(r["jaccard"]),
            _fmt(r["replaced"]),
            _fmt(r["displacement"], 1),
        ]
        for r in plan["sweep"]
    ]
    header = ["hold", "exit rule", "recall", "reached", "Jaccard", "replaced", "displacement"]
    return lines + _table(header, rows) + [""]


def treatment_markdown(metrics: dict) -> list[str]:
    """Every model's AP and rates on untreated and treated grid-periods, as Markdown."""
    split = metrics.get("by_treatment")
    if not split:
        return []
    lines = [
        "## Untreated and treated grid-periods",
        "",
        f"A row is treated when an intervention for its grid started within its label "
        f"window ({100 * split['treated_share']:.1f}% of the rows): an escalation that did "
        "not happen there may have been prevented, so a treated row's miss may be a success. "
        "Each part is scored as if the list held only its rows.",
        "",
    ]
    rows = []
    for name in ("untreated", "treated"):
        for r in split[name]:
            rows.append(
                [
                    name,
                    r["model"],
                    str(r["horizon"]),
                    f"{r['n_rows']:,}",
                    f"{r['n_positive']:,}",
                    _fmt(r["base_rate"], 4),
                    _fmt(r["mean_score"], 4),
                    _fmt(r.get("ap")),
                ]
            )
    header = ["rows", "model", "h", "n", "escalations", "rate", "mean score", "AP"]
    return lines + _table(header, rows) + [""]


def effect_markdown(metrics: dict) -> list[str]:
    """The effect estimate at the plan's cut-off (or why there is none), as Markdown."""
    effect = metrics.get("effect")
    if not effect:
        return []
    lines = ["## Effect of the interventions (grids just inside vs just outside the plan)", ""]
    if "effect" not in effect:
        return lines + [f"No estimate: {effect['reason']}", ""]
    level = f"{100 * effect['level']:.0f}%"
    lines += [
        f"Relative change in escalations in the period an intervention starts, at the "
        f"plan's cut-off: **{100 * effect['effect']:+.1f}%** ({level} interval "
        f"{100 * effect['low']:+.1f}% to {100 * effect['high']:+.1f}%; {effect['design']} "
        f"design, treatment jump {effect['first_stage']:.2f}).",
        "",
    ]
    header = ["side", "grid-periods", "escalations"]
    body = [
        ["inside", f"{effect['n_inside']:,}", f"{effect['events_inside']:,}"],
        ["outside", f"{effect['n_outside']:,}", f"{effect['events_outside']:,}"],
    ]
    kinds = ", ".join(f"{k} {v:,}" for k, v in effect.get("kinds", {}).items()) or "–"
    lines += _table(header, body) + [
        f"{effect['n_lists']:,} lists, {effect['bandwidth']} ranks each side, "
        f"{effect['n_grids']:,} grids (the interval resamples grids); kinds: {kinds}.",
        "",
    ]
    for kind, e in effect.get("by_kind", {}).items():
        if "effect" in e:
            lines.append(
                f"- {kind} against no intervention: {100 * e['effect']:+.1f}% "
                f"({100 * e['low']:+.1f}% to {100 * e['high']:+.1f}%)"
            )
        else:
            lines.append(f"- {kind}: no estimate ({e['reason']})")
    return lines + ([""] if effect.get("by_kind") else [])
