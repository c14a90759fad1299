"""RegisterModel: the upload arguments built from the Pusher's artifact, the skip when nothing was
pushed, and its place in the graph. Nothing here reaches Google Cloud."""


from pathlib import Path

import pytest
from tfx.types import standard_artifacts

from pipelines.components import register_model
from pipelines.config import PipelineConfig
from pipelines.pipeline import LocalFiles, ModelRegistry, create_pipeline

DESTINATION = "gs://my-clickflow-bucket/serving_model/clickflow/1763900000"
IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"
SETTINGS = {"model_name": "clickflow", "serving_image": IMAGE, "project": "my-gcp-project",
            "location": "us-central1"}
PUSHED = {"pushed": 1, "pushed_destination": DESTINATION, "pushed_version": "1763900000"}


def _pushed_model(tmp_path: Path, **props) -> standard_artifacts.PushedModel:
    artifact = standard_artifacts.PushedModel()
    artifact.uri = str(tmp_path / "pushed_model")
    for key, value in props.items():
        if isinstance(value, int):
            artifact.set_int_custom_property(key, value)
        else:
            artifact.set_string_custom_property(key, value)
    return artifact


def _run(tmp_path: Path, pushed_model, **settings) -> standard_artifacts.String:
    out = standard_artifacts.String()
    out.uri = str(tmp_path / "registered" / "value")  # a ValueArtifact's uri is its file
    Path(out.uri).parent.mkdir(parents=True)
    executor = register_model.RegisterModel.EXECUTOR_SPEC.executor_class()
    executor.Do({"pushed_model": [pushed_model]}, {"registered_model": [out]},
                {**SETTINGS, **settings})
    return out


def test_push_properties_read_from_the_artifact(tmp_path) -> None:
    artifact = _pushed_model(tmp_path, **PUSHED)
    assert register_model.push_properties(artifact) == PUSHED
    assert register_model.push_properties(_pushed_model(tmp_path, pushed=0)) == {"pushed": 0}


def test_upload_kwargs_for_a_first_version() -> None:
    kwargs = register_model.upload_kwargs(PUSHED, **SETTINGS)
    assert kwargs == {
        "display_name": "clickflow",
        "artifact_uri": DESTINATION,
        "serving_container_image_uri": IMAGE,
        "project": "my-gcp-project",
        "location": "us-central1",
        "labels": {"model_name": "clickflow", "pushed_version": "1763900000"},
        "version_aliases": ["v1763900000"],
        "version_description": f"TF Serving version 1763900000 at {DESTINATION}",
        "sync": True,
    }


def test_upload_kwargs_add_a_version_under_the_existing_model() -> None:
    parent = "projects/123/locations/us-central1/models/456"
    kwargs = register_model.upload_kwargs({**PUSHED, "pushed_destination": DESTINATION + "/"},
                                    parent_model=parent, **SETTINGS)
    assert kwargs["parent_model"] == parent
    assert kwargs["artifact_uri"] == DESTINATION


def test_upload_kwargs_without_a_version_property() -> None:
    kwargs = register_model.upload_kwargs({"pushed": 1, "pushed_destination": DESTINATION},
                                    **SETTINGS)
    assert kwargs["labels"] == {"model_name": "clickflow"}
    assert "version_aliases" not in kwargs and "parent_model" not in kwargs


@pytest.mark.parametrize("props", [{}, {"pushed": 0, "pushed_destination": DESTINATION}])
def test_nothing_to_upload_when_not_pushed(props) -> None:
    assert register_model.upload_kwargs(props, **SETTINGS) == {}


@pytest.mark.parametrize(("props", "settings", "message"), [
    ({"pushed": 1, "pushed_destination": "/tmp/serving/clickflow/1"}, {},
     "pushed_destination='/tmp/serving/clickflow/1': expected the gs:// folder"),
    ({"pushed": 1}, {}, "pushed_destination='': expected the gs:// folder"),
    ({**PUSHED, "pushed_version": "1 2"}, {}, "pushed_version='1 2': expected"),
    (PUSHED, {"serving_image": ""}, "parameter serving_image is empty"),
    (PUSHED, {"project": ""}, "parameter project is empty"),
])
def test_bad_input_names_the_property(props, settings, message) -> None:
    with pytest.raises(register_model.RegistrationError) as err:
        register_model.upload_kwargs(props, **{**SETTINGS, **settings})
    assert message in str(err.value)


def test_list_filter_and_parent_choice() -> None:
    assert register_model.model_list_filter("clickflow") == 'display_name="clickflow"'
    assert register_model.choose_parent([]) == ""
    assert register_model.choose_parent([("2026-02-01", "models/new"),
                                   ("2025-01-01", "models/old")]) == "models/old"


@pytest.mark.parametrize("pushed", [0, 1])
def test_properties_survive_the_kubeflow_v2_hand_over(tmp_path, pushed) -> None:
    # Between steps on Vertex / KFP the Pusher's int becomes a JSON number (1.0).
    from kfp.pipeline_spec import pipeline_spec_pb2
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils as kfp_v2

    runtime = kfp_v2.to_runtime_artifact(
        _pushed_model(tmp_path, **{**PUSHED, "pushed": pushed}), {})
    runtime.type.instance_schema = "title: tfx.PushedModel\ntype: object\n"
    artifact_list = pipeline_spec_pb2.ArtifactList(artifacts=[runtime])
    (received,) = kfp_v2.parse_raw_artifact_dict({"pushed_model": artifact_list})["pushed_model"]
    props = register_model.push_properties(received)
    assert props["pushed"] == pushed and props["pushed_destination"] == DESTINATION
    kwargs = register_model.upload_kwargs(props, **SETTINGS)
    assert kwargs == (register_model.upload_kwargs(PUSHED, **SETTINGS) if pushed else {})


def test_component_records_the_skip_when_not_pushed(tmp_path) -> None:
    out = _run(tmp_path, _pushed_model(tmp_path, pushed=0))
    assert out.value == register_model.SKIPPED_NOT_PUSHED
    assert Path(out.uri).read_text() == register_model.SKIPPED_NOT_PUSHED
    assert out.get_string_custom_property("registered_model") == register_model.SKIPPED_NOT_PUSHED


def test_component_rejects_a_local_destination_before_any_cloud_call(tmp_path) -> None:
    artifact = _pushed_model(tmp_path, pushed=1, pushed_destination=str(tmp_path / "1"))
    with pytest.raises(register_model.RegistrationError, match="gs:// folder"):
        _run(tmp_path, artifact)


def _pipeline(tmp_path, model_registry=None):
    return create_pipeline(
        pipeline_name="test", pipeline_root=str(tmp_path / "root"),
        source=LocalFiles(input_base=str(tmp_path), file_pattern="span-*/*.parquet"),
        serving_model_dir=str(tmp_path / "serving" / "clickflow"),
        config=PipelineConfig(), model_registry=model_registry)


def test_graph_registers_after_the_pusher_only_when_asked(tmp_path) -> None:
    assert "RegisterModel" not in {c.id for c in _pipeline(tmp_path).components}
    pipeline = _pipeline(tmp_path, ModelRegistry(**SETTINGS))
    by_id = {c.id: c for c in pipeline.components}
    ids = list(by_id)
    assert ids[-1] == "RegisterModel" and ids.index("Pusher") < ids.index("RegisterModel")
    register, pusher = by_id["RegisterModel"], by_id["Pusher"]
    assert register.inputs["pushed_model"].producer_component_id == pusher.id
    assert register.inputs["pushed_model"].output_key == "pushed_model"
    assert {k: register.exec_properties[k] for k in SETTINGS} == SETTINGS
