"""Child processes that serve HTTP: start one, wait until it answers, stop it.

The demo, the benchmarks and the tests start the model server and Streamlit this way. A child
writes its output to a log file; when it exits before it answers, or never answers, the error
names the command and shows the end of that log. Standard library only, so it works wherever
``pipelines/common`` does.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from http.client import HTTPException
from pathlib import Path
from types import TracebackType
from typing import Any

from pipelines.common.errors import ClickflowError
from pipelines.common.names import REPO_ROOT

# Never through a proxy: these are local children on 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServiceError(ClickflowError, RuntimeError):
    """A child process that exited early or did not answer in time; the message says which
    command and shows the end of its log."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def process_exists(pid: int) -> bool:
    """Whether a process with this id exists (a zombie not yet reaped counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's
        return True
    return True


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The status a GET of ``url`` answers with; None when nothing answers."""
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code
    except (urllib.error.URLError, HTTPException, OSError):
        return None


def stop_process(process: subprocess.Popen, *, stop_signal: int = signal.SIGTERM,
                 grace_s: float = 20.0) -> int:
    """Send ``stop_signal``, wait ``grace_s`` seconds, then kill; the exit status."""
    if process.poll() is None:
        process.send_signal(stop_signal)
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def describe(command: Sequence[str]) -> str:
    """``command`` as a shell line, with this interpreter shown as ``python``."""
    words = ["python" if word == sys.executable else str(word) for word in command]
    return shlex.join(words)


class ServiceProcess:
    """``command`` as a child process that answers HTTP at ``url``.

    ``start`` runs it from ``cwd`` with its output in ``log_file``; ``wait_ready`` polls
    ``url + ready_path`` until it answers 200; ``stop`` sends ``stop_signal`` and kills it after
    ``grace_s``. As a context manager it starts, waits up to ``ready_timeout`` and always stops.
    ``own_session`` puts it in a session of its own, so a Ctrl-C in the terminal reaches only the
    parent, which then stops it.
    """

    def __init__(self, command: Sequence[str], *, url: str, log_file: Path,
                 ready_path: str = "/", env: Mapping[str, str] | None = None,
                 cwd: Path = REPO_ROOT, name: str | None = None, ready_timeout: float = 180.0,
                 stop_signal: int = signal.SIGTERM, grace_s: float = 20.0,
                 own_session: bool = False):
        self.command = [str(word) for word in command]
        self.url = url.rstrip("/")
        self.ready_url = self.url + ready_path
        self.log_file = Path(log_file)
        self.env = None if env is None else dict(env)
        self.cwd = cwd
        self.name = name or describe(self.command)
        self.ready_timeout = ready_timeout
        self.stop_signal, self.grace_s = stop_signal, grace_s
        self.own_session = own_session
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    @property
    def returncode(self) -> int | None:
        """The exit status once it has exited; None while it runs or before it starts."""
        return None if self.process is None else self.process.poll()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> ServiceProcess:
        if self.process is not None:
            raise RuntimeError(f"{self.name} was already started")
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("w") as log:
            self.process = subprocess.Popen(
                self.command, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=self.own_session)
        return self

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of its log."""
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _failure(self, what: str) -> ServiceError:
        return ServiceError(f"{self.name} {what}; the end of {self.log_file}:\n"
                            f"{self.log_tail()}")

    def check_alive(self) -> None:
        """ServiceError when it is not running (never started, or exited)."""
        if self.process is None:
            raise ServiceError(f"{self.name} was never started")
        code = self.process.poll()
        if code is not None:
            raise self._failure(f"exited (status {code})")

    def wait_until(self, condition: Callable[[], Any], *, timeout: float, what: str,
                   interval: float = 0.5) -> Any:
        """Poll ``condition`` until it returns something truthy, and return that; ServiceError
        when the process exits first or after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise ServiceError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(interval)

    def wait_ready(self, timeout: float | None = None, interval: float = 0.2) -> float:
        """Wait until ``ready_url`` answers 200; the seconds it took."""
        timeout = self.ready_timeout if timeout is None else timeout
        if self.process is None:
            raise ServiceError(f"{self.name} was never started")
        started = time.monotonic()
        while True:
            code = self.process.poll()
            if code is not None:
                raise self._failure(f"exited with status {code} before {self.ready_url} "
                                    "answered")
            if http_status(self.ready_url) == 200:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise self._failure(f"did not answer {self.ready_url} within {timeout:.0f} s")
            time.sleep(interval)

    def stop(self, grace_s: float | None = None) -> int | None:
        """Stop it (``stop_signal``, then kill after the grace period); its exit status, or None
        when it was never started."""
        if self.process is None:
            return None
        return stop_process(self.process, stop_signal=self.stop_signal,
                            grace_s=self.grace_s if grace_s is None else grace_s)

    def __enter__(self) -> ServiceProcess:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
