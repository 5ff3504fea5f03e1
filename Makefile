# The README's commands. `make test` and `make demo` work on a fresh machine with Python 3.11 and pip.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install test unit lint typecheck demo cluster-demo bench schema clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --progress-bar off -e '.[all,dev]'
	@touch $(STAMP)

install: $(STAMP)

lint: install
	$(VENV)/bin/ruff check provider tests benchmarks dags plugins demo release_gates_testing
	$(VENV)/bin/ruff format --check provider tests benchmarks dags plugins demo release_gates_testing

typecheck: install
	$(VENV)/bin/mypy

test: lint typecheck
	$(PY) -m pytest

unit: install
	$(PY) -m pytest tests/unit -q

# The release DAG end to end on embedded defaults: real data, AWS API emulator, airflow standalone.
# KEEP=1 leaves Airflow running afterwards to explore the UI. The demo (demo/) and the test support it
# uses (release_gates_testing/) are not in the wheel: they run from the repository root.
demo: install
	KEEP=$(KEEP) $(PY) -m demo --topology standalone

# The same releases on the production topology without Docker: PostgreSQL (metadata + evidence),
# Redis broker, scheduler / dag-processor / triggerer / API server processes, two Celery workers.
# Needs redis-server (Debian: apt-get install -y redis-server). KEEP=1 leaves the cluster running.
cluster-demo: install
	KEEP=$(KEEP) $(PY) -m demo --topology cluster

# Every benchmark prints figures (several minutes: fairlearn and Evidently baselines run at 1M rows).
# PYTHONPATH=.: some use the demo's data and release_gates_testing, which run from the repository root.
bench: install
	@for script in benchmarks/*_bench.py; do echo "== $$script"; PYTHONPATH=. $(PY) $$script || exit 1; done

# Regenerate the published CheckResult JSON Schema after changing release_gates/results.py.
schema: install
	$(PY) -c "from release_gates.results import write_json_schema; print(write_json_schema())"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
