"""The model registry: versions of ``riskwarn-escalation``, aliases, trusted loading.

Every trained version gets the alias ``challenger``. The alias ``champion`` moves to
it only when its backtest beats the current champion's on the configured metric
(the first version must beat the best baseline of its own backtest); ``promote``
moves it deliberately. Models are loaded only from a registry URI
(``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``), and a model artifact holding a
pickle is refused unless explicitly allowed.
"""

from __future__ import annotations

import getpass
import math
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import yaml
from mlflow.exceptions import MlflowException

from riskwarn.config import higher_is_better
from riskwarn.errors import RiskwarnError
from riskwarn.tracking.bundle import ScorerBundle, load_bundle
from riskwarn.tracking.trust import untrusted_files

CHAMPION, CHALLENGER = "champion", "challenger"
_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[\w-]+)|/(?P<version>\d+))$")


@dataclass(frozen=True)
class Decision:
    """Whether a new version became champion, and why."""

    promoted: bool
    reason: str
    version: str
    previous_champion: str | None = None


@dataclass(frozen=True)
class RegisteredModel:
    """A model loaded from the registry, with where it came from."""

    bundle: ScorerBundle
    name: str
    version: str
    run_id: str
    folder: Path | None = None
    """The checked files, where :func:`load_registered` was asked to keep them."""
    champion: str | None = None
    """The version that had the alias ``champion`` when this one was loaded (None: none)."""


def _client() -> mlflow.MlflowClient:
    return mlflow.MlflowClient()


def champion_version(name: str):
    """The model version with alias ``champion``, or None."""
    try:
        return _client().get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def beats(new: float, reference: float, metric: str) -> bool:
    """Whether ``new`` is strictly better than ``reference`` on ``metric``."""
    return new > reference if higher_is_better(metric) else new < reference


def register_and_decide(
    *,
    model_uri: str,
    name: str,
    run_id: str,
    metric_key: str,
    metric_label: str,
    value: float,
    baseline_value: float | None,
    baseline_name: str | None,
) -> Decision:
    """Register a version, make it the challenger, and promote it if it earns it.

    Parameters
    ----------
    metric_key : str
        MLflow metric name of the promotion metric on train runs (compared with the
        champion's run).
    metric_label : str
        The config's metric name (``ap``, ``pai_at_5pct`` …): decides the direction.
    value : float
        The new version's backtest value.
    baseline_value, baseline_name
        The best baseline's value in the same backtest (the bar for a first version).
    """
    client = _client()
    version = mlflow.register_model(model_uri, name, tags={"riskwarn.run_id": run_id}).version
    version = str(version)
    client.set_registered_model_alias(name, CHALLENGER, version)
    current = champion_version(name)
    if not math.isfinite(value):
        # A test span without escalations (a small or quiet city) measures nothing.
        decision = Decision(
            False,
            f"the backtest could not measure {metric_label} (no escalation in its test span); "
            "the champion stays; promote by hand if you must",
            version,
            None if current is None else str(current.version),
        )
    elif current is None:
        if baseline_value is None:
            decision = Decision(
                False, "no baseline value to compare the first version with", version
            )
        elif beats(value, baseline_value, metric_label):
            decision = Decision(
                True,
                f"first version: {metric_label} {value:.4f} beats the best baseline "
                f"({baseline_name}) {baseline_value:.4f}",
                version,
            )
        else:
            decision = Decision(
                False,
                f"first version: {metric_label} {value:.4f} does not beat the best baseline "
                f"({baseline_name}) {baseline_value:.4f}; promote it by hand if you must",
                version,
            )
    else:
        champion_run = current.run_id
        reference = None
        if champion_run:
            reference = client.get_run(champion_run).data.metrics.get(metric_key)
        if reference is None:
            decision = Decision(
                False,
                f"the champion (version {current.version}) has no {metric_key} to compare "
                "with (another horizon or metric?); promote by hand if you must",
                version,
                str(current.version),
            )
        elif beats(value, reference, metric_label):
            decision = Decision(
                True,
                f"{metric_label} {value:.4f} beats the champion's (version {current.version}) "
                f"{reference:.4f}",
                version,
                str(current.version),
            )
        else:
            decision = Decision(
                False,
                f"{metric_label} {value:.4f} does not beat the champion's (version "
                f"{current.version}) {reference:.4f}; the champion stays",
                version,
                str(current.version),
            )
    client.set_model_version_tag(name, version, "riskwarn.promotion", decision.reason)
    if decision.promoted:
        _move_champion(name, version, decision.reason, decision.previous_champion, "automatic")
    return decision


def _move_champion(name: str, version: str, reason: str, previous: str | None, how: str) -> None:
    client = _client()
    client.set_registered_model_alias(name, CHAMPION, version)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    for key, value in {
        "riskwarn.promoted_at": stamp,
        "riskwarn.promoted_by": f"{how} ({getpass.getuser()})",
        "riskwarn.promotion": reason,
        "riskwarn.previous_champion": previous or "none",
    }.items():
        client.set_model_version_tag(name, version, key, value)


def promote(name: str, version: str) -> Decision:
    """Move ``champion`` to ``version`` by hand; recorded on the version's tags."""
    client = _client()
    try:
        client.get_model_version(name, str(version))
    except MlflowException as exc:
        raise RiskwarnError(f"model {name!r} has no version {version!r} in this registry.") from exc
    current = champion_version(name)
    previous = None if current is None else str(current.version)
    reason = f"promoted by hand (champion was {previous or 'none'})"
    _move_champion(name, str(version), reason, previous, "manual")
    return Decision(True, reason, str(version), previous)


def parse_model_uri(uri: str) -> tuple[str, str | None, str | None]:
    """``(name, alias, version)`` of a registry URI; a clear error for anything else."""
    match = _URI.match(uri.strip())
    if not match:
        raise RiskwarnError(
            f"--model {uri!r} is not a registry URI: riskwarn loads models only from its "
            "registry, as models:/NAME@ALIAS (e.g. models:/riskwarn-escalation@champion) or "
            "models:/NAME/VERSION."
        )
    return match["name"], match["alias"], match["version"]


def load_registered(
    uri: str, *, allow_pickle: bool = False, keep_in: str | Path | None = None
) -> RegisteredModel:
    """Download a registered model, check its files, and load its scorer bundle.

    Only the files of a riskwarn model (:func:`untrusted_files`) are accepted,
    unless ``allow_pickle``. ``keep_in``: a folder where the checked copy stays
    (``RegisteredModel.folder``), for a loader that needs the files themselves (the
    Spark UDF): the copy checked is the copy loaded, never a second download.
    """
    name, alias, version = parse_model_uri(uri)
    client = _client()
    try:
        mv = (
            client.get_model_version_by_alias(name, alias)
            if alias
            else client.get_model_version(name, version)
        )
    except MlflowException as exc:
        hint = ""
        if alias:
            versions = _versions(client, name)
            if versions:
                hint = (
                    f" {name} has version(s) {', '.join(versions)} but none has the alias "
                    f"{alias!r} (a version becomes champion only when its backtest beats the "
                    f"baselines): score one with --model models:/{name}/{versions[-1]}, or make "
                    f"it champion with riskwarn promote {versions[-1]} --config CONFIG."
                )
        raise RiskwarnError(
            f"the registry has no model {uri!r} ({exc.message.splitlines()[0]}).{hint}"
        ) from exc
    pinned = f"models:/{name}/{mv.version}"  # the version the alias pointed to just now
    with tempfile.TemporaryDirectory(prefix="riskwarn-model-") as tmp:
        target = Path(keep_in) if keep_in is not None else Path(tmp)
        try:
            folder = Path(
                mlflow.artifacts.download_artifacts(artifact_uri=pinned, dst_path=str(target))
            )
        except MlflowException as exc:
            raise RiskwarnError(f"cannot download model {pinned}: {exc.message}") from exc
        found = untrusted_files(folder)
        if found and not allow_pickle:
            raise RiskwarnError(
                f"model {pinned} holds files riskwarn does not make (they may run code when "
                f"loaded): {'; '.join(found[:3])}{' …' if len(found) > 3 else ''}. "
                "riskwarn's own models hold only JSON, LightGBM text and its pyfunc code; "
                "pass --allow-pickle only if you trust where this model came from."
            )
        bundle = load_bundle(folder / _scorer_path(folder))
    kept = folder if keep_in is not None else None
    current = champion_version(name)
    champion = str(current.version) if current is not None else None
    return RegisteredModel(bundle, name, str(mv.version), mv.run_id or "", kept, champion)


def _versions(client, name: str) -> list[str]:
    """The registered versions of ``name``, oldest first (none: an empty list)."""
    if "'" in name:
        return []
    try:
        found = client.search_model_versions(f"name = '{name}'")
    except MlflowException:
        return []
    return [str(v) for v in sorted(int(m.version) for m in found)]


def _scorer_path(folder: Path) -> str:
    try:
        meta = yaml.safe_load((folder / "MLmodel").read_text(encoding="utf-8")) or {}
        artifacts = meta["flavors"]["python_function"]["artifacts"]
        return artifacts["scorer"]["path"]
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise RiskwarnError(
            f"the model in {folder} is not a riskwarn pyfunc (no scorer artifact): {exc}"
        ) from exc
