"""The real ``kfp`` 2.5 client against FakeKfp: what KFP 2.x's API server refuses comes back
with its status code and grpc-gateway error body; what it accepts is stored."""

import json

import pytest
import yaml

from pipelines.testing.fake_kfp import serving

SPEC = {
    "schemaVersion": "2.1.0", "sdkVersion": "ours", "pipelineInfo": {"name": "hello"},
    "root": {"dag": {"tasks": {"say": {"taskInfo": {"name": "say"},
                                       "componentRef": {"name": "comp-say"}}}}},
    "components": {"comp-say": {"executorLabel": "exec-say"}},
    "deploymentSpec": {"executors": {"exec-say": {"container": {"image": "python:3.10",
                                                                "command": ["true"]}}}},
}


@pytest.fixture
def client():
    import kfp

    with serving() as server:
        yield kfp.Client(host=server.host, namespace="kubeflow"), server


def _package(tmp_path, **changes) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({**SPEC, **changes}))
    return str(path)


def _refusal(raised) -> tuple[int, dict]:
    return raised.value.status, json.loads(raised.value.body)


def test_a_valid_run_is_created(client, tmp_path) -> None:
    kfp_client, server = client
    result = kfp_client.create_run_from_pipeline_package(_package(tmp_path), arguments={},
                                                         experiment_name="e")
    assert result.run_id in server.runs


def test_an_invalid_spec_is_an_internal_error_as_kfp_wraps_it(client, tmp_path) -> None:
    from kfp_server_api.exceptions import ApiException

    kfp_client, server = client
    with pytest.raises(ApiException) as raised:
        kfp_client.create_run_from_pipeline_package(_package(tmp_path, schemaVersion="2.0.0"),
                                                    arguments={}, experiment_name="e")
    status, body = _refusal(raised)
    assert (status, body["code"]) == (500, 13)
    assert body["message"] == body["error"] == (
        "Failed to create a new run: InternalServerError: Failed to create a run due to error "
        "fetching manifest: Failed to fetch a template with an invalid pipeline spec manifest: "
        "InvalidInputError: KFP only supports schema version 2.1.0, but the pipeline spec has "
        "version 2.0.0: pipeline spec is invalid")
    (detail,) = body["details"]
    assert detail["@type"] == "type.googleapis.com/api.Error"
    assert detail["error_message"] == "Internal Server Error"
    assert server.runs == {}


def test_run_parameters_the_pipeline_does_not_take_are_invalid_arguments(client,
                                                                          tmp_path) -> None:
    from kfp_server_api.exceptions import ApiException

    kfp_client, _ = client
    with pytest.raises(ApiException) as raised:
        kfp_client.create_run_from_pipeline_package(_package(tmp_path), arguments={"x": 1},
                                                    experiment_name="e")
    status, body = _refusal(raised)
    assert (status, body["code"]) == (400, 3)
    assert body["details"][0]["error_message"] == (
        "parameter(s) provided are not required by pipeline: x")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"cron_expression": "0 3 * *"}, "Schedule cron is not a supported format"),
    ({"cron_expression": "0 0 3 * * *", "max_concurrency": 11},
     "Max concurrency of a recurring run must be at least 1 and at most 10. Received 11"),
])
def test_recurring_run_fields_are_invalid_arguments(client, tmp_path, kwargs, message) -> None:
    from kfp_server_api.exceptions import ApiException

    kfp_client, server = client
    experiment = kfp_client.create_experiment(name="e")
    with pytest.raises(ApiException) as raised:
        kfp_client.create_recurring_run(experiment_id=experiment.experiment_id, job_name="daily",
                                        pipeline_package_path=_package(tmp_path), **kwargs)
    status, body = _refusal(raised)
    assert (status, body["code"]) == (400, 3)
    assert body["message"].startswith("Failed to create a recurring run due to conversion error")
    assert message in body["message"]
    assert server.recurring == {}


def test_a_valid_recurring_run_is_created(client, tmp_path) -> None:
    kfp_client, server = client
    experiment = kfp_client.create_experiment(name="e")
    created = kfp_client.create_recurring_run(
        experiment_id=experiment.experiment_id, job_name="daily", cron_expression="0 0 3 * * *",
        max_concurrency=1, pipeline_package_path=_package(tmp_path))
    assert created.recurring_run_id in server.recurring
