"""The run lock, held by real processes: a second holder is refused (naming the first), a
waiting one gets it when the first ends, and a lock whose holder was killed is taken over."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.common import names
from pipelines.local.run_lock import LOCK_FILE, RunLock, RunLockedError

# A process that takes the lock, says so, and holds it until stdin closes (or it is killed).
_HOLD = """
import sys
from pipelines.local.run_lock import RunLock
lock = RunLock(__import__("pathlib").Path(sys.argv[1]), "run-a", command=["hold", "it"])
lock.acquire()
print("held", flush=True)
sys.stdin.read()
lock.release() if sys.argv[2] == "release" else None
"""


def _holder(root: Path, ending: str = "release") -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", _HOLD, str(root), ending],
                               cwd=names.REPO_ROOT, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_second_run_is_refused_naming_the_first(tmp_path: Path) -> None:
    first = _holder(tmp_path)
    try:
        with pytest.raises(RunLockedError) as caught:
            RunLock(tmp_path, "run-b").acquire()
        message = str(caught.value)
        assert f"in use by run run-a (pid {first.pid}, started " in message
        assert ": hold it)" in message and "--wait-lock" in message
        assert "--pipeline-root" in message
    finally:
        first.communicate("")
    with RunLock(tmp_path, "run-b") as lock:  # released cleanly: no takeover notice
        assert lock.takeover_notice() is None
        assert json.loads((tmp_path / LOCK_FILE).read_text())["run_id"] == "run-b"
    assert (tmp_path / LOCK_FILE).read_text() == ""


def test_a_waiting_run_starts_when_the_first_ends(tmp_path: Path, capsys) -> None:
    first = _holder(tmp_path)
    subprocess.Popen(["sh", "-c", f"sleep 1; kill -TERM {first.pid}"])
    started = time.monotonic()
    with RunLock(tmp_path, "run-b", wait_seconds=30):
        assert 0.5 < time.monotonic() - started < 20
    assert "Waiting up to 30 s for run run-a" in capsys.readouterr().out
    first.wait()


def test_the_lock_of_a_killed_run_is_taken_over_with_a_notice(tmp_path: Path) -> None:
    first = _holder(tmp_path, ending="never")
    first.send_signal(signal.SIGKILL)
    first.wait()
    lock = RunLock(tmp_path, "run-b").acquire()
    try:
        assert lock.previous is not None and lock.previous.pid == first.pid
        notice = lock.takeover_notice()
        assert notice.startswith(f"Notice: the last run run-a (pid {first.pid}")
        assert "ended without finishing (killed or crashed)" in notice
    finally:
        lock.release()


def test_an_unreadable_lock_file_does_not_stop_a_run(tmp_path: Path) -> None:
    (tmp_path / LOCK_FILE).write_bytes(b"\xff not json")
    with RunLock(tmp_path, "run-b") as lock:
        assert lock.previous is None
