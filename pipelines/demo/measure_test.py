"""The monitor's window for the drifted phase."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pipelines.demo.measure import judged_window

T0 = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)


def test_judged_window_makes_the_previous_window_cover_the_normal_phase() -> None:
    for normal, drifted in ((30, 10), (10, 30), (20, 20)):
        before = T0
        between = before + timedelta(seconds=normal)
        after = between + timedelta(seconds=drifted)
        window = judged_window(before, between, after)
        previous_start = window.start - (window.end - window.start)
        assert window.start == between and window.end >= after
        assert previous_start <= before
