"""Warm-up as TF Serving does it (tensorflow.org/tfx/serving/saved_model_warmup and
``saved_model_warmup_util.cc``): only the version's ``assets.extra/tf_serving_warmup_requests``
is replayed, a failing record fails the load, and a model without the file loads as it is.

The foreign model here is what most TFX templates push: ``serving_default`` takes serialized
tf.Examples. The server once invented a warm-up request for it ('warmup' as an Example) and
refused it (state END, every request 404).
"""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from deployment.server import servable as servable_lib
from deployment.server.app import Server, create_app
from deployment.server.config import ModelConfig, RequestLogConfig, ServerConfig, VersionPolicy
from pipelines.testing.foreign_models import example, export_example_model


def write_warmup(version: Path, serialized: list[bytes]) -> None:
    import tensorflow as tf
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec())
    request.inputs["examples"].CopyFrom(tf.make_tensor_proto(serialized, dtype=tf.string))
    (version / "assets.extra").mkdir(exist_ok=True)
    with tf.io.TFRecordWriter(str(version / servable_lib.WARMUP_FILE)) as writer:
        writer.write(prediction_log_pb2.PredictionLog(
            predict_log=prediction_log_pb2.PredictLog(request=request)).SerializeToString())


def _client(base: Path) -> tuple[Server, TestClient]:
    config = ServerConfig(models=(ModelConfig("foreign", base, VersionPolicy(), {}),),
                          request_log=RequestLogConfig(directory=None))
    server = Server(config, watch=False)
    server.registry.poll_once()
    return server, TestClient(create_app(server))


def _states(client: TestClient) -> list[tuple[str, str, str]]:
    return [(s["version"], s["state"], s["status"]["error_message"])
            for s in client.get("/v1/models/foreign").json()["model_version_status"]]


@pytest.fixture(scope="module")
def example_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_example_model(tmp_path_factory.mktemp("example-model") / "saved")


def test_a_tf_example_model_without_a_warmup_file_loads_and_answers(tmp_path: Path,
                                                                     example_model: Path):
    import shutil

    shutil.copytree(example_model, tmp_path / "models" / "1")
    _, client = _client(tmp_path / "models")
    with client:
        assert _states(client) == [("1", "AVAILABLE", "")]
        instances = [{"b64": base64.b64encode(example(x)).decode()} for x in (1.5, -2.0)]
        response = client.post("/v1/models/foreign:predict", json={"instances": instances})
        assert response.status_code == 200, response.text
        assert response.json() == {"predictions": [3.0, -4.0]}


def test_the_warmup_file_is_replayed_and_a_bad_record_fails_the_load(tmp_path: Path,
                                                                     example_model: Path):
    import shutil

    good = tmp_path / "models" / "1"
    shutil.copytree(example_model, good)
    write_warmup(good, [example(1.0), example(2.0)])
    bad = tmp_path / "models" / "2"
    shutil.copytree(example_model, bad)
    write_warmup(bad, [b"not a tf.Example"])
    server, client = _client(tmp_path / "models")
    with client:
        states = dict((v, (state, message)) for v, state, message in _states(client))
        assert states["1"] == ("AVAILABLE", "")
        state, message = states["2"]
        assert state == "END"
        assert "warm-up record 0 (predict_log) of assets.extra/tf_serving_warmup_requests " \
               "failed" in message
        served = server.registry.served("foreign")[1].signatures["serving_default"]
        assert served.__dict__.get("_flat_tried")  # the replay called it before any request


def test_our_exported_model_carries_a_warmup_file_tf_serving_reads(small_model: Path):
    """Every version the Trainer exports has TF Serving's warm-up file: PredictionLog records
    (TF Serving's own protos) for the one-row and batched predict and for classify."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path = small_model / servable_lib.WARMUP_FILE
    records = [prediction_log_pb2.PredictionLog.FromString(r.numpy())
               for r in tf.data.TFRecordDataset(str(path))]
    kinds = [r.WhichOneof("log_type") for r in records]
    assert kinds == ["predict_log", "predict_log", "classify_log"]
    sizes = sorted(tf.make_ndarray(r.predict_log.request.inputs["Age"]).shape[0]
                   for r in records[:2])
    assert sizes == [1, 2]
    assert records[2].classify_log.request.model_spec.signature_name == "classification"
    loaded = servable_lib.load("clickflow", 1, small_model)
    servable_lib.warm_up(loaded)  # every record answers: a load on TF Serving would pass
    assert loaded.signatures["serving_default"].flat_call is not None
    assert np.isfinite(loaded.signatures["serving_default"](
        {k: tf.make_ndarray(v) for k, v in records[0].predict_log.request.inputs.items()}
    )["probability"]).all()
