"""Chart pieces the monitoring and health pages share, readable with one point in time and with
hundreds.

With a single time (one monitoring window, one bucket of requests) a time axis is degenerate:
every mark sits on one x position under repeated tick labels. Then the values are drawn as
labelled bars by category instead. With many times the axis keeps Vega-Lite's own multi-scale
time format (it writes "10:15", "Mar 02", ... as the span needs), which stays distinct where
a fixed "%m-%d %H:%M" repeats the same label for ticks minutes apart.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

# Colour-blind-safe and far apart (Okabe-Ito): thresholds never share a feature's hue.
THRESHOLD_COLOURS = ("#000000", "#D55E00", "#0072B2", "#CC79A7")
BREACH_COLOUR = "#D62728"


def time_axis(title: str) -> alt.Axis:
    return alt.Axis(title=title, labelOverlap=True, labelAngle=0, tickCount=8)


def times(frame: pd.DataFrame, column: str) -> int:
    """How many distinct times ``column`` holds (0 for an empty frame)."""
    return 0 if frame.empty else int(frame[column].nunique())


def value_domain(values: pd.Series, *extra: float, floor: float | None = None,
                 ceiling: float | None = None) -> list[float]:
    """A y domain around the data (and ``extra`` values such as a threshold), padded by 10%
    of the range so no point sits on the chart's edge and is clipped."""
    points = [float(v) for v in values.dropna()] + [float(e) for e in extra]
    low, high = min(points), max(points)
    pad = (high - low) * 0.1 or max(abs(high) * 0.05, 0.01)
    low, high = low - pad, high + pad
    if floor is not None:
        low = max(low, floor)
    if ceiling is not None:
        high = min(high, ceiling)
    return [low, high]


def labelled_bars(frame: pd.DataFrame, category: str, value: str, *, title: str,
                  value_title: str, colour: str | None = None, fmt: str = ".4f",
                  tooltip: list | None = None, domain: list[float] | None = None
                  ) -> alt.LayerChart:
    """Horizontal bars of ``value`` per ``category``, each with its value written beside it:
    what one point in time shows instead of a time axis."""
    encoding = {
        "y": alt.Y(f"{category}:N", title=title, sort=None),
        "x": alt.X(f"{value}:Q", title=value_title,
                   scale=alt.Scale(domain=domain, nice=False) if domain else alt.Undefined),
        "tooltip": tooltip or [category, alt.Tooltip(f"{value}:Q", format=fmt)],
    }
    if colour:
        encoding["color"] = alt.Color(f"{colour}:N", title=colour)
    bars = alt.Chart(frame).mark_bar().encode(**encoding)
    text = alt.Chart(frame).mark_text(align="left", dx=4).encode(
        y=alt.Y(f"{category}:N", sort=None), x=f"{value}:Q",
        text=alt.Text(f"{value}:Q", format=fmt))
    return bars + text
