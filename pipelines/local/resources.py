"""CPU and memory of each component of a local run: cores used and peak resident memory.

LocalDagRunner runs every component in this process (Beam's in-process runner included), so
per component the figures are:

- peak RSS: this process's high-water mark (``VmHWM`` in ``/proc/self/status``), reset at each
  component's start by writing ``5`` to ``/proc/self/clear_refs`` (Linux's documented way to
  reset it: ``Documentation/filesystems/proc.rst``), plus the largest sum of the resident
  memory of its child processes seen by a sampler (Beam's worker processes, pip), which the
  high-water mark does not include;
- CPU: user + system time of this process and of the children it waited for (``os.times``),
  over the component's wall time: 1.0 is one core busy for the whole component.

The reset also lowers what ``getrusage``/``wait4`` report as the process's ``ru_maxrss`` (the
same kernel counter): a whole run's peak is the largest of its components' peaks.

Without ``/proc`` (not Linux) the memory figures are None; nothing here fails a run.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
_KIB = re.compile(r"^(VmHWM|VmRSS):\s+(\d+) kB$", re.MULTILINE)
SAMPLE_SECONDS = 0.25


def _status_kib(pid: str = "self") -> dict[str, int]:
    try:
        text = (PROC / pid / "status").read_text()
    except OSError:
        return {}
    return {name: int(kib) for name, kib in _KIB.findall(text)}


def reset_peak() -> bool:
    """Resets this process's VmHWM to its current RSS; False where the kernel does not allow it."""
    try:
        (PROC / "self" / "clear_refs").write_text("5")
    except OSError:
        return False
    return True


def children(pid: str = "self") -> list[str]:
    """The pids of ``pid``'s child processes (every thread's, as each thread is a parent)."""
    found: list[str] = []
    try:
        tasks = list((PROC / pid / "task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += (task / "children").read_text().split()
        except OSError:
            continue
    return found


def descendants_rss_kib(pid: str = "self") -> int:
    """The summed resident memory of every process below ``pid`` (children, theirs, ...)."""
    total, todo, seen = 0, children(pid), set()
    while todo:
        child = todo.pop()
        if child in seen:
            continue
        seen.add(child)
        total += _status_kib(child).get("VmRSS", 0)
        todo += children(child)
    return total


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@dataclass(frozen=True)
class Usage:
    """What one component used."""

    wall_seconds: float
    cpu_seconds: float
    peak_rss_mib: float | None  # this process's peak + its children's largest summed RSS

    @property
    def cores(self) -> float:
        return self.cpu_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def as_dict(self) -> dict[str, float | None]:
        return {
            "wall_seconds": round(self.wall_seconds, 2),
            "cpu_seconds": round(self.cpu_seconds, 2),
            "cores": round(self.cores, 2),
            "peak_rss_mib": None if self.peak_rss_mib is None else round(self.peak_rss_mib),
        }


class Meter:
    """``start()`` at a component's start, ``stop()`` at its end returns its ``Usage``.

    One component at a time (LocalDagRunner runs them one after another). A daemon thread
    samples the children's memory while a component runs.
    """

    def __init__(self, interval: float = SAMPLE_SECONDS):
        self.interval = interval
        self._lock = threading.Lock()
        self._children_peak = 0
        self._running = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = (0.0, 0.0)
        self._reset_ok = False

    def start(self) -> None:
        self._reset_ok = reset_peak()
        with self._lock:
            self._children_peak = descendants_rss_kib()
        self._started = (time.perf_counter(), _cpu_seconds())
        self._running.set()
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._sample, name="clickflow-meter", daemon=True
            )
            self._thread.start()

    def stop(self) -> Usage:
        self._running.clear()
        wall = time.perf_counter() - self._started[0]
        cpu = _cpu_seconds() - self._started[1]
        self._sample_once()
        own = _status_kib().get("VmHWM")
        peak = None
        if own is not None and self._reset_ok:
            peak = (own + self._children_peak) / 1024
        return Usage(wall, cpu, peak)

    def _sample_once(self) -> None:
        kib = descendants_rss_kib()
        with self._lock:
            self._children_peak = max(self._children_peak, kib)

    def _sample(self) -> None:
        while True:
            self._running.wait()
            self._sample_once()
            time.sleep(self.interval)
