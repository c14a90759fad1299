"""Truthful ML Metadata after a killed or crashed run, restored before the next run starts.

Called while holding the pipeline root's run lock (``pipelines.local.run_lock``), so no other
process is running anything in this store: every execution still NEW or RUNNING belongs to a
run that is gone. Each is marked CANCELED with an ``abandoned`` custom property saying why and
by whom, so the history, the dashboard and TFX's cache (which reuses only COMPLETE/CACHED
executions) tell the truth.

A version that a clickflow Pusher finished copying but whose run died before the launcher
recorded the PushedModel is *recorded*, not moved aside: the folder is complete (``saved_model
.pb`` is copied last, after the lineage record), the Pusher ran only because the Evaluator had
blessed that model (its INPUT events, written when it started, say which model and blessing),
and a model server may already be answering with it, so removing it would roll the server back
behind the user's back. The record inside the version (``names.PUSH_RECORD``) names the run and
node; the PushedModel is added as that execution's OUTPUT in one transaction, and the monitor's
lineage (served version -> model -> data) works again.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from pipelines.common import names
from pipelines.metadata import runs as run_summary

ABANDONED = "abandoned"  # custom property of an execution that a gone process left running
PUSHED_MODEL_TYPE = "PushedModel"


@dataclasses.dataclass(frozen=True)
class Abandoned:
    """An execution a gone process left unfinished."""

    execution_id: int
    node_id: str
    run_id: str
    state: str


@dataclasses.dataclass(frozen=True)
class RecordedPush:
    """A pushed version that ML Metadata now records."""

    version: str
    destination: str
    run_id: str
    node_id: str
    artifact_id: int


def _contexts(store: Any, execution_id: int) -> tuple[str, str, list[Any]]:
    contexts = store.get_contexts_by_execution(execution_id)
    types = {t.id: t.name for t in store.get_context_types()}
    node = run = ""
    for context in contexts:
        if types.get(context.type_id) == "node":
            node = context.name.split(".", 1)[-1]
        elif types.get(context.type_id) == "pipeline_run":
            run = context.name
    return node, run, contexts


def mark_abandoned(store: Any, *, reason: str) -> list[Abandoned]:
    """Marks every NEW or RUNNING execution CANCELED with ``abandoned`` = reason."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb

    # MLMD's own filter: read only the unfinished executions, however long the history.
    unfinished = store.get_executions(list_options=metadata_store.ListOptions(
        filter_query="last_known_state = NEW OR last_known_state = RUNNING"))
    found = []
    for execution in unfinished:
        node, run, _ = _contexts(store, execution.id)
        found.append(Abandoned(execution.id, node, run,
                               pb.Execution.State.Name(execution.last_known_state).lower()))
        execution.last_known_state = pb.Execution.CANCELED
        execution.custom_properties[ABANDONED].string_value = reason
    if unfinished:
        store.put_executions(unfinished)
    return found


def _read_record(version_dir: str) -> dict[str, Any] | None:
    path = os.path.join(version_dir, names.PUSH_RECORD)
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _recorded_destinations(store: Any) -> set[str]:
    from ml_metadata import errors

    try:
        artifacts = store.get_artifacts_by_type(PUSHED_MODEL_TYPE)
    except errors.NotFoundError:
        return set()
    return {os.path.normpath(run_summary.custom_str(a, "pushed_destination") or "")
            for a in artifacts if run_summary.custom_int(a, "pushed") == 1}


def _pusher_execution(store: Any, record: dict[str, Any]) -> Any | None:
    run = store.get_context_by_type_and_name("pipeline_run",
                                             str(record.get("pipeline_run_id", "")))
    if run is None:
        return None
    for execution in store.get_executions_by_context(run.id):
        node, _, _ = _contexts(store, execution.id)
        if node == record.get("node_id"):
            return execution
    return None


def record_unrecorded_pushes(store: Any, serving_model_dir: str, pipeline_name: str,
                             *, reason: str) -> list[RecordedPush]:
    """Records each version under ``serving_model_dir`` that a Pusher of this pipeline copied
    but whose run died before ML Metadata recorded it (see the module docstring)."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    if not os.path.isdir(serving_model_dir):
        return []
    recorded = _recorded_destinations(store)
    done = []
    for name in sorted(os.listdir(serving_model_dir)):
        version_dir = os.path.join(serving_model_dir, name)
        if not name.isdigit() or os.path.normpath(version_dir) in recorded:
            continue
        record = _read_record(version_dir)
        if record is None or record.get("pipeline_name") != pipeline_name:
            continue  # pushed by something else (another project, a hand copy): not ours
        if not os.path.isfile(os.path.join(version_dir, "saved_model.pb")):
            continue  # never loadable: the copy was cut before saved_model.pb
        execution = _pusher_execution(store, record)
        if execution is None or execution.last_known_state == pb.Execution.COMPLETE:
            continue
        type_id = store.put_artifact_type(pb.ArtifactType(name=PUSHED_MODEL_TYPE))
        artifact = pb.Artifact(type_id=type_id, uri=str(record.get("pushed_model_uri", "")),
                               state=pb.Artifact.LIVE)
        artifact.custom_properties["pushed"].int_value = 1
        artifact.custom_properties["pushed_destination"].string_value = version_dir
        artifact.custom_properties["pushed_version"].string_value = name
        artifact.custom_properties["recorded_after_kill"].string_value = reason
        event = pb.Event(type=pb.Event.OUTPUT)
        event.path.steps.add().key = "pushed_model"
        event.path.steps.add().index = 0
        node_id, run_id, contexts = _contexts(store, execution.id)
        execution.last_known_state = pb.Execution.CANCELED
        execution.custom_properties[ABANDONED].string_value = (
            f"{reason}; it had pushed version {name}, recorded afterwards")
        _, artifact_ids, _ = store.put_execution(execution, [(artifact, event)], contexts,
                                                 reuse_context_if_already_exist=True)
        done.append(RecordedPush(name, version_dir, run_id, node_id, artifact_ids[0]))
    return done
