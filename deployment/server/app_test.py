"""Tests of the REST API against the real small model (TF Serving's shapes and errors)."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from deployment.server import convert
from deployment.server.app import Server, create_app
from deployment.server.config import (
    BatchingConfig,
    ModelConfig,
    RequestLogConfig,
    ServerConfig,
    VersionPolicy,
)
from pipelines.common.request_log import read_request_log

ROW = {"DailyTimeSpentOnSite": 68.95, "Age": 35, "AreaIncome": 61833.9,
       "DailyInternetUsage": 256.09, "AdTopicLine": "Cloned 5thgeneration orchestration",
       "City": "Wrightburgh", "Male": 0, "Country": "Tunisia",
       "Timestamp": "2016-03-27 00:53:11"}
OTHER = {**ROW, "DailyTimeSpentOnSite": 40.0, "DailyInternetUsage": 120.0, "Age": 55}


def _server(base: Path, log_dir: Path | None, policy: VersionPolicy | None = None,
            labels: dict | None = None, **kwargs) -> Server:
    config = ServerConfig(
        models=(ModelConfig("clickflow", base, policy or VersionPolicy(), labels or {}),),
        request_log=RequestLogConfig(directory=log_dir, roll_records=1000),
        **kwargs)
    server = Server(config, watch=False)
    server.registry.poll_once()
    return server


def _two_versions(base: Path, log_dir: Path, make_version) -> Server:
    make_version(base, 1)
    make_version(base, 2)
    return _server(base, log_dir, VersionPolicy("latest", num_versions=2),
                   {"stable": 1, "canary": 2}, max_body_bytes=20_000, max_instances=20)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, make_version
           ) -> tuple[Server, TestClient]:
    """Versions 1 and 2 (labels stable, canary), shared by the read-only tests."""
    tmp = tmp_path_factory.mktemp("served")
    server = _two_versions(tmp / "models", tmp / "log", make_version)
    with TestClient(create_app(server)) as client:
        yield server, client


def test_version_status_like_tf_serving(served) -> None:
    _, client = served
    body = client.get("/v1/models/clickflow").json()
    assert body == {"model_version_status": [
        {"version": v, "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        for v in ("2", "1")]}
    assert [s["version"] for s in client.get(
        "/v1/models/clickflow/labels/stable").json()["model_version_status"]] == ["1"]
    assert client.get("/v1/models/clickflow/versions/1").status_code == 200


def test_metadata_like_tf_serving(served) -> None:
    _, client = served
    body = client.get("/v1/models/clickflow/versions/1/metadata").json()
    assert body["model_spec"] == {"name": "clickflow", "signature_name": "", "version": "1"}
    signatures = body["metadata"]["signature_def"]["signature_def"]
    assert set(signatures) == {"serving_default", "serving_tf_example", "classification",
                               "transform_features", "__saved_model_init_op"}
    assert signatures["__saved_model_init_op"]["outputs"]["__saved_model_init_op"]["name"]
    age = signatures["serving_default"]["inputs"]["Age"]
    assert age["dtype"] == "DT_INT64" and age["tensor_shape"]["dim"][0]["size"] == "-1"
    assert signatures["classification"]["method_name"] == "tensorflow/serving/classify"


def test_predict_row_and_columnar_agree(served) -> None:
    _, client = served
    rows = client.post("/v1/models/clickflow:predict", json={"instances": [ROW, OTHER]})
    assert rows.status_code == 200, rows.text
    predictions = rows.json()["predictions"]
    assert [set(p) for p in predictions] == [{"probability", "clicked"}] * 2
    p0, p1 = (p["probability"] for p in predictions)
    assert 0 < p0 < 1 and 0 < p1 < 1 and p0 != p1
    assert predictions[0]["clicked"] == int(p0 >= 0.5)
    columns = client.post("/v1/models/clickflow:predict", json={
        "inputs": {k: [ROW[k], OTHER[k]] for k in ROW}}).json()["outputs"]
    assert columns["probability"] == pytest.approx([p0, p1], rel=1e-6)
    assert rows.headers["x-request-id"]


def test_predict_by_version_label_and_classify(served) -> None:
    _, client = served
    by_version = [client.post(f"/v1/models/clickflow/versions/{v}:predict",
                              json={"instances": [ROW]}).json()["predictions"][0]["probability"]
                  for v in (1, 2)]
    assert by_version[0] == pytest.approx(by_version[1])  # same weights copied as 1 and 2
    labelled = client.post("/v1/models/clickflow/labels/canary:predict",
                           json={"instances": [ROW]})
    assert labelled.status_code == 200
    classified = client.post("/v1/models/clickflow:classify",
                             json={"signature_name": "classification",
                                   "examples": [{k: v for k, v in ROW.items() if k != "City"}],
                                   "context": {"City": ROW["City"]}})
    assert classified.status_code == 200, classified.text
    ((c0, s0), (c1, s1)), = classified.json()["results"]
    assert (c0, c1) == ("0", "1") and s1 == pytest.approx(by_version[1], rel=1e-5)
    assert s0 + s1 == pytest.approx(1.0, abs=1e-6)
    # Without signature_name TF Serving uses serving_default, which here is a predict
    # signature: refused, never swapped for the model's classification signature
    # (GetClassificationSignature, tensorflow_serving/servables/tensorflow/classifier.cc).
    unnamed = client.post("/v1/models/clickflow:classify", json={"examples": [ROW]})
    assert unnamed.status_code == 400
    assert unnamed.json()["error"].startswith(
        "Expected classification signature method_name to be tensorflow/serving/classify. "
        "Was: tensorflow/serving/predict")


PREDICT = "/v1/models/clickflow:predict"


def _row_json(**raw_values: str) -> bytes:
    """ROW as JSON text with some values replaced by raw JSON tokens (NaN, Infinity, 1e39)."""
    text = json.dumps({"instances": [{**ROW, **{k: f"@{k}@" for k in raw_values}}]})
    for name, token in raw_values.items():
        text = text.replace(f'"@{name}@"', token)
    return text.encode()


def _oversized_chunks():
    yield b'{"instances": ['
    for _ in range(100):
        yield json.dumps(ROW).encode() + b","
    yield json.dumps(ROW).encode() + b"]}"


# One case per kind of bad request: (url, JSON body or raw bytes, TF Serving's status, the part
# of the error that names the problem). Versions 1 and 2 are served, labels stable and canary,
# --max-instances 20 and --max-body-bytes 20000.
BAD_REQUESTS = {
    "malformed_json": (PREDICT, b'{"instances": [', 400, "JSON Parse error"),
    "empty_body": (PREDICT, b"", 400, "JSON Parse error: the request body is empty"),
    "not_an_object": (PREDICT, b"[1, 2]", 400, "must be a JSON object, got list"),
    "missing_feature": (PREDICT, {"instances": [{k: v for k, v in ROW.items()
                                                 if k != "Country"}]},
                        400, "instances[0] is missing input 'Country'"),
    "missing_feature_columnar": (PREDICT, {"inputs": {k: [v] for k, v in ROW.items()
                                                      if k != "Male"}},
                                 400, "'inputs' is missing input 'Male'"),
    "extra_feature": (PREDICT, {"instances": [{**ROW, "Contry": "x"}]},
                      400, "instances[0] has unknown input 'Contry'"),
    "extra_key": (PREDICT, {"instances": [ROW], "extra": 1}, 400, "unknown key 'extra'"),
    "wrong_type": (PREDICT, {"instances": [ROW, {**ROW, "Age": "old"}]},
                   400, "instances[1]: input 'Age' expects an integer (int64), got \"old\""),
    "wrong_type_float": (PREDICT, {"instances": [{**ROW, "AreaIncome": "rich"}]},
                         400, "input 'AreaIncome' expects a number (float32)"),
    "wrong_type_string": (PREDICT, {"instances": [{**ROW, "City": 7}]},
                          400, "input 'City' expects a string"),
    "wrong_type_columnar": (PREDICT, {"inputs": {**{k: [v] for k, v in ROW.items()},
                                                 "Male": [True]}},
                            400, "inputs: 'Male'[0] expects an integer"),
    "nan": (PREDICT, _row_json(AreaIncome="NaN"), 400,
            "instances[0]: input 'AreaIncome' is nan; expects a finite number"),
    "infinity": (PREDICT, _row_json(DailyInternetUsage="-Infinity"), 400,
                 "input 'DailyInternetUsage' is -inf; expects a finite number"),
    "nan_string": (PREDICT, {"instances": [{**ROW, "DailyTimeSpentOnSite": "NaN"}]}, 400,
                   "input 'DailyTimeSpentOnSite' is \"NaN\"; expects a finite number"),
    "beyond_float32": (PREDICT, _row_json(AreaIncome="1e39"), 400,
                       "input 'AreaIncome' is 1e+39, out of range for float32"),
    "nan_classify": ("/v1/models/clickflow:classify",
                     b'{"signature_name": "classification", "examples": [{"AreaIncome": NaN}], '
                     b'"context": '
                     + json.dumps({k: v for k, v in ROW.items() if k != "AreaIncome"}).encode()
                     + b"}", 400, "examples[0]: feature 'AreaIncome' is nan"),
    # Bodies that broke Python's own parser or encoder (issue 15's finding 5): a 400, never
    # a 500 with internal text.
    "deeply_nested": (PREDICT, b'{"instances": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400,
                      "JSON Parse error: arrays and objects are nested too deeply"),
    "huge_integer": (PREDICT, _row_json(Age="9" * 5000), 400,
                     "JSON Parse error: a number has more than 4300 digits"),
    "integer_beyond_int64": (PREDICT, _row_json(Age="9" * 25), 400,
                             "input 'Age' has a value out of range for int64"),
    "lone_surrogate": (PREDICT, _row_json(City='"\\ud800"'), 400,
                       "JSON Parse error: a string holds a lone UTF-16 surrogate"),
    "empty_instances": (PREDICT, {"instances": []}, 400, "No values in 'instances'"),
    "empty_inputs": (PREDICT, {"inputs": {k: [] for k in ROW}}, 400, "No values in 'inputs'"),
    "empty_examples": ("/v1/models/clickflow:classify",
                       {"signature_name": "classification", "examples": []}, 400,
                       "No values in 'examples'"),
    "oversized_body": (PREDICT, json.dumps({"instances": [ROW] * 200}).encode(), 413,
                       "bytes; the limit is 20000 (--max-body-bytes)"),
    "oversized_streamed_body": (PREDICT, _oversized_chunks, 413,
                                "request body is over the limit of 20000 bytes"),
    "too_many_instances": (PREDICT, {"instances": [ROW] * 21}, 400,
                           "21 instances; at most 20 are allowed per request"),
    "unknown_model": ("/v1/models/nope:predict", {"instances": [ROW]}, 404,
                      "Servable not found for request: Latest(nope)"),
    "unknown_version": ("/v1/models/clickflow/versions/9:predict", {"instances": [ROW]}, 404,
                        "Servable not found for request: Specific(clickflow, 9); loaded "
                        "versions: [1, 2]"),
    "unknown_label": ("/v1/models/clickflow/labels/beta:predict", {"instances": [ROW]}, 400,
                      "Unrecognized servable version label: beta; model clickflow has labels "
                      "['canary', 'stable']"),
    "wrong_signature_name": (PREDICT, {"instances": [ROW], "signature_name": "nope"}, 400,
                             'Serving signature name: "nope" not found in signature def'),
    "signature_name_not_a_string": (PREDICT, {"instances": [ROW], "signature_name": 100}, 400,
                                    "'signature_name' must be a string, got 100"),
    "classify_with_predict_signature": (
        "/v1/models/clickflow:classify",
        {"signature_name": "serving_default", "examples": [ROW]}, 400,
        "Expected classification signature method_name to be tensorflow/serving/classify"),
    "both_instances_and_inputs": (PREDICT, {"instances": [ROW], "inputs": {}}, 400,
                                  "exactly one of 'instances'"),
    "ragged_columns": (PREDICT, {"inputs": {**{k: [v] for k, v in ROW.items()},
                                            "Age": [1, 2]}},
                       400, "'Age' has 2 values but 'AdTopicLine' has 1"),
    "value_the_model_cannot_use": (
        PREDICT, {"instances": [{**ROW, "Timestamp": "not a time"}]}, 400,
        "could not compute a prediction from these input values: StringToNumberOp"),
}


def _assert_still_serving(client: TestClient, expected: float) -> None:
    response = client.post(PREDICT, json={"instances": [ROW]})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["probability"] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(("url", "body", "status", "message"), list(BAD_REQUESTS.values()),
                         ids=list(BAD_REQUESTS))
def test_bad_request_gets_tf_serving_status_and_server_keeps_serving(
        served, url: str, body: object, status: int, message: str) -> None:
    _, client = served
    before = client.post(PREDICT, json={"instances": [ROW]}).json()["predictions"][0]
    if isinstance(body, dict):
        response = client.post(url, json=body)
    else:
        response = client.post(url, content=body() if callable(body) else body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert message in error
    assert "Traceback" not in error and len(error) < 400
    _assert_still_serving(client, before["probability"])


@pytest.mark.parametrize(("method", "path", "status", "message"), [
    ("POST", "/v1/models/clickflow:explain", 400, "Malformed request: POST "
     "/v1/models/clickflow:explain"),
    ("GET", "/v1/models/clickflow:predict", 400, "Malformed request: GET "
     "/v1/models/clickflow:predict (use POST)"),
    ("POST", "/v1/models/clickflow/metadata", 400, "(use GET)"),
    ("GET", "/v1/foo", 400, "Malformed request: GET /v1/foo"),
    ("GET", "/v1/models/nope", 404, "Could not find any versions of model nope"),
    ("GET", "/v1/models/clickflow/versions/5", 404, "Could not find version 5"),
    ("GET", "/v1/models/clickflow/labels/beta", 400, "Unrecognized servable version label"),
    ("GET", "/v1/models/clickflow/labels/beta/metadata", 400,
     "Unrecognized servable version label"),
    ("GET", "/nothing/here", 404, "Malformed request: GET /nothing/here"),
], ids=["unknown_verb", "predict_with_get", "metadata_with_post", "unknown_v1_path",
        "status_unknown_model", "status_unknown_version", "status_unknown_label",
        "metadata_unknown_label", "outside_v1"])
def test_bad_urls_like_tf_serving(served, method: str, path: str, status: int,
                                  message: str) -> None:
    _, client = served
    response = client.request(method, path)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def test_classify_wrong_feature_type_and_bad_request_id(served) -> None:
    _, client = served
    response = client.post("/v1/models/clickflow:classify",
                           json={"signature_name": "classification",
                                 "examples": [{**ROW, "AreaIncome": "rich"}]})
    assert response.status_code == 400
    assert "examples[0]: feature 'AreaIncome' expects a number" in response.json()["error"]
    bad_id = client.post(PREDICT, json={"instances": [ROW]},
                         headers={"X-Request-Id": "bad id with spaces"})
    assert bad_id.status_code == 400 and "X-Request-Id" in bad_id.json()["error"]


def test_health_ready_and_metrics(tmp_path: Path, make_version) -> None:
    server = _two_versions(tmp_path / "models", tmp_path / "log", make_version)
    with TestClient(create_app(server)) as client:
        _check_health_ready_and_metrics(client)


def _check_health_ready_and_metrics(client: TestClient) -> None:
    client.post("/v1/models/clickflow:predict", json={"instances": [ROW, OTHER]})
    client.post("/v1/models/clickflow:predict", json={"instances": [{**ROW, "Age": "x"}]})
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"ready": True, "models": {"clickflow": [1, 2]}}
    text = client.get("/metrics").text
    assert ('clickflow_serving_requests_total{api="predict",model="clickflow",status="200",'
            'version="2"} 1.0') in text
    assert 'status="400",version="2"} 1.0' in text
    assert 'clickflow_serving_request_latency_seconds_count{api="predict",model="clickflow"}' \
        in text
    assert 'clickflow_serving_model_version_loaded{model="clickflow",version="1"} 1.0' in text
    assert 'clickflow_serving_loaded_versions{model="clickflow"} 2.0' in text
    assert 'clickflow_serving_instances_total{api="predict",model="clickflow",version="2"} 2.0' \
        in text
    assert client.get("/monitoring/prometheus/metrics").text.startswith("# HELP")


def test_a_client_that_disconnects_mid_body_is_not_a_server_error(
        served, caplog: pytest.LogCaptureFixture) -> None:
    """ASGI's ``http.disconnect`` while the body streams in (the ASGI HTTP spec) ends the
    request quietly: no 500, no traceback, a 499 in the access log as nginx logs it."""
    import asyncio

    server, client = served
    app = create_app(server)
    messages = [{"type": "http.request", "body": b'{"instances": [', "more_body": True},
                {"type": "http.disconnect"}]
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": PREDICT, "raw_path": PREDICT.encode(),
             "query_string": b"", "headers": [(b"content-type", b"application/json")],
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8501), "root_path": ""}
    with caplog.at_level(logging.INFO):
        asyncio.run(app(scope, receive, send))
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert "Traceback" not in caplog.text and "internal error" not in caplog.text
    statuses = [m["status"] for m in sent if m["type"] == "http.response.start"]
    assert statuses in ([], [499])
    assert any('"status":499' in r.getMessage() for r in caplog.records
               if r.name == "deployment.server.access"), caplog.text
    _assert_still_serving(client, client.post(PREDICT, json={"instances": [ROW]}).json()[
        "predictions"][0]["probability"])


def test_access_log_is_json(served, caplog: pytest.LogCaptureFixture) -> None:
    _, client = served
    with caplog.at_level(logging.INFO, logger="deployment.server.access"):
        client.post("/v1/models/clickflow:predict", json={"instances": [ROW]},
                    headers={"X-Request-Id": "abc-1"})
    (record,) = [json.loads(r.getMessage()) for r in caplog.records
                 if r.name == "deployment.server.access"]
    assert record["request_id"] == "abc-1" and record["status"] == 200
    assert record["model"] == "clickflow" and record["version"] == "2"
    assert record["instances"] == 1 and record["duration_ms"] > 0


def test_request_log_records_every_prediction(tmp_path: Path, make_version) -> None:
    make_version(tmp_path / "models", 3)
    server = _server(tmp_path / "models", tmp_path / "log")
    with TestClient(create_app(server)) as client:
        one = client.post("/v1/models/clickflow:predict", json={"instances": [ROW]},
                          headers={"X-Request-Id": "req-42"}).json()
        two = client.post("/v1/models/clickflow:predict",
                          json={"inputs": {k: [ROW[k], OTHER[k]] for k in ROW}},
                          headers={"X-Request-Id": "batch-7"}).json()
        client.post("/v1/models/clickflow:classify",
                    json={"signature_name": "classification", "examples": [OTHER]},
                    headers={"X-Request-Id": "cls-1"})
    table, problems = read_request_log(tmp_path / "log")  # the app's shutdown flushed it
    assert problems == []
    rows = {r["request_id"]: r for r in table.to_pylist()}
    assert sorted(rows) == ["batch-7-0", "batch-7-1", "cls-1", "req-42"]
    first = rows["req-42"]
    assert {k: first[k] for k in ROW} == ROW
    assert first["model_name"] == "clickflow" and first["model_version"] == 3
    assert first["signature"] == "serving_default"
    assert first["probability"] == pytest.approx(one["predictions"][0]["probability"])
    assert rows["batch-7-1"]["probability"] == pytest.approx(two["outputs"]["probability"][1])
    assert rows["cls-1"]["signature"] == "classification" and rows["cls-1"]["Age"] == 55
    assert first["logged_at"].tzinfo is not None


def test_full_request_log_queue_drops_but_answers(tmp_path: Path, make_version) -> None:
    make_version(tmp_path / "models", 1)
    config = ServerConfig(models=(ModelConfig("clickflow", tmp_path / "models"),),
                          request_log=RequestLogConfig(tmp_path / "log", queue_size=2))
    server = Server(config, watch=False)
    server.registry.poll_once()
    with TestClient(create_app(server)) as client:
        response = client.post("/v1/models/clickflow:predict", json={"instances": [ROW] * 3})
        assert response.status_code == 200 and len(response.json()["predictions"]) == 3
        assert 'clickflow_request_log_dropped_total{reason="queue_full"} 3.0' in \
            client.get("/metrics").text


def test_hot_load_new_version_while_old_answers(tmp_path: Path, make_version) -> None:
    base = tmp_path / "models"
    make_version(base, 1)
    server = _server(base, None)
    with TestClient(create_app(server)) as client:
        def predict() -> int:
            return client.post("/v1/models/clickflow:predict",
                               json={"instances": [ROW]}).status_code

        make_version(base, 2)
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            answering = [pool.submit(predict) for _ in range(6)]
            server.registry.poll_once()  # seen; not loaded until unchanged for one poll
            assert sorted(server.registry.served("clickflow")) == [1]
            loading = pool.submit(server.registry.poll_once)
            answering += [pool.submit(predict) for _ in range(6)]
            loading.result()
            assert [f.result() for f in answering] == [200] * 12
        assert sorted(server.registry.served("clickflow")) == [2]  # latest 1: v1 unloaded
        status = client.get("/v1/models/clickflow").json()["model_version_status"]
        assert [(s["version"], s["state"]) for s in status] == [("2", "AVAILABLE")]
        assert client.post("/v1/models/clickflow/versions/1:predict",
                           json={"instances": [ROW]}).status_code == 404


def test_broken_version_is_reported_and_skipped(tmp_path: Path, make_version) -> None:
    base = tmp_path / "models"
    make_version(base, 1)
    server = _server(base, None)
    broken = base / "5"
    broken.mkdir()
    (broken / "saved_model.pb").write_bytes(b"this is not a SavedModel")
    (base / "not-a-version").mkdir()
    with TestClient(create_app(server)) as client:
        server.registry.poll_once()
        server.registry.poll_once()
        status = client.get("/v1/models/clickflow").json()["model_version_status"]
        assert status[0]["version"] == "5" and status[0]["state"] == "END"
        assert status[0]["status"]["error_code"] != "OK"
        assert status[0]["status"]["error_message"]
        assert status[1] == {"version": "1", "state": "AVAILABLE",
                             "status": {"error_code": "OK", "error_message": ""}}
        response = client.post("/v1/models/clickflow:predict", json={"instances": [ROW]})
        assert response.status_code == 200  # version 1 still serves
        assert 'clickflow_serving_model_loads_total{model="clickflow",outcome="error"} 1.0' in \
            client.get("/metrics").text
        server.registry.poll_once()  # unchanged broken folder: not retried
        assert 'outcome="error"} 1.0' in client.get("/metrics").text
        shutil.rmtree(broken)
        server.registry.poll_once()
        versions = [s["version"] for s in client.get("/v1/models/clickflow").json()[
            "model_version_status"]]
        assert versions == ["1"]


def test_a_base_path_that_cannot_be_listed_keeps_what_is_loaded(tmp_path: Path,
                                                                  make_version) -> None:
    """A glitch of the model base path (gone, unreadable) changes nothing, as TF Serving's
    file-system source (its poll errs before any aspired-versions change); a listing that
    succeeds without the version unloads it."""
    base = tmp_path / "models"
    make_version(base, 1)
    server = _server(base, None)
    with TestClient(create_app(server)) as client:
        def predict() -> int:
            return client.post("/v1/models/clickflow:predict",
                               json={"instances": [ROW]}).status_code

        moved = tmp_path / "moved-away"
        base.rename(moved)  # the mount disappears for a moment
        server.registry.poll_once()
        assert predict() == 200
        base.mkdir()
        base.chmod(0o000)  # back, but unreadable
        try:
            if not os.access(base, os.R_OK):  # root reads anything: that case is moot
                server.registry.poll_once()
                assert predict() == 200
        finally:
            base.chmod(0o755)
        base.rmdir()
        moved.rename(base)
        server.registry.poll_once()
        assert predict() == 200 and sorted(server.registry.served("clickflow")) == [1]
        shutil.rmtree(base / "1")  # a real listing without version 1
        server.registry.poll_once()
        assert predict() == 404 and not server.registry.served("clickflow")


def test_specific_policy_and_empty_base_path(tmp_path: Path, make_version) -> None:
    base = tmp_path / "models"
    for version in (1, 2, 3):
        make_version(base, version)
    server = _server(base, None, VersionPolicy("specific", versions=(1, 3)))
    assert sorted(server.registry.served("clickflow")) == [1, 3]
    empty = tmp_path / "empty"
    empty.mkdir()
    idle = _server(empty, None)
    with TestClient(create_app(idle)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["ready"] is False
        response = client.post("/v1/models/clickflow:predict", json={"instances": [ROW]})
        assert response.status_code == 404 and "no version is loaded" in response.json()["error"]


def test_batching_groups_concurrent_requests(tmp_path: Path, make_version) -> None:
    make_version(tmp_path / "models", 1)
    server = _server(tmp_path / "models", None,
                     batching=BatchingConfig(max_batch_size=64, timeout_ms=50, num_threads=1))
    with TestClient(create_app(server)) as client, \
            concurrent.futures.ThreadPoolExecutor(8) as pool:
        rows = [{**ROW, "Age": 20 + i} for i in range(16)]
        responses = list(pool.map(lambda r: client.post(
            "/v1/models/clickflow:predict", json={"instances": [r]}), rows))
        alone = client.post("/v1/models/clickflow:predict", json={"instances": rows}).json()
        text = client.get("/metrics").text
    got = [r.json()["predictions"][0]["probability"] for r in responses]
    assert got == pytest.approx([p["probability"] for p in alone["predictions"]], rel=1e-5)
    calls = [line for line in text.splitlines() if line.startswith(
        'clickflow_serving_requests_per_batch_count{model="clickflow"')]
    (count_line,) = calls
    assert float(count_line.split()[-1]) < 16  # 17 requests in fewer TF calls


def test_flat_call_is_checked_against_the_public_call(served) -> None:
    server, _ = served
    signature = server.registry.served("clickflow")[1].signatures["serving_default"]
    assert signature.flat_call is not None  # enabled by the warm-up's check
    inputs, _ = convert.instances_to_inputs([ROW, OTHER], signature.inputs, signature.name, 5)
    fast = signature(inputs)
    public = {k: v.numpy() for k, v in signature.function(**signature._tensors(inputs)).items()}
    assert fast.keys() == public.keys()
    for name in public:
        np.testing.assert_array_equal(fast[name], public[name])
    # A function without the private flat call keeps the public one.
    plain = dataclasses.replace(signature, function=lambda **kw: signature.function(**kw),
                                flat_call=None)
    assert plain.enable_flat_call(inputs) is False and plain.flat_call is None
    np.testing.assert_array_equal(plain(inputs)["probability"], public["probability"])


def test_gzip_bodies_are_inflated_within_the_body_limit(served) -> None:
    """TF Serving inflates ``Content-Encoding: gzip`` request bodies (net_http's
    evhttp_request.cc); the --max-body-bytes limit holds for the inflated bytes."""
    import gzip

    _, client = served
    plain = client.post(PREDICT, json={"instances": [ROW]}).json()
    body = gzip.compress(json.dumps({"instances": [ROW]}).encode())
    zipped = client.post(PREDICT, content=body, headers={"Content-Encoding": "gzip",
                                                         "Content-Type": "application/json"})
    assert zipped.status_code == 200, zipped.text
    assert zipped.json() == plain
    bomb = gzip.compress(b'{"instances": [' + b" " * 5_000_000 + b"]}")
    assert len(bomb) < 20_000  # under the limit as sent, far over it inflated
    refused = client.post(PREDICT, content=bomb, headers={"Content-Encoding": "gzip"})
    assert refused.status_code == 413
    assert "inflates to over the limit of 20000 bytes" in refused.json()["error"]
    broken = client.post(PREDICT, content=b"not gzip at all",
                         headers={"Content-Encoding": "gzip"})
    assert broken.status_code == 400 and "not valid gzip" in broken.json()["error"]
    truncated = client.post(PREDICT, content=body[:-8], headers={"Content-Encoding": "gzip"})
    assert truncated.status_code == 400 and "truncated" in truncated.json()["error"]
    other = client.post(PREDICT, content=body, headers={"Content-Encoding": "br"})
    assert other.status_code == 415 and "'br' is not supported" in other.json()["error"]


def test_routes_ignore_case_but_names_do_not(served) -> None:
    """TF Serving's REST routes are ``(?i)`` regexes (http_rest_api_handler.cc): the API's own
    words match in any case; a model name is looked up as written."""
    _, client = served
    expected = client.post(PREDICT, json={"instances": [ROW]}).json()
    upper = client.post("/V1/MODELS/clickflow/VERSIONS/2:PREDICT", json={"instances": [ROW]})
    assert upper.status_code == 200, upper.text
    assert upper.json() == expected
    assert client.get("/V1/Models/clickflow/Metadata").status_code == 200
    assert client.get("/v1/MODELS/clickflow").json()["model_version_status"]
    assert client.post("/v1/models/CLICKFLOW:predict",
                       json={"instances": [ROW]}).status_code == 404
