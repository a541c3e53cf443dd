"""The README's reference parts agree with the code they describe."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from riskwarn.cli import app
from riskwarn.data.contract import TABLES, contract_markdown

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_lists_every_contract_column_as_the_contract_has_it():
    text = README.read_text(encoding="utf-8")
    found = re.search(r"<!-- contract:start[^>]*-->\n(.*?)<!-- contract:end -->", text, re.S)
    assert found, "the README has no contract section"
    assert found.group(1) == contract_markdown()
    for spec in TABLES.values():
        for column in spec.columns:
            assert f"| `{column.name}` |" in found.group(1)


def test_validate_help_points_to_the_columns():
    result = CliRunner().invoke(app, ["validate", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    words = " ".join(result.output.split())
    assert "README.md" in words and 'section "Input data"' in words


def test_the_model_s_requirements_are_the_pins_of_pyproject():
    import tomllib

    from riskwarn.tracking.runs import REQUIREMENTS, SCORING_PACKAGES

    project = tomllib.loads((README.parent / "pyproject.toml").read_text(encoding="utf-8"))
    pins = {d.split("==")[0].split("[")[0].lower(): d for d in project["project"]["dependencies"]}
    assert list(REQUIREMENTS) == [pins[n].replace("[pandas]", "") for n in SCORING_PACKAGES]


# --------------------------------------------------------------- after make demo

REPO = README.parent


def _blocks(kind: str) -> list[str]:
    """The README's code blocks marked ``<!-- readme-test: KIND -->``, in order."""
    text = README.read_text(encoding="utf-8")
    pattern = rf"<!-- readme-test: {kind} -->\n```{kind}\n(.*?)```"
    return re.findall(pattern, text, re.S)


def _env() -> dict:
    import os

    # As a user's shell has it: no MLflow settings (the test session's store, or a
    # registry URI an earlier test in this process set, would be found instead).
    return {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """``riskwarn demo`` as ``make demo`` runs it, on 40 grids of the same 156 weeks,
    in a folder laid out like the repository (``.venv/bin`` is this environment's)."""
    import subprocess
    import sys

    folder = tmp_path_factory.mktemp("readme")
    (folder / ".venv").mkdir()
    (folder / ".venv" / "bin").symlink_to(Path(sys.executable).parent)
    done = subprocess.run(
        [".venv/bin/riskwarn", "demo", "--grids", "40", "--out", "demo_output"],
        cwd=folder,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return folder, done.stdout


def test_demo_runs_end_to_end(demo):
    folder, printed = demo
    out = folder / "demo_output"
    assert "Validation of" in printed
    assert (out / "quarantine" / "validation_report.json").exists()
    features = pd.read_parquet(out / "features.parquet")
    assert len(features) == 40 * 156 and "label_h1" in features.columns
    assert (out / "features.manifest.json").exists()
    for name in ("predictions.parquet", "metrics.json", "metrics.md"):
        assert (out / "backtest" / name).exists()
    assert "ensemble" in printed
    assert "registered riskwarn-escalation version" in printed
    watchlist = pd.read_parquet(out / "watchlist" / "watchlist.parquet")
    assert len(watchlist) == 40 and watchlist["rank"].min() == 1
    words = " ".join(printed.split())
    assert "the watchlist is in" in words and "mlflow ui --backend-store-uri" in words
    # three weeks scored: the last watchlist compares with the one before
    assert len(list((out / "watchlist" / "history").glob("watchlist_*.parquet"))) == 3
    assert watchlist["prev_rank"].notna().all()
    for name, marker in (("report.html", "网格风险预警名单"), ("report_en.html", "Ranked grids")):
        assert marker in (out / name).read_text(encoding="utf-8")


def test_the_readme_commands_run_verbatim_after_the_demo(demo):
    import subprocess
    import sys

    folder, _ = demo
    shell, python = _blocks("bash"), _blocks("python")
    assert shell and python
    for block in shell:
        for line in (x for x in block.splitlines() if x.strip()):
            done = subprocess.run(
                line, shell=True, cwd=folder, env=_env(), capture_output=True, text=True
            )
            assert done.returncode == 0, f"{line}\n{done.stderr[-2000:]}"
    for block in python:
        done = subprocess.run(
            [sys.executable, "-c", block], cwd=folder, env=_env(), capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert "score" in done.stdout
    assert (folder / "demo_output" / "report_by_hand.html").exists()
