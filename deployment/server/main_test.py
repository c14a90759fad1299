"""Tests for ``python -m deployment.server``: flag errors, and a real uvicorn server over HTTP."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import httpx
import pytest

from deployment.server.__main__ import main
from pipelines.common.processes import ServiceProcess, free_port
from pipelines.common.request_log import read_request_log

ROW = {"DailyTimeSpentOnSite": 68.95, "Age": 35, "AreaIncome": 61833.9,
       "DailyInternetUsage": 256.09, "AdTopicLine": "Cloned 5thgeneration orchestration",
       "City": "Wrightburgh", "Male": 0, "Country": "Tunisia",
       "Timestamp": "2016-03-27 00:53:11"}


def test_help_lists_the_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--model-base-path", "--model-config-file", "--request-log-dir", "--port",
                 "--max-body-bytes", "--max-batch-size", "--num-versions", "--grpc-port",
                 "--workers"):
        assert flag in out


def test_missing_base_path_is_one_paragraph_exit_2(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--model-base-path", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --model-base-path") and "does not exist" in err
    assert "Traceback" not in err and err.count("\n") == 1


@pytest.mark.parametrize("value", ["0", "many"])
def test_bad_workers_value_is_one_line_exit_2(tmp_path: Path, value: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--model-base-path", str(tmp_path), "--workers", value]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --workers must be a whole number >= 1 or 'auto'")
    assert "Traceback" not in err and err.count("\n") == 1


def test_busy_port_is_explained(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["--model-base-path", str(tmp_path), "--port", str(port),
                     "--grpc-port", "off"]) == 2
    assert "cannot listen on 127.0.0.1" in capsys.readouterr().err


@pytest.mark.e2e
def test_real_server_over_http(tmp_path: Path, make_version) -> None:
    base, log_dir = tmp_path / "models", tmp_path / "log"
    make_version(base, 1)
    port, grpc_port = free_port(), free_port()
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    server = ServiceProcess(
        [sys.executable, "-m", "deployment.server", "--model-base-path", str(base),
         "--port", str(port), "--grpc-port", str(grpc_port), "--request-log-dir",
         str(log_dir), "--poll-seconds", "0.3"],
        url=f"http://127.0.0.1:{port}", log_file=tmp_path / "server.log", ready_path="/readyz",
        env=env, ready_timeout=120, grace_s=60)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            server.wait_ready()
            response = client.post("/v1/models/clickflow:predict", json={"instances": [ROW]},
                                   headers={"X-Request-Id": "http-1"})
            assert response.status_code == 200, response.text
            assert response.headers["x-request-id"] == "http-1"
            assert 0 < response.json()["predictions"][0]["probability"] < 1
            assert 0 < _grpc_probability(grpc_port, "grpc-1") < 1
            # Bad requests over a real connection (a body refused before it is all read,
            # NaN, broken JSON) each get their error, and the server goes on answering.
            oversized = client.post("/v1/models/clickflow:predict",
                                    content=b'{"instances": [' + b" " * 11_000_000 + b"]}")
            assert oversized.status_code == 413 and "--max-body-bytes" in oversized.text
            nan = client.post("/v1/models/clickflow:predict", content=json.dumps(
                {"instances": [{**ROW, "AreaIncome": float("nan")}]}).encode())
            assert nan.status_code == 400 and "'AreaIncome' is nan" in nan.text
            broken = client.post("/v1/models/clickflow:predict", content=b'{"instances": [')
            assert broken.status_code == 400 and "JSON Parse error" in broken.text
            assert client.post("/v1/models/clickflow:predict", json={"instances": [ROW]},
                               headers={"X-Request-Id": "http-after-errors"}).status_code == 200
            make_version(base, 2)  # pushed while serving: the watcher loads it

            def version_2_served() -> bool:
                status = client.get("/v1/models/clickflow").json()["model_version_status"]
                return [s["version"] for s in status] == ["2"]

            server.wait_until(version_2_served, timeout=60, what="version 2",
                              interval=0.2)
            again = client.post("/v1/models/clickflow:predict", json={"instances": [ROW]},
                                headers={"X-Request-Id": "http-2"})
            assert again.status_code == 200
            assert "clickflow_serving_requests_total" in client.get("/metrics").text
    finally:
        code = server.stop()  # SIGTERM: a graceful shutdown that flushes the request log
    log_text = server.log_file.read_text()
    assert code == 0, log_text
    assert '"request_id":"http-1"' in log_text  # the JSON access log
    table, problems = read_request_log(log_dir)  # flushed at shutdown
    assert problems == []
    assert dict(zip(table["request_id"].to_pylist(), table["model_version"].to_pylist(),
                    strict=True)) == {"http-1": 1, "grpc-1": 1, "http-after-errors": 1,
                                      "http-2": 2}


def _grpc_probability(port: int, request_id: str) -> float:
    """One Predict through TF Serving's own client stub, as a TF Serving client sends it."""
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    from pipelines.testing.grpc_requests import predict_request

    request = predict_request(ROW)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(request, timeout=30, metadata=(("x-request-id", request_id),))
    return response.outputs["probability"].float_val[0]


def test_busy_grpc_port_is_explained(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                     ) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["--model-base-path", str(tmp_path), "--port", "0",
                     "--grpc-port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port} for gRPC" in err and "--grpc-port off" in err
    assert "Traceback" not in err
