# Every target creates .venv itself: `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: venv demo test lint format bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## A real search on the embedded default: local Ray + SQLite file hpsearch.db.
demo: venv
	$(BIN)/hpsearch run examples/digits_quick.toml

## Lint, format check, then the whole test suite.
test: venv lint
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: venv
	$(BIN)/python benchmarks/trainer_speed.py
	$(BIN)/python benchmarks/storage_speed.py
	$(BIN)/python benchmarks/search_overhead.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist *.egg-info
