# Aventide Gift backend. Two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
# The interpreter .venv is made from: an optimised CPython build when the machine has one
# (a distribution's python3.11 with its venv package, or an --enable-optimizations build),
# which runs a request with about a fifth less CPU than a plain source build
# (docs/decisions/0024-optimised-interpreter.md); else python3.11 or python3.
PYTHON ?= $(shell sh tools/pick-python)
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
PYTEST_WORKERS ?= auto

.DEFAULT_GOAL := help
.PHONY: help install install-dev run migrate seed test lint typecheck imports schema pytest stack worker beat clean mutation

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed-run: requirements.txt | $(PY)
	$(PIP) install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(PY)
	$(PIP) install --quiet -r requirements-dev.txt
	@touch $(VENV)/.installed-run $@

install: $(VENV)/.installed-run  ## create .venv and install the runtime requirements
install-dev: $(VENV)/.installed-dev  ## create .venv and install runtime + dev requirements

var:
	@mkdir -p var

migrate: install var  ## apply migrations (SQLite under var/ unless DATABASE_URL is set)
	$(PY) manage.py migrate --noinput

seed: migrate  ## idempotent demo data (countries AR, MX, BR; users; staff)
	$(PY) manage.py seed_demo

run: seed  ## embedded mode: SQLite, in-memory channel layer, eager tasks, http://127.0.0.1:8000
	@echo "Serving on http://$(HOST):$(PORT)  (API docs: http://$(HOST):$(PORT)/api/docs/, admin: /admin/)"
	$(PY) -m aventide.server --host $(HOST) --port $(PORT)

lint: install-dev  ## ruff lint + format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install-dev  ## mypy (django-stubs, drf-stubs)
	$(VENV)/bin/mypy .

imports: install-dev  ## import-linter: the app DAG of ARCHITECTURE.md
	$(VENV)/bin/lint-imports --no-cache

schema: install-dev  ## OpenAPI schema validates with no warnings
	$(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null

pytest: install-dev var  ## the test suite only
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

test: lint typecheck imports schema pytest  ## everything CI checks

# Mutation testing (docs/development/testing.md). Long: not part of `make test`. Mutants are
# written only into throw-away copies under var/mutation/; the tests run on PostgreSQL
# (databases <name>_mcov, <name>_mw0.. derived from MUTATION_DATABASE_URL).
MUTATION_MODULES ?= aventide/ledger/services.py aventide/orders/services.py audit/services.py \
	audit/merkle.py aventide/accounts/scope.py aventide/accounts/tokens.py \
	aventide/accounts/admin_scope.py aventide/accounts/usecase.py aventide/accounts/refusals.py
MUTATION_JOBS ?= 2
MUTATION_FAIL_UNDER ?= 90
MUTATION_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/aventide_mutation
MUTATION_ARGS ?=

mutation: install-dev var  ## mutation testing of MUTATION_MODULES (PostgreSQL; long; see docs/development/testing.md)
	REQUIRE_SERVICES=1 AVENTIDE_ENV=test $(PY) -m tools.mutation --modules $(MUTATION_MODULES) \
	  --jobs $(MUTATION_JOBS) --fail-under $(MUTATION_FAIL_UNDER) \
	  --database-url $(MUTATION_DATABASE_URL) $(MUTATION_ARGS)

STACK_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/aventide
STACK_REDIS_URL ?= redis://127.0.0.1:6379/0

stack: install var  ## full mode: web + Celery worker + beat on PostgreSQL and Redis (Procfile)
	@rm -rf var/prometheus && mkdir -p var/prometheus
	@export DATABASE_URL=$${DATABASE_URL:-$(STACK_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(STACK_REDIS_URL)} WEB_PORT=$(PORT) \
	  PROMETHEUS_MULTIPROC_DIR=$(CURDIR)/var/prometheus; \
	$(PY) -m aventide.ops.createdb && \
	$(PY) manage.py migrate --noinput && \
	$(PY) manage.py collectstatic --noinput -v0 && \
	$(PY) manage.py seed_demo && \
	exec $(VENV)/bin/honcho start -f Procfile

# Chaos drills (chaos/, docs/operations/drills.md): the short ones run inside `make test`
# (testpaths); `make chaos` runs every drill in full, on PostgreSQL and Redis.
CHAOS_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/aventide_chaos
CHAOS_REDIS_URL ?= redis://127.0.0.1:6379/14
CHAOS_ARGS ?=

.PHONY: chaos
chaos: install-dev var  ## chaos drills, full versions (PostgreSQL + Redis; docs/operations/drills.md)
	DATABASE_URL=$${DATABASE_URL:-$(CHAOS_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(CHAOS_REDIS_URL)} \
	  REQUIRE_SERVICES=1 AVENTIDE_ENV=test AVENTIDE_CHAOS_LONG=1 \
	  $(VENV)/bin/pytest chaos -m "chaos or chaos_long" -q $(CHAOS_ARGS)

BENCH_ARGS ?=

.PHONY: bench
bench: install-dev var  ## HTTP paths benchmark, PostgreSQL + Redis (bench/README.md); BENCH_ARGS="--quick"
	$(PY) -m bench.http_paths $(BENCH_ARGS)

.PHONY: bench-outbox
bench-outbox: install-dev var  ## outbox benchmark: jobs through a real Celery worker vs bare tasks (bench/README.md)
	$(PY) -m bench.outbox $(BENCH_ARGS)

clean:  ## remove the virtualenv and local state
	rm -rf $(VENV) var .mypy_cache .ruff_cache
