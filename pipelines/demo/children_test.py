"""Tail: a triggered run's log shown while it is written."""

from __future__ import annotations

import io
import time
from pathlib import Path

from pipelines.demo.children import Tail
from pipelines.demo.report import INDENT, DemoFacts, Steps


def test_tail_shows_appended_lines_including_an_unfinished_last_one(tmp_path: Path) -> None:
    out = io.StringIO()
    steps = Steps(DemoFacts(), out)
    log = tmp_path / "trigger.log"
    tail = Tail(log, steps)
    tail.start()
    time.sleep(0.2)  # the file does not exist yet: nothing to show, no error
    log.write_text("Running pipeline\n  ▶ Trainer ...\n")
    time.sleep(0.8)
    with log.open("a") as f:
        f.write("Done in 1.0 s.")
    tail.stop()
    assert out.getvalue().splitlines() == [
        f"{INDENT}| Running pipeline", f"{INDENT}|   ▶ Trainer ...",
        f"{INDENT}| Done in 1.0 s."]
