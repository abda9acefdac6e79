# The two commands of the README: `make run` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint clean bench bench-quick

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall only when the project's dependencies change.
$(VENV)/installed.stamp: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

# The bench extra too: `make test` runs a tiny smoke of the benchmark code.
$(VENV)/installed-test.stamp: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(VENV)/installed.stamp $@

run: $(VENV)/installed.stamp
	$(BIN)/flotilla serve

lint: $(VENV)/installed-test.stamp
	$(BIN)/ruff check .

test: $(VENV)/installed-test.stamp
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

# Benchmarks (README, "Benchmarks"): figures and target ratios, never a pass/fail on speed.
bench: $(VENV)/installed-test.stamp
	$(BIN)/python -m bench --mode full

bench-quick: $(VENV)/installed-test.stamp
	$(BIN)/python -m bench --mode quick

clean:
	rm -rf $(VENV) storage
