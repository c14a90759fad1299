"""A TF1 (session-based) SavedModel served as TF Serving serves its own ``half_plus_three``.

The model is built here as TF Serving builds its test model
(tensorflow_serving/servables/tensorflow/testdata/saved_model_half_plus_two.py, with b = 3).
Expected answers are TF Serving's REST documentation's (tensorflow.org/tfx/serving/api_rest,
"Predict API" example: ``{"instances": [1.0, 2.0, 5.0]}`` -> ``{"predictions": [3.5, 4.0,
5.5]}``), classify's empty labels are tensorflow_serving/util/json_tensor.h's, and the
signature rule for ``:classify``/``:regress`` is classifier.cc's / regressor.cc's.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from deployment.server import servable as servable_lib
from deployment.server import tf1_servable
from deployment.server.app import Server, create_app
from deployment.server.config import ModelConfig, RequestLogConfig, ServerConfig, VersionPolicy
from pipelines.testing.foreign_models import export_half_plus_three

ROW = {"DailyTimeSpentOnSite": 68.95, "Age": 35, "AreaIncome": 61833.9,
       "DailyInternetUsage": 256.09, "AdTopicLine": "Cloned 5thgeneration orchestration",
       "City": "Wrightburgh", "Male": 0, "Country": "Tunisia",
       "Timestamp": "2016-03-27 00:53:11"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, small_model: Path):
    base = tmp_path_factory.mktemp("tf1")
    export_half_plus_three(base / "half_plus_three" / "1")
    shutil.copytree(small_model, base / "clickflow" / "1")
    config = ServerConfig(models=tuple(ModelConfig(name, base / name, VersionPolicy(), {})
                                       for name in ("half_plus_three", "clickflow")),
                          request_log=RequestLogConfig(directory=None))
    server = Server(config, watch=False)
    server.registry.poll_once()
    with TestClient(create_app(server)) as client:
        yield server, client


def test_status_and_metadata(served) -> None:
    _, client = served
    status = client.get("/v1/models/half_plus_three").json()
    assert status["model_version_status"][0]["state"] == "AVAILABLE", status
    metadata = client.get("/v1/models/half_plus_three/metadata").json()
    signatures = metadata["metadata"]["signature_def"]["signature_def"]
    assert sorted(signatures) == ["classify_x_to_y", "regress_x_to_y", "serving_default"]
    default = signatures["serving_default"]
    assert default["method_name"] == "tensorflow/serving/predict"
    assert default["inputs"]["x"]["name"] == "x:0"
    assert default["inputs"]["x"]["dtype"] == "DT_FLOAT"
    assert signatures["classify_x_to_y"]["inputs"]["inputs"]["dtype"] == "DT_STRING"


def test_predict_row_and_columnar(served) -> None:
    _, client = served
    rows = client.post("/v1/models/half_plus_three:predict",
                       json={"instances": [1.0, 2.0, 5.0]})
    assert rows.status_code == 200, rows.text
    assert rows.json() == {"predictions": [3.5, 4.0, 5.5]}
    columns = client.post("/v1/models/half_plus_three/versions/1:predict",
                          json={"inputs": {"x": [1.0, 2.0, 5.0]}})
    assert columns.json() == {"outputs": [3.5, 4.0, 5.5]}
    bare = client.post("/v1/models/half_plus_three:predict",
                       json={"signature_name": "serving_default", "inputs": [-2.0]})
    assert bare.json() == {"outputs": [2.0]}


def test_classify_and_regress_parse_tf_examples(served) -> None:
    _, client = served
    body = {"signature_name": "classify_x_to_y", "examples": [{"x": 1.0}, {"x": 5.0}]}
    classified = client.post("/v1/models/half_plus_three:classify", json=body)
    assert classified.status_code == 200, classified.text
    assert classified.json() == {"results": [[["", 3.5]], [["", 5.5]]]}
    regressed = client.post("/v1/models/half_plus_three:regress",
                            json={"signature_name": "regress_x_to_y",
                                  "examples": [{"x": 2.0}], "context": {}})
    assert regressed.status_code == 200, regressed.text
    assert regressed.json() == {"results": [4.0]}
    # No signature_name means serving_default, a predict signature: refused, not swapped.
    unnamed = client.post("/v1/models/half_plus_three:regress", json={"examples": [{"x": 2.0}]})
    assert unnamed.status_code == 400
    assert unnamed.json()["error"].startswith(
        "Expected regression signature method_name to be tensorflow/serving/regress. "
        "Was: tensorflow/serving/predict")


def test_bad_inputs_are_400s(served) -> None:
    _, client = served
    text = client.post("/v1/models/half_plus_three:predict", json={"instances": ["one"]})
    assert text.status_code == 400
    assert text.json()["error"] == \
        "instances[0]: input 'x' expects a number (float32), got \"one\""
    nested = client.post("/v1/models/half_plus_three:predict", json={"instances": [[1.0]]})
    assert nested.status_code == 400 and "one value per instance" in nested.json()["error"]
    # A string where the graph's ParseExample wants a float: the session's error, as a 400.
    wrong = client.post("/v1/models/half_plus_three:regress",
                        json={"signature_name": "regress_x_to_y", "examples": [{"x": "a"}]})
    assert wrong.status_code == 400
    assert wrong.json()["error"].startswith("the model could not compute a prediction")
    assert "Key: x, Index: 0.  Data types don't match" in wrong.json()["error"]
    missing = client.post("/v1/models/half_plus_three:regress",
                          json={"signature_name": "regress_x_to_y", "examples": [{"y": 1.0}]})
    assert missing.status_code == 400 and "Feature: x" in missing.json()["error"]


def test_concurrent_requests_share_one_session(served) -> None:
    import concurrent.futures

    _, client = served

    def ask(x: float) -> float:
        response = client.post("/v1/models/half_plus_three:predict", json={"instances": [x]})
        return response.json()["predictions"][0]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        got = list(pool.map(ask, [float(i) for i in range(32)]))
    assert got == [0.5 * i + 3 for i in range(32)]


def test_tf1_and_tf2_are_told_apart(served, tmp_path: Path) -> None:
    server, client = served
    tf1 = server.registry.served("half_plus_three")[1]
    assert all(isinstance(s, tf1_servable.SessionSignature) for s in tf1.signatures.values())
    ours = server.registry.served("clickflow")[1]
    signature = ours.signatures["serving_default"]
    assert type(signature) is servable_lib.Signature  # the TF2 path, unchanged
    assert hasattr(ours.loaded, "signatures")
    response = client.post("/v1/models/clickflow:predict", json={"instances": [ROW]})
    assert response.status_code == 200, response.text
    assert signature.flat_call is not None  # the fast path is on after the first call
    # A SavedModel whose only MetaGraphDef is not tagged "serve" is refused by name.
    from tensorflow.core.protobuf import saved_model_pb2

    version = shutil.copytree(tf1.path, tmp_path / "1")
    proto = saved_model_pb2.SavedModel.FromString((version / "saved_model.pb").read_bytes())
    proto.meta_graphs[0].meta_info_def.tags[:] = ["train"]
    (version / "saved_model.pb").write_bytes(proto.SerializeToString())
    with pytest.raises(ValueError, match="no MetaGraphDef tagged only 'serve'"):
        servable_lib.load("half_plus_three", 1, version)


def test_session_signature_answers_numpy(served) -> None:
    server, _ = served
    signature = server.registry.served("half_plus_three")[1].signatures["serving_default"]
    assert signature.inputs["x"].shape == (None,) and signature.batchable
    out = signature({"x": np.array([0.0, 4.0], dtype=np.float32)})
    np.testing.assert_array_equal(out["y"], np.array([3.0, 5.0], dtype=np.float32))
    assert signature.enable_flat_call({"x": np.array([1.0], np.float32)}) is False
