"""What a pipeline run produced, read back from ML Metadata and its artifacts."""

from __future__ import annotations

import json
from typing import Any

METRIC_KEYS = ("auc", "binary_accuracy", "precision", "recall", "calibration",
               "auc_precision_recall", "example_count", "mean_label", "mean_prediction")


def latest_run_context(store: Any, pipeline_name: str) -> Any:
    """The ``pipeline_run`` context of the newest run of ``pipeline_name``, or None."""
    pipeline = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if pipeline is None:
        return None
    runs = store.get_children_contexts_by_context(pipeline.id)
    return max(runs, key=lambda c: (c.create_time_since_epoch, c.id)) if runs else None


def run_context(store: Any, pipeline_name: str, run_id: str) -> Any:
    """The ``pipeline_run`` context named ``run_id`` of ``pipeline_name``, or None."""
    run = store.get_context_by_type_and_name("pipeline_run", run_id)
    pipeline = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if run is None or pipeline is None:
        return None
    parents = store.get_parent_contexts_by_context(run.id)
    return run if any(p.id == pipeline.id for p in parents) else None


def latest_run_artifacts(store: Any, pipeline_name: str) -> dict[str, dict[str, list[Any]]]:
    """node id -> output key -> artifacts, for the newest run of ``pipeline_name``."""
    run = latest_run_context(store, pipeline_name)
    return {} if run is None else run_artifacts(store, run)


def run_artifacts(store: Any, run: Any) -> dict[str, dict[str, list[Any]]]:
    """node id -> output key -> artifacts, for one ``pipeline_run`` context."""
    executions = store.get_executions_by_context(run.id)
    node_type = store.get_context_type("node").id
    node_of = {}
    for execution in executions:
        for context in store.get_contexts_by_execution(execution.id):
            if context.type_id == node_type:
                node_of[execution.id] = context.name.split(".", 1)[1]
    events = store.get_events_by_execution_ids([e.id for e in executions])
    artifacts = {a.id: a for a in store.get_artifacts_by_id(
        sorted({e.artifact_id for e in events}))}
    by_node: dict[str, dict[str, list[Any]]] = {}
    for event in events:
        if event.type != event.OUTPUT:
            continue
        key = event.path.steps[0].key if event.path.steps else "output"
        node = node_of.get(event.execution_id, "unknown")
        by_node.setdefault(node, {}).setdefault(key, []).append(artifacts[event.artifact_id])
    return by_node


def custom_int(artifact: Any, key: str) -> int | None:
    if key in artifact.custom_properties:
        return artifact.custom_properties[key].int_value
    return None


def custom_str(artifact: Any, key: str) -> str | None:
    if key in artifact.custom_properties:
        return artifact.custom_properties[key].string_value
    return None


def evaluation_models(evaluation_uri: str) -> tuple[str | None, str | None]:
    """(candidate, baseline) model names of a TFMA output folder, from its eval_config.json:
    (None, None) for a one-model evaluation, whose metrics carry no model name."""
    import tensorflow as tf

    path = f"{evaluation_uri.rstrip('/')}/eval_config.json"
    if not tf.io.gfile.exists(path):
        return None, None
    with tf.io.gfile.GFile(path) as f:
        specs = json.load(f).get("evalConfig", {}).get("modelSpecs", [])
    baseline = next((s.get("name") for s in specs if s.get("isBaseline")), None)
    if baseline is None:
        return None, None
    return next((s.get("name") for s in specs if not s.get("isBaseline")), None), baseline


def evaluation_metrics(evaluation_uri: str, slice_metric_names: tuple[str, ...] = (
        "auc", "example_count"), model_name: str | None = None,
        ) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Overall-slice metrics of one model (default: the candidate), and per slice ('Male:1',
    'age_band:30-39') the selected ones, from one read of a TFMA output folder."""
    import tensorflow_model_analysis as tfma

    if model_name is None:
        model_name = evaluation_models(evaluation_uri)[0]
    overall: dict[str, float] = {}
    sliced: dict[str, dict[str, float]] = {}
    result = tfma.load_eval_result(evaluation_uri, model_name=model_name)
    for slice_key, metrics in result.slicing_metrics:
        values = next(iter(metrics.values()))
        values = values.get("", values)
        if slice_key == ():
            overall = {k: _number(v) for k, v in values.items() if _number(v) is not None}
        else:
            name = ",".join(f"{k}:{_text(v)}" for k, v in slice_key)
            sliced[name] = {k: _number(values[k]) for k in slice_metric_names if k in values}
    return overall, sliced


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, dict):
        value = value.get("doubleValue", value.get("value"))
    if isinstance(value, (int, float)):
        return float(value)
    return None


def eval_examples(examples_uri: str, split: str = "eval") -> dict[str, Any]:
    """Columns (name -> numpy array) of one split of an Examples artifact (local or GCS)."""
    import itertools

    import numpy as np
    from tfx_bsl.coders import example_coder

    from pipelines.components.eval_sample import read_records, split_files

    decoder = example_coder.ExamplesToRecordBatchDecoder()
    columns: dict[str, list[Any]] = {}
    records = read_records(split_files(examples_uri, split))
    while chunk := list(itertools.islice(records, 65_536)):
        batch = decoder.DecodeBatch(chunk)
        for name in batch.schema.names:
            values = batch.column(name).flatten().to_numpy(zero_copy_only=False)
            columns.setdefault(name, []).append(values)
    return {k: np.concatenate(v) for k, v in columns.items()}
