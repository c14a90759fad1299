"""``--workers 1`` against ``--workers 2``: 8-client single-instance throughput of each, in the
same invocation, with the cheap load generator (``raw_load``) in a process of its own.

Each server is started fresh (request log on, as deployed), loaded for ``--workers-seconds``
after a warm-up, and stopped; the rounds alternate 1, 2, 2, 1, ... so that a drift of the
machine's other load falls on both. The ratio is of the mean requests/s.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from statistics import mean
from typing import Any

from experiments.benchmarks.serving.clients import CpuClock
from experiments.benchmarks.serving.settings import Settings
from pipelines.common.names import REPO_ROOT
from pipelines.common.processes import ServiceProcess

WORKER_COUNTS = (1, 2)


def _load(port: int, body_file: Path, settings: Settings, clock: CpuClock,
          clients: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "experiments.benchmarks.serving.raw_load", "--port",
               str(port), "--clients", str(clients), "--seconds",
               str(settings.workers_seconds), "--body-file", str(body_file)]
    start = clock.sample()
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=settings.workers_seconds + 60)
    cores = clock.cores(start)
    if done.returncode != 0:
        return {"failed": 1, "failures": [done.stderr[-500:]], "requests_per_s": 0.0}
    # The load generator's own process, not this one, is the client here.
    return {**json.loads(done.stdout), "server_cores": cores["server_cores"]}


def compare_workers(start_server: Callable[[int, str], ServiceProcess], body: bytes,
                    batch_body: bytes, work: Path, settings: Settings) -> dict[str, Any]:
    """``start_server(workers, name)`` returns a started server; the phase's results. Each
    server takes the single-instance load, then the batched one (``batch_body``,
    ``--batch-clients`` connections)."""
    body_file, batch_file = work / "workers-body.json", work / "workers-batch-body.json"
    body_file.write_bytes(body)
    batch_file.write_bytes(batch_body)
    order = [n for r in range(settings.workers_rounds)
             for n in (WORKER_COUNTS if r % 2 == 0 else WORKER_COUNTS[::-1])]
    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in WORKER_COUNTS}
    for round_number, workers in enumerate(order):
        server = start_server(workers, f"workers{workers}-{round_number}")
        try:
            ready_s = server.wait_ready()
            time.sleep(0.5)  # the other worker's "ready" may trail the first by a moment
            port = int(server.url.rsplit(":", 1)[1])
            result = _load(port, body_file, settings, CpuClock(server.pid), settings.clients)
            result["seconds_to_ready"] = round(ready_s, 1)
            batched = _load(port, batch_file, settings, CpuClock(server.pid),
                            settings.batch_clients)
            result["batched"] = {
                "predictions_per_s": batched["requests_per_s"] * settings.batch_size,
                **{k: batched.get(k) for k in ("p99_ms", "server_cores", "client_cores",
                                               "failed", "failures")}}
        finally:
            result_code = server.stop()
        result["exit_code"] = result_code
        runs[workers].append(result)
        print(f"  --workers {workers}: {result['requests_per_s']:,.0f} requests/s, server "
              f"{result.get('server_cores')} cores, load generator "
              f"{result.get('client_cores')} cores; batched "
              f"{result['batched']['predictions_per_s']:,.0f} predictions/s, server "
              f"{result['batched']['server_cores']} cores", flush=True)
    summary: dict[str, Any] = {"clients": settings.clients, "runs": runs}
    for workers, results in runs.items():
        summary[f"w{workers}_requests_per_s"] = mean(r["requests_per_s"] for r in results)
        summary[f"w{workers}_p99_ms"] = max(r.get("p99_ms", float("nan")) for r in results)
        summary[f"w{workers}_server_cores"] = mean(r.get("server_cores", 0.0) for r in results)
        summary[f"w{workers}_batched_predictions_per_s"] = mean(
            r["batched"]["predictions_per_s"] for r in results)
        summary[f"w{workers}_batched_p99_ms"] = max(
            r["batched"].get("p99_ms") or float("nan") for r in results)
        summary[f"w{workers}_batched_server_cores"] = mean(
            r["batched"].get("server_cores") or 0.0 for r in results)
    summary["client_cores"] = mean(r.get("client_cores", 0.0) for rs in runs.values()
                                   for r in rs)
    summary["client_cpu_us_per_request"] = mean(
        r.get("client_cpu_us_per_request", 0.0) for rs in runs.values() for r in rs)
    summary["failed"] = sum(r.get("failed", 0) for rs in runs.values() for r in rs)
    summary["batched_failed"] = sum(r["batched"].get("failed") or 0 for rs in runs.values()
                                    for r in rs)
    summary["failures"] = [f for rs in runs.values() for r in rs
                           for f in [*r.get("failures", []),
                                     *(r["batched"].get("failures") or [])]][:5]
    summary["exit_codes"] = sorted({r["exit_code"] for rs in runs.values() for r in rs})
    first = summary["w1_requests_per_s"]
    summary["ratio"] = summary["w2_requests_per_s"] / first if first else float("nan")
    return summary
