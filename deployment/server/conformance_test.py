"""TF Serving REST API conformance, written from TF Serving's own contract, not from our code.

Every case names where it comes from in tensorflow/serving:

- ``api_rest.md``: tensorflow_serving/g3doc/api_rest.md (the REST API documentation; its
  section is named);
- ``handler_test``: tensorflow_serving/model_servers/http_rest_api_handler_test.cc (TEST_F
  name); its model is ``half_plus_two`` (y = 0.5 x + 2) where ours is ``half_plus_three``
  (y = 0.5 x + 3, api_rest.md's "Example"), so its expected numbers are shifted by one;
- ``json_test``: tensorflow_serving/util/json_tensor_test.cc (TEST name), which checks the JSON
  <-> tensor conversion; here its tensors go through a real model that echoes them
  (``export_tensor_model``), so the request is the test's JSON and the answer is compared with
  the JSON the test expects;
- ``json_tensor.cc`` / ``http_rest_api_handler.cc`` / ``http_rest_api_util.cc``: the
  implementation, where the tests leave a rule unstated (status codes come from
  ``http_server.cc``'s ToHTTPStatusCode: INVALID_ARGUMENT 400, NOT_FOUND 404).

Answers are compared exactly where TF Serving's tests compare exactly (as parsed JSON; numbers
as decimals, so a noise digit counts); error cases check the status, that the body is
``{"error": "..."}`` only, and that the message says what TF Serving's says.

Where we differ on purpose the test asserts our behaviour, and a ``DELIBERATE`` comment says
why (README, "Serving": NaN/Infinity inputs, shape checks, the body limit; and the ones named
where they are tested).
"""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import pytest
from starlette.testclient import TestClient

from deployment.server import convert
from deployment.server.app import Server, create_app
from deployment.server.config import ModelConfig, RequestLogConfig, ServerConfig, VersionPolicy
from pipelines.testing.foreign_models import (
    CLASSES_SIGNATURE,
    CLASSIFY_SIGNATURE,
    REGRESS_METHOD,
    export_example_model,
    export_half_plus_three,
    export_tensor_model,
)

HALF = "half_plus_three"  # TF1, version 123 as api_rest.md's "Example", label Version_Label
TENSORS = "tensors"  # TF2, named inputs and outputs (export_tensor_model)
EXAMPLES = "examples"  # TF2, tf.Example input: regress (serving_default) and classify_x
MAX_BODY_BYTES = 100_000
STATUS_OK = {"status": {"error_code": "OK", "error_message": ""}}


@pytest.fixture(scope="session")
def client(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("conformance")
    export_half_plus_three(base / HALF / "123")
    export_tensor_model(base / TENSORS / "1")
    export_example_model(base / EXAMPLES / "1", method_name=REGRESS_METHOD, with_classify=True)
    labels = {HALF: {"Version_Label": 123}}  # handler_test's kTestModelVersionLabel
    config = ServerConfig(
        models=tuple(ModelConfig(name, base / name, VersionPolicy(), labels.get(name, {}))
                     for name in (HALF, TENSORS, EXAMPLES)),
        request_log=RequestLogConfig(directory=None), max_body_bytes=MAX_BODY_BYTES)
    server = Server(config, watch=False)
    server.registry.poll_once()
    with TestClient(create_app(server)) as test_client:
        yield test_client


def _post(client: TestClient, path: str, body: Any) -> Any:
    """POSTs ``body`` (JSON text as it is, or an object to encode) and returns the response."""
    content = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(path, content=content, headers={"Content-Type": "application/json"})


def _ok(response: Any) -> Any:
    """The body of a 200 JSON answer, numbers parsed as decimals (as TF Serving's tests
    compare JSON documents: 0.30000001 is not 0.3)."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"  # handler_test: every case
    return json.loads(response.text, parse_float=Decimal)


def _error(response: Any, status: int, *phrases: str) -> str:
    """Asserts TF Serving's error answer: ``status`` and a body that is ``{"error": message}``
    only (api_rest.md, top: "all APIs will return a JSON object ... with error as key"), the
    message holding each phrase (case-insensitive)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str), body
    for phrase in phrases:
        assert phrase.lower() in body["error"].lower(), (phrase, body["error"])
    return body["error"]


def _d(value: Any) -> Any:
    """A JSON document's numbers as decimals, to compare with ``_ok``'s answers."""
    return json.loads(json.dumps(value), parse_float=Decimal)


# --- Model status and metadata --------------------------------------------------------------

def test_status_of_all_versions_a_version_and_a_label(client: TestClient) -> None:
    """handler_test GetStatus; api_rest.md "Model status API" and "Example" (version "123")."""
    expected = {"model_version_status": [{"version": "123", "state": "AVAILABLE", **STATUS_OK}]}
    for path in (f"/v1/models/{HALF}", f"/v1/models/{HALF}/versions/123",
                 f"/v1/models/{HALF}/labels/Version_Label"):
        assert _ok(client.get(path)) == expected, path


def test_status_of_an_unknown_model_or_version_is_not_found(client: TestClient) -> None:
    """get_model_status_impl.cc (through GetStatus's handler): NOT_FOUND, 404."""
    _error(client.get("/v1/models/foo"), 404, "Could not find any versions of model foo")
    _error(client.get(f"/v1/models/{HALF}/versions/99"), 404,
           f"Could not find version 99 of model {HALF}")
    _error(client.get(f"/v1/models/{HALF}/labels/Version_Nonexistent"), 400,
           "Unrecognized servable version label")


def test_metadata_as_get_model_metadata(client: TestClient) -> None:
    """handler_test GetModelMetadata, whose expected body is
    tensorflow_serving/servables/tensorflow/testdata/saved_model_half_plus_two_2_versions_
    metadata.json: model_spec with an empty signature_name and the version as a string, then
    ``metadata.signature_def.signature_def`` with every field printed (http_rest_api_util.cc
    ToJsonString: always_print_primitive_fields, preserve_proto_field_names)."""
    dim = [{"size": "-1", "name": ""}]
    for path in (f"/v1/models/{HALF}/metadata", f"/v1/models/{HALF}/versions/123/metadata",
                 f"/v1/models/{HALF}/labels/Version_Label/metadata"):
        body = _ok(client.get(path))
        assert body["model_spec"] == {"name": HALF, "signature_name": "", "version": "123"}
        signatures = body["metadata"]["signature_def"]["signature_def"]
        assert sorted(signatures) == ["classify_x_to_y", "regress_x_to_y", "serving_default"]
        # The file's regress_x_to_y, with our graph's tensor names and shapes.
        assert signatures["regress_x_to_y"] == {
            "inputs": {"inputs": {"dtype": "DT_STRING", "name": "tf_example:0",
                                  "tensor_shape": {"dim": dim, "unknown_rank": False}}},
            "outputs": {"outputs": {"dtype": "DT_FLOAT", "name": "parsed_y:0", "tensor_shape": {
                "dim": [*dim, {"size": "1", "name": ""}], "unknown_rank": False}}},
            "method_name": "tensorflow/serving/regress", "defaults": {}}
        assert signatures["serving_default"]["inputs"]["x"]["name"] == "x:0"


# --- URLs -----------------------------------------------------------------------------------

UINT64_MAX = 18446744073709551615


@pytest.mark.parametrize("method, path, status, phrase", [
    # handler_test UnsupportedApiCalls (each call of it, in order)
    ("GET", "/v1/foo", 400, "Malformed request"),
    ("POST", "/v1/foo", 400, "Malformed request"),
    ("GET", "/v1/models", 400, "Missing model name"),
    ("GET", "/v1/models/debug/model_name", 400, "Malformed request"),
    ("POST", "/v1/models", 400, "Malformed request"),
    ("GET", "/v1/models/foo:predict", 400, "Malformed request"),
    ("GET", "/v1/models/foo/version/50:predict", 400, "Malformed request"),
    ("POST", "/v1/models/foo/version/50:regress", 400, "Malformed request"),
    ("POST", "/v1/models/foo/versions/HELLO:regress", 400, "Malformed request"),
    ("POST", f"/v1/models/foo/versions/{UINT64_MAX}:regress", 400, "Failed to convert version"),
    ("POST", "/v1/models/foo/metadata", 400, "Malformed request"),
    ("POST", "/v1/models/foo/label/some_label:regress", 400, "Malformed request"),
    ("POST", "/v1/models/foo/versions/50/labels/some_label:regress", 400, "Malformed request"),
    ("POST", "/v1/models/foo/versions/some_label:regress", 400, "Malformed request"),
    # handler_test PredictModelNameVersionErrors: NOT_FOUND
    ("POST", "/v1/models/foo:predict", 404, "Servable not found"),
    ("POST", "/v1/models/foo/versions/50:predict", 404, "Servable not found"),
    ("POST", f"/v1/models/{HALF}99:predict", 404, "Servable not found"),
    ("POST", f"/v1/models/{HALF}/versions/99:predict", 404, "Servable not found"),
    # api_rest.md "Example": the last curl call, word for word
    ("POST", "/v1/models/half:predict", 404, "Servable not found for request: Latest(half)"),
])
def test_urls(client: TestClient, method: str, path: str, status: int, phrase: str) -> None:
    body = '{ "instances": [1] }' if method == "POST" else None
    _error(client.request(method, path, content=body), status, phrase)


def test_routes_ignore_case(client: TestClient) -> None:
    """http_rest_api_util.cc: both route regexes start with ``(?i)``."""
    assert _ok(_post(client, f"/V1/Models/{HALF}:PREDICT", {"instances": [1.0]})) == {
        "predictions": [Decimal("3.5")]}


# --- Predict: half_plus_three (TF1) ---------------------------------------------------------

@pytest.mark.parametrize("path, body, expected", [
    # api_rest.md "Example": the predict call, word for word
    (f"/v1/models/{HALF}:predict", {"instances": [1.0, 2.0, 5.0]},
     {"predictions": [3.5, 4.0, 5.5]}),
    # handler_test Predict: a version, a label, an explicit signature_name, columnar inputs
    (f"/v1/models/{HALF}/versions/123:predict", {"instances": [1.0, 2.0]},
     {"predictions": [3.5, 4.0]}),
    (f"/v1/models/{HALF}/labels/Version_Label:predict", {"instances": [1.0, 2.0]},
     {"predictions": [3.5, 4.0]}),
    (f"/v1/models/{HALF}/versions/123:predict",
     {"signature_name": "serving_default", "instances": [3.0, 4.0]},
     {"predictions": [4.5, 5.0]}),
    (f"/v1/models/{HALF}/versions/123:predict",
     {"signature_name": "serving_default", "inputs": [3.0, 4.0]}, {"outputs": [4.5, 5.0]}),
    # http_rest_api_handler.cc GetInfoMap: an empty signature_name is serving_default
    (f"/v1/models/{HALF}:predict", {"signature_name": "", "instances": [1.0]},
     {"predictions": [3.5]}),
])
def test_predict_half_plus_three(client: TestClient, path: str, body: Any,
                                 expected: Any) -> None:
    assert _ok(_post(client, path, body)) == _d(expected)


def test_predict_nested_list_for_a_one_dimensional_input(client: TestClient) -> None:
    """handler_test Predict's first call sends ``[[1.0, 2.0], [3.0, 4.0]]`` to an ``x`` that
    TF Serving does not check (it answers ``[[2.5, 3.0], [3.5, 4.0]]`` for half_plus_two).
    DELIBERATE (README): inputs are checked against the signature's shape; ``x`` is [-1]."""
    _error(_post(client, f"/v1/models/{HALF}:predict",
                 {"instances": [[1.0, 2.0], [3.0, 4.0]]}), 400,
           "instances[0]: input 'x' expects one value per instance", "got a list of 2")


@pytest.mark.parametrize("body, phrases", [
    # handler_test PredictRequestErrors, in order
    ("", ["JSON Parse error", "empty"]),
    ("instances = [1, 2]", ["JSON Parse error"]),
    ('{ "instances": ["x", "y"] }', ["float"]),  # "... is not of expected type: float"
    ('{ "signature_name": 100 }', ["'signature_name'", "must be a string"]),
    # json_test SingleUnnamedTensorErrors: both keys; json_tensor.cc: neither, not a list, empty
    ('{"instances": [1.0], "inputs": [1.0]}', ["instances", "inputs"]),
    ('{"signature_name": "serving_default"}', ["instances", "inputs"]),
    ('{"instances": {"x": 1.0}}', ["'instances'", "list"]),
    ('{"instances": []}', ["No values in 'instances'"]),
    # http_rest_api_handler.cc GetInfoMap
    ('{"signature_name": "nope", "instances": [1.0]}',
     ['Serving signature name: "nope" not found in signature def']),
])
def test_predict_request_errors(client: TestClient, body: str, phrases: list[str]) -> None:
    _error(_post(client, f"/v1/models/{HALF}:predict", body), 400, *phrases)


def test_predict_unknown_version_label(client: TestClient) -> None:
    """handler_test PredictRequestErrors: "Nonexistent version label" is INVALID_ARGUMENT."""
    _error(_post(client, f"/v1/models/{HALF}/labels/Version_Nonexistent:predict",
                 '{ "instances": ["x", "y"] }'), 400, "Unrecognized servable version label")


def test_unknown_keys_in_the_body(client: TestClient) -> None:
    """json_tensor.cc reads only the keys it knows, so TF Serving ignores any other.
    DELIBERATE: an unknown key is a 400 naming it, so a misspelt ``signatur_name`` is not
    silently served by serving_default (app_test's "extra_key" case)."""
    _error(_post(client, f"/v1/models/{HALF}:predict",
                 {"instances": [1.0], "signatur_name": "serving_default"}), 400,
           "unknown key 'signatur_name'")


# --- Predict: json_tensor_test's tensors through the TF2 model ------------------------------

TENSORS_PREDICT = f"/v1/models/{TENSORS}:predict"
HELLO, WORLD, TF, SERVING = (base64.b64encode(w).decode()
                             for w in (b"hello", b"world", b"tf", b"serving"))
MULTI_INSTANCES = [  # json_test MultipleNamedTensor's instances (finite floats; see below)
    {"int_tensor": [[1, 2], [3, 4], [5, 6]], "str_tensor": ["foo", "bar"],
     "bin_tensor": [{"b64": HELLO}, {"b64": WORLD}], "float_tensor": [1.0, 0.5],
     "dbl_tensor": [8.0]},
    {"int_tensor": [[7, 8], [9, 0], [1, 2]], "str_tensor": ["baz", "bat"],
     "bin_tensor": [{"b64": TF}, {"b64": SERVING}], "float_tensor": [2.0, 0.25],
     "dbl_tensor": [9.0]},
]


def test_multiple_named_tensors_row_format(client: TestClient) -> None:
    """json_test MultipleNamedTensor (request) and FromJsonMultipleNamedTensors (its row-format
    answer, word for word): a list of objects, one per instance; ``_bytes`` outputs as
    ``{"b64": ...}`` (api_rest.md "Output of binary values")."""
    assert _ok(_post(client, TENSORS_PREDICT, {"instances": MULTI_INSTANCES})) == _d(
        {"predictions": [
            {"double_scalar_tensor": 8.0, "float_tensor": [1.0],
             "int_tensor": [[1, 2], [3, 4], [5, 6]], "str_tensor": ["foo", "bar"],
             "str_tensor_bytes": [{"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}]},
            {"double_scalar_tensor": 9.0, "float_tensor": [2.0],
             "int_tensor": [[7, 8], [9, 0], [1, 2]], "str_tensor": ["baz", "bat"],
             "str_tensor_bytes": [{"b64": "dGY="}, {"b64": "c2VydmluZw=="}]}]})


def test_multiple_named_tensors_columnar_format(client: TestClient) -> None:
    """api_rest.md "Specifying input tensors in column format" (the same tensors as a map of
    lists) and json_test FromJsonMultipleNamedTensors' columnar answer: an object of outputs."""
    columns = {name: [instance[name] for instance in MULTI_INSTANCES]
               for name in MULTI_INSTANCES[0]}
    assert _ok(_post(client, TENSORS_PREDICT, {"inputs": columns})) == _d({"outputs": {
        "double_scalar_tensor": [8.0, 9.0], "float_tensor": [[1.0], [2.0]],
        "int_tensor": [[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]],
        "str_tensor": [["foo", "bar"], ["baz", "bat"]],
        "str_tensor_bytes": [[{"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}],
                             [{"b64": "dGY="}, {"b64": "c2VydmluZw=="}]]}})


def test_multiple_named_tensors_with_nan(client: TestClient) -> None:
    """json_test MultipleNamedTensor sends ``"float_tensor": [1.0, NaN]`` and ``[2.0,
    Infinity]``, which TF Serving passes to the model (api_rest.md "JSON conformance").
    DELIBERATE (README): NaN and Infinity inputs are a 400 naming the field."""
    text = json.dumps({"instances": MULTI_INSTANCES}).replace("0.5]", "NaN]", 1)
    _error(_post(client, TENSORS_PREDICT, text), 400,
           "instances[0]: input 'float_tensor'[1] is nan", "NaN and Infinity are not accepted")
    text = json.dumps({"instances": MULTI_INSTANCES}).replace("0.25]", "Infinity]", 1)
    _error(_post(client, TENSORS_PREDICT, text), 400, "input 'float_tensor'[1] is inf")


@pytest.mark.parametrize("signature, body, expected", [
    # json_test SingleUnnamedTensor, SingleUnnamedTensorWithSignature (one unnamed input)
    ("pairs", {"instances": [[1, 2], [3, 4], [5, 6]]},
     {"predictions": [[1, 2], [3, 4], [5, 6]]}),
    # json_test SingleUnnamedTensorColumnarFormat: named, then the name skipped
    ("pairs", {"inputs": {"default": [[1, 2], [3, 4], [5, 6]]}},
     {"outputs": [[1, 2], [3, 4], [5, 6]]}),
    ("pairs", {"inputs": [[1, 2], [3, 4], [5, 6]]}, {"outputs": [[1, 2], [3, 4], [5, 6]]}),
    # json_test FromJsonSingleScalarTensor: one output -> a bare list, either format
    ("scalars", {"instances": [1, 2, 3, 4, 5]}, {"predictions": [1, 2, 3, 4, 5]}),
    ("scalars", {"inputs": [1, 2, 3, 4, 5]}, {"outputs": [1, 2, 3, 4, 5]}),
    # json_test MixedInputForFloatTensor / MixedInputForDoubleTensor: whole numbers are floats
    ("f32", {"instances": [1, 2.0, 3, 4, 5.003, 0.007, 0.0]},
     {"predictions": [1.0, 2.0, 3.0, 4.0, 5.003, 0.007, 0.0]}),
    ("f64", {"instances": [1.0, 2, 3, 4, 0.662, 0, 0.0]},
     {"predictions": [1.0, 2.0, 3.0, 4.0, 0.662, 0.0, 0.0]}),
    # json_test SingleUnnamedTensorBase64Scalars in; two outputs -> a list of objects, and
    # only the "_bytes" one is base64 (api_rest.md "Output of binary values")
    ("bytes", {"instances": [{"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}]},
     {"predictions": [{"text": "hello", "text_bytes": {"b64": "aGVsbG8="}},
                      {"text": "world", "text_bytes": {"b64": "d29ybGQ="}}]}),
    ("bytes", {"inputs": ["foo", {"b64": "YmFy"}]},
     {"outputs": {"text": ["foo", "bar"], "text_bytes": [{"b64": "Zm9v"}, {"b64": "YmFy"}]}}),
    # api_rest.md "JSON mapping": DT_BOOL is true/false; DT_INT64 a (whole) JSON number, kept
    # exact beyond 2**53 (json_tensor.cc writes it with writer->Int64)
    ("types", {"instances": [{"flag": True, "id": 9007199254740993},
                             {"flag": False, "id": -9223372036854775808}]},
     {"predictions": [{"flag": False, "id": 9007199254740993},
                      {"flag": True, "id": -9223372036854775808}]}),
])
def test_tensors(client: TestClient, signature: str, body: Any, expected: Any) -> None:
    assert _ok(_post(client, TENSORS_PREDICT, {"signature_name": signature, **body})) == _d(
        expected)


def test_float_output_six_digit_precision(client: TestClient) -> None:
    """json_test FromJsonSingleFloatTensorSixDigitPrecision, and json_tensor.cc WriteDecimal:
    a float32 is written with six significant digits when they read back as the same float,
    else with nine (max_digits10). The test compares the text ("9e+06"); here the decimals
    are compared, which is what a client reads (Python writes 9e+06 as 9000000.0)."""
    values = [9000000, 999999, 0.50000, .0003, .00003, 555557.5]
    answer = _ok(_post(client, TENSORS_PREDICT, {"signature_name": "f32", "instances": values}))
    assert answer == {"predictions": [Decimal(t) for t in (
        "9e+06", "999999.0", "0.5", "0.0003", "3e-05", "555557.5")]}
    # 1/3 as float32 has no six-digit form that reads back: WriteDecimal's "%.9g" gives
    # 0.333333343, not the shortest repr 0.33333334 (another decimal, the same float32).
    third = _ok(_post(client, TENSORS_PREDICT, {"signature_name": "f32",
                                                "instances": [0.33333334, 16777216.0]}))
    assert third == {"predictions": [Decimal("0.333333343"), Decimal("16777216.0")]}


def test_float_output_non_finite(client: TestClient) -> None:
    """json_test FromJsonSingleFloatTensorNonFinite; api_rest.md "JSON conformance": NaN,
    Infinity and -Infinity are written as those tokens."""
    response = _post(client, TENSORS_PREDICT, {"signature_name": "nonfinite",
                                               "instances": [0.0, 1.0, 3.0, -1.0]})
    assert response.status_code == 200, response.text
    assert response.text.replace(" ", "") == '{"predictions":[NaN,Infinity,3.0,-Infinity]}'


@pytest.mark.parametrize("signature, instances, phrases", [
    # json_test SingleUnnamedTensorErrors, in order (after the JSON and key cases above)
    ("pairs", [[1, 2], [3, 4], [5, 6, 7]], ["instances[2]", "2 values, got 3"]),
    ("pairs", [[1, 2], [3, 4], [[5, 6]]], ["instances[2]", "2 values, got 1"]),
    ("scalars", [1, [1]], ["instances[1]", "one value per instance"]),
    ("pairs", [[1, 2], ["a", "b"]], ["instances[1]", "int32"]),
    ("f32", [1.7976931348623157e308], ["float32", "loss of precision"]),
    ("f32", [16777217], ["16777217", "float32", "loss of precision"]),
    ("f64", [9007199254740993], ["9007199254740993", "float64", "loss of precision"]),
    # json_tensor.cc AddValueToTensor: each integer type takes only integers it can hold,
    # and DT_BOOL only true/false
    ("types", [{"flag": True, "id": 9223372036854775808}], ["'id'", "int64"]),
    ("types", [{"flag": 1, "id": 1}], ["'flag'", "true or false"]),
    ("types", [{"flag": True, "id": True}], ["'id'", "integer"]),
    ("bytes", [{"b64": "%%%"}], ["base64"]),
    ("scalars", [2147483648], ["int32"]),
    ("f32", [{"b64": "aGVsbG8="}], ["float32"]),
])
def test_tensor_errors(client: TestClient, signature: str, instances: list,
                       phrases: list[str]) -> None:
    _error(_post(client, TENSORS_PREDICT, {"signature_name": signature,
                                           "instances": instances}), 400, *phrases)


@pytest.mark.parametrize("body, expected", [
    # json_test SingleUnnamedTensor and SingleUnnamedTensorColumnarFormat, exactly: their
    # TensorInfo gives no shape, so each instance is whatever regular nesting it is
    ({"instances": [[1, 2], [3, 4], [5, 6]]}, {"predictions": [[1, 2], [3, 4], [5, 6]]}),
    ({"inputs": {"default": [[[1, 2], [3, 4], [5, 6]]]}},
     {"outputs": [[[1, 2], [3, 4], [5, 6]]]}),
    ({"inputs": [[[1, 2], [3, 4], [5, 6]]]}, {"outputs": [[[1, 2], [3, 4], [5, 6]]]}),
    ({"instances": [7, 8]}, {"predictions": [7, 8]}),
])
def test_an_input_of_unknown_rank(client: TestClient, body: Any, expected: Any) -> None:
    assert _ok(_post(client, TENSORS_PREDICT, {"signature_name": "any_shape", **body})) == _d(
        expected)


@pytest.mark.parametrize("instances, phrases", [
    # json_test SingleUnnamedTensorErrors on its shapeless TensorInfo, in order
    ([[1, 2], [3, 4], [5, 6, 7]], ["Expecting shape [2] but got [3]", "instance 2"]),
    ([[1, 2], [3, 4], [[5, 6]]], ["Expecting shape [2] but got [1, 2]"]),
    ([1, [1]], ["Expecting shape [] but got [1]"]),
    ([[1, 2], ["a", "b"]], ["int32"]),
    # json_tensor.cc FillTensorProto: ragged lists within one instance
    ([[[1, 2], [3]]], ["regular"]),
])
def test_unknown_rank_errors(client: TestClient, instances: list, phrases: list[str]) -> None:
    _error(_post(client, TENSORS_PREDICT, {"signature_name": "any_shape",
                                           "instances": instances}), 400, *phrases)


def test_multiple_named_tensor_errors(client: TestClient) -> None:
    """json_test MultipleNamedTensorErrors, in order: a different shape or size of one input
    across instances, and a list among objects (or an object among values) in "instances"."""
    deeper = [MULTI_INSTANCES[0], {**MULTI_INSTANCES[1], "int_tensor": [[[7, 8], [9, 0], [1, 2]]]}]
    _error(_post(client, TENSORS_PREDICT, {"instances": deeper}), 400,
           "instances[1]: input 'int_tensor'")
    longer = [{**MULTI_INSTANCES[0], "int_tensor": [[1, 2], [3, 4], [5, 6], [7, 8]]},
              MULTI_INSTANCES[1]]
    _error(_post(client, TENSORS_PREDICT, {"instances": longer}), 400,
           "instances[0]: input 'int_tensor'", "3 values, got 4")
    mixed = [MULTI_INSTANCES[0], [1, 20, 30], MULTI_INSTANCES[1]]
    _error(_post(client, TENSORS_PREDICT, {"instances": mixed}), 400,
           "instances[1]", "object")
    # One input: the first item decides between values and objects.
    _error(_post(client, TENSORS_PREDICT, {"signature_name": "bytes",
                                           "instances": ["baz", {"default": "bat"}]}), 400,
           "Expecting value/list but got object at item 1")
    _error(_post(client, TENSORS_PREDICT, {"signature_name": "bytes",
                                           "instances": [{"default": "bat"}, "baz"]}), 400,
           "Expecting object but got list at item 1")
    # json_tensor.cc FillTensorMapFromInstancesList: every object has every input; several
    # inputs need objects ("instances is a plain list, but expecting list of objects"), and
    # FillTensorMapFromInputsMap an object ("inputs is a plain value/list, but expecting an
    # object")
    _error(_post(client, TENSORS_PREDICT, {"instances": [
        {k: v for k, v in MULTI_INSTANCES[0].items() if k != "dbl_tensor"}]}), 400,
        "missing input 'dbl_tensor'")
    _error(_post(client, TENSORS_PREDICT, {"instances": [[1, 2]]}), 400,
           "instances[0] must be an object of named inputs")
    _error(_post(client, TENSORS_PREDICT, {"inputs": [[1, 2]]}), 400,
           "'inputs' must be an object of named inputs")
    _error(_post(client, TENSORS_PREDICT, {"inputs": {"int_tensor": [[[1, 2]] * 3]}}), 400,
           "'inputs' is missing input")


def test_unknown_inputs_in_columnar_format(client: TestClient) -> None:
    """json_tensor.cc FillTensorMapFromInputsMap looks up each signature input and ignores
    any other key of "inputs" (the row format refuses them: "keys must be equal to").
    DELIBERATE: an unknown input is a 400 naming it in both formats (convert_test), so a
    misspelt input is never dropped unseen."""
    columns = {name: [instance[name] for instance in MULTI_INSTANCES]
               for name in MULTI_INSTANCES[0]}
    _error(_post(client, TENSORS_PREDICT, {"inputs": {**columns, "extra": [1, 2]}}), 400,
           "unknown input 'extra'")


def test_outputs_without_a_common_batch(client: TestClient) -> None:
    """json_test FromJsonSingleTensorErrors ("no shape information") and
    FromJsonMultipleNamedTensorsErrors ("inconsistent batch size"): the row format needs every
    output to share its first dimension, INVALID_ARGUMENT; the columnar format writes a scalar
    output as a bare value (json_tensor.cc AddTensorValues)."""
    summed = {"signature_name": "summed", "instances": [1.0, 2.0]}
    _error(_post(client, TENSORS_PREDICT, summed), 400, "Tensor name: total",
           "no shape information")
    assert _ok(_post(client, TENSORS_PREDICT, {"signature_name": "summed",
                                               "inputs": [1.0, 2.0]})) == _d(
        {"outputs": {"total": 3.0, "y": [1.0, 2.0]}})
    _error(_post(client, TENSORS_PREDICT, {"signature_name": "first", "instances": [1.0, 2.0]}),
           400, "inconsistent batch size")
    assert _ok(_post(client, TENSORS_PREDICT, {"signature_name": "first",
                                               "instances": [5.0]})) == _d(
        {"predictions": [{"head": 5.0, "y": 5.0}]})


def test_columnar_inputs_of_different_batch_sizes(client: TestClient) -> None:
    """api_rest.md "Specifying input tensors in column format": inputs "need not share the
    same 0-th dimension"; TF Serving hands them to the model as they are. DELIBERATE: here
    every input needs one value per instance (batching and the request log are per
    instance), so a mismatch is a 400 naming both counts; row format cannot express it."""
    columns = {name: [instance[name] for instance in MULTI_INSTANCES]
               for name in MULTI_INSTANCES[0]}
    columns["dbl_tensor"] = [[8.0]]
    _error(_post(client, TENSORS_PREDICT, {"inputs": columns}), 400,
           "'dbl_tensor' has 1 values", "has 2")


def test_a_string_output_that_is_not_utf8(client: TestClient) -> None:
    """json_tensor.cc writes a DT_STRING output not named ``*_bytes`` as raw bytes, so bytes
    that are not UTF-8 make invalid JSON. DELIBERATE: such a value is written as
    ``{"b64": ...}`` (the binary encoding of api_rest.md), so the answer stays JSON."""
    answer = _ok(_post(client, TENSORS_PREDICT, {"signature_name": "bytes",
                                                 "instances": [{"b64": "/w=="}]}))
    assert answer == {"predictions": [{"text": {"b64": "/w=="}, "text_bytes": {"b64": "/w=="}}]}


def test_whole_number_floats_for_integer_inputs(client: TestClient) -> None:
    """json_tensor.cc AddValueToTensor: DT_INT32/DT_INT64 take only JSON integers, so TF
    Serving refuses ``2.0``. DELIBERATE: a float with no fractional part is taken (convert_test
    test_row_format_to_arrays): clients holding integer columns as floats (pandas with
    missing values, JavaScript's numbers) lose nothing; ``2.5`` is still a 400."""
    assert _ok(_post(client, TENSORS_PREDICT, {"signature_name": "scalars",
                                               "instances": [2.0]})) == {"predictions": [2]}
    _error(_post(client, TENSORS_PREDICT, {"signature_name": "scalars", "instances": [2.5]}),
           400, "expects an integer (int32)")


# --- Classify and regress -------------------------------------------------------------------

@pytest.mark.parametrize("path, body, expected", [
    # handler_test Regress: latest, a version, a label (half_plus_two's 42 is our 43)
    (f"/v1/models/{HALF}:regress",
     {"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]}, {"results": [43]}),
    (f"/v1/models/{HALF}/versions/123:regress",
     {"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]}, {"results": [43]}),
    (f"/v1/models/{HALF}/labels/Version_Label:regress",
     {"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]}, {"results": [43]}),
    # api_rest.md "Example": the regress call (its signature_name is the method's name,
    # which the testdata's signature map lacks; our model names it regress_x_to_y)
    (f"/v1/models/{HALF}:regress",
     {"signature_name": "regress_x_to_y", "examples": [{"x": 1.0}, {"x": 2.0}]},
     {"results": [3.5, 4.0]}),
    # handler_test Classify: a scores-only signature has empty labels (12 and 7 are ours 13, 8)
    (f"/v1/models/{HALF}:classify",
     {"signature_name": "classify_x_to_y", "examples": [{"x": 20.0}]},
     {"results": [[["", 13]]]}),
    (f"/v1/models/{HALF}/labels/Version_Label:classify",
     {"signature_name": "classify_x_to_y", "examples": [{"x": 10.0}]},
     {"results": [[["", 8]]]}),
    # api_rest.md "Classify and Regress API": no signature_name is serving_default; a
    # list-valued feature; "context" shared by every example; labels with their scores
    (f"/v1/models/{EXAMPLES}:regress", {"examples": [{"x": 1.5}, {"x": [-2.0]}]},
     {"results": [3.0, -4.0]}),
    (f"/v1/models/{EXAMPLES}:classify",
     {"signature_name": CLASSIFY_SIGNATURE, "context": {"bias": 0.5},
      "examples": [{"x": 1.0}, {"x": 0.0}]},
     {"results": [[["neg", 0.25], ["pos", 0.75]], [["neg", 0.5], ["pos", 0.5]]]}),
    (f"/v1/models/{EXAMPLES}:classify",
     {"signature_name": CLASSIFY_SIGNATURE, "examples": [{"x": 1.0, "bias": 0.25}]},
     {"results": [[["neg", 0.5], ["pos", 0.5]]]}),
    # classifier.cc PostProcessClassificationResult sets a score only from a scores tensor:
    # classes alone keep the proto's 0, which json_tensor.cc writes as 0.0
    (f"/v1/models/{EXAMPLES}:classify",
     {"signature_name": CLASSES_SIGNATURE, "examples": [{"x": 1.0}]},
     {"results": [[["neg", 0.0], ["pos", 0.0]]]}),
])
def test_classify_and_regress(client: TestClient, path: str, body: Any, expected: Any) -> None:
    assert _ok(_post(client, path, body)) == _d(expected)


@pytest.mark.parametrize("path, body, phrases", [
    # json_test ClassifyRegressRequestTest.JsonErrors, in order
    (f"/v1/models/{EXAMPLES}:regress",
     {"signature_name": ["hello"], "examples": [{"names": ["foo", "bar"]}]},
     ["'signature_name'", "must be a string"]),
    (f"/v1/models/{EXAMPLES}:regress", {"context": [{"names": ["foo", "bar"]}]},
     ["'context'", "object"]),
    (f"/v1/models/{EXAMPLES}:regress", {"examples": {"names": ["foo", "bar"]}},
     ["'examples'", "list"]),
    (f"/v1/models/{EXAMPLES}:regress", {"examples": [[{"names": ["foo", "bar"]}]]},
     ["examples[0]", "object"]),
    (f"/v1/models/{EXAMPLES}:regress", {"examples": [{"names": [10, None]}]},
     ["'names'", "unexpected JSON type: null"]),
    (f"/v1/models/{EXAMPLES}:regress", {"examples": [{"names": [10, {"test": 10}]}]},
     ["'names'", "unexpected JSON type: object"]),
    (f"/v1/models/{EXAMPLES}:regress", {"examples": [{"names": [[10], 20]}]},
     ["'names'", "unexpected JSON type: array"]),
    (f"/v1/models/{EXAMPLES}:regress", {"examples": [{"names": [20, 18446744073709551603]}]},
     ["'names'", "Only int64 is supported"]),
    (f"/v1/models/{EXAMPLES}:regress", {"examples": [{"names": 1.7976931348623157e308}]},
     ["'names'", "loss of precision"]),
    # json_tensor.cc FillClassifyRegressRequestFromJson: no examples, an empty list
    (f"/v1/models/{EXAMPLES}:regress", {"context": {"x": 1.0}}, ["'examples'"]),
    (f"/v1/models/{EXAMPLES}:regress", {"examples": []}, ["'examples'"]),
    # classifier.cc GetClassificationSignature / regressor.cc: serving_default unless named,
    # and it must have the API's method name
    (f"/v1/models/{HALF}:classify", {"examples": [{"x": 1.0}]},
     ["Expected classification signature method_name to be tensorflow/serving/classify. "
      "Was: tensorflow/serving/predict"]),
    (f"/v1/models/{HALF}:regress",
     {"signature_name": "classify_x_to_y", "examples": [{"x": 1.0}]},
     ["Expected regression signature method_name to be tensorflow/serving/regress. "
      "Was: tensorflow/serving/classify"]),
    # A feature of the wrong kind reaches the model, whose ParseExample refuses it.
    (f"/v1/models/{EXAMPLES}:regress", {"examples": [{"x": 2}]}, ["x"]),
])
def test_classify_and_regress_errors(client: TestClient, path: str, body: Any,
                                     phrases: list[str]) -> None:
    _error(_post(client, path, body), 400, *phrases)


def test_classify_nan_feature(client: TestClient) -> None:
    """json_test RequestWithContextAndSignature sends ``"ratings": [8.0, 9.0, NaN,
    Infinity]``. DELIBERATE (README): a NaN or Infinity feature is a 400 naming it."""
    _error(_post(client, f"/v1/models/{EXAMPLES}:regress", '{"examples": [{"x": NaN}]}'), 400,
           "examples[0]: feature 'x' is nan")


def _features(example: bytes) -> dict[str, tuple[str, list]]:
    from tensorflow.core.example import example_pb2

    parsed = example_pb2.Example.FromString(example)
    return {name: (feature.WhichOneof("kind"), list(getattr(feature, feature.WhichOneof("kind"))
                                                    .value))
            for name, feature in parsed.features.feature.items()}


def test_examples_as_tf_serving_builds_them() -> None:
    """json_test RequestNoContext and RequestWithContextAndSignature (NaN left out, above):
    strings and ``{"b64"}`` -> bytes_list, decimals -> float_list, integers and booleans ->
    int64_list, a value or a list. TF Serving sends the context beside the examples (an
    ExampleListWithContext, which the model input merges with each example); here each
    example is built merged, the example's own feature winning, as that merge does."""
    serialized, _ = convert.examples_to_serialized(
        [{"names": ["foo", "bar"], "ratings": [8.0, 9.0], "age": 20},
         {"names": ["baz", {"b64": HELLO}], "ratings": 6.0, "intboolmix": [1, True, False]},
         {"names": "bar", "ratings": -2.5}],
        {"query": "pizza", "location": ["sfo"]}, {}, 10)
    context = {"query": ("bytes_list", [b"pizza"]), "location": ("bytes_list", [b"sfo"])}
    assert [_features(s) for s in serialized] == [
        {**context, "names": ("bytes_list", [b"foo", b"bar"]),
         "ratings": ("float_list", [8.0, 9.0]), "age": ("int64_list", [20])},
        {**context, "names": ("bytes_list", [b"baz", b"hello"]),
         "ratings": ("float_list", [6.0]), "intboolmix": ("int64_list", [1, 1, 0])},
        {**context, "names": ("bytes_list", [b"bar"]), "ratings": ("float_list", [-2.5])},
    ]


def test_mixed_integers_and_decimals_in_one_feature() -> None:
    """json_test JsonErrors: ``"names": [10, 10.0]`` is refused ("expecting type: int64": the
    first value fixes the feature's kind). DELIBERATE: integers among decimals make a
    float_list, as JavaScript clients write 2.0 as 2; nothing is lost."""
    serialized, _ = convert.examples_to_serialized([{"names": [10, 10.5]}], None, {}, 10)
    assert _features(serialized[0]) == {"names": ("float_list", [10.0, 10.5])}


# --- Limits ---------------------------------------------------------------------------------

def test_a_body_over_the_limit(client: TestClient) -> None:
    """TF Serving reads any body. DELIBERATE (README): over --max-body-bytes is 413."""
    body = json.dumps({"instances": [1.0] * (MAX_BODY_BYTES // 4)})
    _error(_post(client, f"/v1/models/{HALF}:predict", body), 413, "--max-body-bytes")
