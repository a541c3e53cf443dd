"""Pictures of a backtest: reliability, recall and PAI by k, PIT histograms, feature importance.

Each function returns a matplotlib Figure built without pyplot, so it needs no
screen, leaves the caller's backend alone (a notebook keeps showing its plots
inline) and is freed like any object; saving is left to the caller.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from riskwarn.backtest import metrics as m

K_GRID = (0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2)

# Fonts with Chinese glyphs, tried after the default one for each character (feature
# names carry a city's own category words); only those installed are named, since
# matplotlib logs a warning for every family it cannot find.
_CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
)


@contextlib.contextmanager
def city_words():
    """Draw a city's own (Chinese) words with a font that has them, where one is installed.

    Without one they are drawn as boxes, and matplotlib's warning for each missing
    glyph is kept off the user's console: the plot is made all the same. Wrap both the
    making of a figure (its layout measures the text) and its saving.
    """
    import matplotlib
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    first = matplotlib.rcParams["font.family"][0]
    families = [first, *(f for f in _CJK_FONTS if f in installed)]
    with matplotlib.rc_context({"font.family": families}), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font")
        yield


def _block(predictions: pd.DataFrame, model: str, horizon: int) -> pd.DataFrame:
    # Compared as stored (a categorical at backtest scale): turning tens of millions
    # of model names into strings for each plot would take minutes.
    rows = predictions[
        (predictions["model"] == model)
        & (predictions["horizon"] == horizon)
        & predictions["label"].notna()
    ]
    return rows


def reliability_diagram(
    predictions: pd.DataFrame, models: list[str], horizon: int, n_bins: int = 10
) -> Figure:
    """Observed escalation rate against mean score in equal-mass bins, per model."""
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    top = 0.0
    for model in models:
        rows = _block(predictions, model, horizon)
        if rows.empty:
            continue
        p = rows["score"].to_numpy(dtype=float)
        y = rows["label"].to_numpy(dtype=float)
        order = np.argsort(p, kind="stable")
        bins = np.array_split(order, min(n_bins, len(p)))
        x = [p[b].mean() for b in bins]
        obs = [y[b].mean() for b in bins]
        top = max(top, max(x), max(obs))
        ece = m.expected_calibration_error(y, p, n_bins)
        ax.plot(x, obs, marker="o", label=f"{model} (ECE {ece:.3f})")
    top = top * 1.05 or 1.0
    ax.plot([0, top], [0, top], color="grey", linestyle="--", linewidth=1, label="perfect")
    ax.set(
        xlabel="mean predicted probability",
        ylabel="observed escalation rate",
        title=f"Reliability, horizon {horizon} ({n_bins} equal-mass bins)",
        xlim=(0, top),
        ylim=(0, top),
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def ranking_by_k(
    predictions: pd.DataFrame,
    models: list[str],
    horizon: int,
    area: pd.Series | None = None,
    k_values: tuple[float, ...] = K_GRID,
) -> Figure:
    """Recall@k and PAI@k against k (share of grids), averaged over as-of dates."""
    fig = Figure(figsize=(10, 4))
    left, right = fig.subplots(1, 2)
    for model in models:
        rows = _block(predictions, model, horizon)
        if rows.empty:
            continue
        recall, pai = {k: [] for k in k_values}, {k: [] for k in k_values}
        areas = None
        if area is not None:
            areas = area.reindex(rows["grid_id"].astype(str)).to_numpy(dtype=float)
        label = rows["label"].to_numpy(float)
        count = rows["count"].to_numpy(float)
        score = rows["score"].to_numpy(float)
        for day in rows.groupby("as_of", observed=True).indices.values():
            out = m.top_k_metrics(
                label[day], count[day], score[day], k_values, None if areas is None else areas[day]
            )
            for k in k_values:
                recall[k].append(out[k]["recall"])
                pai[k].append(out[k]["pai"])
        pct = [100 * k for k in k_values]
        left.plot(pct, [m.mean_defined(recall[k]) for k in k_values], marker="o", label=model)
        right.plot(pct, [m.mean_defined(pai[k]) for k in k_values], marker="o", label=model)
    left.set(xlabel="top k % of grids", ylabel="recall@k", title=f"Recall, horizon {horizon}")
    right.set(xlabel="top k % of grids", ylabel="PAI@k", title=f"PAI, horizon {horizon}")
    left.legend(fontsize=8)
    fig.tight_layout()
    return fig


def feature_importance(importance: pd.Series, top: int = 20) -> Figure:
    """Horizontal bars of the ``top`` largest importances (e.g. LightGBM gain)."""
    values = importance.sort_values(ascending=False).head(top)[::-1]
    with city_words():  # feature names carry the city's category words
        fig = Figure(figsize=(7, max(3, 0.3 * len(values) + 1)))
        ax = fig.subplots()
        ax.barh([str(i) for i in values.index], values.to_numpy(dtype=float))
        ax.set(xlabel=str(importance.name or "importance"), title=f"Top {len(values)} features")
        fig.tight_layout()
    return fig


def pit_histograms(pit: list[dict], horizon: int) -> Figure:
    """The randomised PIT histogram of each model's count forecast at one horizon.

    ``pit`` are the ``forecast.pit`` records of the backtest metrics (``model,
    horizon, histogram``). A calibrated forecast is flat at the dashed line; a U
    shape means intervals too narrow, a hump too wide, a slope a biased level.
    """
    rows = [r for r in pit if int(r["horizon"]) == int(horizon)]
    fig = Figure(figsize=(3.2 * max(len(rows), 1), 3))
    axes = fig.subplots(1, max(len(rows), 1), squeeze=False)[0]
    for ax, record in zip(axes, rows, strict=False):
        values = np.asarray(record["histogram"], dtype=float)
        edges = np.linspace(0, 1, len(values) + 1)
        ax.bar(edges[:-1], values, width=np.diff(edges), align="edge", edgecolor="white")
        ax.axhline(1 / len(values), color="grey", linestyle="--", linewidth=1)
        ax.set(xlabel="PIT", title=f"{record['model']}, h={horizon}", xlim=(0, 1))
    axes[0].set_ylabel("share of rows")
    fig.tight_layout()
    return fig
