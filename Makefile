# Two commands do all the set-up: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
HOST ?= 127.0.0.1
PORT ?= 8000
CHROMIUM ?= /usr/bin/chromium

.PHONY: run run-distributed install install-test lint test test-fast test-browser browser-deps migrate bench clean

$(PY):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check uv

install: $(PY)
	$(UV) pip install --quiet --python $(PY) -e .

install-test: $(PY)
	$(UV) pip install --quiet --python $(PY) -e '.[test]'

migrate: install
	$(PY) manage.py migrate --noinput

# The embedded default: SQLite, in-memory channel layer, in-process runner, offline model.
run: migrate
	@echo "Serving on http://$(HOST):$(PORT)/ (Ctrl-C to stop)"
	$(VENV)/bin/daphne -b $(HOST) -p $(PORT) reportsite.asgi:application

lint: install-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .

browser-deps:
	@test -x $(CHROMIUM) || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

test-fast: install-test
	$(VENV)/bin/pytest -q

test-browser: install-test browser-deps
	$(VENV)/bin/pytest -q -m browser

test: install-test lint browser-deps
	$(VENV)/bin/pytest -q
	$(VENV)/bin/pytest -q -m browser

bench: install-test
	$(PY) bench/run_bench.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
