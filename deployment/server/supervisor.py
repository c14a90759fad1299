"""``--workers N``: N server processes on one port, started, watched and stopped by this one.

One Python process answers on one core (the GIL); a pod or machine with more cores needs more
processes. The supervisor binds the REST socket once and starts N fresh interpreters
(``python -m deployment.server ... --worker-fd FD``, never ``fork``: TensorFlow is not
fork-safe) that inherit the listening socket and ``accept`` on it; the kernel gives each new
connection to one of them. Each worker loads and watches the models itself, so hot swap,
batching and the request log work per worker as with one process (the request log's file
names carry the pid; retention is folder-wide). ``/metrics`` sums over the workers through
prometheus_client's multiprocess mode, in a fresh folder this process creates and deletes.

SIGTERM or SIGINT: forwarded to the workers as SIGTERM (each finishes its requests and flushes
its request log), waited for up to ``stop_timeout`` seconds, then killed; exit status 0. A
worker that exits on its own is logged and restarted after a back-off that doubles from 1 s to
30 s and starts again from 1 s once a worker has lived 60 s. When every worker keeps dying
young (``give_up_after`` times in a row, each within 60 s of its start: a broken installation,
not a missing model, which is served as 404), the supervisor stops the others and exits 1, so
that the pod restarts (with Kubernetes' own back-off, visibly), instead of retrying forever.

The supervisor never imports TensorFlow or the app: it starts in a fraction of a second and
holds no model memory.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from types import FrameType

from deployment.server.metrics import MULTIPROC_ENV

log = logging.getLogger("deployment.server.supervisor")


def worker_command(argv: Sequence[str], fd: int) -> list[str]:
    """The command line of one worker: this server's own flags plus the inherited socket."""
    return [sys.executable, "-m", "deployment.server", *argv, "--worker-fd", str(fd)]


@dataclasses.dataclass
class _Slot:
    """One of the N worker places: the process in it now, and its restart history."""

    number: int
    process: subprocess.Popen | None = None
    started: float = 0.0
    restart_at: float = 0.0
    backoff: float = 0.0
    young_deaths: int = 0


class Supervisor:
    """Runs ``workers`` processes of ``command(fd)`` on the listening socket ``sock``."""

    def __init__(self, sock: socket.socket, workers: int,
                 command: Callable[[int], list[str]], *, min_backoff: float = 1.0,
                 max_backoff: float = 30.0, stable_seconds: float = 60.0,
                 give_up_after: int = 5, stop_timeout: float = 20.0, tick: float = 0.1,
                 clock: Callable[[], float] = time.monotonic):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.sock = sock
        self.command = command
        self.min_backoff, self.max_backoff = min_backoff, max_backoff
        self.stable_seconds = stable_seconds
        self.give_up_after = give_up_after
        self.stop_timeout = stop_timeout
        self.tick = tick
        self.clock = clock
        self.slots = [_Slot(number) for number in range(1, workers + 1)]
        self.metrics_dir: str | None = None
        self._stop_signal: int | None = None

    def run(self) -> int:
        """Starts the workers and keeps them running until SIGTERM/SIGINT (0) or until they
        all keep failing (1)."""
        previous = {sig: signal.signal(sig, self._on_signal)
                    for sig in (signal.SIGTERM, signal.SIGINT)}
        self.metrics_dir = tempfile.mkdtemp(prefix="clickflow-serving-metrics-")
        try:
            code = self._loop()
            self._stop_all()
            return code
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            shutil.rmtree(self.metrics_dir, ignore_errors=True)
            self.sock.close()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._stop_signal is None:
            log.info("supervisor: %s received, stopping the workers",
                     signal.Signals(signum).name)
        self._stop_signal = signum

    def _loop(self) -> int:
        while self._stop_signal is None:
            now = self.clock()
            for slot in self.slots:
                if slot.process is None:
                    if now >= slot.restart_at:
                        self._spawn(slot)
                else:
                    code = slot.process.poll()
                    if code is not None:
                        pid, slot.process = slot.process.pid, None
                        self._exited(slot, pid, code, now)
            if any(slot.young_deaths >= self.give_up_after for slot in self.slots):
                log.error("supervisor: a worker exited within %.0f s of starting %d times in "
                          "a row; giving up (exit 1). The workers' own messages above say "
                          "why", self.stable_seconds, self.give_up_after)
                return 1
            time.sleep(self.tick)
        return 0

    def _spawn(self, slot: _Slot) -> None:
        env = {**os.environ, MULTIPROC_ENV: self.metrics_dir or ""}
        fd = self.sock.fileno()
        slot.started = self.clock()
        try:
            slot.process = subprocess.Popen(self.command(fd), env=env, pass_fds=(fd,),
                                            stdin=subprocess.DEVNULL)
        except OSError as err:  # no memory, no processes left: a start that failed
            self._exited(slot, None, 1, slot.started, f" ({err})")
            return
        log.info("supervisor: worker %d started (pid %d)", slot.number, slot.process.pid)

    def _exited(self, slot: _Slot, pid: int | None, code: int, now: float,
                error: str = "") -> None:
        """Bookkeeping and the back-off after worker ``pid`` of ``slot`` exited (None: it
        could not be started)."""
        lived = now - slot.started
        if pid is not None:
            self._forget(pid)
        if lived >= self.stable_seconds:
            slot.backoff, slot.young_deaths = 0.0, 0
        slot.young_deaths += lived < self.stable_seconds
        slot.backoff = min(self.max_backoff, max(self.min_backoff, slot.backoff * 2))
        slot.restart_at = now + slot.backoff
        if pid is None:
            what = f"worker {slot.number} could not be started{error}"
        elif code < 0:
            what = (f"worker {slot.number} (pid {pid}) was killed by "
                    f"{signal.Signals(-code).name} after {lived:.1f} s")
        else:
            what = f"worker {slot.number} (pid {pid}) exited with status {code} after {lived:.1f} s"
        if slot.young_deaths >= self.give_up_after:
            log.error("supervisor: %s", what)
        else:
            log.error("supervisor: %s; restarting it in %.1f s", what, slot.backoff)

    def _forget(self, pid: int) -> None:
        """Drops an exited worker's live gauges from ``/metrics`` (its counts stay)."""
        if self.metrics_dir is None:
            return
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, self.metrics_dir)

    def _stop_all(self) -> None:
        running = [slot for slot in self.slots if slot.process is not None
                   and slot.process.poll() is None]
        for slot in running:
            assert slot.process is not None
            slot.process.send_signal(signal.SIGTERM)
        deadline = self.clock() + self.stop_timeout
        for slot in self.slots:
            if slot.process is None:
                continue
            try:
                slot.process.wait(max(0.0, deadline - self.clock()))
            except subprocess.TimeoutExpired:
                log.error("supervisor: worker %d (pid %d) did not stop within %.0f s; "
                          "killing it", slot.number, slot.process.pid, self.stop_timeout)
                slot.process.kill()
                slot.process.wait()
            self._forget(slot.process.pid)
            slot.process = None
        log.info("supervisor: all workers stopped")
