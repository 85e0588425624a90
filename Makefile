# The two commands: `make run` (set up, start the dev stack) and `make test` (set up, run every test).
# Both install what they need from this repository's own files.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup run test generate migrate lint-protos api-baseline bench

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e clients/python -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

generate: setup
	$(PY) tools/generate_code.py

# Foreground; Ctrl-C stops everything. Ports and the data folder follow VAUCHFLOW_* (see devstack/config.py).
run: generate
	$(PY) -m vauchflow_server.devstack

# PYTEST_ARGS narrows a run, e.g. `make test PYTEST_ARGS='tests/integration -x'`.
PYTEST_ARGS ?=
test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

lint-protos: setup
	node_modules/.bin/buf lint

# After an intended, released API change: make the current protos the baseline `buf breaking` compares with.
api-baseline: setup
	node_modules/.bin/buf build --exclude-source-info -o protos/baseline.binpb

# Redemption benchmark against the pgbench ceiling of the same run; writes docs/performance.md.
BENCH_ARGS ?=
bench: setup
	$(PY) bench/run.py $(BENCH_ARGS)
