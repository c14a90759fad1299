"""Names and paths every part of clickflow agrees on, in one place.

Paths are rooted at the repository, never at the current directory, so a command started from
another folder reads and writes the same workspace. Nothing is read from the environment here.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKSPACE = REPO_ROOT / "workspace"
SCHEMA_FILE = REPO_ROOT / "schema" / "schema.pbtxt"

DEFAULT_PIPELINE_NAME = "clickflow"
DEFAULT_MODEL_NAME = "clickflow"
# TF Serving model names and version labels: what the server, the dashboard and the manifests
# accept.
MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

# Files inside a pipeline root.
METADATA_FILE = "metadata.sqlite"  # the local ML Metadata store (SQLite)
SUMMARY_FILE = "run_summary.json"  # what the last local run did (and runs/<id>/ copies)

# Inside each version a clickflow Pusher pushed: where it came from (pipeline, run, model), so
# a version whose run was killed before ML Metadata recorded the push still has its lineage.
PUSH_RECORD = "assets.extra/clickflow_push.json"
# Beside it, the version's model card (pipelines/components/model_card.py): what the model is
# for, what it learned from, how it scored against which thresholds and what it cannot do.
MODEL_CARD_DIR = "assets.extra/model_card"
MODEL_CARD_JSON = "model_card.json"  # the card's content, read by the dashboard
MODEL_CARD_MD = "model_card.md"
MODEL_CARD_HTML = "model_card.html"
MODEL_CARD_WRITTEN = "written"  # ModelCard artifact property: 1 with a card, 0 (not pushed)
# Beside them, the train split's TFDV statistics (FeatureStats.pb) the version learned from: the
# monitor measures skew against them where it has no ML Metadata (a CronJob in the cloud).
TRAINING_STATISTICS_DIR = "assets.extra/training_statistics"
# TFDV's statistics file in each split folder of a StatisticsGen output (Split-<name>/).
STATISTICS_FILE = "FeatureStats.pb"
# Distinct values up to which StatisticsGen's sketches (pipelines.pipeline.statistics_options)
# and the monitor's in-memory statistics count top values exactly: TFDV's Misra-Gries size
# (tensorflow_data_validation/statistics/stats_impl.py _DEFAULT_MG_SKETCH_SIZE). Above it the
# rank histogram's counts are upper bounds.
TFDV_SKETCH_EXACT_VALUES = 1_024
# A span's folder under a data directory: span-NNNNN (pipelines/data/spans.py).
SPAN_DIR_RE = re.compile(r"span-(\d{5})")
# Custom property of the local ExampleGen's Examples: the span folders it read, comma-separated
# (BigQueryExampleGen records none).
EXAMPLES_SPANS_PROPERTY = "spans"

# The default workspace layout of a local installation.
DEFAULT_DATA_DIR = WORKSPACE / "data"
DEFAULT_PIPELINE_ROOT = WORKSPACE / "pipeline_root"
DEFAULT_SERVING_DIR = WORKSPACE / "serving_model"
DEFAULT_REQUEST_LOG_DIR = WORKSPACE / "request_log"
DEFAULT_LABELS_DIR = WORKSPACE / "labels"
DEFAULT_MONITORING_DIR = WORKSPACE / "monitoring"


def metadata_path(pipeline_root: str | Path) -> Path:
    """The ML Metadata SQLite file of a local pipeline root."""
    return Path(pipeline_root) / METADATA_FILE


def summary_path(pipeline_root: str | Path) -> Path:
    """The run_summary.json of a local pipeline root."""
    return Path(pipeline_root) / SUMMARY_FILE

# Node ids of the simple-baseline gate (pipelines.pipeline): the run summary, the dashboard and
# the model card read their outputs by these names. The gate's TFMA result is the
# SIMPLE_EVALUATOR node's "evaluation" output (the candidate against the simple model).
SIMPLE_TRAINER = "SimpleTrainer"
SIMPLE_EVALUATOR = "SimpleModelEvaluator"
