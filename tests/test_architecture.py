"""Room rules of DESIGN.md, checked by parsing imports.

A room imports only rooms upstream of it (to its left in the data flow); only
cli.py and the workflows package (one module per command) wire rooms together; only the tracking room imports
mlflow; the simulator is a side room that only the wiring modules use; models
never read files.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "riskwarn"
ROOMS = [
    "data",
    "simulate",
    "panel",
    "labels",
    "features",
    "models",
    "backtest",
    "tracking",
    "scoring",
    "plan",
    "reports",
]
SIDE_ROOMS = {"simulate"}  # upstream of nothing: only wiring modules may import it
BASE = {"errors", "config", "atomic", "lunar", "spreadsheet", "__init__"}
WIRING = {"cli", "workflows", "pipeline"}
FILE_READERS = {"open", "read_csv", "read_parquet", "read_table", "read_text", "read_bytes", "load"}


def _imports(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            names.append("<relative>")
    return names


def _unit(module_path: str) -> str:
    """'riskwarn.data.read' -> 'data'; 'riskwarn.cli' -> 'cli'."""
    parts = module_path.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def violations(source: str, unit: str) -> list[str]:
    """Rule violations of one module's source, given its unit (room or base/wiring name)."""
    tree = ast.parse(source)
    found = []
    for name in _imports(tree):
        if name == "<relative>":
            found.append("relative import (use absolute riskwarn.* imports)")
            continue
        top = name.split(".")[0]
        if top == "mlflow" and unit != "tracking":
            found.append(f"imports mlflow outside the tracking room: {name}")
        if top != "riskwarn" or name == "riskwarn":
            continue
        target = _unit(name)
        if target in ("__version__",):
            continue
        if target == unit or target in BASE:
            continue
        if unit in WIRING:
            continue
        if unit in BASE:
            found.append(f"base module imports {name}")
        elif target in WIRING:
            found.append(f"room imports wiring module {name}")
        elif target in SIDE_ROOMS:
            found.append(f"imports the side room {target} ({name})")
        elif target not in ROOMS:
            found.append(f"imports unknown module {name}")
        elif unit in ROOMS and ROOMS.index(target) > ROOMS.index(unit):
            found.append(f"room {unit} imports downstream room {target} ({name})")
    if unit == "models":
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                fn = node.func
                called = fn.id if isinstance(fn, ast.Name) else getattr(fn, "attr", None)
                if called in FILE_READERS:
                    found.append(f"model code reads files: {called}()")
    return found


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        dotted = ".".join(rel.parts)
        out.append((dotted, path))
    return out


@pytest.mark.parametrize("dotted,path", _modules(), ids=[m for m, _ in _modules()])
def test_module_respects_room_rules(dotted: str, path: Path) -> None:
    unit = _unit(dotted)
    assert unit in ROOMS or unit in BASE or unit in WIRING, (
        f"{dotted}: every module belongs to a room, the base (errors/config/atomic) "
        "or the wiring (cli/workflows)"
    )
    assert violations(path.read_text(encoding="utf-8"), unit) == []


def test_every_room_folder_is_a_known_room() -> None:
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("_")}
    assert folders - {"__pycache__"} <= set(ROOMS) | WIRING


def test_workflows_are_one_thin_module_per_command_and_name_no_engine() -> None:
    """One command per module; the engine is chosen in one table per command
    (``SCORING_ENGINES``, ``TRAINING_FRAMES``), never by comparing its name."""
    folder = PACKAGE / "workflows"
    commands = {}
    for path in sorted(folder.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        public = [
            n.name
            for n in tree.body
            if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")
        ]
        commands[path.stem] = public
        assert len(path.read_text(encoding="utf-8").splitlines()) < 400, path.name
    for stem in ("features", "backtest", "train", "promote", "score"):
        assert len(commands[stem]) == 1, (stem, commands[stem])
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for word in ('engine == "spark"', 'engine == "duckdb"', 'engine != "duckdb"'):
            assert word not in text, f"{path.relative_to(PACKAGE)}: {word}"


@pytest.mark.parametrize(
    "source,unit,expected",
    [
        ("from riskwarn.models import x", "features", "downstream room models"),
        ("import mlflow", "scoring", "mlflow outside the tracking room"),
        ("import mlflow.pyfunc", "tracking", None),
        ("from riskwarn.simulate import simulate_city", "panel", "side room simulate"),
        ("from riskwarn.simulate import simulate_city", "workflows", None),
        ("from riskwarn.cli import app", "data", "wiring module"),
        ("from riskwarn.panel.graph import build_grid_graph", "errors", "base module imports"),
        ("from riskwarn.data.contract import TABLES", "panel", None),
        ("from . import x", "data", "relative import"),
        ("import pandas as pd\npd.read_parquet('x')", "models", "reads files"),
        ("import pandas as pd\npd.read_parquet('x')", "data", None),
    ],
)
def test_rule_checker_catches_violations(source: str, unit: str, expected: str | None) -> None:
    found = violations(source, unit)
    if expected is None:
        assert found == []
    else:
        assert any(expected in f for f in found), found
