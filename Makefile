# T2J Workbench. Two entry points: `make demo` (install, demo data, start everything) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test install system-packages venv static sandbox-runtime migrate demo-data run test-fast test-postgres lint bench

demo: install migrate demo-data run

test: install
	$(PY) -m pytest

install: system-packages venv static sandbox-runtime

# Debian packages the app and its tests need (bubblewrap for the sandbox, chromium for browser tests, PostgreSQL,
# ip and setpriv for the multi-host test).
system-packages:
	@missing=""; \
	for pkg in bubblewrap chromium python3.11-venv postgresql iproute2 util-linux; do \
	  dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq $$missing; \
	fi

# Reinstalls only when requirements.txt changed (pip from the pinned file; uv/poetry would pull a CUDA torch).
venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements.txt
	touch $@

static: static/vendor/.installed
static/vendor/.installed: package.json package-lock.json scripts/vendor_static.sh
	npm ci --no-audit --no-fund --loglevel=error
	./scripts/vendor_static.sh
	touch $@

# The runtime venv of sandbox_runtime/requirements.txt (torch + torchvision, jax, tensorflow, ...): rebuilt only
# when that file changes, about 7 GB; on the 2-core machine about 5 minutes (the older six-package one: 1.5).
sandbox-runtime:
	@if [ -x scripts/setup_sandbox.sh ]; then $(if $(filter 0,$(shell id -u)),,sudo) ./scripts/setup_sandbox.sh; fi

migrate:
	$(PY) manage.py migrate --noinput
	$(PY) manage.py createcachetable -v 0
	$(PY) manage.py collectstatic --noinput -v 0

demo-data:
	$(PY) manage.py load_demo  # also creates the demo users (passwords printed once)
	$(PY) manage.py compute_metrics --metric fixcost

run:
	@echo "T2J Workbench on http://$(HOST):$(PORT)/ (gunicorn; Ctrl+C stops web, worker and sandbox runner)"
	HOST=$(HOST) PORT=$(PORT) $(VENV)/bin/honcho start -f Procfile

test-fast: install
	$(PY) -m pytest -m "not browser and not sandbox"

test-postgres: install
	./scripts/start_postgres.sh
	DATABASE_URL=postgres://t2j:t2j@127.0.0.1:5432/t2j $(PY) -m pytest -m "not browser and not sandbox" -p no:cacheprovider -n 2

lint:
	$(VENV)/bin/ruff check .

bench:
	$(PY) bench/sandbox_latency.py
	$(PY) bench/batch_runs.py
	$(PY) bench/dashboard.py
