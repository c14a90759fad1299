"""Model history: every pipeline run in ML Metadata with what it read, measured and pushed.

Built on ``pipelines.metadata.runs`` (the code that writes run_summary.json after a run): its
``run_artifacts`` reads each run's outputs, and its ``evaluation_metrics`` each TFMA result.
The store is opened read-only, so the dashboard can watch a pipeline that is running.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from dashboard import run_params
from pipelines.common.names import (
    MODEL_CARD_WRITTEN,
    SIMPLE_EVALUATOR,
    STATISTICS_FILE,
    SUMMARY_FILE,
)
from pipelines.metadata import runs as run_summary
from pipelines.metadata.recovery import ABANDONED
from pipelines.metadata.store import StoreUnavailable, open_store

EXAMPLE_GEN = "DuckDBExampleGen"
MODEL_CARD_NODE = "ModelCardGenerator"  # pipelines/components/model_card.py
SPLITS = ("train", "eval")
# ml_metadata's Execution.State values.
_STATES = {0: "unknown", 1: "new", 2: "running", 3: "complete", 4: "failed", 5: "cached",
           6: "canceled"}


# No store to read: no pipeline has run with this pipeline root, or the file is not a store.
HistoryUnavailable = StoreUnavailable


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """One pipeline run as the history table shows it."""

    run_id: str
    started: datetime
    status: str  # "succeeded", "failed", "running" or "abandoned" (its process was killed)
    component_states: dict[str, int]
    span: int | None = None
    examples: str | None = None
    data: dict[str, Any] | None = None
    blessed: bool | None = None
    pushed_version: str | None = None
    pushed_destination: str | None = None
    model_uri: str | None = None
    evaluation_uri: str | None = None
    statistics_uri: str | None = None
    anomalies_uri: str | None = None
    # The ModelCard artifact folder of a pushed model (a card was written), else None.
    model_card_uri: str | None = None
    # The runner's run_summary.json of this run (metrics, verdict, error), when it wrote one.
    summary: dict[str, Any] | None = None
    # Nodes whose execution ML Metadata records as failed or canceled.
    failed_nodes: tuple[str, ...] = ()
    # Each component's exec properties ("Trainer.train_args.num_steps" -> "150").
    parameters: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def failed_component(self) -> str | None:
        named = (self.summary or {}).get("failed_component")
        return named or (self.failed_nodes[0] if self.failed_nodes else None)

    @property
    def error(self) -> str | None:
        return (self.summary or {}).get("error")


def pipeline_runs(store: Any, pipeline_name: str) -> list[Any]:
    """The run contexts of a pipeline, newest first."""
    pipeline = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if pipeline is None:
        return []
    runs = store.get_children_contexts_by_context(pipeline.id)
    return sorted(runs, key=lambda c: (c.create_time_since_epoch, c.id), reverse=True)


def _last(outputs: dict[str, dict[str, list[Any]]], node: str, key: str) -> Any:
    artifacts = outputs.get(node, {}).get(key) or []
    return artifacts[-1] if artifacts else None


def _status(states: dict[str, int], abandoned: bool = False) -> str:
    if abandoned:
        return "abandoned"
    if states.get("failed") or states.get("canceled"):
        return "failed"
    if states.get("running") or states.get("new"):
        return "running"
    return "succeeded"


def _examples_text(artifact: Any) -> str | None:
    fingerprint = run_summary.custom_str(artifact, "input_fingerprint") or ""
    parts = dict(p.split(":", 1) for p in fingerprint.split(",") if ":" in p)
    if "num_files" not in parts:
        return None
    size = int(parts.get("total_bytes", 0))
    return f"{parts['num_files']} file(s), {size / 1e6:.2f} MB"


def run_record(store: Any, run: Any, pipeline_name: str,
               summaries: list[dict[str, Any]] | None = None) -> RunRecord:
    """What one run read, produced and decided, from ML Metadata (and its run_summary.json)."""
    executions = store.get_executions_by_context(run.id)
    states: dict[str, int] = {}
    for execution in executions:
        state = _STATES.get(execution.last_known_state, "unknown")
        states[state] = states.get(state, 0) + 1
    # Marked by the next local run (pipelines.metadata.recovery): its process was gone.
    abandoned = any(ABANDONED in e.custom_properties for e in executions)
    node_of = _node_names(store, executions)
    failed = tuple(node_of.get(e.id, "unknown") for e in executions
                   if _STATES.get(e.last_known_state) in ("failed", "canceled"))
    outputs = run_summary.run_artifacts(store, run)
    started = datetime.fromtimestamp(run.create_time_since_epoch / 1000)
    examples = _last(outputs, EXAMPLE_GEN, "examples")
    blessing = _last(outputs, "Evaluator", "blessing")
    # The Pusher needs both blessings (the served baseline's Evaluator and the simple model's).
    simple_blessing = _last(outputs, SIMPLE_EVALUATOR, "blessing")
    pushed = _last(outputs, "Pusher", "pushed_model")
    was_pushed = pushed is not None and run_summary.custom_int(pushed, "pushed") == 1
    evaluation = _last(outputs, "Evaluator", "evaluation")
    statistics = _last(outputs, "StatisticsGen", "statistics")
    anomalies = _last(outputs, "ExampleValidator", "anomalies")
    model = _last(outputs, "Trainer", "model")
    card = _last(outputs, MODEL_CARD_NODE, "model_card")
    summary = match_summary(run.create_time_since_epoch / 1000, summaries or [], run.name)
    return RunRecord(
        run_id=run.name,
        started=started,
        status=_status(states, abandoned),
        component_states=states,
        span=None if examples is None else run_summary.custom_int(examples, "span"),
        examples=None if examples is None else _examples_text(examples),
        data=None if summary is None else summary.get("data"),
        blessed=None if blessing is None else (
            run_summary.custom_int(blessing, "blessed") == 1
            and (simple_blessing is None
                 or run_summary.custom_int(simple_blessing, "blessed") == 1)),
        pushed_version=run_summary.custom_str(pushed, "pushed_version") if was_pushed else None,
        pushed_destination=(run_summary.custom_str(pushed, "pushed_destination")
                            if was_pushed else None),
        model_uri=None if model is None else model.uri,
        evaluation_uri=None if evaluation is None else evaluation.uri,
        statistics_uri=None if statistics is None else statistics.uri,
        anomalies_uri=None if anomalies is None else anomalies.uri,
        model_card_uri=card.uri if card is not None and run_summary.custom_int(
            card, MODEL_CARD_WRITTEN) == 1 else None,
        summary=summary,
        failed_nodes=failed,
        parameters=run_params.parameters(executions, node_of),
    )


def _node_names(store: Any, executions: list[Any]) -> dict[int, str]:
    """Execution id -> the pipeline node (e.g. "AnomaliesGate") that ran it."""
    node_type = store.get_context_type("node").id
    names = {}
    for execution in executions:
        for context in store.get_contexts_by_execution(execution.id):
            if context.type_id == node_type:
                names[execution.id] = context.name.split(".", 1)[-1]
    return names


def list_runs(metadata_path: Path, pipeline_name: str) -> list[RunRecord]:
    """Every run of the pipeline, newest first; [] when the store has none yet."""
    store = open_store(metadata_path)
    summaries = read_summaries(Path(metadata_path).parent)
    return [run_record(store, run, pipeline_name, summaries)
            for run in pipeline_runs(store, pipeline_name)]


def read_summaries(pipeline_root: Path) -> list[dict[str, Any]]:
    """The run_summary.json of every local runner invocation that ran the pipeline."""
    out = []
    for path in sorted(glob.glob(os.path.join(pipeline_root, "runs", "*", SUMMARY_FILE))):
        try:
            summary = json.loads(Path(path).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(summary, dict) and not summary.get("up_to_date"):
            out.append(summary)
    return out


def _summary_start(summary: dict[str, Any]) -> float | None:
    # The local runner's run id is its local start time: "%Y%m%d-%H%M%S-<pid>".
    try:
        return time.mktime(time.strptime(str(summary.get("run_id", ""))[:15], "%Y%m%d-%H%M%S"))
    except ValueError:
        return None


def match_summary(run_started: float, summaries: list[dict[str, Any]],
                  run_name: str | None = None) -> dict[str, Any] | None:
    """The run_summary.json of the invocation that ran a pipeline run.

    The local runner names the TFX run by its own run id (``mlmd_run_context`` in the summary):
    matched by name. Summaries written before it did are joined by time: the run started after
    the invocation and before it ended.
    """
    if run_name is not None:
        for summary in summaries:
            if summary.get("mlmd_run_context") == run_name:
                return summary
    best, best_start = None, None
    for summary in summaries:
        start = _summary_start(summary)
        if start is None:
            continue
        end = start + float(summary.get("wall_seconds") or 0) + 1.0
        if summary.get("mlmd_run_context"):
            continue  # named its own run: never matched to another by time
        if start - 1.0 <= run_started <= end and (best_start is None or start > best_start):
            best, best_start = summary, start
    return best


def _split_files(uri: str, file_name: str) -> Iterator[tuple[str, Path]]:
    for split in SPLITS:
        path = Path(uri) / f"Split-{split}" / file_name
        if path.is_file():
            yield split, path


def feature_statistics(statistics_uri: str) -> list[dict[str, Any]]:
    """Per split and feature: count, missing, mean/std/min/median/max or unique values."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    rows = []
    for split, path in _split_files(statistics_uri, STATISTICS_FILE):
        stats = statistics_pb2.DatasetFeatureStatisticsList()
        stats.ParseFromString(path.read_bytes())
        for dataset in stats.datasets:
            for feature in dataset.features:
                name = feature.path.step[0] if feature.path.step else feature.name
                row: dict[str, Any] = {"split": split, "feature": name,
                                       "type": statistics_pb2.FeatureNameStatistics.Type.Name(
                                           feature.type)}
                which = feature.WhichOneof("stats")
                if which == "num_stats":
                    num = feature.num_stats
                    common = num.common_stats
                    row.update(mean=num.mean, std_dev=num.std_dev, min=num.min,
                               median=num.median, max=num.max, zeros=num.num_zeros)
                elif which == "string_stats":
                    common = feature.string_stats.common_stats
                    top = feature.string_stats.top_values
                    row.update(unique=feature.string_stats.unique,
                               top_value=top[0].value if top else None)
                else:
                    continue
                row["count"] = common.num_non_missing
                row["missing"] = common.num_missing
                rows.append(row)
    return rows


def numeric_histograms(statistics_uri: str, split: str = "train") -> list[dict[str, Any]]:
    """The standard histogram buckets of each numeric feature of one split."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    rows = []
    for found, path in _split_files(statistics_uri, STATISTICS_FILE):
        if found != split:
            continue
        stats = statistics_pb2.DatasetFeatureStatisticsList()
        stats.ParseFromString(path.read_bytes())
        for dataset in stats.datasets:
            for feature in dataset.features:
                if feature.WhichOneof("stats") != "num_stats":
                    continue
                name = feature.path.step[0] if feature.path.step else feature.name
                for histogram in feature.num_stats.histograms:
                    if histogram.type != histogram.STANDARD:
                        continue
                    rows.extend({"feature": name, "low": b.low_value, "high": b.high_value,
                                 "count": b.sample_count} for b in histogram.buckets)
    return rows


def anomalies(anomalies_uri: str) -> list[dict[str, Any]]:
    """Every anomaly ExampleValidator found, per split; [] when the data fit the schema."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    rows = []
    for split, path in _split_files(anomalies_uri, "SchemaDiff.pb"):
        found = anomalies_pb2.Anomalies()
        found.ParseFromString(path.read_bytes())
        infos = list(found.anomaly_info.items())
        if found.HasField("dataset_anomaly_info"):
            infos.append(("(dataset)", found.dataset_anomaly_info))
        for feature, info in sorted(infos, key=lambda item: item[0]):
            rows.append({
                "split": split, "feature": feature,
                "severity": anomalies_pb2.AnomalyInfo.Severity.Name(info.severity),
                "short_description": info.short_description,
                "description": info.description,
            })
    return rows
