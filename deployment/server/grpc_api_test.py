"""The gRPC API through TF Serving's own client stubs (tensorflow-serving-api), against the real
small model, TF Serving's TF1 ``half_plus_three`` and a tf.Example-input model.

Expected codes and messages are TF Serving's, from its sources (tensorflow/serving):
``servables/tensorflow/predict_util.cc`` (RunPredict, PreProcessPrediction),
``servables/tensorflow/classifier.cc`` (GetClassificationSignatureDef),
``servables/tensorflow/util.cc`` (InputToSerializedExampleTensor), ``servables/tensorflow/
multi_inference.cc`` (TensorFlowMultiInferenceRunner::Infer), ``servables/tensorflow/
get_model_metadata_impl.cc`` and ``model_servers/get_model_status_impl.cc``.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import tensorflow as tf
from starlette.testclient import TestClient
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from deployment.server.app import Server, create_app
from deployment.server.config import (
    ModelConfig,
    RequestLogConfig,
    ServerConfig,
    VersionPolicy,
)
from deployment.server.grpc_api import GrpcServer
from pipelines.common.request_log import read_request_log
from pipelines.testing import foreign_models
from pipelines.testing.grpc_requests import predict_request

ROW = {"DailyTimeSpentOnSite": 68.95, "Age": 35, "AreaIncome": 61833.9,
       "DailyInternetUsage": 256.09, "AdTopicLine": "Cloned 5thgeneration orchestration",
       "City": "Wrightburgh", "Male": 0, "Country": "Tunisia",
       "Timestamp": "2016-03-27 00:53:11"}
CLASSIFY = "tensorflow/serving/classify"
REGRESS = "tensorflow/serving/regress"


class Served:
    def __init__(self, server: Server, client: TestClient, channel: grpc.Channel):
        self.server = server
        self.rest = client
        self.channel = channel
        self.predict = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(channel)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, make_version) -> Iterator[Served]:
    """Our model (versions 1 and 2, labels stable/canary), half_plus_three and a tf.Example
    regression model, with REST and gRPC (on a free port) from one server."""
    tmp = tmp_path_factory.mktemp("grpc")
    make_version(tmp / "clickflow", 1)
    make_version(tmp / "clickflow", 2)
    foreign_models.export_half_plus_three(tmp / "half_plus_three" / "1")
    foreign_models.export_example_model(tmp / "examples" / "1", REGRESS)
    foreign_models.export_tensor_model(tmp / "tensors" / "1")
    config = ServerConfig(
        models=(ModelConfig("clickflow", tmp / "clickflow", VersionPolicy("latest", 2),
                            {"stable": 1, "canary": 2}),
                ModelConfig("half_plus_three", tmp / "half_plus_three"),
                ModelConfig("examples", tmp / "examples"),
                ModelConfig("tensors", tmp / "tensors")),
        request_log=RequestLogConfig(directory=tmp / "log", roll_records=1000),
        grpc_port=0, max_instances=50)
    server = Server(config, watch=False)
    server.registry.poll_once()
    with TestClient(create_app(server)) as client:
        assert server.grpc_port
        with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            yield Served(server, client, channel)


def _predict_request(model: str = "clickflow", row: dict | None = None, **spec) -> Any:
    request = predict_request(row or ROW, model)
    for key, value in spec.items():
        if key == "version":
            request.model_spec.version.value = value
        else:
            setattr(request.model_spec, key, value)
    return request


def _code(call, request) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=30)
    return info.value.code(), info.value.details()


def _example(**features) -> tf.train.Example:
    feature = {}
    for name, value in features.items():
        if isinstance(value, str):
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
        elif isinstance(value, int):
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        else:
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
    return tf.train.Example(features=tf.train.Features(feature=feature))


def test_predict_matches_rest_and_names_the_version(served: Served) -> None:
    response, call = served.predict.Predict.with_call(
        _predict_request(), timeout=30, metadata=(("x-request-id", "grpc-1"),))
    rest = served.rest.post("/v1/models/clickflow:predict", json={"instances": [ROW]}).json()
    # AsProtoField: the typed repeated field, which TF Serving's clients read directly.
    probability = response.outputs["probability"]
    assert probability.dtype == tf.float32.as_datatype_enum and not probability.tensor_content
    assert list(probability.float_val) == pytest.approx(
        [rest["predictions"][0]["probability"]], abs=1e-6)
    assert list(response.outputs["clicked"].int64_val) == [rest["predictions"][0]["clicked"]]
    assert [d.size for d in probability.tensor_shape.dim] == [1]
    assert response.model_spec.name == "clickflow"
    assert response.model_spec.version.value == 2
    assert response.model_spec.signature_name == "serving_default"
    assert dict(call.trailing_metadata())["x-request-id"] == "grpc-1"


def test_predict_batches_labels_versions_and_output_filter(served: Served) -> None:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "clickflow"
    request.model_spec.version_label = "stable"
    request.output_filter.append("probability")
    for name, value in ROW.items():
        values = [value] * 3
        request.inputs[name].CopyFrom(tf.make_tensor_proto(values, dtype=(
            tf.string if isinstance(value, str) else
            tf.int64 if isinstance(value, int) else tf.float32)))
    response = served.predict.Predict(request, timeout=30)
    assert response.model_spec.version.value == 1
    assert set(response.outputs) == {"probability"}
    assert len(tf.make_ndarray(response.outputs["probability"])) == 3


@pytest.mark.parametrize(("mutate", "code", "says"), [
    (lambda r: r.ClearField("model_spec"), "INVALID_ARGUMENT", "Missing ModelSpec"),
    (lambda r: setattr(r.model_spec, "name", "nope"), "NOT_FOUND", "Servable not found"),
    (lambda r: r.model_spec.version.__setattr__("value", 9), "NOT_FOUND", "Specific(clickflow, 9)"),
    (lambda r: setattr(r.model_spec, "version_label", "beta"), "INVALID_ARGUMENT",
     "Unrecognized servable version label: beta"),
    # RunPredict: an unknown signature is FAILED_PRECONDITION, not INVALID_ARGUMENT.
    (lambda r: setattr(r.model_spec, "signature_name", "nope"), "FAILED_PRECONDITION",
     '"nope" not found'),
    (lambda r: r.inputs.pop("Age"), "INVALID_ARGUMENT",
     "input size does not match signature: 8!=9"),
    (lambda r: r.inputs["Age"].CopyFrom(tf.make_tensor_proto([35.0])), "INVALID_ARGUMENT",
     "input tensor 'Age' is DT_FLOAT; the signature expects int64"),
    (lambda r: r.inputs["Age"].CopyFrom(tf.make_tensor_proto([[35]], dtype=tf.int64)),
     "INVALID_ARGUMENT", "'Age' has shape [1, 1]; the signature expects ['?']"),
    (lambda r: r.output_filter.append("nope"), "INVALID_ARGUMENT",
     "output tensor alias not found in signature: nope"),
    (lambda r: r.output_filter.extend(["clicked", "clicked"]), "INVALID_ARGUMENT",
     "duplicate output tensor alias: clicked"),
    (lambda r: r.inputs["AreaIncome"].CopyFrom(tf.make_tensor_proto([np.nan], tf.float32)),
     "INVALID_ARGUMENT", "NaN or Infinity"),
    (lambda r: r.inputs["Age"].CopyFrom(tf.make_tensor_proto([35, 36], dtype=tf.int64)),
     "INVALID_ARGUMENT", "same batch size"),
])
def test_predict_errors_have_tf_servings_codes(served: Served, mutate, code: str,
                                               says: str) -> None:
    request = _predict_request()
    mutate(request)
    got, details = _code(served.predict.Predict, request)
    assert got == grpc.StatusCode[code], details
    assert says in details


def test_a_huge_declared_shape_is_refused_not_allocated(served: Served) -> None:
    request = _predict_request()
    request.inputs["Age"].tensor_shape.dim[0].size = 10 ** 12  # one value, "filled"
    got, details = _code(served.predict.Predict, request)
    assert got == grpc.StatusCode.INVALID_ARGUMENT and "at most" in details


def test_a_message_over_the_body_limit_is_resource_exhausted(tmp_path: Path, make_version
                                                             ) -> None:
    make_version(tmp_path / "m", 1)
    config = ServerConfig(models=(ModelConfig("clickflow", tmp_path / "m"),),
                          request_log=RequestLogConfig(directory=None), grpc_port=0,
                          max_body_bytes=10_000)
    server = Server(config, watch=False)
    server.registry.poll_once()
    with TestClient(create_app(server)), grpc.insecure_channel(
            f"127.0.0.1:{server.grpc_port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        got, _ = _code(stub.Predict, _predict_request(row={**ROW, "City": "x" * 20_000}))
        assert got == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert stub.Predict(_predict_request(), timeout=30).outputs["probability"].float_val


def test_classify_with_and_without_context_matches_rest(served: Served) -> None:
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "clickflow"
    request.model_spec.signature_name = "classification"
    context = {k: v for k, v in ROW.items() if k not in ("Age", "DailyInternetUsage")}
    with_context = request.input.example_list_with_context
    with_context.context.CopyFrom(_example(**context))
    with_context.examples.append(_example(Age=35, DailyInternetUsage=256.09))
    with_context.examples.append(_example(Age=55, DailyInternetUsage=120.0))
    response = served.predict.Classify(request, timeout=30)
    rest = served.rest.post("/v1/models/clickflow:classify", json={
        "signature_name": "classification", "context": context,
        "examples": [{"Age": 35, "DailyInternetUsage": 256.09},
                     {"Age": 55, "DailyInternetUsage": 120.0}]}).json()["results"]
    got = [[(c.label, c.score) for c in row.classes]
           for row in response.result.classifications]
    assert [[label for label, _ in row] for row in got] == [["0", "1"], ["0", "1"]]
    assert [score for row in got for _, score in row] == pytest.approx(
        [score for row in rest for _, score in row], abs=1e-6)
    assert response.model_spec.signature_name == "classification"
    plain = classification_pb2.ClassificationRequest()
    plain.model_spec.name = "clickflow"
    plain.model_spec.signature_name = "classification"
    plain.input.example_list.examples.append(_example(**ROW))
    first = served.predict.Classify(plain, timeout=30).result.classifications[0]
    assert first.classes[1].score == pytest.approx(got[0][1][1], abs=1e-6)


def test_classify_errors(served: Served) -> None:
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "clickflow"
    request.model_spec.signature_name = "classification"
    got, details = _code(served.predict.Classify, request)
    assert (got, details) == (grpc.StatusCode.INVALID_ARGUMENT, "Input is empty.")
    request.input.example_list.examples.append(_example(**ROW))
    request.model_spec.signature_name = ""  # serving_default is a predict signature
    got, details = _code(served.predict.Classify, request)
    assert got == grpc.StatusCode.INVALID_ARGUMENT
    assert "Expected classification signature method_name to be " + CLASSIFY in details
    request.model_spec.signature_name = "classification"
    request.input.example_list.examples.extend([_example(**ROW)] * 60)
    got, details = _code(served.predict.Classify, request)
    assert got == grpc.StatusCode.INVALID_ARGUMENT and "--max-instances" in details


def test_regress_on_tf1_and_tf2_example_models(served: Served) -> None:
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "half_plus_three"
    request.model_spec.signature_name = "regress_x_to_y"
    for x in (1.0, 2.0, 5.0):
        request.input.example_list.examples.append(_example(x=x))
    response = served.predict.Regress(request, timeout=30)
    assert [r.value for r in response.result.regressions] == [3.5, 4.0, 5.5]
    assert response.model_spec.version.value == 1
    request.model_spec.name = "examples"
    request.model_spec.signature_name = ""
    assert [r.value for r in served.predict.Regress(request, timeout=30).result.regressions] \
        == [2.0, 4.0, 10.0]


def test_predict_on_tf1_model(served: Served) -> None:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_three"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto([1.0, 2.0, 5.0], tf.float32))
    response = served.predict.Predict(request, timeout=30)
    assert list(response.outputs["y"].float_val) == [3.5, 4.0, 5.5]


@pytest.mark.parametrize("value", [7, [[1, 2], [3, 4]], [[[1], [2]]]])
def test_an_input_of_unknown_rank_takes_any_shape(served: Served, value) -> None:
    # A TensorInfo without a shape: Tensor::FromProto takes whatever shape the proto gives.
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "tensors"
    request.model_spec.signature_name = "any_shape"
    request.inputs["default"].CopyFrom(tf.make_tensor_proto(value, tf.int32))
    response = served.predict.Predict(request, timeout=30)
    np.testing.assert_array_equal(tf.make_ndarray(response.outputs["y"]), np.array(value))


def test_the_fill_rule_and_tensor_content(served: Served) -> None:
    # Tensor::FromProto: fewer values than the shape holds repeat the last one;
    # tensor_content carries the raw bytes (what tf.make_tensor_proto writes for arrays).
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "tensors"
    request.model_spec.signature_name = "pairs"
    request.inputs["default"].dtype = tf.int32.as_datatype_enum
    request.inputs["default"].tensor_shape.dim.add(size=2)
    request.inputs["default"].tensor_shape.dim.add(size=2)
    request.inputs["default"].int_val.extend([1, 2])
    response = served.predict.Predict(request, timeout=30)
    assert tf.make_ndarray(response.outputs["y"]).tolist() == [[1, 2], [2, 2]]
    request.inputs["default"].CopyFrom(tf.make_tensor_proto(np.array([[5, 6]], np.int32)))
    assert request.inputs["default"].tensor_content
    response = served.predict.Predict(request, timeout=30)
    assert list(response.outputs["y"].int_val) == [5, 6]


def _task(model: str, signature: str, method: str) -> inference_pb2.InferenceTask:
    task = inference_pb2.InferenceTask(method_name=method)
    task.model_spec.name = model
    task.model_spec.signature_name = signature
    return task


def test_multi_inference_classifies_and_regresses_one_input(served: Served) -> None:
    # As TF Serving's multi_inference_test.cc: classify_x_to_y and regress_x_to_y of
    # half_plus_two/three on the same examples.
    request = inference_pb2.MultiInferenceRequest()
    request.tasks.append(_task("half_plus_three", "regress_x_to_y", REGRESS))
    request.tasks.append(_task("half_plus_three", "classify_x_to_y", CLASSIFY))
    request.input.example_list.examples.extend([_example(x=1.0), _example(x=2.0)])
    response = served.predict.MultiInference(request, timeout=30)
    regression, classification = response.results
    assert [r.value for r in regression.regression_result.regressions] == [3.5, 4.0]
    assert [[c.score for c in row.classes]
            for row in classification.classification_result.classifications] == [[3.5], [4.0]]


@pytest.mark.parametrize(("tasks", "code", "says"), [
    ([("half_plus_three", "regress_x_to_y", REGRESS), ("examples", "", REGRESS)],
     "INVALID_ARGUMENT", "must access the same model name"),
    ([("half_plus_three", "regress_x_to_y", REGRESS)] * 2, "INVALID_ARGUMENT",
     "Duplicate evaluation of signature: regress_x_to_y"),
    ([("half_plus_three", "nope", REGRESS)], "INVALID_ARGUMENT",
     "Requested signature not found in model graph: nope"),
    ([("half_plus_three", "regress_x_to_y", "tensorflow/serving/predict")], "UNIMPLEMENTED",
     "Unsupported signature method_name"),
    ([("half_plus_three", "regress_x_to_y", CLASSIFY)], "INVALID_ARGUMENT",
     "Expected classification signature method_name"),
    ([], "NOT_FOUND", "Servable not found"),
])
def test_multi_inference_errors(served: Served, tasks, code: str, says: str) -> None:
    request = inference_pb2.MultiInferenceRequest()
    for model, signature, method in tasks:
        request.tasks.append(_task(model, signature, method))
    request.input.example_list.examples.append(_example(x=1.0))
    got, details = _code(served.predict.MultiInference, request)
    assert got == grpc.StatusCode[code], details
    assert says in details


def test_metadata_is_the_signature_def_map_rest_shows(served: Served) -> None:
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "clickflow"
    request.metadata_field.append("signature_def")
    response = served.predict.GetModelMetadata(request, timeout=30)
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signature_map)
    rest = served.rest.get("/v1/models/clickflow/metadata").json()
    assert sorted(signature_map.signature_def) == sorted(
        rest["metadata"]["signature_def"]["signature_def"])
    assert signature_map.signature_def["classification"].method_name == CLASSIFY
    assert response.model_spec.version.value == 2
    del request.metadata_field[:]
    got, details = _code(served.predict.GetModelMetadata, request)
    assert (got, details) == (grpc.StatusCode.INVALID_ARGUMENT,
                              "GetModelMetadataRequest must specify at least one metadata_field")
    request.metadata_field.append("assets")
    got, details = _code(served.predict.GetModelMetadata, request)
    assert (got, details) == (grpc.StatusCode.INVALID_ARGUMENT,
                              "Metadata field assets is not supported")


def test_model_status_and_reload(served: Served) -> None:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "clickflow"
    response = served.models.GetModelStatus(request, timeout=30)
    available = get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert [(s.version, s.state, s.status.error_code) for s in response.model_version_status] \
        == [(2, available, 0), (1, available, 0)]
    request.model_spec.version.value = 7
    got, details = _code(served.models.GetModelStatus, request)
    assert (got, details) == (grpc.StatusCode.NOT_FOUND, "Could not find version 7 of model "
                                                         "clickflow")
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "nope"
    got, details = _code(served.models.GetModelStatus, request)
    assert (got, details) == (grpc.StatusCode.NOT_FOUND, "Could not find any versions of "
                                                         "model nope")
    got, _ = _code(served.models.GetModelStatus, get_model_status_pb2.GetModelStatusRequest())
    assert got == grpc.StatusCode.INVALID_ARGUMENT
    got, details = _code(served.models.HandleReloadConfigRequest,
                         model_management_pb2.ReloadConfigRequest())
    assert got == grpc.StatusCode.UNIMPLEMENTED and "--model-config-file" in details


def test_grpc_requests_are_counted_and_logged(served: Served) -> None:
    served.predict.Predict(_predict_request(), timeout=30,
                           metadata=(("x-request-id", "grpc-logged"),))
    _code(served.predict.Predict, _predict_request("nope"))
    metrics = served.rest.get("/metrics").text
    assert ('clickflow_serving_requests_total{api="predict",model="clickflow",status="OK",'
            'version="2"}') in metrics
    assert 'api="predict",model="",status="NOT_FOUND",version=""' in metrics
    bad, _ = _code(served.predict.Predict, _predict_request(**{"signature_name": "nope"}))
    assert bad == grpc.StatusCode.FAILED_PRECONDITION
    served.server.request_log.flush()
    table, problems = read_request_log(served.server.config.request_log.directory)
    assert problems == []
    rows = table.to_pylist()
    logged = [r for r in rows if r["request_id"] == "grpc-logged"]
    assert len(logged) == 1 and logged[0]["model_version"] == 2
    assert logged[0]["Age"] == 35 and logged[0]["City"] == "Wrightburgh"


def test_a_bad_request_id_is_refused(served: Served) -> None:
    with pytest.raises(grpc.RpcError) as info:
        served.predict.Predict(_predict_request(), timeout=30,
                               metadata=(("x-request-id", "bad id!"),))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "x-request-id metadata" in info.value.details()


def test_a_busy_port_is_an_error_not_a_split(tmp_path: Path, make_version) -> None:
    make_version(tmp_path / "m", 1)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = ServerConfig(models=(ModelConfig("clickflow", tmp_path / "m"),),
                              request_log=RequestLogConfig(directory=None))
        server = Server(config, watch=False)

        async def start() -> None:
            await GrpcServer(server, port).start()

        import asyncio

        with pytest.raises(OSError, match=f"127.0.0.1:{port} for gRPC"):
            asyncio.run(start())
