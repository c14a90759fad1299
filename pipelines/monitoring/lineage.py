"""ML Metadata: from a served model version to the statistics it was trained on, and the
monitoring record linked to the model it judged."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from pipelines.metadata import runs as run_summary

REPORT_TYPE = "MonitoringReport"
MONITOR_TYPE = "clickflow.Monitor"
MONITORING_CONTEXT_TYPE = "clickflow.monitoring"


@dataclasses.dataclass(frozen=True)
class ModelLineage:
    """What ML Metadata knows about one pushed model version."""

    version: int
    pushed_model: Any  # PushedModel artifact
    model: Any | None  # the Trainer's Model artifact it pushed
    raw_examples: Any | None  # the ExampleGen output the model was trained on
    train_statistics_uri: str | None  # StatisticsGen output of those raw examples
    evaluation_uri: str | None  # the Evaluator's ModelEvaluation of the model

    def describe(self) -> dict[str, Any]:
        return {
            "pushed_model_id": self.pushed_model.id,
            "pushed_destination": run_summary.custom_str(self.pushed_model,
                                                         "pushed_destination"),
            "model_uri": self.model.uri if self.model is not None else None,
            "examples_uri": self.raw_examples.uri if self.raw_examples is not None else None,
            "train_statistics_uri": self.train_statistics_uri,
            "evaluation_uri": self.evaluation_uri,
        }


def _events(store: Any, artifact_id: int, kind: int) -> list[Any]:
    return [e for e in store.get_events_by_artifact_ids([artifact_id]) if e.type == kind]


def _key(event: Any) -> str:
    return event.path.steps[0].key if event.path.steps else ""


def _producers(store: Any, artifact_id: int) -> list[int]:
    from ml_metadata.proto import metadata_store_pb2

    return [e.execution_id for e in _events(store, artifact_id,
                                            metadata_store_pb2.Event.OUTPUT)]


def _execution_artifacts(store: Any, execution_id: int, kind: int, key: str | None = None
                         ) -> list[Any]:
    events = [e for e in store.get_events_by_execution_ids([execution_id])
              if e.type == kind and (key is None or _key(e) == key)]
    if not events:
        return []
    return store.get_artifacts_by_id(sorted({e.artifact_id for e in events}))


def _latest(artifacts: list[Any]) -> Any | None:
    return max(artifacts, key=lambda a: (a.create_time_since_epoch, a.id)) if artifacts else None


def find_pushed_model(store: Any, version: int) -> Any | None:
    """The PushedModel artifact that Pusher recorded with ``pushed_version`` == version."""
    matches = [a for a in store.get_artifacts_by_type("PushedModel")
               if run_summary.custom_int(a, "pushed") == 1
               and (run_summary.custom_str(a, "pushed_version") == str(version)
                    or Path(run_summary.custom_str(a, "pushed_destination") or "").name
                    == str(version))]
    return _latest(matches)


def _upstream(store: Any, artifact: Any, key: str) -> Any | None:
    from ml_metadata.proto import metadata_store_pb2

    for execution_id in _producers(store, artifact.id):
        found = _execution_artifacts(store, execution_id, metadata_store_pb2.Event.INPUT, key)
        if found:
            return _latest(found)
    return None


def _raw_examples(store: Any, model: Any) -> Any | None:
    """Follow 'examples' inputs upstream from the model to the ExampleGen output (Transform's
    transformed examples are not what the request log holds; the raw ones are)."""
    examples = _upstream(store, model, "examples")
    seen = set()
    while examples is not None and examples.id not in seen:
        seen.add(examples.id)
        earlier = _upstream(store, examples, "examples")
        if earlier is None:
            return examples
        examples = earlier
    return examples


def _downstream(store: Any, artifact: Any, input_key: str, output_type: str) -> Any | None:
    from ml_metadata import errors
    from ml_metadata.proto import metadata_store_pb2

    try:
        type_id = store.get_artifact_type(output_type).id
    except errors.NotFoundError:
        return None
    found = []
    for event in _events(store, artifact.id, metadata_store_pb2.Event.INPUT):
        if _key(event) != input_key:
            continue
        found += [a for a in _execution_artifacts(store, event.execution_id,
                                                  metadata_store_pb2.Event.OUTPUT)
                  if a.type_id == type_id]
    return _latest(found)


def model_lineage(store: Any, version: int) -> ModelLineage | None:
    pushed = find_pushed_model(store, version)
    if pushed is None:
        return None
    model = _upstream(store, pushed, "model")
    raw = _raw_examples(store, model) if model is not None else None
    stats = _downstream(store, raw, "examples", "ExampleStatistics") if raw is not None else None
    evaluation = (_downstream(store, model, "model", "ModelEvaluation")
                  if model is not None else None)
    return ModelLineage(version, pushed, model, raw, stats.uri if stats else None,
                        evaluation.uri if evaluation else None)


def _string(value: Any) -> Any:
    from ml_metadata.proto import metadata_store_pb2

    out = metadata_store_pb2.Value()
    if isinstance(value, bool):
        out.int_value = int(value)
    elif isinstance(value, int):
        out.int_value = value
    else:
        out.string_value = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return out


def record_report(store: Any, *, pipeline_name: str, report_uri: str, window: dict[str, str],
                  signals: dict[str, Any], breached: list[str], decision: dict[str, Any],
                  triggered: bool, judged: list[tuple[str, Any]]) -> tuple[int, int]:
    """Record one monitoring run in ONE transaction: an execution of type clickflow.Monitor
    with the judged artifacts as inputs (``judged``: (event key, artifact) pairs, e.g.
    ("pushed_model", PushedModel)) and a MonitoringReport artifact as
    output, attributed to the pipeline's context. Returns (execution id, artifact id)."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    string, integer = pb.STRING, pb.INT
    report_type = pb.ArtifactType(name=REPORT_TYPE, properties={
        "window_start": string, "window_end": string, "signals": string, "breached": integer})
    report_type_id = store.put_artifact_type(report_type, can_add_fields=True)
    monitor_type = pb.ExecutionType(name=MONITOR_TYPE, properties={
        "decision": string, "triggered": integer, "decided_at": string})
    monitor_type_id = store.put_execution_type(monitor_type, can_add_fields=True)
    context_type_id = store.put_context_type(pb.ContextType(name=MONITORING_CONTEXT_TYPE))

    artifact = pb.Artifact(type_id=report_type_id, uri=report_uri, state=pb.Artifact.LIVE)
    artifact.properties["window_start"].string_value = window["start"]
    artifact.properties["window_end"].string_value = window["end"]
    artifact.properties["signals"].string_value = json.dumps(signals, sort_keys=True)
    artifact.properties["breached"].int_value = int(bool(breached))
    artifact.custom_properties["breached_signals"].CopyFrom(_string(",".join(breached)))

    execution = pb.Execution(type_id=monitor_type_id, last_known_state=pb.Execution.COMPLETE)
    execution.properties["decision"].string_value = decision["action"]
    execution.properties["triggered"].int_value = int(triggered)
    execution.properties["decided_at"].string_value = decision["decided_at"]
    execution.custom_properties["reasons"].CopyFrom(_string(decision.get("reasons", [])))

    events = []
    for key, judged_artifact in judged:
        event = pb.Event(type=pb.Event.INPUT)
        event.path.steps.add().key = key
        events.append((judged_artifact, event))
    out_event = pb.Event(type=pb.Event.OUTPUT)
    out_event.path.steps.add().key = "report"
    events.append((artifact, out_event))

    contexts = [pb.Context(type_id=context_type_id, name=f"{pipeline_name}.monitoring")]
    existing = store.get_context_by_type_and_name(MONITORING_CONTEXT_TYPE, contexts[0].name)
    if existing is not None:
        contexts = [existing]
    pipeline_context = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if pipeline_context is not None:
        contexts.append(pipeline_context)
    execution_id, artifact_ids, _ = store.put_execution(
        execution, events, contexts, reuse_context_if_already_exist=True)
    return execution_id, artifact_ids[-1]


def last_trigger(store: Any) -> str | None:
    """``decided_at`` (ISO, UTC) of the newest monitoring run that triggered retraining."""
    executions = store.get_executions_by_type(MONITOR_TYPE)
    times = [e.properties["decided_at"].string_value for e in executions
             if e.properties["triggered"].int_value == 1]
    return max(times) if times else None
