"""The command line: commands listed, exit codes (the demo flow: tests/test_readme.py)."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd

from riskwarn.cli import main

BUILT = [
    "simulate",
    "validate",
    "features",
    "backtest",
    "train",
    "promote",
    "score",
    "report",
    "demo",
]
NOT_YET: list[str] = []


def test_help_lists_built_commands_only():
    out = subprocess.run(
        [sys.executable, "-m", "riskwarn.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for cmd in BUILT:
        assert f" {cmd} " in out
    for cmd in NOT_YET:
        assert f" {cmd} " not in out


def test_usage_error_exits_2(capsys):
    assert main(["validate"]) == 2
    assert main(["no-such-command"]) == 2


def test_simulate_then_validate_round_trip(tmp_path, capsys):
    out = tmp_path / "city"
    assert (
        main(["simulate", "--out", str(out), "--grids", "30", "--periods", "12", "--seed", "3"])
        == 0
    )
    assert (out / "grids.parquet").exists() and (out / "_truth").is_dir()
    assert main(["validate", "--data", str(out), "--quarantine", str(tmp_path / "q")]) == 0
    printed = capsys.readouterr().out
    assert "rows read = rows accepted + rows quarantined: yes" in printed
    assert "source=adjacency" in printed
    # A clean simulated city has nothing to quarantine.
    for table in ("grids", "petitions", "disputes", "incidents", "adjacency"):
        assert pd.read_csv(tmp_path / "q" / f"{table}.csv").empty


def test_simulate_csv_format_validates(tmp_path, capsys):
    out = tmp_path / "city"
    args = ["simulate", "--out", str(out), "--grids", "10", "--periods", "6", "--format", "csv"]
    assert main(args) == 0
    assert (out / "petitions.csv").exists()
    assert main(["validate", "--data", str(out)]) == 0


def test_simulate_rejects_bad_format(tmp_path, capsys):
    assert main(["simulate", "--out", str(tmp_path), "--format", "xlsx"]) == 2
    assert "parquet or csv" in capsys.readouterr().err
