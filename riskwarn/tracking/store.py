"""Where runs and models are tracked: the embedded SQLite store or a server.

``--tracking-uri`` wins, then ``MLFLOW_TRACKING_URI``, then the embedded default
``sqlite:///mlruns.db`` in the working folder (artifacts under ``./mlruns``). With
a server URI nothing is written to the working folder.
"""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import mlflow

EMBEDDED_URI = "sqlite:///mlruns.db"
EXPERIMENT = "riskwarn"


def resolve_tracking_uri(explicit: str | None = None) -> str:
    """The tracking URI riskwarn uses: explicit, else the environment, else embedded."""
    return explicit or os.environ.get("MLFLOW_TRACKING_URI") or EMBEDDED_URI


def connect(explicit: str | None = None) -> str:
    """Point MLflow's tracking and registry at the resolved URI; returns it."""
    uri = resolve_tracking_uri(explicit)
    # MLflow announces its database migrations at INFO; riskwarn reports its own steps.
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def use_experiment(name: str = EXPERIMENT) -> str:
    """The experiment's id, created on first use.

    With a local SQLite store the artifacts go to ``mlruns/`` beside the database
    file (for the embedded default: the working folder); a server decides itself.
    """
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    uri = mlflow.get_tracking_uri()
    location = None
    if uri.startswith("sqlite:///"):
        database = Path(uri.removeprefix("sqlite:///")).resolve()
        location = (database.parent / "mlruns").as_uri()
    return mlflow.create_experiment(name, artifact_location=location)


def git_commit() -> str:
    """The commit of the riskwarn source, or ``"unknown"`` outside a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"
