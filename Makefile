# Memberdesk. `make run` serves the API on embedded services; `make test` runs the whole suite.
# Both set themselves up on a fresh machine: uv (from PyPI) and the locked virtualenv.

SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV := .venv
STAMP := $(VENV)/.synced
PORT ?= 8000
MEMBERS ?= 1000000

CONSOLE_SOURCES := $(shell find console/src console/scripts -type f 2>/dev/null) console/index.html \
	console/vite.config.ts console/tsconfig.json console/package.json
CONSOLE_MODULES := console/node_modules/.installed
CONSOLE_BUILT := console/dist/.built

.PHONY: run test lint fmt migrate seed bench chaos setup clean pgbouncer chromium console

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@touch $(STAMP)

setup: $(STAMP)

# The operator console (react-admin, console/): npm ci when the lock file changed, a build when a source did.
$(CONSOLE_MODULES): console/package-lock.json
	cd console && npm ci --no-audit --no-fund
	@touch $@

$(CONSOLE_BUILT): $(CONSOLE_MODULES) $(CONSOLE_SOURCES)
	cd console && npm run build
	@touch $@

console: $(CONSOLE_BUILT)  ## build the console into console/dist (served at /console)

run: $(STAMP) $(CONSOLE_BUILT)  ## serve on an embedded PostgreSQL primary + replica and S3 (data in .devdata/)
	PORT=$(PORT) $(VENV)/bin/memberdesk dev

# tests/test_packaging.py builds production installs with this uv, from the cache the sync above filled.
test: $(STAMP) pgbouncer chromium $(CONSOLE_BUILT)  ## the whole suite against real PostgreSQL (primary + replica) and S3
	cd console && npm test
	MEMBERDESK_UV=$(abspath $(UV)) $(VENV)/bin/pytest
	@echo "== the API tests again, with the primary behind PgBouncer in transaction mode =="
	MEMBERDESK_TEST_VIA_PGBOUNCER=1 $(VENV)/bin/pytest tests/api

pgbouncer:  ## Debian's PgBouncer, for the tests that run through it (its system service is left stopped)
	@test -x /usr/sbin/pgbouncer || command -v pgbouncer >/dev/null || { \
		(apt-get install -y -qq pgbouncer >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq pgbouncer)) \
		&& (service pgbouncer stop >/dev/null 2>&1 || true); }

chromium:  ## Debian's Chromium, which the browser tests drive through Playwright (never `playwright install`)
	@command -v chromium >/dev/null || \
		(apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium))

lint: $(STAMP) $(CONSOLE_MODULES)
	cd console && npm run typecheck
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy backend devtools tests
	$(VENV)/bin/lint-imports --no-logo

fmt: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrate: $(STAMP)  ## alembic upgrade head on DATABASE_URL
	$(VENV)/bin/memberdesk migrate

seed: $(STAMP)  ## MEMBERS=N demo members into DATABASE_URL
	$(VENV)/bin/memberdesk seed --members $(MEMBERS)

bench: $(STAMP) chromium $(CONSOLE_BUILT)  ## issue 6: app vs raw asyncpg baseline at MEMBERS (1M) under wrk; table in bench/results/latest.md
	BENCH_MEMBERS=$${BENCH_MEMBERS:-$(MEMBERS)} $(VENV)/bin/python -m bench

chaos: $(STAMP) pgbouncer  ## issue 16: the app under load while its servers fail; bench/results/chaos.md and .png
	$(VENV)/bin/python -m bench.chaos

clean:
	rm -rf .devdata console/dist
