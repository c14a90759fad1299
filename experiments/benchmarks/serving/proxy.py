"""What the request-logging proxy adds to a lone request: our server in proxy mode
(``python -m deployment.server --proxy-rest/--proxy-grpc``, as the GKE sidecar runs it) in front
of the running server, which stands in for TF Serving on 127.0.0.1. One sequential client per
path (REST: ``http.client`` keep-alive connections; gRPC: TF Serving's stub) sends the same
requests alternately to the server and to the proxy, request by request, so both see the same
machine load; the answers must be byte-identical (REST) or equal (gRPC), and the request ids
differ (``pstd-``/``pgrpc-`` through the proxy) so the direct phases' server-side figures stay
the direct requests'."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from experiments.benchmarks.serving.clients import LoadClient, Tally, latency
from experiments.benchmarks.serving.grpc_load import GrpcLoadClient
from experiments.benchmarks.serving.settings import MODEL, Settings
from pipelines.common.processes import ServiceProcess, free_port


def proxy_server(backend_port: int, backend_grpc_port: int, port: int, grpc_port: int,
                 work: Path, settings: Settings) -> ServiceProcess:
    """The proxy as the serving pod's sidecar starts it (deployment/base/serving-deployment.yaml),
    on 127.0.0.1; request log on unless --no-request-log."""
    command = [sys.executable, "-m", "deployment.server", "--host", "127.0.0.1",
               "--port", str(port), "--grpc-port", str(grpc_port), "--model-name", MODEL,
               "--proxy-rest", f"http://127.0.0.1:{backend_port}",
               "--proxy-grpc", f"127.0.0.1:{backend_grpc_port}",
               "--poll-seconds", str(settings.poll_seconds)]
    command += ["--request-log-dir", str(work / "request_log-proxy")] if settings.request_log \
        else ["--no-request-log"]
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    return ServiceProcess(command, url=f"http://127.0.0.1:{port}", log_file=work / "proxy.log",
                          ready_path="/readyz", env=env, name="the proxy", ready_timeout=180,
                          grace_s=60)


def _peak_rss_mib(pid: int | None) -> float | None:
    """The process's peak resident memory (VmHWM, Linux), to size the sidecar's requests."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (OSError, TypeError):
        return None
    kib = next((int(line.split()[1]) for line in status.splitlines()
                if line.startswith("VmHWM:")), None)
    return None if kib is None else round(kib / 1024, 1)


def _alternate(send: Any, count: int, warmup: int, deadline: float) -> dict[str, Any]:
    """``send(target, i)`` for i in range, direct then proxied; latencies and failures each."""
    tallies = {"direct": Tally(), "proxy": Tally()}
    mismatches = 0
    for i in range(warmup + count):
        if time.monotonic() > deadline:
            break
        answers = {}
        for target, tally in tallies.items():
            sent = time.perf_counter()
            try:
                answers[target] = send(target, i)
            except ConnectionError as err:
                tally.failures.append(str(err))
                continue
            if i >= warmup:
                tally.latencies.append(time.perf_counter() - sent)
        mismatches += len(answers) == 2 and answers["direct"] != answers["proxy"]
    return {**{t: {**latency(x.latencies), "failed": len(x.failures), "failures": x.failures[:5]}
               for t, x in tallies.items()}, "answers_differ": mismatches}


def proxy_latency(port: int, grpc_port: int, bodies: Sequence[bytes],
                  grpc_requests: Sequence[Any], work: Path,
                  settings: Settings) -> dict[str, Any]:
    """Lone-request latency direct and through the proxy, REST and gRPC."""
    proxy_port, proxy_grpc = free_port(), free_port()
    proxy = proxy_server(port, grpc_port, proxy_port, proxy_grpc, work, settings).start()
    out: dict[str, Any] = {}
    try:
        out["seconds_to_ready"] = proxy.wait_ready()
        rest = {"direct": LoadClient("http.client", port),
                "proxy": LoadClient("http.client", proxy_port)}

        def post(target: str, i: int) -> bytes:
            prefix = "pstd" if target == "proxy" else "dstd"
            status, payload = rest[target].post(bodies[i % len(bodies)], f"{prefix}-{i}")
            if status != 200:
                raise ConnectionError(f"{status} {payload[:200]!r}")
            return payload

        grpc = {"direct": GrpcLoadClient(grpc_port, grpc_requests),
                "proxy": GrpcLoadClient(proxy_grpc, grpc_requests)}

        def predict(target: str, i: int) -> float:
            prefix = "pgrpc" if target == "proxy" else "dgrpc"
            return grpc[target].predict(i % len(grpc_requests), f"{prefix}-{i}")

        try:
            deadline = time.monotonic() + settings.phase_limit_s / 2
            out["rest"] = _alternate(post, settings.requests, settings.warmup, deadline)
            deadline = time.monotonic() + settings.phase_limit_s / 2
            out["grpc"] = _alternate(predict, settings.requests, settings.warmup, deadline)
        finally:
            for client in (*rest.values(), *grpc.values()):
                client.close()
        out["peak_rss_mib"] = _peak_rss_mib(proxy.pid)
    finally:
        out["exit_code"] = proxy.stop()
    if settings.request_log:
        out["logged_files"] = len(list((work / "request_log-proxy").rglob("*.parquet")))
    for api in ("rest", "grpc"):
        direct, proxied = out[api]["direct"], out[api]["proxy"]
        out[api]["added_p50_ms"] = proxied["p50_ms"] - direct["p50_ms"]
        out[api]["added_p99_ms"] = proxied["p99_ms"] - direct["p99_ms"]
    return out
