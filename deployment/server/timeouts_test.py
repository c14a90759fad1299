"""Slow clients against the real server process (uvicorn + httptools, as deployed): headers or a
body sent a byte at a time are cut off with 408 and a closed connection, as nginx's
client_header_timeout / client_body_timeout do; a normal keep-alive client is not."""

from __future__ import annotations

import json
import shutil
import socket
import sys
import time
from pathlib import Path

import pytest

from deployment.server.main_test import ROW
from pipelines.common.processes import ServiceProcess, free_port

HEADER_SECONDS = BODY_SECONDS = 1.0


@pytest.fixture(scope="module")
def address(small_model: Path, tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("slow-clients")
    shutil.copytree(small_model, work / "models" / "1")
    port = free_port()
    server = ServiceProcess(
        [sys.executable, "-m", "deployment.server", "--model-base-path", str(work / "models"),
         "--port", str(port), "--grpc-port", "off", "--no-request-log",
         "--header-timeout-seconds", str(HEADER_SECONDS),
         "--body-timeout-seconds", str(BODY_SECONDS)],
        url=f"http://127.0.0.1:{port}", log_file=work / "server.log", ready_path="/readyz",
        name="the model server")
    with server:
        yield "127.0.0.1", port


def _trickle(address, data: bytes, every: float = 0.25, limit: float = 30.0) -> tuple[bytes, float]:
    """Sends ``data`` a byte every ``every`` s; returns what the server answered and when."""
    started = time.monotonic()
    with socket.create_connection(address, timeout=limit) as sock:
        sock.setblocking(False)
        received = b""
        for byte in data:
            try:
                sock.send(bytes([byte]))
            except OSError:
                break  # closed by the server
            time.sleep(every)
            try:
                chunk = sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                break
            if not chunk:
                break
            received += chunk
        sock.setblocking(True)
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except OSError:
            pass
    return received, time.monotonic() - started


def test_headers_sent_a_byte_at_a_time_get_408_and_a_closed_connection(address) -> None:
    request = b"GET /v1/models/clickflow HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"y" * 160
    answer, seconds = _trickle(address, request)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout"), answer[:200]
    assert b"the request headers took over 1 s" in answer
    assert seconds < HEADER_SECONDS + 12  # cut off, not kept for the ~40 s of trickling


def test_a_stalled_body_gets_408(address) -> None:
    body = json.dumps({"instances": [ROW]}).encode()
    head = (f"POST /v1/models/clickflow:predict HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    import http.client

    with socket.create_connection(address, timeout=30) as sock:
        sock.sendall(head + body[:10])  # then nothing more
        started = time.monotonic()
        response = http.client.HTTPResponse(sock)
        response.begin()  # status and headers, however many packets they come in
        answer = f"HTTP/1.1 {response.status} ".encode() + response.read()
        seconds = time.monotonic() - started
        closing = response.getheader("connection")
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"the request body took over 1 s to arrive" in answer
    assert closing == "close"  # the rest of that body must never be read as a next request
    assert seconds < BODY_SECONDS + 12  # a loaded CI machine answers late, but answers


def test_a_keep_alive_client_is_not_cut_off(address) -> None:
    import http.client

    connection = http.client.HTTPConnection(*address, timeout=10)
    body = json.dumps({"instances": [ROW]})
    for _ in range(3):
        connection.request("POST", "/v1/models/clickflow:predict", body,
                           {"Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 200 and "predictions" in json.loads(response.read())
        time.sleep(HEADER_SECONDS * 1.5)  # idle between requests is the keep-alive's business
    connection.close()
