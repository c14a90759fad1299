"""Does batching raise throughput? Requests per second with and without it, on 127.0.0.1.

    python -m deployment.server.bench_batching [--model-base-path DIR] [--requests 400]

Starts the real server twice (``--batching`` and ``--no-batching``) on free local ports, sends
the same bounded number of one-instance predict requests from ``--concurrency`` concurrent
clients, and prints requests per second and latency percentiles for each. Without
``--model-base-path`` it exports the small test model (models.testing) into a temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROW = {"DailyTimeSpentOnSite": 68.95, "Age": 35, "AreaIncome": 61833.9,
       "DailyInternetUsage": 256.09, "AdTopicLine": "Cloned 5thgeneration orchestration",
       "City": "Wrightburgh", "Male": 0, "Country": "Tunisia",
       "Timestamp": "2016-03-27 00:53:11"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _load(url: str, requests: int, concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    counter = iter(range(requests))
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        async def worker() -> None:
            for i in counter:
                row = {**ROW, "Age": 20 + i % 40}
                started = time.perf_counter()
                response = await client.post("/v1/models/clickflow:predict",
                                             json={"instances": [row]})
                response.raise_for_status()
                latencies.append(time.perf_counter() - started)

        for _ in range(20):  # warm-up, not measured
            (await client.post("/v1/models/clickflow:predict",
                               json={"instances": [ROW]})).raise_for_status()
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies


def _serve(base: Path, port: int, batching: bool) -> subprocess.Popen:
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen(
        [sys.executable, "-m", "deployment.server", "--model-base-path", str(base),
         "--port", str(port), "--no-request-log", "--log-level", "warning",
         "--batching" if batching else "--no-batching"],
        env=env, stderr=subprocess.DEVNULL)


def _wait_ready(url: str, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"error: the server exited with status {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"error: the server at {url} was not ready after {timeout:.0f} s")


def run(base: Path, requests: int, concurrency: int) -> None:
    print(f"{requests} one-instance requests, {concurrency} concurrent clients, model {base}")
    for batching in (False, True):
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        process = _serve(base, port, batching)
        try:
            _wait_ready(url, process)
            seconds, latencies = asyncio.run(_load(url, requests, concurrency))
        finally:
            process.terminate()
            process.wait(60)
        latencies.sort()
        p50 = latencies[len(latencies) // 2] * 1000
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
        print(f"  batching {'on ' if batching else 'off'}: {requests / seconds:8.1f} req/s   "
              f"p50 {p50:6.1f} ms   p99 {p99:6.1f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-base-path", type=Path, default=None,
                        help="folder of version folders (default: export the small test model)")
    parser.add_argument("--requests", type=int, default=400, help="requests per run (400)")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients (16)")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.concurrency < 1:
        parser.error("--requests and --concurrency must be >= 1")
    if args.model_base_path is not None:
        if not args.model_base_path.is_dir():
            parser.error(f"--model-base-path {args.model_base_path} is not a folder")
        run(args.model_base_path, args.requests, args.concurrency)
        return 0
    from models import testing

    with tempfile.TemporaryDirectory(prefix="clickflow-bench-") as tmp:
        testing.export_small_model(Path(tmp) / "1")
        run(Path(tmp), args.requests, args.concurrency)
    return 0


if __name__ == "__main__":
    sys.exit(main())
