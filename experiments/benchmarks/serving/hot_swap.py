"""The hot swap: clients send continuously while version 2 is pushed as a Pusher does; every
answer is checked against both versions, and after shutdown against the request log."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from experiments.benchmarks.serving.clients import CpuClock, LoadClient, Tally, body, latency
from experiments.benchmarks.serving.grpc_load import GrpcLoadClient
from experiments.benchmarks.serving.settings import MODEL, Settings


def hot_swap(url: str, port: int, base: Path, v2: Path, rows: Sequence[dict[str, Any]],
             references: dict[int, list[float]], settings: Settings,
             clock: CpuClock, grpc_port: int | None = None,
             grpc_requests: Sequence[Any] = ()) -> dict[str, Any]:
    """Continuous load while version 2 is pushed; every answer checked against both versions.
    With ``grpc_port``, every other client sends over gRPC (TF Serving's stub)."""
    tally = Tally()
    stop = threading.Event()
    first_v2: list[float] = []
    bodies = [body([row]) for row in rows]
    answered: Counter[str] = Counter()  # by transport (rest, grpc); += under the GIL per key
    failed: Counter[str] = Counter()
    hard_stop = time.monotonic() + settings.phase_limit_s
    # Only rows the two versions answer clearly differently (saturated probabilities near 0 or
    # 1 can agree to 1e-5), so each answer tells which version computed it.
    telling = [i for i in range(len(rows)) if abs(references[1][i] - references[2][i]) > 1e-3]
    if len(telling) < 50:
        raise SystemExit(f"error: only {len(telling)} of {len(rows)} rows tell the two versions "
                         "apart; the swap check needs 50")

    def which_version(index: int, probability: float) -> int:
        for version, answers in references.items():
            if abs(answers[index] - probability) <= 1e-5 * max(1.0, abs(probability)):
                return version
        return 0

    def rest_sender(number: int) -> tuple[Any, Any]:
        client = LoadClient(settings.load_client, port)

        def send(index: int, request_id: str) -> float:
            status, payload = client.post(bodies[index], request_id)
            if status != 200:
                raise ConnectionError(f"{status} {payload[:200]!r}")
            return json.loads(payload)["predictions"][0]["probability"]

        return send, client.close

    def grpc_sender(number: int) -> tuple[Any, Any]:
        client = GrpcLoadClient(grpc_port, grpc_requests)
        return client.predict, client.close

    def client_loop(number: int) -> None:
        over_grpc = grpc_port is not None and number % 2 == 1
        send, close = (grpc_sender if over_grpc else rest_sender)(number)
        transport = "grpc" if over_grpc else "rest"
        try:
            i = 0
            while not stop.is_set() and time.monotonic() < hard_stop:
                index = telling[(number * 7919 + i) % len(telling)]
                request_id = f"swap-{number}-{i}"
                i += 1
                sent = time.perf_counter()
                try:
                    probability = send(index, request_id)
                except ConnectionError as err:
                    tally.failures.append(f"{request_id} ({transport}): {err}")
                    failed[transport] += 1
                    continue
                tally.latencies.append(time.perf_counter() - sent)
                version = which_version(index, probability)
                if version == 0:
                    tally.failures.append(f"{request_id}: probability {probability} matches "
                                          "neither version")
                    failed[transport] += 1
                    continue
                if version == 2 and not first_v2:
                    first_v2.append(time.perf_counter())
                tally.versions.append((request_id, version, time.perf_counter()))
                answered[transport] += 1
        finally:
            close()

    threads = [threading.Thread(target=client_loop, args=(n,), daemon=True)
               for n in range(settings.swap_clients)]
    start = clock.sample()
    for thread in threads:
        thread.start()
    time.sleep(settings.swap_before_s)
    staging = base.parent / f".{base.name}-push-2.tmp"
    shutil.copytree(v2, staging)
    os.rename(staging, base / "2")  # atomic on one file system, as the Pusher's final rename
    pushed = time.perf_counter()
    available = None
    states: list[str] = []
    with httpx.Client(base_url=url, timeout=10) as status_client:
        while time.monotonic() < hard_stop:
            status = status_client.get(f"/v1/models/{MODEL}").json()["model_version_status"]
            states = [f"{s['version']}:{s['state']}" for s in status]
            if available is None and "2:AVAILABLE" in states:
                available = time.perf_counter()
            if available is not None and first_v2:
                break
            time.sleep(0.05)
    if available is not None and first_v2:
        stop.wait(min(settings.swap_after_s, max(0.0, hard_stop - time.monotonic())))
    stop.set()
    for thread in threads:
        thread.join(40)
    wall = time.perf_counter() - start[0]
    counts = Counter(version for _, version, _ in tally.versions)
    v1_after_v2 = sum(1 for _, version, at in tally.versions
                      if version == 1 and first_v2 and at > first_v2[0] + 0.5)
    count = len(tally.versions)
    return {**latency(tally.latencies), "requests": count + len(tally.failures),
            "answered": count, "failed": len(tally.failures), "failures": tally.failures[:5],
            "by_transport": {t: {"answered": answered[t], "failed": failed[t]}
                             for t in sorted(set(answered) | set(failed))},
            "answered_by_version": {str(v): counts[v] for v in sorted(counts)},
            "v1_answers_0.5s_after_first_v2": v1_after_v2,
            "seconds_push_to_available": None if available is None else available - pushed,
            "seconds_push_to_first_v2_answer": first_v2[0] - pushed if first_v2 else None,
            "final_states": states, "wall_s": wall, "clients": settings.swap_clients,
            "answer_ids": {rid: version for rid, version, _ in tally.versions},
            **clock.cores(start)}


def check_request_log(log_dir: Path, answer_ids: dict[str, int]) -> dict[str, Any]:
    """Which version the request log recorded for each answered swap request."""
    from pipelines.common.request_log import read_request_log

    table, problems = read_request_log(log_dir)
    logged = dict(zip(table["request_id"].to_pylist(), table["model_version"].to_pylist(),
                      strict=True))
    missing = [rid for rid in answer_ids if rid not in logged]
    disagree = [rid for rid, v in answer_ids.items() if rid in logged and logged[rid] != v]
    return {"rows": table.num_rows, "problems": problems, "swap_answers_missing": len(missing),
            "swap_answers_other_version": len(disagree)}
