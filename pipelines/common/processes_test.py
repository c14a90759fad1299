"""ServiceProcess against real children: ``python -m http.server``, one that exits at once, one
that never listens and one that ignores SIGTERM."""

from __future__ import annotations

import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from pipelines.common.processes import (
    ServiceError,
    ServiceProcess,
    free_port,
    http_status,
    process_exists,
)


def http_server(tmp_path: Path, **kwargs) -> ServiceProcess:
    (tmp_path / "site").mkdir(exist_ok=True)
    (tmp_path / "site" / "hello.txt").write_text("hello")
    port = free_port()
    return ServiceProcess(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
         "--directory", str(tmp_path / "site")],
        url=f"http://127.0.0.1:{port}", log_file=tmp_path / "logs" / "http.log",
        ready_path="/hello.txt", ready_timeout=30, **kwargs)


def test_free_port_can_be_listened_on() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
    assert 1024 <= port <= 65535


def test_a_real_http_child_is_ready_then_stopped(tmp_path: Path) -> None:
    with http_server(tmp_path) as server:
        assert server.running and server.pid is not None and process_exists(server.pid)
        assert http_status(f"{server.url}/hello.txt") == 200
        assert http_status(f"{server.url}/missing") == 404
        pid = server.pid
    assert not process_exists(pid) and not server.running
    assert server.returncode == -signal.SIGTERM
    assert http_status(f"{server.url}/hello.txt") is None
    assert '"GET /hello.txt HTTP/1.1" 200' in server.log_tail()


def test_stop_returns_the_exit_status_of_a_clean_shutdown(tmp_path: Path) -> None:
    server = http_server(tmp_path, stop_signal=signal.SIGINT)  # http.server exits 0 on Ctrl-C
    server.start()
    try:
        assert server.wait_ready() < 30
    finally:
        code = server.stop()
    assert code == 0 and server.returncode == 0
    assert not process_exists(server.pid)
    assert server.stop() == 0  # stopping twice is harmless


def test_a_child_that_exits_early_names_the_command_and_shows_its_log(tmp_path: Path) -> None:
    service = ServiceProcess(
        [sys.executable, "-c", "import sys; print('port 1 is taken'); sys.exit(3)"],
        url="http://127.0.0.1:9", log_file=tmp_path / "early.log", ready_timeout=30)
    started = time.monotonic()
    with pytest.raises(ServiceError) as error, service:
        pytest.fail("never ready")
    message = str(error.value)
    assert time.monotonic() - started < 20  # fails as soon as it exits, not at the timeout
    assert message.startswith("python -c ")
    assert "exited with status 3 before http://127.0.0.1:9/ answered" in message
    assert str(tmp_path / "early.log") in message and "port 1 is taken" in message
    assert service.returncode == 3


def test_a_child_that_never_answers_times_out_and_is_stopped(tmp_path: Path) -> None:
    port = free_port()
    service = ServiceProcess(
        [sys.executable, "-c", "import time; print('warming up', flush=True); time.sleep(60)"],
        url=f"http://127.0.0.1:{port}", log_file=tmp_path / "slow.log", ready_timeout=1.5,
        name="the slow server")
    with pytest.raises(ServiceError, match=r"^the slow server did not answer http://127\.0\.0\.1"
                       r":\d+/ within 2 s; the end of .*slow\.log:\nwarming up$"), service:
        pytest.fail("never ready")
    assert service.returncode == -signal.SIGTERM and not process_exists(service.pid)


def test_a_child_that_ignores_the_stop_signal_is_killed_after_the_grace_period(
        tmp_path: Path) -> None:
    script = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
              "print('ignoring SIGTERM', flush=True); time.sleep(60)")
    service = ServiceProcess([sys.executable, "-c", script], url="http://127.0.0.1:9",
                             log_file=tmp_path / "stubborn.log", grace_s=0.5)
    service.start()
    service.wait_until(lambda: "ignoring" in service.log_tail(), timeout=30, what="the handler",
                       interval=0.05)
    started = time.monotonic()
    assert service.stop() == -signal.SIGKILL
    assert 0.5 <= time.monotonic() - started < 10
    assert not process_exists(service.pid)


def test_wait_until_fails_fast_when_the_child_exits(tmp_path: Path) -> None:
    service = ServiceProcess([sys.executable, "-c", "print('bye')"], url="http://127.0.0.1:9",
                             log_file=tmp_path / "bye.log", name="the bye child")
    with pytest.raises(ServiceError, match="was never started"):
        service.check_alive()
    service.start()
    with pytest.raises(ServiceError, match=r"^the bye child exited \(status 0\); the end of "
                       r".*bye\.log:\nbye$"):
        service.wait_until(lambda: False, timeout=30, what="nothing")
    running = ServiceProcess([sys.executable, "-c", "import time; time.sleep(60)"],
                             url="http://127.0.0.1:9", log_file=tmp_path / "sleep.log")
    with pytest.raises(ServiceError, match=r"^timed out after 0 s waiting for a sign$"):
        running.start()
        try:
            running.wait_until(lambda: False, timeout=0.3, what="a sign", interval=0.1)
        finally:
            running.stop()
    assert not process_exists(running.pid)
