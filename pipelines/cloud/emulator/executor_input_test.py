"""The ExecutorInput built for a task, in both parameter forms, and the outputs read back."""

import json
from pathlib import Path

import pytest

from pipelines.cloud.emulator import executor_input
from pipelines.cloud.emulator.dag import SpecError, Task
from pipelines.cloud.emulator.substitutions import Substitutions

SCHEMA = {"instanceSchema": "title: tfx.Schema\ntype: object\n"}
MODEL = {"instanceSchema": "title: tfx.Model\ntype: object\n"}


def _trainer() -> Task:
    spec = {"inputs": {
        "parameters": {"train_args": {"runtimeValue": {"constant": '{"num_steps": 20}'}},
                       "custom_config": {"runtimeValue": {"constant": '{"d": "gs://bkt/x"}'}},
                       "steps": {"runtimeValue": {"constantValue": {"intValue": "7"}}}},
        "artifacts": {"schema": {"taskOutputArtifact": {"producerTask": "ImportSchemaGen",
                                                        "outputArtifactKey": "schema"}}}}}
    component = {"inputDefinitions": {
        "parameters": {"train_args": {"parameterType": "STRING"},
                       "custom_config": {"parameterType": "STRING"},
                       "steps": {"parameterType": "NUMBER_INTEGER"}},
        "artifacts": {"schema": {"artifactType": SCHEMA}}},
        "outputDefinitions": {"artifacts": {"model": {"artifactType": MODEL}}}}
    return Task("Trainer", spec, component, {"command": ["python"], "args": []}, "Trainer_executor")


PRODUCED = {"ImportSchemaGen": {"artifacts": {"schema": {
    "name": "42", "uri": "/w/gs/bkt/root/clickflow/run-1/ImportSchemaGen/schema",
    "type": SCHEMA, "metadata": {"note": "kept"}}}, "parameters": {}}}


def _layout(target: str) -> executor_input.RunLayout:
    return executor_input.RunLayout(target, "gs://bkt/root", "clickflow", "run-1", Path("/w/pods"))


def _subs() -> Substitutions:
    return Substitutions(gs_root=Path("/w/gs"), image_dir=Path("/w/image"))


def test_parameter_values_form_holds_plain_values_with_local_paths() -> None:
    built = executor_input.build(_trainer(), _layout("kfp"), PRODUCED, _subs())
    assert built["inputs"]["parameterValues"] == {
        "train_args": '{"num_steps": 20}', "custom_config": '{"d": "/w/gs/bkt/x"}', "steps": 7}
    assert "parameters" not in built["inputs"]
    (schema,) = built["inputs"]["artifacts"]["schema"]["artifacts"]
    assert schema["uri"] == PRODUCED["ImportSchemaGen"]["artifacts"]["schema"]["uri"]
    assert schema["metadata"] == {"note": "kept"} and schema["type"] == SCHEMA


def test_legacy_form_holds_typed_values() -> None:
    built = executor_input.build(_trainer(), _layout("vertex"), PRODUCED, _subs(),
                                 form="legacy")
    assert built["inputs"]["parameters"]["steps"] == {"intValue": "7"}
    assert built["inputs"]["parameters"]["train_args"] == {"stringValue": '{"num_steps": 20}'}
    assert "parameterValues" not in built["inputs"]


def test_output_uris_follow_each_backends_layout() -> None:
    kfp = executor_input.build(_trainer(), _layout("kfp"), PRODUCED, _subs())
    (model,) = kfp["outputs"]["artifacts"]["model"]["artifacts"]
    assert model["uri"] == "/w/gs/bkt/root/clickflow/run-1/Trainer/model"
    assert kfp["outputs"]["outputFile"] == (
        "/w/pods/Trainer/tmp/kfp_outputs/output_metadata.json")
    vertex = executor_input.build(_trainer(), _layout("vertex"), PRODUCED, _subs())
    (model,) = vertex["outputs"]["artifacts"]["model"]["artifacts"]
    root = f"/w/gs/bkt/root/{executor_input.VERTEX_PROJECT_NUMBER}/run-1/Trainer_"
    assert model["uri"].startswith(root) and model["uri"].endswith("/model")
    assert vertex["outputs"]["outputFile"].startswith(root)
    assert vertex["outputs"]["outputFile"].endswith("/executor_output.json")
    assert model["name"].startswith("projects/")


def test_every_artifact_gets_a_distinct_name() -> None:
    layout = _layout("kfp")
    names = {layout.artifact_name(t, k) for t in ("Trainer", "Evaluator", "Tuner")
             for k in ("model", "blessing", "best_hyperparameters")}
    assert len(names) == 9


def test_an_unknown_binding_or_form_is_refused() -> None:
    task = _trainer()
    task.spec["inputs"]["parameters"]["x"] = {"somethingElse": {}}
    with pytest.raises(SpecError, match="parameter 'x': unsupported binding"):
        executor_input.build(task, _layout("kfp"), PRODUCED, _subs())
    with pytest.raises(SpecError, match="--parameter-form 'typed'"):
        executor_input.build(_trainer(), _layout("kfp"), PRODUCED, _subs(), form="typed")


def test_outputs_merge_the_executor_output_into_the_provisioned_artifacts(tmp_path) -> None:
    built = executor_input.build(_trainer(), _layout("kfp"), PRODUCED, _subs())
    written = tmp_path / "output_metadata.json"
    written.write_text(json.dumps({"artifacts": {"model": {"artifacts": [
        {"uri": "", "metadata": {"found": 1.0, "served_path": "/w/gs/bkt/serving/7"}}]}},
        "parameterValues": {"n": 3}}))
    outputs = executor_input.read_outputs(built, written, _subs())
    model = outputs["artifacts"]["model"]
    assert model["uri"] == "/w/gs/bkt/root/clickflow/run-1/Trainer/model"
    assert model["type"] == MODEL
    # Paths in metadata go downstream as the gs:// URIs the cloud would have recorded.
    assert model["metadata"] == {"found": 1.0, "served_path": "gs://bkt/serving/7"}
    assert outputs["parameters"] == {"n": 3}
