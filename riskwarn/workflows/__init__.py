"""Wiring of the rooms into the steps the CLI and notebooks run, one module per command.

This package (with ``cli.py``) is the only place that joins rooms together, so each
room stays importable and testable on its own. ``common`` holds what the commands
share; ``features``, ``backtest``, ``train``, ``promote`` and ``score`` are one
command each.
"""

from riskwarn.workflows.backtest import run_backtest_files
from riskwarn.workflows.common import (
    BacktestOutput,
    ScoreOutput,
    TrainOutput,
    ValidatedData,
    check_models,
    json_ready,
    validate_data,
)
from riskwarn.workflows.features import build_feature_file
from riskwarn.workflows.promote import promote_version
from riskwarn.workflows.score import score_files
from riskwarn.workflows.train import train_model_files

__all__ = [
    "BacktestOutput",
    "ScoreOutput",
    "TrainOutput",
    "ValidatedData",
    "build_feature_file",
    "check_models",
    "json_ready",
    "promote_version",
    "run_backtest_files",
    "score_files",
    "train_model_files",
    "validate_data",
]
