"""A cheap load generator for throughput runs: one process, raw keep-alive sockets, one request
in flight per connection (no pipelining), request bytes built once.

``http.client`` in threads costs about 0.3 ms of CPU per request; on two cores that is CPU the
server does not get, and with two server workers the client, not the server, sets the ceiling.
Here one ``selectors`` loop drives every connection and a response is only framed (status line
and ``Content-Length``), not parsed into objects: a few tens of microseconds per request, in a
process of its own (no GIL shared with the benchmark). Its own CPU is reported with the results.

    python -m experiments.benchmarks.serving.raw_load --port 8501 --clients 8 --seconds 8 \\
        --body-file body.json    # prints one JSON object
"""

from __future__ import annotations

import argparse
import json
import re
import selectors
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from experiments.benchmarks.serving.settings import PREDICT

_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


def request_bytes(body: bytes, host: str, port: int) -> bytes:
    return (f"POST {PREDICT} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body


def response_length(buffer: bytes | bytearray) -> int | None:
    """Bytes of the first whole response in ``buffer`` (headers and body), None if partial."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    match = _LENGTH.search(buffer, 0, end + 2)
    if match is None:
        raise ValueError(f"response without Content-Length: {bytes(buffer[:200])!r}")
    total = end + 4 + int(match.group(1))
    return total if len(buffer) >= total else None


class _Connection:
    def __init__(self, host: str, port: int):
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.buffer = bytearray()
        self.sent = 0.0


def run(host: str, port: int, body: bytes, clients: int, seconds: float,
        warmup: int = 20) -> dict[str, Any]:
    """``clients`` connections posting ``body`` back to back for ``seconds`` after ``warmup``
    requests each; counts, latencies and this process's CPU."""
    payload = request_bytes(body, host, port)
    selector = selectors.DefaultSelector()
    connections = [_Connection(host, port) for _ in range(clients)]
    done = {id(c): 0 for c in connections}
    latencies: list[float] = []
    failures: list[str] = []
    for connection in connections:
        selector.register(connection.sock, selectors.EVENT_READ, connection)
        connection.sent = time.perf_counter()
        connection.sock.sendall(payload)
    measuring_from: float | None = None
    cpu_from = 0.0
    deadline = float("inf")
    while True:
        now = time.perf_counter()
        if measuring_from is None and all(n >= warmup for n in done.values()):
            measuring_from, cpu_from = now, time.process_time()
            deadline = now + seconds
            latencies.clear()
            failures.clear()
        if now >= deadline:
            break
        for key, _ in selector.select(timeout=1.0):
            connection: _Connection = key.data
            chunk = connection.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed a keep-alive connection")
            connection.buffer += chunk
            total = response_length(connection.buffer)
            if total is None:
                continue
            response = bytes(connection.buffer[:total])
            del connection.buffer[:total]
            finished = time.perf_counter()
            latencies.append(finished - connection.sent)
            if response[9:12] != b"200" or b'"predictions"' not in response:
                failures.append(response[:200].decode(errors="replace"))
            done[id(connection)] += 1
            connection.sent = finished
            connection.sock.sendall(payload)
    wall = time.perf_counter() - (measuring_from or 0.0)
    cpu = time.process_time() - cpu_from
    for connection in connections:
        connection.sock.close()
    ordered = sorted(latencies)

    def ms(q: float) -> float:
        return ordered[max(0, min(len(ordered) - 1, int(len(ordered) * q / 100)))] * 1000

    return {"clients": clients, "wall_s": wall, "requests": len(latencies),
            "requests_per_s": len(latencies) / wall, "p50_ms": ms(50), "p99_ms": ms(99),
            "failed": len(failures), "failures": failures[:5],
            "client_cores": round(cpu / wall, 2),
            "client_cpu_us_per_request": cpu / max(len(latencies), 1) * 1e6}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--warmup", type=int, default=20, help="requests per connection first")
    parser.add_argument("--body-file", type=Path, required=True)
    args = parser.parse_args(argv)
    result = run(args.host, args.port, args.body_file.read_bytes(), args.clients, args.seconds,
                 args.warmup)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
