"""The request-logging proxy in front of a real backend on 127.0.0.1: our server as a separate
process standing in for TF Serving (REST and gRPC), with TF Serving's client stubs."""

from __future__ import annotations

import concurrent.futures
import os
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
import tensorflow as tf
from starlette.testclient import TestClient
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)

from deployment.server.config import (
    ModelConfig,
    ProxyConfig,
    RequestLogConfig,
    ServerConfig,
)
from deployment.server.proxy import Proxy, create_proxy_app
from pipelines.common.processes import ServiceProcess, free_port
from pipelines.common.request_log import read_request_log
from pipelines.testing.grpc_requests import predict_request

ROW = {"DailyTimeSpentOnSite": 68.95, "Age": 35, "AreaIncome": 61833.9,
       "DailyInternetUsage": 256.09, "AdTopicLine": "Cloned 5thgeneration orchestration",
       "City": "Wrightburgh", "Male": 0, "Country": "Tunisia",
       "Timestamp": "2016-03-27 00:53:11"}
OTHER = {**ROW, "Age": 55, "DailyInternetUsage": 120.0}


class Backend:
    """``python -m deployment.server`` on fixed ports, so it can be restarted in place."""

    def __init__(self, base: Path, work: Path):
        self.port, self.grpc_port = free_port(), free_port()
        self.base, self.work = base, work
        self.process: ServiceProcess | None = None

    def start(self) -> None:
        env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
        self.process = ServiceProcess(
            [sys.executable, "-m", "deployment.server", "--model-base-path", str(self.base),
             "--port", str(self.port), "--grpc-port", str(self.grpc_port),
             "--no-request-log", "--poll-seconds", "0.3", "--log-level", "warning"],
            url=f"http://127.0.0.1:{self.port}", log_file=self.work / "backend.log",
            ready_path="/readyz", env=env, ready_timeout=120, grace_s=30, name="the backend")
        self.process.start()
        self.process.wait_ready()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory, make_version) -> Iterator[Backend]:
    work = tmp_path_factory.mktemp("backend")
    make_version(work / "models", 1)
    server = Backend(work / "models", work)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _proxy(backend: Backend, log_dir: Path | None, timeout: float = 10.0,
           rest: str | None = None) -> Proxy:
    config = ServerConfig(
        models=(ModelConfig("clickflow", Path("."), version_labels={"stable": 1}),),
        grpc_port=0, poll_seconds=0.2,
        request_log=RequestLogConfig(directory=log_dir, roll_seconds=0.2),
        proxy=ProxyConfig(rest_backend=rest or f"http://127.0.0.1:{backend.port}",
                          grpc_backend=f"127.0.0.1:{backend.grpc_port}",
                          timeout_seconds=timeout))
    return Proxy(config)


REST_CASES = [
    ("POST", "/v1/models/clickflow:predict", {"instances": [ROW, OTHER]}),
    ("POST", "/v1/models/clickflow/versions/1:predict", {"inputs": {
        k: [v] for k, v in ROW.items()}}),
    ("POST", "/v1/models/clickflow/labels/stable:predict", {"instances": [ROW]}),
    ("POST", "/v1/models/clickflow:classify", {"signature_name": "classification",
                                               "examples": [ROW]}),
    ("GET", "/v1/models/clickflow", None),
    ("GET", "/v1/models/clickflow/metadata", None),
    ("POST", "/v1/models/clickflow:predict", {"instances": [{**ROW, "Age": "old"}]}),
    ("POST", "/v1/models/nope:predict", {"instances": [ROW]}),
    ("POST", "/v1/models/clickflow:predict", {"instances": []}),
]


def test_rest_answers_are_the_backends_and_predictions_are_logged(backend: Backend,
                                                                  tmp_path: Path) -> None:
    proxy = _proxy(backend, tmp_path / "log")
    with TestClient(create_proxy_app(proxy)) as client, httpx.Client(
            base_url=f"http://127.0.0.1:{backend.port}", timeout=30) as direct:
        for i, (method, path, body) in enumerate(REST_CASES):
            sent = client.request(method, path, json=body, headers={"X-Request-Id": f"r-{i}"})
            expected = direct.request(method, path, json=body)
            assert (sent.status_code, sent.content) == (expected.status_code,
                                                        expected.content), path
            assert sent.headers["x-request-id"] == f"r-{i}"
            assert sent.headers["content-type"] == expected.headers["content-type"]
        unnamed = client.post("/v1/models/clickflow:predict", json={"instances": [ROW]})
        assert len(unnamed.headers["x-request-id"]) == 32  # one was made and sent on
        assert client.get("/readyz").json()["models"] == {"clickflow": [1]}
        metrics = client.get("/metrics").text
        assert ('clickflow_serving_requests_total{api="predict",model="clickflow",'
                'status="200",version="1"}') in metrics
    table, problems = read_request_log(tmp_path / "log")
    assert problems == []
    logged = sorted(zip(table["request_id"].to_pylist(), table["model_version"].to_pylist(),
                        table["Age"].to_pylist(), strict=True))
    # Two instances of r-0 (<id>-<i>), the columnar r-1 and the classify r-3; the failed
    # requests are not predictions (the backend has no labels: r-2 is its 400, passed on).
    ids = [rid for rid, _, _ in logged if rid.startswith("r-")]
    assert ids == ["r-0-0", "r-0-1", "r-1", "r-3"], logged
    assert {version for _, version, _ in logged} == {1}
    assert [age for rid, _, age in logged if rid.startswith("r-0")] == [35, 55]
    probability = dict(zip(table["request_id"].to_pylist(),
                           table["probability"].to_pylist(), strict=True))
    assert 0 < probability["r-1"] < 1 and probability["r-1"] == pytest.approx(
        probability["r-3"], abs=1e-6)


def test_grpc_answers_are_the_backends_and_logged(backend: Backend, tmp_path: Path) -> None:
    proxy = _proxy(backend, tmp_path / "log")
    with TestClient(create_proxy_app(proxy)), \
            grpc.insecure_channel(f"127.0.0.1:{proxy.grpc_port}") as via, \
            grpc.insecure_channel(f"127.0.0.1:{backend.grpc_port}") as direct:
        via_stub = prediction_service_pb2_grpc.PredictionServiceStub(via)
        direct_stub = prediction_service_pb2_grpc.PredictionServiceStub(direct)
        response, call = via_stub.Predict.with_call(
            predict_request(ROW), timeout=30, metadata=(("x-request-id", "g-1"),))
        assert response == direct_stub.Predict(predict_request(ROW), timeout=30)
        assert dict(call.trailing_metadata())["x-request-id"] == "g-1"
        classify = classification_pb2.ClassificationRequest()
        classify.model_spec.name = "clickflow"
        classify.model_spec.signature_name = "classification"
        classify.input.example_list.examples.append(tf.train.Example(
            features=tf.train.Features(feature={
                k: tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode()]))
                if isinstance(v, str) else
                tf.train.Feature(int64_list=tf.train.Int64List(value=[v]))
                if isinstance(v, int) else
                tf.train.Feature(float_list=tf.train.FloatList(value=[v]))
                for k, v in OTHER.items()})))
        assert via_stub.Classify(classify, timeout=30, metadata=(("x-request-id", "g-2"),)) \
            == direct_stub.Classify(classify, timeout=30)
        with pytest.raises(grpc.RpcError) as missing:
            bad = predict_request(ROW)
            bad.model_spec.name = "nope"
            via_stub.Predict(bad, timeout=30)
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        status = model_service_pb2_grpc.ModelServiceStub(via).GetModelStatus(
            get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "clickflow"}),
            timeout=30)
        assert [s.version for s in status.model_version_status] == [1]
        with pytest.raises(grpc.RpcError) as unknown:
            via.unary_unary("/some.Other/Method")(b"", timeout=10)
        assert unknown.value.code() == grpc.StatusCode.UNIMPLEMENTED
    table, problems = read_request_log(tmp_path / "log")
    assert problems == []
    rows = {r["request_id"]: r for r in table.to_pylist()}
    assert set(rows) == {"g-1", "g-2"}
    assert rows["g-1"]["Age"] == 35 and rows["g-2"]["Age"] == 55
    assert rows["g-1"]["model_version"] == rows["g-2"]["model_version"] == 1


def test_bounded_concurrent_load_has_no_added_failures(backend: Backend, tmp_path: Path
                                                        ) -> None:
    proxy = _proxy(backend, tmp_path / "log")
    server, port = _serve_in_thread(create_proxy_app(proxy))
    try:
        def send(i: int) -> int:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                return http.post("/v1/models/clickflow:predict", json={"instances": [ROW]},
                                 headers={"X-Request-Id": f"load-{i}"}).status_code

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(send, range(120)))
    finally:
        server.should_exit = True
        server.thread.join(30)  # the lifespan's shutdown flushes the request log
        assert not server.thread.is_alive()
    assert codes == [200] * 120
    table, _ = read_request_log(tmp_path / "log")
    assert sorted(table["request_id"].to_pylist()) == sorted(f"load-{i}" for i in range(120))


def _serve_in_thread(app):
    """The app under uvicorn on a real socket in a thread, for concurrent clients."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.05)
    server.thread = thread
    return server, port


def test_a_backend_down_then_back(tmp_path: Path, make_version) -> None:
    make_version(tmp_path / "models", 1)
    backend = Backend(tmp_path / "models", tmp_path)
    backend.start()
    proxy = _proxy(backend, None)
    with TestClient(create_proxy_app(proxy)) as client, \
            grpc.insecure_channel(f"127.0.0.1:{proxy.grpc_port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        assert client.post("/v1/models/clickflow:predict",
                           json={"instances": [ROW]}).status_code == 200
        backend.stop()
        down = client.post("/v1/models/clickflow:predict", json={"instances": [ROW]})
        assert down.status_code == 502 and "did not answer" in down.json()["error"]
        with pytest.raises(grpc.RpcError) as unavailable:
            stub.Predict(predict_request(ROW), timeout=10)
        assert unavailable.value.code() == grpc.StatusCode.UNAVAILABLE
        backend.start()
        assert client.post("/v1/models/clickflow:predict",
                           json={"instances": [ROW]}).status_code == 200
        assert stub.Predict(predict_request(ROW), timeout=30).outputs["probability"].float_val
        metrics = client.get("/metrics").text
        assert 'api="predict",model="clickflow",status="502"' in metrics
    backend.stop()


def test_a_slow_backend_is_a_504(tmp_path: Path, backend: Backend) -> None:
    """A backend that accepts and never answers: the proxy gives up after its timeout."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    port = silent.getsockname()[1]
    try:
        proxy = _proxy(backend, None, timeout=0.5, rest=f"http://127.0.0.1:{port}")
        with TestClient(create_proxy_app(proxy)) as client:
            slow = client.post("/v1/models/clickflow:predict", json={"instances": [ROW]})
            assert slow.status_code == 504 and "--proxy-timeout-seconds" in slow.json()["error"]
            assert client.get("/readyz").status_code == 503
    finally:
        silent.close()


def test_proxy_flags() -> None:
    from deployment.server import config

    parsed = config.config_from_args(config.build_parser().parse_args(
        ["--proxy-rest", "http://127.0.0.1:8511/", "--proxy-grpc", "127.0.0.1:8510",
         "--model-base-path", "/nowhere"]))
    assert parsed.proxy == ProxyConfig("http://127.0.0.1:8511", "127.0.0.1:8510")
    for argv, says in ((["--proxy-rest", "127.0.0.1:8511"], "--proxy-rest must be a URL"),
                       (["--proxy-grpc", "127.0.0.1:8510"], "--proxy-grpc needs --proxy-rest"),
                       (["--proxy-rest", "http://a:1", "--proxy-grpc", "a"],
                        "--proxy-grpc must be host:port"),
                       (["--proxy-rest", "http://a:1", "--proxy-grpc", "a:2", "--grpc-port",
                         "off"], "needs a --grpc-port")):
        with pytest.raises(config.ConfigError, match=says):
            config.config_from_args(config.build_parser().parse_args(argv))



def test_the_proxy_command(backend: Backend, tmp_path: Path) -> None:
    """``python -m deployment.server --proxy-rest ... --proxy-grpc ...`` as the sidecar runs."""
    port, grpc_port = free_port(), free_port()
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    proxy = ServiceProcess(
        [sys.executable, "-m", "deployment.server", "--proxy-rest",
         f"http://127.0.0.1:{backend.port}", "--proxy-grpc", f"127.0.0.1:{backend.grpc_port}",
         "--port", str(port), "--grpc-port", str(grpc_port), "--request-log-dir",
         str(tmp_path / "log"), "--poll-seconds", "0.3"],
        url=f"http://127.0.0.1:{port}", log_file=tmp_path / "proxy.log", ready_path="/readyz",
        env=env, ready_timeout=120, grace_s=30, name="the proxy")
    with proxy:
        with httpx.Client(base_url=proxy.url, timeout=30) as client:
            assert client.post("/v1/models/clickflow:predict", json={"instances": [ROW]},
                               headers={"X-Request-Id": "cmd-1"}).status_code == 200
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
                predict_request(OTHER), timeout=30, metadata=(("x-request-id", "cmd-2"),))
    assert proxy.returncode == 0, proxy.log_file.read_text()[-2000:]
    assert "a logging proxy of clickflow" in proxy.log_file.read_text()
    table, problems = read_request_log(tmp_path / "log")
    assert problems == [] and sorted(table["request_id"].to_pylist()) == ["cmd-1", "cmd-2"]


def test_cloud_storage_down_fails_no_response_and_shows_in_health(backend: Backend,
                                                                   tmp_path: Path, gcs,
                                                                   monkeypatch) -> None:
    """--request-log-dir gs://...: with Cloud Storage unreachable every prediction is still
    answered at its usual speed, /healthz says degraded, and the log arrives once it is back
    (the real client against the JSON API fake: the ``gcs`` fixture, conftest.py)."""
    import time

    from pipelines.common import storage

    monkeypatch.setenv(storage.EMULATOR_ENV, "http://127.0.0.1:9")  # refused at once
    proxy = _proxy(backend, "gs://bucket/request_log")
    with TestClient(create_proxy_app(proxy)) as client:
        assert client.post("/v1/models/clickflow:predict", json={"instances": [ROW]},
                           headers={"X-Request-Id": "warm"}).status_code == 200
        started = time.perf_counter()
        for i in range(20):
            response = client.post("/v1/models/clickflow:predict", json={"instances": [ROW]},
                                   headers={"X-Request-Id": f"down-{i}"})
            assert response.status_code == 200
        seconds = time.perf_counter() - started
        proxy.request_log.flush(timeout=1.0)
        health = client.get("/healthz").json()
        assert health["status"] == "degraded", health
        assert "cannot upload to gs://bucket/request_log" in health["problems"][0]
        monkeypatch.setenv(storage.EMULATOR_ENV, gcs.endpoint)
        proxy.request_log.flush(timeout=10.0)
        assert client.get("/healthz").json() == {"status": "ok"}
    assert seconds < 20 * 0.5, seconds  # no request waited on an upload
    table, problems = read_request_log("gs://bucket/request_log")
    assert problems == [] and table.num_rows == 21
