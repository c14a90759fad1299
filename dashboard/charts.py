"""Chart pieces the monitoring and health pages share, readable with one point in time and with
hundreds.

With a single time (one monitoring window, one bucket of requests) a time axis is degenerate:
every mark sits on one x position under repeated tick labels. Then the values are drawn as
labelled bars by category instead. With many times the axis gets a 24-hour UTC format fine
enough for its span (``time_format``): a fixed "%m-%d %H:%M" repeats one label for ticks
seconds apart, and Vega's default writes "05 PM" in the browser's time zone.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

# Colour-blind-safe and far apart (Okabe-Ito): thresholds never share a feature's hue.
THRESHOLD_COLOURS = ("#000000", "#D55E00", "#0072B2", "#CC79A7")
BREACH_COLOUR = "#D62728"


def time_format(span_seconds: float, ticks: int = 8) -> str:
    """A d3 time format whose labels differ between ticks ``span / ticks`` apart, 24-hour."""
    step = span_seconds / ticks
    if step < 60:
        return "%H:%M:%S"
    if span_seconds < 86400:
        return "%H:%M"
    if step < 86400:
        return "%m-%d %H:%M"
    return "%Y-%m-%d"


def time_x(field: str, title: str, frame: pd.DataFrame) -> alt.X:
    """A UTC time axis (the data is UTC; Vega would otherwise label it in the browser's zone)
    with labels that stay distinct over the frame's span."""
    values = pd.to_datetime(frame[field]) if not frame.empty else None
    span = (values.max() - values.min()).total_seconds() if values is not None else 0.0
    fmt = time_format(span)
    # labelExpr as well as format: Streamlit's chart theme kept Vega's default labels
    # ("06 PM", ":55") in Chromium with format alone.
    return alt.X(f"{field}:T", title=title, scale=alt.Scale(type="utc"),
                 axis=alt.Axis(format=fmt, formatType="utc", labelAngle=0, labelOverlap=True,
                               tickCount=8, labelExpr=f"utcFormat(datum.value, '{fmt}')"))


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
                  tooltip: list | None = None, domain: list[float] | None = None,
                  scale: alt.Scale | None = None) -> alt.LayerChart:
    """Horizontal bars of ``value`` per ``category``, each with its value written beside it:
    what one point in time shows instead of a time axis."""
    encoding = {
        "y": alt.Y(f"{category}:N", title=title, sort=None),
        "x": alt.X(f"{value}:Q", title=value_title,
                   scale=alt.Scale(domain=domain, nice=False) if domain else alt.Undefined),
        "tooltip": tooltip or [category, alt.Tooltip(f"{value}:Q", format=fmt)],
    }
    if colour:
        encoding["color"] = alt.Color(f"{colour}:N", title=colour, legend=None,
                                      scale=scale or alt.Undefined)
    bars = alt.Chart(frame).mark_bar().encode(**encoding)
    text = alt.Chart(frame).mark_text(align="left", dx=4).encode(
        y=alt.Y(f"{category}:N", sort=None), x=f"{value}:Q",
        text=alt.Text(f"{value}:Q", format=fmt))
    return bars + text
