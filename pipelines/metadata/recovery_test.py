"""Recovery after a killed run, on a store laid out as TFX lays it out (pipeline, pipeline_run
and node contexts; the Pusher's INPUT events written at its start): only a version with this
pipeline's push record, complete, whose Pusher never finished is recorded; a SavedModel pushed
by another project, or a copy cut before saved_model.pb, is left as it is."""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.common import names
from pipelines.metadata import recovery
from pipelines.metadata import store as mlmd_store


def _tfx_like_store(path: Path):
    from ml_metadata.proto import metadata_store_pb2 as pb

    path.touch()
    store = mlmd_store.open_store(path, writable=True)
    ctx = {n: store.put_context_type(pb.ContextType(name=n))
           for n in ("pipeline", "pipeline_run", "node")}
    pipeline = pb.Context(type_id=ctx["pipeline"], name="clickflow")
    run = pb.Context(type_id=ctx["pipeline_run"], name="run-a")
    node = pb.Context(type_id=ctx["node"], name="clickflow.Pusher")
    model = pb.Artifact(type_id=store.put_artifact_type(pb.ArtifactType(name="Model")),
                        uri="/r/Trainer/model/8", state=pb.Artifact.LIVE)
    execution = pb.Execution(type_id=store.put_execution_type(pb.ExecutionType(
        name="tfx.components.pusher.component.Pusher")), last_known_state=pb.Execution.RUNNING)
    event = pb.Event(type=pb.Event.INPUT)
    event.path.steps.add().key = "model"
    execution_id, _, _ = store.put_execution(execution, [(model, event)], [pipeline, run, node])
    return store, execution_id


def _version(base: Path, name: str, record: dict | None, complete: bool = True) -> Path:
    folder = base / name
    (folder / "variables").mkdir(parents=True)
    if complete:
        (folder / "saved_model.pb").write_bytes(b"pb")
    if record is not None:
        (folder / names.PUSH_RECORD).parent.mkdir(parents=True)
        (folder / names.PUSH_RECORD).write_text(json.dumps(record))
    return folder


def test_only_this_pipelines_complete_unrecorded_push_is_recorded(tmp_path: Path) -> None:
    from ml_metadata.proto import metadata_store_pb2 as pb

    store, execution_id = _tfx_like_store(tmp_path / "metadata.sqlite")
    serving = tmp_path / "serving"
    ours = {"pipeline_name": "clickflow", "pipeline_run_id": "run-a", "node_id": "Pusher",
            "pushed_model_uri": "/r/Pusher/pushed_model/11", "model_uri": "/r/Trainer/model/8"}
    kept = _version(serving, "1700000003", ours)
    _version(serving, "1700000001", None)  # another project's SavedModel: no record
    _version(serving, "1700000002", {**ours, "pipeline_name": "other"})
    _version(serving, "1700000004", ours, complete=False)  # cut before saved_model.pb

    done = recovery.record_unrecorded_pushes(store, str(serving), "clickflow", reason="killed")
    assert [(d.version, d.run_id, d.node_id) for d in done] == [("1700000003", "run-a",
                                                                 "Pusher")]
    [pushed] = store.get_artifacts_by_type("PushedModel")
    assert pushed.custom_properties["pushed_destination"].string_value == str(kept)
    assert pushed.custom_properties["pushed"].int_value == 1
    assert pushed.uri == "/r/Pusher/pushed_model/11"
    events = store.get_events_by_execution_ids([execution_id])
    assert {(e.type, e.path.steps[0].key) for e in events} == {
        (pb.Event.INPUT, "model"), (pb.Event.OUTPUT, "pushed_model")}
    [execution] = store.get_executions_by_id([execution_id])
    assert execution.last_known_state == pb.Execution.CANCELED
    assert "pushed version 1700000003" in execution.custom_properties[
        recovery.ABANDONED].string_value
    run = store.get_context_by_type_and_name("pipeline_run", "run-a")
    assert [a.id for a in store.get_artifacts_by_context(run.id) if a.uri.endswith("/11")]

    # a second pass records nothing again; nothing is left running
    assert recovery.record_unrecorded_pushes(store, str(serving), "clickflow", reason="x") == []
    assert recovery.mark_abandoned(store, reason="x") == []


def test_unfinished_executions_are_marked_abandoned_with_the_reason(tmp_path: Path) -> None:
    from ml_metadata.proto import metadata_store_pb2 as pb

    store, execution_id = _tfx_like_store(tmp_path / "metadata.sqlite")
    [found] = recovery.mark_abandoned(store, reason="its process ended")
    assert (found.execution_id, found.node_id, found.run_id, found.state) == (
        execution_id, "Pusher", "run-a", "running")
    [execution] = store.get_executions_by_id([execution_id])
    assert execution.last_known_state == pb.Execution.CANCELED
    assert execution.custom_properties[recovery.ABANDONED].string_value == "its process ended"
