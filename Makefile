# clickflow: `make setup` then `make run`. `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.10 is required (TFX 1.16). Override with: make setup PYTHON=/path/to/python3.10
PYTHON ?= $(firstword $(wildcard /root/.pyenv/versions/3.10.13/bin/python) \
                     $(shell command -v python3.10 2>/dev/null))
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ARGS ?=

export TF_USE_LEGACY_KERAS := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help setup run test test-fast test-e2e lint data schema bench clean constraints

help: ## Show the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  make %-12s %s\n", $$1, $$2}'

setup: $(STAMP) ## Create .venv with Python 3.10 and install the pinned requirements

$(STAMP): requirements.txt constraints.txt
	@if [ -z "$(PYTHON)" ] || [ ! -x "$(PYTHON)" ]; then \
	  echo "error: Python 3.10 was not found (looked for /root/.pyenv/versions/3.10.13/bin/python" \
	       "and python3.10 on PATH). Install Python 3.10 (e.g. 'pyenv install 3.10.13') or run" \
	       "'make setup PYTHON=/path/to/python3.10'." >&2; exit 1; fi
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' || { \
	  echo "error: $(PYTHON) is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())')," \
	       "but clickflow needs Python 3.10 (TFX 1.16). Run 'make setup PYTHON=/path/to/python3.10'." >&2; \
	  exit 1; }
	@if [ -x $(PY) ] && ! $(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))'; then \
	  echo "Removing $(VENV): it was made with another Python."; rm -rf $(VENV); fi
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade "pip==26.3" "setuptools==84.2.1" "wheel==0.48.0"
	$(PY) -m pip install --disable-pip-version-check --progress-bar off -r requirements.txt
	@touch $(STAMP)
	@echo "Setup done: $(VENV) has Python 3.10 and the pinned requirements. Next: make run"

run: setup ## Run the whole pipeline locally (generates sample data if none). Flags: ARGS="--tune"
	$(PY) local_runner.py $(ARGS)

test: setup ## Run every test (unit tests and the small end-to-end pipeline runs)
	$(PY) -m pytest

test-fast: setup ## Unit tests only (no end-to-end pipeline run)
	$(PY) -m pytest -m "not e2e"

test-e2e: setup ## Only the end-to-end pipeline tests
	$(PY) -m pytest -m e2e

lint: setup ## ruff
	$(PY) -m ruff check .

data: setup ## Append a new span of generated data. ROWS=1000 SEED=42
	$(PY) -m pipelines.data_generator append --data-dir workspace/data \
	  --rows $${ROWS:-1000} --seed $${SEED:-42}

schema: setup ## Propose a schema with TFDV from the current data, to review against schema/
	$(PY) -m pipelines.schema_proposal $(ARGS)

bench: setup ## Pipeline speed benchmark (minutes): experiments/benchmarks/pipeline_benchmark.py
	$(PY) experiments/benchmarks/pipeline_benchmark.py $(ARGS)

constraints: setup ## Re-pin constraints.txt from the installed .venv
	@{ sed -n '1,2p' constraints.txt; $(PY) -m pip freeze --exclude-editable; } > constraints.txt.new
	@mv constraints.txt.new constraints.txt

clean: ## Remove generated data, pipeline artifacts and pushed models (keeps .venv)
	rm -rf workspace
