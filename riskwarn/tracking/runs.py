"""One MLflow run per ``riskwarn backtest`` and ``riskwarn train``.

A run records what is needed to trust and repeat it: the config (as parameters
and as ``config.json``), a SHA-256 per input table, the riskwarn version and git
commit, the feature manifest, the backtest metrics and plots, and for ``train``
the model (a models-from-code pyfunc over the scorer bundle).
"""

from __future__ import annotations

import math
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import infer_signature

from riskwarn import __version__
from riskwarn.backtest import plots
from riskwarn.config import Config, config_to_dict
from riskwarn.features.manifest import FeatureManifest
from riskwarn.tracking.bundle import ScorerBundle, save_bundle
from riskwarn.tracking.store import git_commit, use_experiment

PYFUNC_CODE = Path(__file__).with_name("pyfunc_model.py")
#: The libraries the pyfunc's scorer loads with (besides riskwarn itself).
SCORING_PACKAGES = ("lightgbm", "networkx", "numpy", "pandas", "scikit-learn", "scipy")


def _pins(names: tuple[str, ...]) -> tuple[str, ...]:
    """``name==version`` of each package as riskwarn's own metadata pins it.

    The pins live in one place, ``pyproject.toml``; the installed distribution's
    metadata carries them, so the model's requirements follow any change there.
    """
    from importlib.metadata import PackageNotFoundError, requires

    from packaging.requirements import Requirement

    try:
        declared = [Requirement(r) for r in requires("riskwarn") or []]
    except PackageNotFoundError as exc:
        raise RuntimeError("riskwarn is not installed: pip install -e . first") from exc
    pins = {
        r.name.lower(): str(r.specifier)
        for r in declared
        if r.marker is None and str(r.specifier).startswith("==")
    }
    missing = [n for n in names if n not in pins]
    if missing:
        raise RuntimeError(f"pyproject.toml pins none of {missing}")
    return tuple(f"{n}{pins[n]}" for n in names)


REQUIREMENTS = _pins(SCORING_PACKAGES)


@dataclass(frozen=True)
class LoggedRun:
    """What a run logged: its id, the model's URI (train only), where it lives."""

    run_id: str
    experiment_id: str
    model_uri: str | None = None


def _flat(mapping: dict, prefix: str = "") -> dict[str, str]:
    out = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, f"{name}."))
        else:
            out[name] = str(value)[:500]
    return out


def metric_key(model: str, horizon: int, metric: str) -> str:
    """The MLflow metric name of a backtest metric: ``<model>.h<h>.<metric>``."""
    return f"{model}.h{horizon}.{metric}"


def backtest_metrics(metrics: dict) -> dict[str, float]:
    """Every finite overall backtest metric as an MLflow metric."""
    out = {}
    records = [*metrics.get("overall", []), *(metrics.get("forecast") or {}).get("overall", [])]
    for record in records:
        for name, value in record.items():
            if name in ("model", "horizon") or isinstance(value, bool):
                continue
            if isinstance(value, int | float) and math.isfinite(value):
                out[metric_key(record["model"], record["horizon"], name)] = float(value)
    return out


def _log_common(
    config: Config,
    hashes: dict[str, str],
    data_hash: str,
    manifest: FeatureManifest | None,
    metrics: dict | None,
    command: str,
) -> None:
    mlflow.log_params(_flat(config_to_dict(config)))
    mlflow.log_dict(config_to_dict(config), "config.json")
    mlflow.set_tags(
        {
            "riskwarn.command": command,
            "riskwarn.version": __version__,
            "riskwarn.git_commit": git_commit(),
            "riskwarn.config_source": config.source or "built-in defaults",
            "data.sha256": data_hash,
            **{f"data.{name}.sha256": value for name, value in hashes.items()},
        }
    )
    if manifest is not None:
        mlflow.log_text(manifest.to_json(), "features.manifest.json")
    if metrics is not None:
        mlflow.log_metrics(backtest_metrics(metrics))
        mlflow.log_dict(metrics, "metrics.json")


def _log_figure(fig, name: str) -> None:
    """Log a figure, drawn as :func:`~riskwarn.backtest.plots.city_words` lays it out."""
    with plots.city_words():
        mlflow.log_figure(fig, name)


def _log_plots(
    predictions: pd.DataFrame, models: list[str], horizons, area, metrics: dict | None = None
) -> None:
    pit = ((metrics or {}).get("forecast") or {}).get("pit") or []
    for h in horizons:
        figures = [
            (f"plots/reliability_h{h}.png", plots.reliability_diagram(predictions, models, h)),
            (f"plots/recall_pai_by_k_h{h}.png", plots.ranking_by_k(predictions, models, h, area)),
        ]
        if any(int(r["horizon"]) == int(h) for r in pit):
            figures.append((f"plots/pit_h{h}.png", plots.pit_histograms(pit, h)))
        for name, fig in figures:
            _log_figure(fig, name)


def log_backtest_run(
    *,
    config: Config,
    hashes: dict[str, str],
    data_hash: str,
    manifest: FeatureManifest | None,
    metrics: dict,
    predictions: pd.DataFrame,
    area: pd.Series | None = None,
    figures: list | None = None,
) -> LoggedRun:
    """Log a backtest: config, data hashes, version, manifest, metrics, plots.

    ``figures``: more ``(artifact path, Figure)`` pairs made downstream (the plan's
    recall-against-churn plot)."""
    experiment = use_experiment()
    models = [str(m) for m in predictions["model"].unique()]
    with mlflow.start_run(experiment_id=experiment, run_name="backtest") as run:
        _log_common(config, hashes, data_hash, manifest, metrics, "backtest")
        _log_plots(predictions, models, sorted(predictions["horizon"].unique()), area, metrics)
        for name, fig in figures or []:
            _log_figure(fig, name)
    return LoggedRun(run.info.run_id, experiment)


def log_train_run(
    *,
    config: Config,
    hashes: dict[str, str],
    data_hash: str,
    bundle: ScorerBundle,
    metrics: dict,
    predictions: pd.DataFrame,
    input_example: pd.DataFrame,
    headline: dict[str, float],
    area: pd.Series | None = None,
) -> LoggedRun:
    """Log a trained scorer with its backtest, and the scorer as an MLflow pyfunc.

    ``input_example`` is the feature frame of the last as-of date (``as_of`` naive
    local time, see :func:`example_rows`); a few of its rows are logged as the
    model's example; ``headline`` are extra metrics (the promotion metric and its reference).
    """
    experiment = use_experiment()
    models = [str(m) for m in predictions["model"].unique()]
    with mlflow.start_run(experiment_id=experiment, run_name="train") as run:
        _log_common(config, hashes, data_hash, bundle.manifest, metrics, "train")
        mlflow.log_metrics({k: v for k, v in headline.items() if math.isfinite(v)})
        _log_plots(predictions, models, [bundle.horizon], area, metrics)
        lightgbm = bundle.scorer.lightgbm_component()
        if lightgbm is not None:
            fig = plots.feature_importance(lightgbm.feature_importance())
            _log_figure(fig, "plots/feature_importance.png")
        # Each row is scored from itself alone: a few rows are the example. Whole-number
        # features are declared as doubles: a client's missing value arrives as NaN, a
        # float, which an integer column of the signature would refuse.
        input_example = input_example.head(5)
        whole = input_example.select_dtypes(include=["integer"]).columns
        input_example = input_example.astype({c: "float64" for c in whole})
        output = bundle.scorer.score(
            input_example.assign(
                as_of=pd.to_datetime(input_example["as_of"]).dt.tz_localize(config.data.timezone)
            )
        )
        output["as_of"] = output["as_of"].dt.tz_localize(None)
        signature = _signature(input_example, output)
        with tempfile.TemporaryDirectory(prefix="riskwarn-model-") as tmp:
            folder = save_bundle(bundle, Path(tmp) / "scorer")
            with warnings.catch_warnings():
                # MLflow suggests type hints for schema inference; the signature is given.
                warnings.simplefilter("ignore", UserWarning)
                info = mlflow.pyfunc.log_model(
                    name="model",
                    python_model=str(PYFUNC_CODE),
                    artifacts={"scorer": str(folder)},
                    signature=signature,
                    input_example=input_example,
                    pip_requirements=list(REQUIREMENTS),
                )
    return LoggedRun(run.info.run_id, experiment, info.model_uri)


def _signature(input_example: pd.DataFrame, output: pd.DataFrame):
    """The pyfunc's signature, with ``as_of`` open to naive local time and instants.

    ``riskwarn features`` writes ``as_of`` as an instant (UTC in Parquet); clients
    of the REST server send text. MLflow's datetime type takes only naive values,
    so ``as_of`` is declared as any value and the model reads it: naive means local
    time, an instant is converted to the city's zone.
    """
    from mlflow.models import ModelSignature
    from mlflow.types.schema import AnyType, ColSpec, Schema

    inferred = infer_signature(input_example, output)
    inputs = [
        ColSpec(AnyType(), "as_of") if spec.name == "as_of" else spec
        for spec in inferred.inputs.inputs
    ]
    return ModelSignature(inputs=Schema(inputs), outputs=inferred.outputs)


def run_metric(run_id: str, key: str) -> float | None:
    """A metric logged on a run, or None when the run has no such metric."""
    value = mlflow.MlflowClient().get_run(run_id).data.metrics.get(key)
    return None if value is None else float(value)


def example_rows(frame: pd.DataFrame, timezone: str, n: int | None = None) -> pd.DataFrame:
    """Feature rows as the pyfunc takes them (the first ``n``, None: all): no labels,
    ``as_of`` naive local."""
    keep = [c for c in frame.columns if not c.startswith(("label_h", "count_h"))]
    rows = (frame[keep] if n is None else frame[keep].head(n)).copy()
    rows["as_of"] = rows["as_of"].dt.tz_convert(timezone).dt.tz_localize(None)
    return rows.reset_index(drop=True)
