# The two commands: `make run` (set up, start the dev stack) and `make test` (set up, run every test).
# Both install what they need from this repository's own files.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
LOCK := requirements/dev.lock

.PHONY: setup run test test-fast lint generate migrate lint-protos api-baseline bench lock \
	backup backups verify-backup restore restore-drill

setup: $(VENV)/.installed node_modules/.installed

# Only `make test` needs it: the dashboard's browser tests drive Debian's chromium through Playwright (whose own browser download is not
# reachable here); a fresh machine gets it from apt.
/usr/bin/chromium:
	apt-get update -qq && apt-get install -y -qq chromium

# The alerting pack's tests run promtool (Debian's prometheus package ships it; no server is started).
/usr/bin/promtool:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus

# Third-party packages only from the hash-checked lock; then the repository's own packages, from their folders
# (never by name from an index), without dependencies: pip refuses editable installs under --require-hashes.
$(VENV)/.installed: pyproject.toml clients/python/pyproject.toml devstack/pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e clients/python -e . -e devstack
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

generate: setup
	$(PY) tools/generate_code.py

# Foreground; Ctrl-C stops everything. Ports and the data folder follow VAUCHFLOW_* (see devstack/config.py).
run: generate
	$(PY) -m vauchflow_devstack

# PYTEST_ARGS narrows a run, e.g. `make test PYTEST_ARGS='tests/integration -x'`.
PYTEST_ARGS ?=
test: setup lint /usr/bin/chromium /usr/bin/promtool
	$(PY) -m pytest $(PYTEST_ARGS)

# The edit-test loop: pure rules, the API definition and generated code (no servers; well under a minute).
test-fast: setup
	$(PY) -m pytest -q tests/unit tests/api $(PYTEST_ARGS)

# What review misses: lint, formatting, types (strict on the shared core; see [tool.mypy] in pyproject.toml).
lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy -p vauchflow_core -p vauchflow_server -p vauchflow_delivery -p vauchflow_web -p vauchflow_backup -p vauchflow_prober -p vauchflow_devstack -p vauchflow
	$(PY) -m mypy --strict examples

lint-protos: setup
	node_modules/.bin/buf lint

# After an intended, released API change: make the current protos the baseline `buf breaking` compares with.
api-baseline: setup
	node_modules/.bin/buf build --exclude-source-info -o protos/baseline.binpb

# Backups of the dev stack's PostgreSQL (see docs/operations.md). `make run` already streams WAL and takes the
# daily base backup; these act on the same repository (.data/backups) from another terminal.
# A base backup now, against the running dev stack; then the list, and the span of time that can be restored.
backup: setup
	$(PY) -m vauchflow_devstack.backups backup
backups: setup
	$(PY) -m vauchflow_devstack.backups list
# BACKUP=<id> verifies one backup (default: the newest); BACKUP=--all verifies every one.
BACKUP ?=
verify-backup: setup
	$(PY) -m vauchflow_devstack.backups verify $(BACKUP)
# Into a new or empty directory, to a point in time or (without AT) to the newest WAL, e.g.
#   make restore AT=2026-12-01T22:40:00Z TARGET_DIR=/tmp/vauchflow-restored
TARGET_DIR ?= .data/restored
AT ?=
restore: setup
	$(PY) -m vauchflow_devstack.backups restore --target-dir "$(TARGET_DIR)" $(if $(AT),--time "$(AT)")
# On a throwaway cluster: backup, load, crash, restore to a time and to the latest point, checks (~40 s).
restore-drill: setup
	$(PY) -m vauchflow_devstack.restore_drill

# Redemption benchmark against the pgbench ceiling of the same run; writes docs/performance.md.
BENCH_ARGS ?=
bench: setup
	$(PY) bench/run.py $(BENCH_ARGS)

# After changing a dependency in any pyproject.toml: re-resolve the locks (with hashes): dev, the server image's
# runtime, and the backup image's (runtime + the backup extra).
LOCK_INPUTS := pyproject.toml clients/python/pyproject.toml
lock: setup
	$(PY) -m uv pip compile $(LOCK_INPUTS) --extra dev --extra devstack --extra backup --generate-hashes --python-version 3.11 --quiet -o $(LOCK)
	$(PY) -m uv pip compile $(LOCK_INPUTS) --generate-hashes --python-version 3.11 --quiet -o requirements/runtime.lock
	$(PY) -m uv pip compile $(LOCK_INPUTS) --extra backup --generate-hashes --python-version 3.11 --quiet -o requirements/backup.lock
