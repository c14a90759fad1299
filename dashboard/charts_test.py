"""Time labels that stay distinct over any span, and y domains that never clip a point."""

from __future__ import annotations

import pandas as pd
import pytest

from dashboard import charts


@pytest.mark.parametrize(("span", "expected"), [
    (240, "%H:%M:%S"), (3600, "%H:%M"), (2 * 86400, "%m-%d %H:%M"), (30 * 86400, "%Y-%m-%d")])
def test_the_time_format_is_fine_enough_for_eight_ticks(span, expected):
    assert charts.time_format(span) == expected


def test_eight_ticks_four_minutes_apart_get_eight_different_labels():
    start = pd.Timestamp("2026-03-01 10:00:00", tz="UTC")
    ticks = [start + pd.Timedelta(seconds=30 * i) for i in range(8)]
    labels = {t.strftime(charts.time_format(240)) for t in ticks}
    assert len(labels) == 8


def test_the_value_domain_holds_every_value_and_the_threshold_inside_its_edges():
    low, high = charts.value_domain(pd.Series([0.91, 0.95, None]), 0.75, floor=0, ceiling=1)
    assert low < 0.75 and 0.95 < high <= 1.0
    low, high = charts.value_domain(pd.Series([0.5]))  # one value: still a range around it
    assert low < 0.5 < high
