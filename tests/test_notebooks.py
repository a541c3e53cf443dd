"""The notebooks as files: parameterised, outputs stripped, public API only.

``make test`` also runs each of them top to bottom (nbmake); this checks what a
run cannot: what is committed.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
EXPECTED = [
    "01_data_tour.ipynb",
    "02_features_and_labels.ipynb",
    "03_model_comparison.ipynb",
    "04_watchlist_review.ipynb",
]


PUBLIC_MODULES = {
    "riskwarn.config",
    "riskwarn.simulate",
    "riskwarn.data.contract",
    "riskwarn.data.validate",
    "riskwarn.panel.graph",
    "riskwarn.features.build",
    "riskwarn.workflows",
    "riskwarn.backtest.plots",
    "riskwarn.reports.html",
    "riskwarn.reports.svg",
}
"""The modules the README lists as the Python API."""


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_the_four_notebooks_are_there():
    assert [p.name for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_tagged_parameters_cell_comes_first(path):
    code = [c for c in _cells(path) if c["cell_type"] == "code"]
    first = code[0]
    assert "parameters" in first["metadata"].get("tags", [])
    assigned = {
        t.id
        for node in ast.parse(_source(first)).body
        if isinstance(node, ast.Assign)
        for target in node.targets
        for t in (target.elts if isinstance(target, ast.Tuple) else [target])
    }
    assert {"data_dir", "config_path", "tracking_uri"} <= assigned


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_are_stripped(path):
    for cell in _cells(path):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_only_the_public_api_is_used(path):
    for cell in _cells(path):
        if cell["cell_type"] != "code":
            continue
        tree = ast.parse(_source(cell))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("riskwarn"):
                assert node.module in PUBLIC_MODULES, f"{path.name} imports {node.module}"
                assert not any(a.name.startswith("_") for a in node.names), node.module
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("riskwarn"):
                        assert alias.name in PUBLIC_MODULES, f"{path.name} imports {alias.name}"
            if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
                pytest.fail(f"{path.name} reaches a private attribute: {node.attr}")
            if isinstance(node, ast.Name) and node.id in ("eval", "exec"):
                pytest.fail(f"{path.name} calls {node.id}")


def test_a_notebook_runs_under_nbconvert_too(tmp_path):
    """As a researcher runs them outside the tests: ``jupyter nbconvert --execute``.

    nbmake runs all four in ``make test`` with the same kernel; this runs the data
    tour through nbconvert, the tool and kernel set-up a researcher uses (the others
    take the same path; all four under nbconvert would add two minutes to make test).
    """
    import subprocess
    import sys

    jupyter = Path(sys.executable).parent / "jupyter"
    assert jupyter.exists(), "jupyter is not installed in the project's environment"
    done = subprocess.run(
        [
            str(jupyter),
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--ExecutePreprocessor.timeout=600",
            "--output-dir",
            str(tmp_path),
            str(NOTEBOOKS[0]),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for path in NOTEBOOKS[:1]:
        executed = json.loads((tmp_path / path.name).read_text(encoding="utf-8"))
        code = [c for c in executed["cells"] if c["cell_type"] == "code"]
        assert all(c.get("execution_count") for c in code)
        errors = [o for c in code for o in c.get("outputs", []) if o["output_type"] == "error"]
        assert not errors
