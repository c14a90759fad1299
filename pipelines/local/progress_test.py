"""ComponentProgress: timings and resource usage per component, from TFX's own log lines."""

from __future__ import annotations

import io
import logging

from pipelines.local.progress import ComponentProgress


def _say(progress: ComponentProgress, message: str) -> None:
    progress.emit(logging.LogRecord("absl", logging.INFO, __file__, 1, message, None, None))


def test_each_finished_component_has_its_seconds_cores_and_peak():
    progress = ComponentProgress(io.StringIO())
    _say(progress, "Component StatisticsGen is running.")
    block = bytearray(64 << 20)
    block[::4096] = b"x" * len(block[::4096])
    _say(progress, "Component StatisticsGen is finished.")
    _say(progress, "Component Pusher is running.")
    _say(progress, "A cached execution 7 is used.")
    _say(progress, "Component Pusher is finished.")
    assert set(progress.usage) == {"StatisticsGen", "Pusher"} == set(progress.seconds)
    usage = progress.usage["StatisticsGen"]
    assert usage["wall_seconds"] >= 0 and usage["cpu_seconds"] >= 0
    if usage["peak_rss_mib"] is not None:  # Linux
        assert usage["peak_rss_mib"] > 64
    assert progress.cached == {"Pusher"}
    assert "✔ StatisticsGen finished in" in progress.stream.getvalue()
    del block
