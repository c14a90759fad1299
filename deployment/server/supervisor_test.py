"""Tests for ``--workers N``: the real server with two workers over HTTP, and the supervisor's
restart back-off and giving up with stand-in worker commands."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from deployment.server.supervisor import Supervisor
from pipelines.common.processes import ServiceProcess, process_exists
from pipelines.common.request_log import read_request_log

ROW = {"DailyTimeSpentOnSite": 68.95, "Age": 35, "AreaIncome": 61833.9,
       "DailyInternetUsage": 256.09, "AdTopicLine": "Cloned 5thgeneration orchestration",
       "City": "Wrightburgh", "Male": 0, "Country": "Tunisia",
       "Timestamp": "2016-03-27 00:53:11"}
BODY = json.dumps({"instances": [ROW]}).encode()
SERVING = re.compile(r"serving .* on http://127\.0\.0\.1:(\d+)/v1/models/")


def _children(pid: int) -> set[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return {int(child) for child in f.read().split()}


def _request(port: int, method: str, path: str, body: bytes | None = None,
             request_id: str | None = None) -> tuple[int, bytes]:
    # A new connection each time: the kernel hands each one to a worker waiting in accept.
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Content-Type": "application/json"}
        if request_id is not None:
            headers["X-Request-Id"] = request_id
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _predictions_counted(port: int) -> float:
    _, text = _request(port, "GET", "/metrics")
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.decode().splitlines()
               if line.startswith("clickflow_serving_requests_total{")
               and 'api="predict"' in line and 'status="200"' in line)


def _loaded_versions(port: int) -> set[str]:
    _, text = _request(port, "GET", "/metrics")
    return set(re.findall(r'^clickflow_serving_model_version_loaded\{model="clickflow",'
                          r'version="(\d+)"\} 1\.0$', text.decode(), re.MULTILINE))


@pytest.mark.e2e
def test_two_workers_share_the_port_metrics_restart_and_stop(tmp_path: Path,
                                                              make_version) -> None:
    base, log_dir = tmp_path / "models", tmp_path / "log"
    make_version(base, 1)
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    server = ServiceProcess(
        [sys.executable, "-m", "deployment.server", "--model-base-path", str(base),
         "--port", "0", "--grpc-port", "0", "--workers", "2", "--request-log-dir", str(log_dir),
         "--poll-seconds", "0.3"],
        url="http://127.0.0.1", log_file=tmp_path / "server.log", env=env, grace_s=20)
    server.start()
    try:
        # Port 0: the supervisor binds once, so both workers serve the port it picked.
        port = int(server.wait_until(lambda: SERVING.search(server.log_file.read_text()),
                                     timeout=30, what="the serving line").group(1))
        workers = server.wait_until(lambda: len(_children(server.pid)) == 2
                                    and _children(server.pid), timeout=10, what="2 workers")
        # Each worker accepts only after its first model poll: never a 404 from a fresh one.
        server.wait_until(lambda: server.log_file.read_text().count(" ready: first model poll")
                          == 2, timeout=60, what="both workers ready")
        sent = 0
        for i in range(30):
            status, answer = _request(port, "POST", "/v1/models/clickflow:predict", BODY,
                                      request_id=f"before-{i}")
            assert status == 200, answer
            sent += 1
        # /metrics, from whichever worker answers, counts every worker's requests.
        assert _predictions_counted(port) == sent

        killed = sorted(workers)[0]
        os.kill(killed, signal.SIGKILL)
        # Version 2 is pushed meanwhile: the other worker swaps to it while the replacement
        # starts, and the replacement's first poll finds it.
        make_version(base, 2)
        replaced = server.wait_until(
            lambda: len(_children(server.pid) - {killed}) == 2 and _children(server.pid),
            timeout=10, what="a new worker")
        (new_worker,) = replaced - workers
        # Requests on fresh connections all through the new worker's start: it accepts none
        # before its first model poll, so none is answered 404 ("no version is loaded yet").
        after, ready_at = 0, None
        while ready_at is None or after < ready_at + 40:  # and 40 more once it is ready
            status, answer = _request(port, "POST", "/v1/models/clickflow:predict", BODY,
                                      request_id=f"after-{after}")
            assert status == 200, answer
            after += 1
            assert after < 5000, "the new worker never became ready"
            if ready_at is None and f"worker {new_worker} ready" in server.log_file.read_text():
                ready_at = after
        sent += after
        assert re.search(rf"worker \d \(pid {killed}\) was killed by SIGKILL",
                         server.log_file.read_text())
        # A killed worker's counts stay (it answered them): only requests it had answered
        # after its last write to the shared files could be missing, and there are none.
        assert _predictions_counted(port) == sent

        # Each worker loads version 2 itself; version 1 leaves /metrics only once no live
        # worker serves it any more.
        server.wait_until(lambda: _loaded_versions(port) == {"2"}, timeout=60,
                          what="version 2 in every worker", interval=0.2)
        for i in range(20):
            status, answer = _request(port, "POST", "/v1/models/clickflow:predict", BODY,
                                      request_id=f"swapped-{i}")
            assert status == 200, answer
        stopping = time.monotonic()
        code = server.stop()
        assert time.monotonic() - stopping < 8
    finally:
        server.stop()
    log_text = server.log_file.read_text()
    assert code == 0, log_text
    assert not any(process_exists(pid) for pid in replaced)
    assert "Traceback" not in log_text
    # gRPC port 0: the supervisor picked one port, which every worker bound (SO_REUSEPORT).
    grpc_ports = re.findall(r"gRPC \(PredictionService, ModelService\) on 127\.0\.0\.1:(\d+)",
                            log_text)
    assert len(grpc_ports) == 3 and len(set(grpc_ports)) == 1, grpc_ports
    # The live workers flushed their request log at shutdown, each into its own files: every
    # request answered after the kill is in the log (below). Which worker accepts a connection
    # is the kernel's choice, so a fresh worker may have answered none and written no file.
    table, problems = read_request_log(log_dir)
    assert problems == []
    pids = {int(path.name.split("-")[2]) for path in log_dir.glob("date=*/part-*.parquet")}
    assert pids & replaced and pids <= replaced | {killed}, (pids, replaced, killed)
    versions = dict(zip(table["request_id"].to_pylist(), table["model_version"].to_pylist(),
                        strict=True))
    assert {i for i in versions if i.startswith("after-")} == {f"after-{i}"
                                                               for i in range(after)}
    assert {versions[f"swapped-{i}"] for i in range(20)} == {2}


@pytest.fixture()
def listening() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.set_inheritable(True)
    yield sock
    sock.close()


def test_a_worker_that_keeps_dying_is_restarted_with_back_off_then_given_up(
        listening: socket.socket, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # A worker that cannot start (an import error, say) exits at once, every time.
    starts = tmp_path / "starts"
    script = f"open({str(starts)!r}, 'a').write('x'); raise SystemExit(3)"
    supervisor = Supervisor(listening, 1, lambda fd: [sys.executable, "-c", script],
                            min_backoff=0.1, max_backoff=0.2, give_up_after=4, tick=0.02)
    started = time.monotonic()
    with caplog.at_level("INFO", "deployment.server.supervisor"):
        assert supervisor.run() == 1
    took = time.monotonic() - started
    assert starts.read_text() == "xxxx"  # 4 starts, then no more
    # Waits of 0.1, 0.2 and 0.2 s (the maximum) between the starts: no spinning.
    assert took >= 0.5
    delays = re.findall(r"worker 1 \(pid \d+\) exited with status 3 after [\d.]+ s; "
                        r"restarting it in ([\d.]+) s", caplog.text)
    assert delays == ["0.1", "0.2", "0.2"], caplog.text
    assert "4 times in a row; giving up (exit 1)" in caplog.text
    assert supervisor.metrics_dir is not None and not Path(supervisor.metrics_dir).exists()


def test_a_worker_that_cannot_be_started_is_retried_then_given_up(
        listening: socket.socket, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    missing = str(tmp_path / "no-such-python")
    supervisor = Supervisor(listening, 1, lambda fd: [missing], min_backoff=0.05,
                            max_backoff=0.05, give_up_after=2, tick=0.01)
    with caplog.at_level("INFO", "deployment.server.supervisor"):
        assert supervisor.run() == 1
    assert caplog.text.count("worker 1 could not be started") == 2
    assert "restarting it in 0.1 s" in caplog.text and "giving up" in caplog.text


def test_back_off_starts_again_after_a_worker_lived_long_enough(
        listening: socket.socket, tmp_path: Path) -> None:
    now = [0.0]
    supervisor = Supervisor(listening, 1, lambda fd: [sys.executable, "-c", "pass"],
                            min_backoff=1, max_backoff=30, stable_seconds=60,
                            clock=lambda: now[0])
    (slot,) = supervisor.slots
    for expected in (1, 2, 4, 8, 16, 30, 30):
        slot.started = now[0]
        supervisor._exited(slot, 4242, 1, now[0] + 0.5)
        assert slot.backoff == expected
    assert slot.young_deaths == 7
    slot.started = now[0]
    supervisor._exited(slot, 4242, -9, now[0] + 61)  # lived a minute: a fresh start
    assert slot.backoff == 1 and slot.young_deaths == 0 and slot.restart_at == now[0] + 62


def test_sigterm_is_forwarded_and_waited_for(listening: socket.socket, tmp_path: Path) -> None:
    # A worker that finishes its work on SIGTERM (writes a file) and exits 0.
    done = tmp_path / "done"
    script = ("import signal, sys, time\n"
              "def stop(*_):\n"
              f"    open({str(done)!r}, 'a').write('stopped\\n'); sys.exit(0)\n"
              "signal.signal(signal.SIGTERM, stop)\n"
              "while True: time.sleep(0.05)\n")
    supervisor = Supervisor(listening, 2, lambda fd: [sys.executable, "-c", script], tick=0.02)

    def stop_soon(signum: int, frame: object) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # as a user's kill would, to the supervisor

    previous = signal.signal(signal.SIGALRM, stop_soon)
    signal.setitimer(signal.ITIMER_REAL, 1.5)
    try:
        assert supervisor.run() == 0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert done.read_text() == "stopped\n" * 2
    assert all(slot.process is None for slot in supervisor.slots)
    assert listening.fileno() == -1  # closed: the port is free again
