# The two commands of the README: `make serve` and `make test`. Only Python 3.11+ and make needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip

.PHONY: serve test lint typecheck pytest openapi migrate bench bench-search clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "patientkontrakt needs Python 3.11 or newer"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed
	$(PIP) install --quiet -c constraints.txt -e '.[dev]'
	touch $@

migrate: $(VENV)/.installed
	$(BIN)/patientkontrakt migrate

# On first start (no Patient yet) a small demo county is loaded first; PK_DEMO_DATA=0 skips it.
serve: migrate
	$(BIN)/patientkontrakt demo-data --first-start
	$(BIN)/patientkontrakt serve

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests migrations bench
	$(BIN)/ruff format --check src tests migrations bench

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

# pytest exits 5 when it collected no test: that is a failure here, never a silent pass.
pytest: $(VENV)/.dev-installed
	@$(BIN)/pytest $(PYTEST_ARGS); status=$$?; \
	  if [ $$status -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$status

test: lint typecheck pytest

# Our server (SQLite and PostgreSQL) beside HAPI FHIR under load, docs/performance.md (not a
# timed test). BENCH_SIZE=tiny|small|medium|large, default small (under 10 minutes). Installs wrk
# and PostgreSQL from Debian packages when missing (root); HAPI needs Java 17 and Maven.
bench: $(VENV)/.installed
	scripts/install-wrk
	$(BIN)/python -m bench.run

# Search benchmark on PostgreSQL (BENCH_DATABASE_URL, BENCH_PATIENTS, default 100000).
bench-search: $(VENV)/.installed
	$(BIN)/python -m bench.search --patients $${BENCH_PATIENTS:-100000}

openapi: $(VENV)/.installed
	$(BIN)/patientkontrakt openapi --output openapi.yaml

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
