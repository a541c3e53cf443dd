"""The README's reference parts agree with the code they describe."""

from __future__ import annotations

import re
from pathlib import Path

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
