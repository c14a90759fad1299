"""The benchmark's run: the models, the in-process baseline, the real server (a ServiceProcess),
every phase in order within the time limit, then the report (``main``)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from experiments.benchmarks.serving.baseline import export_models, in_process
from experiments.benchmarks.serving.clients import CpuClock, body, sample_rows
from experiments.benchmarks.serving.grpc_load import grpc_sequential, predict_requests
from experiments.benchmarks.serving.hot_swap import check_request_log, hot_swap
from experiments.benchmarks.serving.proxy import proxy_latency
from experiments.benchmarks.serving.report import machine, report
from experiments.benchmarks.serving.scenarios import (
    concurrent,
    sequential,
    sequential_stdlib,
    server_side_latency,
)
from experiments.benchmarks.serving.settings import MODEL, PREDICT, Settings, parse_args
from experiments.benchmarks.serving.workers import compare_workers
from models.bootstrap import bootstrap
from pipelines.common.processes import ServiceError, ServiceProcess, free_port


def model_server(base: Path, work: Path, port: int, settings: Settings,
                 grpc_port: int | None = None, workers: int = 1,
                 name: str = "server") -> ServiceProcess:
    """``python -m deployment.server`` as deployed (request log and access log on), optionally
    under cProfile; its output in ``work/<name>.log``. Not started yet."""
    command = [sys.executable]
    if settings.profile_server is not None:
        command += ["-m", "cProfile", "-o", str(settings.profile_server.resolve())]
    command += ["-m", "deployment.server", "--model-base-path", str(base), "--model-name",
                MODEL, "--host", "127.0.0.1", "--port", str(port),
                "--grpc-port", "off" if grpc_port is None else str(grpc_port),
                "--poll-seconds", str(settings.poll_seconds),
                "--batching" if settings.batching else "--no-batching",
                "--workers", str(workers)]
    if settings.request_log:
        command += ["--request-log-dir", str(work / ("request_log" if name == "server"
                                                     else f"request_log-{name}"))]
    else:
        command += ["--no-request-log"]
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    return ServiceProcess(command, url=f"http://127.0.0.1:{port}",
                          log_file=work / f"{name}.log", ready_path="/readyz", env=env,
                          name=f"the {name}", ready_timeout=180, grace_s=60)


def run(settings: Settings, work: Path) -> dict[str, Any]:
    deadline = time.monotonic() + settings.time_limit_s
    results: dict[str, Any] = {"machine_before": machine(), "settings": {
        k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(settings).items()}}
    v1, v2 = export_models(work)
    rows = sample_rows(1000, seed=7)
    results["in_process"], references = in_process(v1, v2, rows, settings)
    print(f"in-process baseline done: {results['in_process']['call']}", flush=True)
    base = work / "models" / MODEL
    base.mkdir(parents=True)
    shutil.copytree(v1, base / "1")
    port, grpc_port = free_port(), free_port()
    server = model_server(base, work, port, settings, grpc_port)
    url, server_log = server.url, server.log_file
    results["skipped"] = {}
    server.start()
    try:
        results["seconds_to_ready"] = server.wait_ready()
        with httpx.Client(base_url=url, timeout=10) as client:
            first = client.post(PREDICT, json={"instances": rows[:50]}).json()["predictions"]
            got = [p["probability"] for p in first]
            mismatch = [i for i, (a, b) in enumerate(zip(got, references[1][:50], strict=True))
                        if abs(a - b) > 1e-5 * max(1.0, abs(b))]
            if mismatch:
                raise SystemExit(f"error: the server's predictions differ from the in-process "
                                 f"ones for rows {mismatch[:5]}")
        clock = CpuClock(server.pid)
        single_bodies = [body([row]) for row in rows]
        grpc_requests = predict_requests(rows)
        batch_bodies = [body([rows[(i * settings.batch_size + j) % len(rows)]
                              for j in range(settings.batch_size)]) for i in range(16)]
        phases: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            ("sequential_stdlib", lambda: sequential_stdlib(port, single_bodies, settings)),
            ("sequential", lambda: sequential(url, single_bodies, settings)),
            ("grpc_sequential", lambda: grpc_sequential(grpc_port, grpc_requests, settings)),
            ("proxy", lambda: proxy_latency(port, grpc_port, single_bodies, grpc_requests, work,
                                            settings)),
            ("batched", lambda: concurrent(port, batch_bodies, settings.batch_clients,
                                           settings.batch_requests, settings, clock)),
            ("concurrent_single", lambda: concurrent(port, single_bodies, settings.clients,
                                                     settings.concurrent_requests, settings,
                                                     clock)),
            ("hot_swap", lambda: hot_swap(url, port, base, v2, rows, references, settings,
                                          clock, grpc_port, grpc_requests)),
        ]
        for name, phase in phases:
            if time.monotonic() + settings.phase_limit_s > deadline:
                results["skipped"][name] = f"--time-limit {settings.time_limit_s:g} s"
                continue
            if not server.running:
                results["skipped"][name] = f"the server exited ({server.returncode})"
                continue
            print(f"phase {name} ...", flush=True)
            results[name] = phase()
        with httpx.Client(base_url=url, timeout=10) as client:
            metrics = client.get("/metrics").text
        results["request_log_dropped"] = sum(
            float(line.split()[-1]) for line in metrics.splitlines()
            if line.startswith("clickflow_request_log_dropped_total"))
    finally:
        results["server_exit_code"] = server.stop()
    results["sequential_server_side"] = server_side_latency(server_log, "std-")
    results["grpc_server_side"] = server_side_latency(server_log, "grpc-")
    swap = results.get("hot_swap")
    if settings.request_log and swap:
        results["request_log_check"] = check_request_log(work / "request_log",
                                                         swap.pop("answer_ids"))
    elif swap:
        swap.pop("answer_ids")
    results["server_log_lines"] = len(server_log.read_text().splitlines())
    # Workers' phase: fresh servers of 1 and 2 workers in turn, once the main one has stopped.
    if time.monotonic() + settings.phase_limit_s > deadline:
        results["skipped"]["workers"] = f"--time-limit {settings.time_limit_s:g} s"
    else:
        print("phase workers (--workers 1 vs 2) ...", flush=True)

        def start_server(workers: int, name: str) -> ServiceProcess:
            return model_server(base, work, free_port(), settings, workers=workers,
                                name=name).start()

        batch = body([rows[j % len(rows)] for j in range(settings.batch_size)])
        results["workers"] = compare_workers(start_server, body([rows[0]]), batch, work,
                                             settings)
    results["machine_after"] = machine()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    bootstrap()
    settings = parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="clickflow-serving-bench-") as tmp:
            results = run(settings, Path(tmp))
    except ServiceError as err:  # the server exited or never answered: its log's end
        print(f"error: {err}", file=sys.stderr)
        return 1
    table, passed = report(results, settings)
    before, after = results["machine_before"], results["machine_after"]
    print()
    print(f"Local server benchmark: {before['cpus']} CPUs, load average "
          f"{before['load_average']} before, {after['load_average']} after; "
          f"request log {'on' if settings.request_log else 'off'}, batching "
          f"{'on' if settings.batching else 'off'}; load client {settings.load_client}; "
          f"Python {before['python']}")
    print()
    print(table)
    print()
    workers = results.get("workers")
    if workers:
        print(f"workers: server used {workers['w1_server_cores']:.2f} cores with 1 worker, "
              f"{workers['w2_server_cores']:.2f} with 2; the load generator (raw_load, own "
              f"process) {workers['client_cores']:.2f} cores, "
              f"{workers['client_cpu_us_per_request']:.0f} us CPU/request; server exit codes "
              f"{workers['exit_codes']}")
    for name in ("batched", "concurrent_single", "hot_swap"):
        phase = results.get(name)
        if phase:
            print(f"{name}: server used {phase['server_cores']} cores, the load generator "
                  f"{phase['client_cores']}; failures: {phase['failures'] or 'none'}")
    swap = results.get("hot_swap")
    if swap:
        print(f"hot_swap: {swap['answered']} answers in {swap['wall_s']:.1f} s, final states "
              f"{swap['final_states']}, v1 answers >0.5 s after the first v2 answer: "
              f"{swap['v1_answers_0.5s_after_first_v2']}")
    if "request_log_check" in results:
        print(f"request log: {results['request_log_check']}, dropped "
              f"{results['request_log_dropped']:g}")
    print(f"server: ready in {results['seconds_to_ready']:.1f} s, exit code "
          f"{results['server_exit_code']}, {results['server_log_lines']} log lines")
    if settings.json_path is not None:
        settings.json_path.write_text(json.dumps(results, indent=2, default=str))
        print(f"results: {settings.json_path}")
    return 0 if passed else 1

