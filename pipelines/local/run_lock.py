"""One local run at a time per pipeline root: an advisory lock file held for the whole run.

Two runs on one pipeline root share one ML Metadata store and one serving folder; run at once,
their results mix. ``fcntl.flock`` is released by the kernel when its process ends, however it
ends, so a killed run never blocks the next one; the lock file also says who holds it (pid,
start time, command), which is what the second run prints, and what the next run reads to tell
that the last one ended without releasing it (killed or crashed).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from pipelines.common.errors import ClickflowError

LOCK_FILE = ".clickflow-run.lock"


class RunLockedError(ClickflowError):
    """Another run holds the pipeline root."""


@dataclasses.dataclass(frozen=True)
class Holder:
    """Who holds (or last held) a pipeline root."""

    pid: int
    started: str
    command: str
    run_id: str

    def describe(self) -> str:
        return f"run {self.run_id} (pid {self.pid}, started {self.started}: {self.command})"


def _read_holder(fd: int) -> Holder | None:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 65_536)
    try:
        data = json.loads(raw.decode())
        return Holder(int(data["pid"]), str(data["started"]), str(data["command"]),
                      str(data["run_id"]))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None


class RunLock:
    """``with RunLock(root, run_id):`` holds the pipeline root for this process.

    ``wait_seconds`` > 0 waits that long for another run to finish before giving up.
    ``previous`` is set when the last holder ended without releasing the lock.
    """

    def __init__(self, pipeline_root: Path, run_id: str, wait_seconds: float = 0.0,
                 command: list[str] | None = None):
        self.path = Path(pipeline_root) / LOCK_FILE
        self.run_id = run_id
        self.wait_seconds = wait_seconds
        self.command = " ".join(command if command is not None else sys.argv)[:500]
        self.previous: Holder | None = None
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.wait_seconds
        announced = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _read_holder(fd)
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise RunLockedError(self._busy_message(holder)) from None
                if not announced:
                    print(f"Waiting up to {self.wait_seconds:.0f} s for "
                          f"{holder.describe() if holder else 'another run'} to finish...",
                          flush=True)
                    announced = True
                time.sleep(0.5)
        self.previous = _read_holder(fd)
        holder = Holder(os.getpid(), time.strftime("%Y-%m-%d %H:%M:%S %Z"), self.command,
                        self.run_id)
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(dataclasses.asdict(holder)) + "\n").encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Empties the lock file (a clean end) and releases it."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):  # a full or read-only disk: released all the same
            os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def _busy_message(self, holder: Holder | None) -> str:
        root = self.path.parent
        who = holder.describe() if holder else "another run (its lock file names no process)"
        return (f"the pipeline root {root} is in use by {who}. Two runs on one pipeline root "
                "would mix their results. Wait for it to finish (or pass --wait-lock SECONDS "
                "to wait), or run this one with another --pipeline-root (and --serving-dir).")

    def takeover_notice(self) -> str | None:
        """A line for the user when the last run ended without releasing the lock."""
        if self.previous is None or self.previous.pid == os.getpid():
            return None
        return (f"Notice: the last {self.previous.describe()} ended without finishing "
                "(killed or crashed); its lock is taken over.")
