# Every target creates .venv from requirements.lock when it is missing, so a
# fresh clone needs nothing but Python 3.11 (and Java 17 for the Spark parts).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_USERS ?= 10000
BENCH_USERS ?= 1000000
export DBT_PROFILES_DIR := $(CURDIR)
export DBT_SEND_ANONYMOUS_USAGE_STATS := false

.PHONY: help install demo test test-python test-dbt lint format bench-generate bench-models lock clean

help:
	@echo "make demo            generate a $(DEMO_USERS)-user lakehouse in DuckDB and build every model"
	@echo "make test            everything CI checks: lint, DuckDB build + data tests, Spark build, parity, pytest"
	@echo "make lint            ruff, mypy (connector), sqlfluff (models)"
	@echo "make bench-generate  time the generator at $(BENCH_USERS) users; writes bench/RESULTS.md"
	@echo "make bench-models    time full and incremental dbt builds at $(BENCH_USERS) users; writes bench/RESULTS.md"

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/cio-privacy generate --users $(DEMO_USERS)
	$(BIN)/dbt build
	$(BIN)/cio-privacy summary

test: lint test-python

test-python: $(STAMP)
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check connector tests bench
	$(BIN)/ruff format --check connector tests bench
	$(BIN)/mypy
	CIO_PRIVACY_DUCKDB_PATH=:memory: $(BIN)/sqlfluff lint models data-tests

format: $(STAMP)
	$(BIN)/ruff format connector tests bench
	$(BIN)/ruff check --fix connector tests bench
	CIO_PRIVACY_DUCKDB_PATH=:memory: $(BIN)/sqlfluff fix models data-tests

bench-generate: $(STAMP)
	$(BIN)/python bench/bench_generate.py --users $(BENCH_USERS)

# Files go to /tmp/cio-privacy-bench-models (about 3 GB at a million users), never .local.
bench-models: $(STAMP)
	$(BIN)/python bench/bench_models.py --users $(BENCH_USERS)

# Re-resolve the pinned versions from pyproject.toml's ranges.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet -c <(echo 'dbt-core>=1.10,<1.12') -e '.[dev]'
	{ echo "# Exact versions installed by 'make' (pip install -r requirements.lock). Regenerate with 'make lock'."; \
	  .venv-lock/bin/pip freeze --exclude-editable | sort -f; } > requirements.lock
	rm -rf .venv-lock

clean:
	rm -rf .local target logs
