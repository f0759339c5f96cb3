# Every target creates .venv from requirements.lock when it is missing, so a
# fresh clone needs nothing but Python 3.11 (and Java 17 for the Spark parts).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_USERS ?= 10000
BENCH_USERS ?= 1000000
BENCH_ACTIONS ?= 1000000
DEMO_API_KEY ?= demo-sandbox-key
DEMO_MAX_DELETES ?= 1000000
export DBT_PROFILES_DIR := $(CURDIR)
export DBT_SEND_ANONYMOUS_USAGE_STATS := false

.PHONY: help install demo demo-sync bench-sync test test-python test-dbt lint format bench-generate bench-models lock clean

help:
	@echo "make demo            generate a $(DEMO_USERS)-user lakehouse in DuckDB and build every model"
	@echo "make test            everything CI checks: lint, DuckDB build + data tests, Spark build, parity, pytest"
	@echo "make lint            ruff, mypy (connector), sqlfluff (models)"
	@echo "make bench-generate  time the generator at $(BENCH_USERS) users; writes bench/RESULTS.md"
	@echo "make bench-models    time full and incremental dbt builds at $(BENCH_USERS) users (3 rounds, medians); writes bench/RESULTS.md"
	@echo "make bench-sync      sync $(BENCH_ACTIONS) actions to the sandbox, against the official library; writes bench/RESULTS.md"

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
	@$(MAKE) --no-print-directory demo-sync

# The sandbox (a local Customer.io) on a free port for as long as the sync runs;
# the trap stops it however the recipe ends. A fresh workspace receives every
# past erasure at once, hence the demo's --max-deletes.
demo-sync: $(STAMP)
	@set -euo pipefail; \
	log=$$(mktemp); \
	CUSTOMERIO_API_KEY=$(DEMO_API_KEY) $(BIN)/cio-privacy sandbox --port 0 >"$$log" 2>&1 & sandbox=$$!; \
	trap 'kill $$sandbox 2>/dev/null || true; wait $$sandbox 2>/dev/null || true; rm -f "$$log"' EXIT; \
	for _ in $$(seq 200); do grep -q 'listening on' "$$log" && break; sleep 0.1; done; \
	url=$$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$$log"); \
	test -n "$$url" || { cat "$$log"; exit 1; }; \
	export CUSTOMERIO_BASE_URL=$$url CUSTOMERIO_API_KEY=$(DEMO_API_KEY); \
	$(BIN)/cio-privacy sync --max-deletes $(DEMO_MAX_DELETES); \
	$(BIN)/python -c "$$SANDBOX_CHECK" "$$url"; \
	$(BIN)/cio-privacy sync --json --max-deletes $(DEMO_MAX_DELETES) \
	  | $(BIN)/python -c "$$SECOND_SYNC"

# The second sync right after the first must find nothing to send.
define SECOND_SYNC
import json, sys
run = json.load(sys.stdin)
print(f"sync again: {run['actions_read']:,} actions read, {run['http_requests']:,} requests")
sys.exit(0 if run["actions_read"] == 0 else "sync again found actions to send: the ledger did not close the loop")
endef
export SECOND_SYNC

# What the sandbox holds must be what the ledger says was delivered: per user,
# the last delivered action decides (rowid keeps a response's order).
define SANDBOX_CHECK
import json, os, sys, urllib.request
import duckdb
state = json.load(urllib.request.urlopen(sys.argv[1] + "/_sandbox/state"))
held = {"people": set(state["people"]), "suppressed": set(state["suppressed"]),
        "deleted": set(state["deleted"])}
print(f"sandbox holds: {len(held['people']):,} people, {len(held['suppressed']):,} suppressed, "
      f"{len(held['deleted']):,} deleted; {state['messages_received']:,} messages received, "
      f"{state['duplicate_message_ids']:,} duplicate message ids")
path = os.environ.get("CIO_PRIVACY_DUCKDB_PATH", ".local/customerio_privacy.duckdb")
with duckdb.connect(path, read_only=True) as con:
    rows = con.execute("""
        select
            user_id,
            arg_max(action_type, rowid) filter (
                where action_type in ('suppress_person', 'unsuppress_person')) = 'suppress_person',
            arg_max(action_type, rowid)
        from raw.customerio_acks where status = 'delivered' group by user_id""").fetchall()
suppressed = {user for user, is_suppressed, _ in rows if is_suppressed}
expected = {"people": {u for u, _, last in rows if last == "identify"} - suppressed,
            "suppressed": suppressed,
            "deleted": {u for u, _, last in rows if last == "delete_person"}}
wrong = [f"{name}: {len(held[name] ^ users):,} users differ"
         for name, users in expected.items() if held[name] != users]
sys.exit("the sandbox does not hold what the ledger delivered: " + "; ".join(wrong) if wrong
         else print("the sandbox holds exactly the people, suppressions and deletions the ledger delivered"))
endef
export SANDBOX_CHECK

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

# Files go to /tmp/cio-privacy-bench-sync, never .local.
bench-sync: $(STAMP)
	$(BIN)/python bench/bench_sync.py --actions $(BENCH_ACTIONS)

# Re-resolve the pinned versions from pyproject.toml's ranges.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet -c <(echo 'dbt-core>=1.10,<1.12') -e '.[dev]'
	{ echo "# Exact versions installed by 'make' (pip install -r requirements.lock). Regenerate with 'make lock'."; \
	  .venv-lock/bin/pip freeze --exclude-editable | sort -f; } > requirements.lock
	rm -rf .venv-lock

clean:
	rm -rf .local target logs
