"""Load against the running server: one sequential client (http.client, then httpx), and
concurrent clients in threads; the server's own time from its access log."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from experiments.benchmarks.serving.clients import CpuClock, LoadClient, Tally, latency
from experiments.benchmarks.serving.settings import HEADERS, PREDICT, Settings


def sequential(url: str, bodies: Sequence[bytes], settings: Settings) -> dict[str, Any]:
    """The same requests from one keep-alive httpx client (ids ``seq-<i>``), to show what a
    heavier client adds."""
    tally = Tally()
    deadline = time.monotonic() + settings.phase_limit_s / 2
    with httpx.Client(base_url=url, timeout=30, headers=HEADERS) as client:
        for i in range(settings.warmup):
            client.post(PREDICT, content=bodies[i % len(bodies)]).raise_for_status()
        started, cpu = time.perf_counter(), time.process_time()
        for i in range(settings.requests):
            if time.monotonic() > deadline:
                break
            sent = time.perf_counter()
            response = client.post(PREDICT, content=bodies[i % len(bodies)],
                                   headers={"x-request-id": f"seq-{i}"})
            response.json()
            tally.latencies.append(time.perf_counter() - sent)
            if response.status_code != 200:
                tally.failures.append(f"{response.status_code} {response.text[:200]}")
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    count = max(len(tally.latencies), 1)
    return {**latency(tally.latencies), "requests_per_s": len(tally.latencies) / wall,
            "client_cpu_ms_per_request": cpu / count * 1000,
            "failed": len(tally.failures), "failures": tally.failures[:5]}


def sequential_stdlib(port: int, bodies: Sequence[bytes], settings: Settings) -> dict[str, Any]:
    """One keep-alive ``http.client`` connection, one request at a time (ids ``std-<i>``):
    the target's load generator, the lightest HTTP client in Python."""
    tally = Tally()
    deadline = time.monotonic() + settings.phase_limit_s / 2
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    cpu = time.process_time()
    try:
        for i in range(settings.warmup + settings.requests):
            if time.monotonic() > deadline:
                break
            if i == settings.warmup:
                cpu = time.process_time()
            sent = time.perf_counter()
            connection.request("POST", PREDICT, body=bodies[i % len(bodies)],
                               headers={**HEADERS, "x-request-id": f"std-{i}"})
            response = connection.getresponse()
            payload = response.read()
            json.loads(payload)
            if i >= settings.warmup:
                tally.latencies.append(time.perf_counter() - sent)
                if response.status != 200:
                    tally.failures.append(f"{response.status} {payload[:200]!r}")
        cpu = time.process_time() - cpu
    finally:
        connection.close()
    count = max(len(tally.latencies), 1)
    return {**latency(tally.latencies), "client_cpu_ms_per_request": cpu / count * 1000,
            "failed": len(tally.failures), "failures": tally.failures[:5]}


def concurrent(port: int, bodies: Sequence[bytes], clients: int, total: int,
               settings: Settings, clock: CpuClock) -> dict[str, Any]:
    """``total`` requests over ``clients`` keep-alive clients in threads; all bodies pre-built."""
    tally = Tally()
    counter = iter(range(total))
    lock = threading.Lock()
    deadline = time.monotonic() + settings.phase_limit_s
    barrier = threading.Barrier(clients + 1)

    def client_loop() -> None:
        client = LoadClient(settings.load_client, port)
        try:
            client.post(bodies[0])  # connect, warm
            barrier.wait()
            while time.monotonic() < deadline:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                sent = time.perf_counter()
                try:
                    status, payload = client.post(bodies[i % len(bodies)])
                except ConnectionError as err:
                    tally.failures.append(str(err))
                    continue
                tally.latencies.append(time.perf_counter() - sent)
                if status != 200:
                    tally.failures.append(f"{status} {payload[:200]!r}")
                    continue
                tally.predictions.append(len(json.loads(payload)["predictions"]))
        finally:
            client.close()

    threads = [threading.Thread(target=client_loop, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = clock.sample()
    for thread in threads:
        thread.join(settings.phase_limit_s + 30)
    wall = time.perf_counter() - start[0]
    predictions = sum(tally.predictions)
    return {**latency(tally.latencies), "clients": clients, "wall_s": wall,
            "requests_per_s": len(tally.predictions) / wall,
            "predictions_per_s": predictions / wall, "predictions": predictions,
            "failed": len(tally.failures), "failures": tally.failures[:5],
            **clock.cores(start)}


def server_side_latency(log: Path, prefix: str) -> dict[str, float]:
    """The server's own duration (access log) of requests whose id starts with ``prefix``."""
    durations = []
    for line in log.read_text().splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if str(record.get("request_id") or "").startswith(prefix):
            durations.append(record["duration_ms"] / 1000)
    return latency(durations)
