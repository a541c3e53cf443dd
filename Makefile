# Two set-up commands live in the README: `make demo` and `make test`.
# Both create .venv on a fresh machine with Python 3.11 and install what they need.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_DIR ?= demo_output

.PHONY: test demo bench lab lint format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check riskwarn tests benchmarks
	$(BIN)/ruff format --check riskwarn tests benchmarks
	# two workers (one per core), each test file whole on one of them
	$(BIN)/pytest -q -n 2 --dist loadfile tests --nbmake notebooks --nbmake-timeout=600

demo: $(STAMP)
	$(BIN)/riskwarn demo --out $(DEMO_DIR)

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

# JupyterLab on the notebooks, in the project's environment (a convenience)
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks

lint: $(STAMP)
	$(BIN)/ruff check riskwarn tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format riskwarn tests benchmarks
	$(BIN)/ruff check --fix riskwarn tests benchmarks

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .ruff_cache .hypothesis
