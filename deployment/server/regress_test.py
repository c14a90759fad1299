"""``:regress`` as TF Serving's REST API documents it (tensorflow.org/tfx/serving/api_rest,
"Classify and Regress API": ``{"signature_name", "context", "examples"}`` ->
``{"results": [value, ...]}``), with its signature rule (``regressor.cc``'s
GetRegressionSignature: serving_default unless named, and it must be a regression one)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from deployment.server.app import Server, create_app
from deployment.server.config import ModelConfig, RequestLogConfig, ServerConfig, VersionPolicy
from pipelines.testing.foreign_models import REGRESS_METHOD, export_example_model


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, small_model: Path):
    base = tmp_path_factory.mktemp("regress")
    export_example_model(base / "doubler" / "1", method_name=REGRESS_METHOD)
    shutil.copytree(small_model, base / "clickflow" / "1")
    config = ServerConfig(models=tuple(ModelConfig(name, base / name, VersionPolicy(), {})
                                       for name in ("doubler", "clickflow")),
                          request_log=RequestLogConfig(directory=None))
    server = Server(config, watch=False)
    server.registry.poll_once()
    with TestClient(create_app(server)) as test_client:
        yield test_client


def test_regress_answers_one_value_per_example(client: TestClient) -> None:
    body = {"examples": [{"x": 1.5}, {"x": -2.0}], "context": {}}  # -2 would be an int64
    response = client.post("/v1/models/doubler:regress", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"results": [3.0, -4.0]}
    named = client.post("/V1/Models/doubler/versions/1:REGRESS",
                        json={**body, "signature_name": "serving_default"})
    assert named.json() == {"results": [3.0, -4.0]}


def test_regress_refuses_what_tf_serving_refuses(client: TestClient) -> None:
    ours = client.post("/v1/models/clickflow:regress", json={"examples": [{"Age": 30}]})
    assert ours.status_code == 400
    assert ours.json()["error"].startswith(
        "Expected regression signature method_name to be tensorflow/serving/regress. "
        "Was: tensorflow/serving/predict")
    unknown = client.post("/v1/models/nope:regress", json={"examples": [{"x": 1.0}]})
    assert unknown.status_code == 404
    assert "Servable not found for request: Latest(nope)" in unknown.json()["error"]
    assert client.get("/v1/models/doubler:regress").status_code == 400  # POST only
    no_examples = client.post("/v1/models/doubler:regress", json={"context": {}})
    assert no_examples.status_code == 400 and "needs 'examples'" in no_examples.json()["error"]
