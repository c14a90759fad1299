"""What the load generator sends and how it measures: rows and request bodies, the keep-alive
clients, percentiles, a per-phase tally and the CPU clock of both processes."""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import time
from collections.abc import Sequence
from typing import Any

import httpx

from experiments.benchmarks.serving.settings import HEADERS, PREDICT


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of ``values`` (q in 0..100); NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def sample_rows(count: int, seed: int) -> list[dict[str, Any]]:
    """Rows of the data generator, as clients send them (serving features only)."""
    from models import features
    from pipelines.data import generator as dg

    rows: list[dict[str, Any]] = []
    for batch in dg.generate_batches(count, seed, start=dg.FIRST_SPAN_DAY):
        rows.extend({name: row[name] for name in features.SERVING_FEATURES}
                    for row in batch.to_pylist())
    return rows


def body(rows: Sequence[dict[str, Any]]) -> bytes:
    return json.dumps({"instances": list(rows)}).encode()


class CpuClock:
    """CPU seconds of this process and of the server: its process and, with ``--workers``,
    the worker processes it started (those running when sampled), for per-phase core use."""

    def __init__(self, server_pid: int):
        self.server_pid = server_pid
        self.ticks = os.sysconf("SC_CLK_TCK")

    def _seconds(self, pid: int) -> float:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            return 0.0
        return (int(fields[11]) + int(fields[12])) / self.ticks

    def server_seconds(self) -> float:
        try:
            with open(f"/proc/{self.server_pid}/task/{self.server_pid}/children") as f:
                children = [int(pid) for pid in f.read().split()]
        except OSError:
            children = []
        return sum(self._seconds(pid) for pid in [self.server_pid, *children])

    def sample(self) -> tuple[float, float, float]:
        return time.perf_counter(), time.process_time(), self.server_seconds()

    def cores(self, start: tuple[float, float, float]) -> dict[str, float]:
        wall, client, server = self.sample()
        seconds = max(wall - start[0], 1e-9)
        return {"server_cores": round((server - start[2]) / seconds, 2),
                "client_cores": round((client - start[1]) / seconds, 2)}


def latency(seconds: Sequence[float]) -> dict[str, float]:
    return {"count": len(seconds), "p50_ms": percentile(seconds, 50) * 1000,
            "p99_ms": percentile(seconds, 99) * 1000,
            "max_ms": max(seconds, default=float("nan")) * 1000}


@dataclasses.dataclass
class Tally:
    """What one phase's clients saw; appended to from several threads (list.append is atomic)."""

    latencies: list[float] = dataclasses.field(default_factory=list)
    predictions: list[int] = dataclasses.field(default_factory=list)
    failures: list[str] = dataclasses.field(default_factory=list)
    versions: list[tuple[str, int, float]] = dataclasses.field(default_factory=list)


class LoadClient:
    """One keep-alive connection posting predict requests, with ``http.client`` or httpx.

    A Python load generator shares the server's two cores; httpx costs about four times the
    CPU per request of ``http.client``, so the concurrent phases use the lighter one unless
    ``--load-client httpx``. A transport error raises ``ConnectionError`` (a failed request).
    """

    def __init__(self, kind: str, port: int):
        self.kind = kind
        if kind == "httpx":
            self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60,
                                       headers=HEADERS)
        else:
            self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def post(self, payload: bytes, request_id: str | None = None) -> tuple[int, bytes]:
        headers = {"x-request-id": request_id} if request_id else {}
        if self.kind == "httpx":
            try:
                response = self.client.post(PREDICT, content=payload, headers=headers)
            except httpx.HTTPError as err:
                raise ConnectionError(f"{type(err).__name__}: {err}") from None
            return response.status_code, response.content
        try:
            self.connection.request("POST", PREDICT, body=payload,
                                    headers={**HEADERS, **headers})
            response = self.connection.getresponse()
            return response.status, response.read()
        except (http.client.HTTPException, OSError) as err:
            self.connection.close()  # the next request reconnects
            raise ConnectionError(f"{type(err).__name__}: {err}") from None

    def close(self) -> None:
        if self.kind == "httpx":
            self.client.close()
        else:
            self.connection.close()
