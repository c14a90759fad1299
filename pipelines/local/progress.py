"""Per-component progress of a LocalDagRunner run, read from TFX's own log records."""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any, TextIO

from pipelines.local.resources import Meter

_RUNNING = re.compile(r"^Component (\S+) is running\.$")
_FINISHED = re.compile(r"^Component (\S+) is finished\.$")
_CACHED = re.compile(r"^A cached execution \d+ is used\.$")


class ComponentProgress(logging.Handler):
    """Prints each component's start and finish with its seconds, and records the timings."""

    def __init__(self, stream: TextIO | None = None, meter: Meter | None = None):
        super().__init__(level=logging.INFO)
        self.stream = stream or sys.stdout
        self.meter = meter or Meter()
        self.seconds: dict[str, float] = {}
        self.usage: dict[str, dict[str, Any]] = {}  # component -> cores, peak RSS (resources)
        self.cached: set[str] = set()
        self._started: dict[str, float] = {}
        self._current: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return
        if match := _RUNNING.match(message):
            self._current = match.group(1)
            self._started[self._current] = time.perf_counter()
            self.meter.start()
            self._print(f"  ▶ {self._current} ...")
        elif _CACHED.match(message) and self._current:
            self.cached.add(self._current)
        elif match := _FINISHED.match(message):
            name = match.group(1)
            elapsed = time.perf_counter() - self._started.get(name, time.perf_counter())
            self.seconds[name] = round(elapsed, 2)
            self.usage[name] = self.meter.stop().as_dict()
            note = " (cached)" if name in self.cached else ""
            self._print(f"  ✔ {name} finished in {elapsed:.1f} s{note}")
            self._current = None

    @property
    def running(self) -> str | None:
        """The component that started and has not finished (the one that failed, after a crash)."""
        return self._current

    def _print(self, line: str) -> None:
        print(line, file=self.stream, flush=True)
