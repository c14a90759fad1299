"""Tests for the raw-socket load generator: response framing, and a run against a real
keep-alive HTTP/1.1 server (the standard library's)."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from experiments.benchmarks.serving import raw_load
from experiments.benchmarks.serving.settings import PREDICT


def test_response_length_frames_by_content_length() -> None:
    head = b"HTTP/1.1 200 OK\r\nserver: x\r\nContent-Length: 5\r\n\r\n"
    assert raw_load.response_length(head[:-3]) is None  # headers not complete
    assert raw_load.response_length(head + b"abc") is None  # body not complete
    assert raw_load.response_length(head + b"abcde" + head) == len(head) + 5
    lower = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"
    assert raw_load.response_length(lower) == len(lower)
    with pytest.raises(ValueError, match="without Content-Length"):
        raw_load.response_length(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")


class _Predictor(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn
    seen: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append((self.path, body))
        answer = json.dumps({"predictions": [{"probability": 0.5}]}).encode()
        status = 200 if json.loads(body) == {"instances": [1]} else 400
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


def test_run_keeps_every_connection_busy_and_counts() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Predictor)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        result = raw_load.run("127.0.0.1", port, b'{"instances": [1]}', clients=3,
                              seconds=0.5, warmup=2)
        bad = raw_load.run("127.0.0.1", port, b'{"instances": [2]}', clients=1,
                           seconds=0.2, warmup=1)
    finally:
        server.shutdown()
        server.server_close()
    assert result["failed"] == 0 and result["requests"] > 10
    assert result["requests_per_s"] == pytest.approx(result["requests"] / result["wall_s"])
    assert result["p50_ms"] <= result["p99_ms"]
    assert {path for path, _ in _Predictor.seen} == {PREDICT}
    assert bad["failed"] == bad["requests"] > 0 and "400" in bad["failures"][0]
