# journeydesk: `make demo` runs the product, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)
# Test workers (pytest-xdist): one per core, at most 4 (each starts its own PostgreSQL
# cluster and Chromium and seeds its own demo desks). `make test WORKERS=0` runs serially.
WORKERS ?= auto

.PHONY: demo test lint format apps clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "journeydesk needs Python 3.11 or newer (found " + sys.version.split()[0] + "); run: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

demo: $(STAMP)  ## seed the demo help desk and serve it on http://127.0.0.1:8000
	$(BIN)/journeydesk demo $(ARGS)

test: $(STAMP)  ## lint, then the whole suite (browser tests need Debian's chromium)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest --numprocesses $(WORKERS) --maxprocesses 4 $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

apps: $(STAMP)  ## build the Zendesk and Freshdesk sidebar app zips into dist/apps
	$(BIN)/python apps/build.py --public-url $${PUBLIC_URL:-http://127.0.0.1:8000} --out dist/apps

clean:
	rm -rf $(VENV) dist build *.egg-info journeydesk-demo.db* tests/artifacts .pytest_cache .ruff_cache
