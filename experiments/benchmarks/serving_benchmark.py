"""Local serving speed: latency, throughput and a hot swap under load, in one bounded run.

    python experiments/benchmarks/serving_benchmark.py [--no-request-log] [--no-batching]
        [--requests 2000] [--time-limit 600] [--json results.json] [--profile-server out.prof]

Exports two small real models (pipelines.testing.small_model, seeds 0 and 1, so their
predictions differ), then, on 127.0.0.1 only:

1. baseline: the same SavedModel called in this process through the server's own code
   (``servable.load``, ``Signature.__call__``), one instance per call;
2. single-instance predict through the real server (``python -m deployment.server`` as a
   subprocess, request log and JSON access log on as in production), one keep-alive client
   sending sequentially: the standard library's ``http.client`` as the load generator
   (client-observed p50/p99: the target; about 0.3 ms of client CPU per request, which on two
   cores competes with the server), the server's own time from its access log, and the same
   requests from httpx (about four times the client CPU), so the client's share is visible;
3. throughput: batched requests from a few concurrent clients (predictions/s), and
   single-instance requests from more clients (requests/s); these clients and the swap's use
   ``http.client`` unless ``--load-client httpx``, to leave the cores to the server;
4. hot swap: clients send continuously while version 2 is pushed as a Pusher does (copied under
   a temporary name beside the base path, then renamed in); the run waits until the server
   reports version 2 AVAILABLE and answers with it, keeps the load a few seconds more, and counts
   failed requests. Every answer is checked against both versions' in-process predictions, and
   after shutdown against the request log (which version answered each request id).

``--no-batching`` (and ``--no-request-log``) start the server that way, to compare runs.
Every phase is bounded in requests and seconds, and ``--time-limit`` bounds the whole run. The
load generator shares the machine's cores with the server; the report gives both processes' CPU
use per phase. Prints a markdown table with the targets; exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from models.bootstrap import bootstrap  # noqa: E402

MODEL = "clickflow"
PREDICT = f"/v1/models/{MODEL}:predict"
HEADERS = {"content-type": "application/json"}
TARGET_P50_MS = 3.0
TARGET_P99_MS = 15.0
TARGET_PREDICTIONS_PER_S = 5000.0


@dataclasses.dataclass(frozen=True)
class Settings:
    requests: int
    warmup: int
    batch_size: int
    batch_clients: int
    batch_requests: int
    clients: int
    concurrent_requests: int
    swap_clients: int
    swap_before_s: float
    swap_after_s: float
    phase_limit_s: float
    time_limit_s: float
    request_log: bool
    batching: bool
    poll_seconds: float
    profile_server: Path | None
    json_path: Path | None
    load_client: str


def parse_args(argv: Sequence[str] | None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])

    def positive(kind: type) -> Callable[[str], Any]:
        def parse(text: str) -> Any:
            try:
                value = kind(text)
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"expected a {kind.__name__}, got {text!r}") from None
            if value <= 0:
                raise argparse.ArgumentTypeError(f"expected a value > 0, got {text}")
            return value
        return parse

    add = parser.add_argument
    add("--requests", type=positive(int), default=2000,
        help="sequential single-instance requests measured (2000)")
    add("--warmup", type=positive(int), default=200, help="unmeasured requests first (200)")
    add("--batch-size", type=positive(int), default=250, help="instances per batched request")
    add("--batch-clients", type=positive(int), default=4, help="concurrent batch clients (4)")
    add("--batch-requests", type=positive(int), default=200,
        help="batched requests in all (200)")
    add("--clients", type=positive(int), default=8,
        help="concurrent single-instance clients (8)")
    add("--concurrent-requests", type=positive(int), default=4000,
        help="concurrent single-instance requests in all (4000)")
    add("--swap-clients", type=positive(int), default=4, help="clients during the swap (4)")
    add("--swap-before", type=positive(float), default=3.0,
        help="seconds of load before version 2 is pushed (3)")
    add("--swap-after", type=positive(float), default=3.0,
        help="seconds of load after version 2 answers (3)")
    add("--phase-limit", type=positive(float), default=60.0,
        help="most seconds any one phase may take (60)")
    add("--time-limit", type=positive(float), default=600.0,
        help="most seconds for the whole run; later phases are skipped past it (600)")
    add("--no-request-log", dest="request_log", action="store_false",
        help="start the server with --no-request-log (default: request log on, as deployed)")
    add("--batching", action=argparse.BooleanOptionalAction, default=True,
        help="the server's --batching / --no-batching (default on)")
    add("--poll-seconds", type=positive(float), default=2.0,
        help="the server's --poll-seconds (2, its default)")
    add("--profile-server", type=Path, default=None,
        help="run the server under cProfile and write its stats to this file")
    add("--json", dest="json_path", type=Path, default=None,
        help="also write the results to this JSON file")
    add("--load-client", choices=("stdlib", "httpx"), default="stdlib",
        help="client of the concurrent and swap phases: http.client (default; a quarter of "
             "httpx's CPU per request, which the server's cores would otherwise pay) or httpx")
    args = parser.parse_args(argv)
    return Settings(
        requests=args.requests, warmup=args.warmup, batch_size=args.batch_size,
        batch_clients=args.batch_clients, batch_requests=args.batch_requests,
        clients=args.clients, concurrent_requests=args.concurrent_requests,
        swap_clients=args.swap_clients, swap_before_s=args.swap_before,
        swap_after_s=args.swap_after, phase_limit_s=args.phase_limit,
        time_limit_s=args.time_limit, request_log=args.request_log, batching=args.batching,
        poll_seconds=args.poll_seconds, profile_server=args.profile_server,
        json_path=args.json_path, load_client=args.load_client)


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
    """CPU seconds of this process and of the server process, for per-phase core use."""

    def __init__(self, server_pid: int):
        self.server_pid = server_pid
        self.ticks = os.sysconf("SC_CLK_TCK")

    def server_seconds(self) -> float:
        with open(f"/proc/{self.server_pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.ticks

    def sample(self) -> tuple[float, float, float]:
        return time.perf_counter(), time.process_time(), self.server_seconds()

    def cores(self, start: tuple[float, float, float]) -> dict[str, float]:
        wall, client, server = self.sample()
        seconds = max(wall - start[0], 1e-9)
        return {"server_cores": round((server - start[2]) / seconds, 2),
                "client_cores": round((client - start[1]) / seconds, 2)}


# ---------------------------------------------------------------------------------------------
# Models and the in-process baseline


def export_models(work: Path) -> tuple[Path, Path]:
    from pipelines.testing import small_model as testing

    started = time.perf_counter()
    first = testing.export_small_model(work / "export" / "1", seed=0)
    second = testing.export_small_model(work / "export" / "2", seed=1)
    print(f"exported two small models in {time.perf_counter() - started:.1f} s", flush=True)
    return first, second


def in_process(v1: Path, v2: Path, rows: Sequence[dict[str, Any]], settings: Settings
               ) -> tuple[dict[str, Any], dict[int, list[float]]]:
    """Baseline latencies of the SavedModel called in process, and both versions' answers."""
    from deployment.server import convert
    from deployment.server import servable as servable_lib

    references = {}
    timings: dict[str, Any] = {}
    for version, path in ((1, v1), (2, v2)):
        servable = servable_lib.load(MODEL, version, path)
        servable_lib.warm_up(servable)
        signature = servable.signatures[servable_lib.DEFAULT_SIGNATURE]
        inputs, _ = convert.instances_to_inputs(list(rows), signature.inputs, signature.name,
                                                len(rows))
        references[version] = [float(p) for p in
                               signature(inputs)["probability"].reshape(-1)]
        if version != 1:
            continue
        one = [convert.instances_to_inputs([row], signature.inputs, signature.name, 1)[0]
               for row in rows]
        bodies = [body([row]) for row in rows]
        for i in range(settings.warmup):
            signature(one[i % len(one)])
        call, full = [], []
        deadline = time.monotonic() + settings.phase_limit_s / 2
        for i in range(settings.requests):
            started = time.perf_counter()
            signature(one[i % len(one)])
            call.append(time.perf_counter() - started)
            if time.monotonic() > deadline:
                break
        for i in range(settings.requests):
            started = time.perf_counter()
            payload = json.loads(bodies[i % len(bodies)])
            converted, n = convert.instances_to_inputs(
                payload["instances"], signature.inputs, signature.name, 1000)
            outputs = signature(converted)
            json.dumps({"predictions": convert.outputs_to_rows(outputs, n)})
            full.append(time.perf_counter() - started)
            if time.monotonic() > deadline:
                break
        timings = {"call": _latency(call), "json_and_call": _latency(full)}
    return timings, references


def _latency(seconds: Sequence[float]) -> dict[str, float]:
    return {"count": len(seconds), "p50_ms": percentile(seconds, 50) * 1000,
            "p99_ms": percentile(seconds, 99) * 1000,
            "max_ms": max(seconds, default=float("nan")) * 1000}


# ---------------------------------------------------------------------------------------------
# The server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(base: Path, work: Path, port: int, settings: Settings
                 ) -> tuple[subprocess.Popen, Path]:
    command = [sys.executable]
    if settings.profile_server is not None:
        command += ["-m", "cProfile", "-o", str(settings.profile_server.resolve())]
    command += ["-m", "deployment.server", "--model-base-path", str(base), "--model-name",
                MODEL, "--host", "127.0.0.1", "--port", str(port),
                "--poll-seconds", str(settings.poll_seconds),
                "--batching" if settings.batching else "--no-batching"]
    if settings.request_log:
        command += ["--request-log-dir", str(work / "request_log")]
    else:
        command += ["--no-request-log"]
    stderr_path = work / "server.log"
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                   stderr=stderr)
    return process, stderr_path


def wait_ready(client: httpx.Client, process: subprocess.Popen, log: Path,
               timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise SystemExit(f"error: the server exited with status {process.returncode}:\n"
                             + "\n".join(log.read_text().splitlines()[-15:]))
        try:
            if client.get("/readyz").status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"error: the server was not ready after {timeout:.0f} s (log: {log})")


def stop_server(process: subprocess.Popen) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait(10)
    return process.returncode


# ---------------------------------------------------------------------------------------------
# Load phases


@dataclasses.dataclass
class Tally:
    """What one phase's clients saw; appended to from several threads (list.append is atomic)."""

    latencies: list[float] = dataclasses.field(default_factory=list)
    predictions: list[int] = dataclasses.field(default_factory=list)
    failures: list[str] = dataclasses.field(default_factory=list)
    versions: list[tuple[str, int, float]] = dataclasses.field(default_factory=list)


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
    return {**_latency(tally.latencies), "requests_per_s": len(tally.latencies) / wall,
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
    return {**_latency(tally.latencies), "client_cpu_ms_per_request": cpu / count * 1000,
            "failed": len(tally.failures), "failures": tally.failures[:5]}


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
    return {**_latency(tally.latencies), "clients": clients, "wall_s": wall,
            "requests_per_s": len(tally.predictions) / wall,
            "predictions_per_s": predictions / wall, "predictions": predictions,
            "failed": len(tally.failures), "failures": tally.failures[:5],
            **clock.cores(start)}


def hot_swap(url: str, port: int, base: Path, v2: Path, rows: Sequence[dict[str, Any]],
             references: dict[int, list[float]], settings: Settings,
             clock: CpuClock) -> dict[str, Any]:
    """Continuous load while version 2 is pushed; every answer checked against both versions."""
    tally = Tally()
    stop = threading.Event()
    first_v2: list[float] = []
    bodies = [body([row]) for row in rows]
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

    def client_loop(number: int) -> None:
        client = LoadClient(settings.load_client, port)
        try:
            i = 0
            while not stop.is_set() and time.monotonic() < hard_stop:
                index = telling[(number * 7919 + i) % len(telling)]
                request_id = f"swap-{number}-{i}"
                i += 1
                sent = time.perf_counter()
                try:
                    status, payload = client.post(bodies[index], request_id)
                except ConnectionError as err:
                    tally.failures.append(f"{request_id}: {err}")
                    continue
                tally.latencies.append(time.perf_counter() - sent)
                if status != 200:
                    tally.failures.append(f"{request_id}: {status} {payload[:200]!r}")
                    continue
                probability = json.loads(payload)["predictions"][0]["probability"]
                version = which_version(index, probability)
                if version == 0:
                    tally.failures.append(f"{request_id}: probability {probability} matches "
                                          "neither version")
                    continue
                if version == 2 and not first_v2:
                    first_v2.append(time.perf_counter())
                tally.versions.append((request_id, version, time.perf_counter()))
        finally:
            client.close()

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
    answered = len(tally.versions)
    return {**_latency(tally.latencies), "requests": answered + len(tally.failures),
            "answered": answered, "failed": len(tally.failures), "failures": tally.failures[:5],
            "answered_by_version": {str(v): counts[v] for v in sorted(counts)},
            "v1_answers_0.5s_after_first_v2": v1_after_v2,
            "seconds_push_to_available": None if available is None else available - pushed,
            "seconds_push_to_first_v2_answer": first_v2[0] - pushed if first_v2 else None,
            "final_states": states, "wall_s": wall, "clients": settings.swap_clients,
            "answer_ids": {rid: version for rid, version, _ in tally.versions},
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
    return _latency(durations)


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


# ---------------------------------------------------------------------------------------------
# Report


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(), "platform": platform.platform()}


def report(results: dict[str, Any], settings: Settings) -> tuple[str, bool]:
    rows: list[tuple[str, str, str, bool | None]] = []
    base = results.get("in_process", {})
    if base:
        rows.append(("in-process baseline: signature call, 1 instance, p50 / p99",
                     f"{base['call']['p50_ms']:.2f} / {base['call']['p99_ms']:.2f} ms", "-",
                     None))
        rows.append(("in-process + JSON decode/convert/encode, p50 / p99",
                     f"{base['json_and_call']['p50_ms']:.2f} / "
                     f"{base['json_and_call']['p99_ms']:.2f} ms", "-", None))
    std = results.get("sequential_stdlib")
    if std:
        rows.append(("server, 1 instance, 1 keep-alive http.client: p50",
                     f"{std['p50_ms']:.2f} ms", f"<= {TARGET_P50_MS:g} ms",
                     std["p50_ms"] <= TARGET_P50_MS and std["failed"] == 0))
        rows.append(("server, 1 instance, 1 keep-alive http.client: p99",
                     f"{std['p99_ms']:.2f} ms", f"<= {TARGET_P99_MS:g} ms",
                     std["p99_ms"] <= TARGET_P99_MS and std["failed"] == 0))
        rows.append(("  the load generator's own CPU per request (http.client)",
                     f"{std['client_cpu_ms_per_request']:.2f} ms", "-", None))
        if base:
            rows.append(("  server p50 / in-process signature call p50 (same invocation)",
                         f"{std['p50_ms'] / base['call']['p50_ms']:.2f}x", "-", None))
        own = results.get("sequential_server_side")
        if own and own["count"]:
            rows.append(("  time inside the server (its access log), p50 / p99",
                         f"{own['p50_ms']:.2f} / {own['p99_ms']:.2f} ms", "-", None))
    seq = results.get("sequential")
    if seq:
        rows.append(("  same with httpx (a heavier client), p50 / p99",
                     f"{seq['p50_ms']:.2f} / {seq['p99_ms']:.2f} ms (client CPU "
                     f"{seq['client_cpu_ms_per_request']:.2f} ms/request)", "-", None))
    batched = results.get("batched")
    if batched:
        rows.append((f"throughput, {settings.batch_size} instances/request, "
                     f"{batched['clients']} clients",
                     f"{batched['predictions_per_s']:,.0f} predictions/s "
                     f"(p50 {batched['p50_ms']:.0f} / p99 {batched['p99_ms']:.0f} ms per request"
                     f"; {batched['failed']} failed)",
                     f">= {TARGET_PREDICTIONS_PER_S:,.0f}/s",
                     batched["predictions_per_s"] >= TARGET_PREDICTIONS_PER_S
                     and batched["failed"] == 0))
    single = results.get("concurrent_single")
    if single:
        rows.append((f"throughput, 1 instance/request, {single['clients']} clients",
                     f"{single['requests_per_s']:,.0f} requests/s (p50 {single['p50_ms']:.1f} "
                     f"/ p99 {single['p99_ms']:.1f} ms; {single['failed']} failed)", "-",
                     None))
    swap = results.get("hot_swap")
    if swap:
        by_version = ", ".join(f"v{v}: {n}" for v, n in swap["answered_by_version"].items())
        rows.append((f"hot swap v1 -> v2 under load, {swap['clients']} clients: failed requests",
                     f"{swap['failed']} of {swap['requests']}", "0", swap["failed"] == 0))
        both = set(swap["answered_by_version"]) == {"1", "2"}
        logged = results.get("request_log_check") or {}
        consistent = not logged or (logged["swap_answers_missing"] == 0
                                    and logged["swap_answers_other_version"] == 0)
        to_available = swap["seconds_push_to_available"]
        rows.append(("hot swap: versions that answered",
                     f"{by_version} (AVAILABLE {to_available:.1f} s after the push; "
                     f"p99 {swap['p99_ms']:.1f} ms, max {swap['max_ms']:.0f} ms)"
                     if to_available is not None else f"{by_version} (v2 never AVAILABLE)",
                     "v1 then v2", both and consistent))
    logged = results.get("request_log_check")
    if logged:
        rows.append(("request log: records written / dropped (queue full)",
                     f"{logged['rows']:,} / {results['request_log_dropped']:,.0f}", "-", None))
    for name, reason in results.get("skipped", {}).items():
        rows.append((f"{name} phase", f"not run: {reason}", "-", False))
    lines = ["| measurement | result | target | verdict |", "|---|---|---|---|"]
    for name, value, target, ok in rows:
        mark = "-" if ok is None else ("PASS" if ok else "FAIL")
        lines.append(f"| {name} | {value} | {target} | {mark} |")
    passed = all(ok is not False for *_, ok in rows)
    return "\n".join(lines), passed


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
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process, server_log = start_server(base, work, port, settings)
    results["skipped"] = {}
    try:
        with httpx.Client(base_url=url, timeout=10) as client:
            results["seconds_to_ready"] = wait_ready(client, process, server_log, 180)
            first = client.post(PREDICT, json={"instances": rows[:50]}).json()["predictions"]
            got = [p["probability"] for p in first]
            mismatch = [i for i, (a, b) in enumerate(zip(got, references[1][:50], strict=True))
                        if abs(a - b) > 1e-5 * max(1.0, abs(b))]
            if mismatch:
                raise SystemExit(f"error: the server's predictions differ from the in-process "
                                 f"ones for rows {mismatch[:5]}")
        clock = CpuClock(process.pid)
        single_bodies = [body([row]) for row in rows]
        batch_bodies = [body([rows[(i * settings.batch_size + j) % len(rows)]
                              for j in range(settings.batch_size)]) for i in range(16)]
        phases: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            ("sequential_stdlib", lambda: sequential_stdlib(port, single_bodies, settings)),
            ("sequential", lambda: sequential(url, single_bodies, settings)),
            ("batched", lambda: concurrent(port, batch_bodies, settings.batch_clients,
                                           settings.batch_requests, settings, clock)),
            ("concurrent_single", lambda: concurrent(port, single_bodies, settings.clients,
                                                     settings.concurrent_requests, settings,
                                                     clock)),
            ("hot_swap", lambda: hot_swap(url, port, base, v2, rows, references, settings,
                                          clock)),
        ]
        for name, phase in phases:
            if time.monotonic() + settings.phase_limit_s > deadline:
                results["skipped"][name] = f"--time-limit {settings.time_limit_s:g} s"
                continue
            if process.poll() is not None:
                results["skipped"][name] = f"the server exited ({process.returncode})"
                continue
            print(f"phase {name} ...", flush=True)
            results[name] = phase()
        with httpx.Client(base_url=url, timeout=10) as client:
            metrics = client.get("/metrics").text
        results["request_log_dropped"] = sum(
            float(line.split()[-1]) for line in metrics.splitlines()
            if line.startswith("clickflow_request_log_dropped_total"))
    finally:
        results["server_exit_code"] = stop_server(process)
    results["sequential_server_side"] = server_side_latency(server_log, "std-")
    swap = results.get("hot_swap")
    if settings.request_log and swap:
        results["request_log_check"] = check_request_log(work / "request_log",
                                                         swap.pop("answer_ids"))
    elif swap:
        swap.pop("answer_ids")
    results["server_log_lines"] = len(server_log.read_text().splitlines())
    results["machine_after"] = machine()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    bootstrap()
    settings = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="clickflow-serving-bench-") as tmp:
        results = run(settings, Path(tmp))
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


if __name__ == "__main__":
    sys.exit(main())
