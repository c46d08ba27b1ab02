# Routing Review: `make run` serves the embedded app, `make test` runs every test.
SHELL := /bin/bash
# .python-version names 3.12; pyenv and most installers resolve it, a plain python3.12 does too.
PYTHON ?= $(shell command -v python3.12 >/dev/null 2>&1 && python3.12 -c 'import sys' 2>/dev/null && echo python3.12 || echo python3)
VENV := .venv
BIN := $(VENV)/bin
# Local services the tests use; override for another setup.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/routing_review
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint typecheck bench bench-ingest bench-detect bench-explorer bench-dashboard bench-export clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 12), f"Python 3.12 needed, found {sys.version.split()[0]}"'
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); exit 1; }
	$(BIN)/pip install --quiet --upgrade pip || { rm -rf $(VENV); exit 1; }

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# Embedded mode: SQLite under data/, Celery eager, demo week loaded once.
run: export DEBUG ?= 1
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_catalog
	$(BIN)/python manage.py setup_roles
	$(BIN)/python manage.py demo_week --size 20000 --seed 7 --labels 2000
	$(BIN)/python manage.py ensure_admin
	@echo "Serving on http://$(HOST):$(PORT)/ (admin at /admin/)"
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

test: install
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	DEBUG=1 $(BIN)/mypy review routing_app

# Benchmarks print figures; they need the local PostgreSQL and Redis, like the tests.
bench: bench-ingest bench-detect bench-explorer bench-dashboard bench-export

bench-ingest: install
	$(BIN)/python bench/ingest.py $(BENCH_ARGS)

bench-detect: install
	$(BIN)/python bench/detect.py $(BENCH_ARGS)

bench-explorer: install
	$(BIN)/python bench/explorer.py $(BENCH_ARGS)

# 5,000,000 decisions: the generator takes several minutes before the timings.
bench-dashboard: install
	$(BIN)/python bench/dashboard.py $(BENCH_ARGS)

bench-export: install
	$(BIN)/python bench/export.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache staticfiles
