"""The Monitoring page's charts: skew/drift per feature and live AUC per model version.

One window draws labelled bars (a time axis with one x position says nothing); many windows
draw lines on a time axis. Thresholds get their own colours and legend, never a feature's hue,
and a breach is a large marker in its feature's colour and shape ringed in red, so two features
breaching in one window stay apart.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from dashboard.charts import (
    BREACH_COLOUR,
    THRESHOLD_COLOURS,
    labelled_bars,
    time_x,
    times,
    value_domain,
)

# Legends under the chart: beside it they squeeze the plot to a sliver on a phone.
BOTTOM = {"orient": "bottom", "direction": "horizontal", "columns": 2}
_MEASURES = {"L_INFTY": "L-infinity", "JENSEN_SHANNON_DIVERGENCE": "Jensen-Shannon"}


def threshold_rows(shown: pd.DataFrame) -> pd.DataFrame:
    """One row per distinct threshold value, named by the measures that use it."""
    rows = []
    for value, group in shown.groupby("threshold"):
        measures = " / ".join(_MEASURES.get(m, m) for m in sorted(group["measure"].unique()))
        rows.append({"threshold": float(value), "threshold_of": f"{measures} ≤ {value:g}"})
    return pd.DataFrame(rows)


def _threshold_colour(limits: pd.DataFrame) -> alt.Color:
    return alt.Color("threshold_of:N", title="threshold", legend=alt.Legend(**BOTTOM),
                     scale=alt.Scale(
        domain=list(limits["threshold_of"]),
        range=list(THRESHOLD_COLOURS[:len(limits)]) or list(THRESHOLD_COLOURS[:1])))


def drift_chart(shown: pd.DataFrame, value_title: str) -> alt.LayerChart:
    limits = threshold_rows(shown)
    tooltip = ["report", "feature", "measure", alt.Tooltip("value:Q", format=".4f"),
               "threshold", "breached"]
    if times(shown, "window_end") == 1:
        flagged = shown.assign(state=shown["breached"].map({True: "breached",
                                                            False: "within threshold"}))
        bars = alt.Chart(flagged).mark_bar().encode(
            y=alt.Y("feature:N", title=None, sort="-x"),
            x=alt.X("value:Q", title=value_title),
            color=alt.Color("state:N", title="window", legend=alt.Legend(**BOTTOM),
                            scale=alt.Scale(
                domain=["within threshold", "breached"], range=["#56B4E9", BREACH_COLOUR])),
            tooltip=tooltip)
        text = alt.Chart(flagged).mark_text(align="left", dx=4).encode(
            y=alt.Y("feature:N", sort="-x"), x="value:Q", text=alt.Text("value:Q", format=".3f"))
        rules = alt.Chart(limits).mark_rule(strokeDash=[6, 4], strokeWidth=2).encode(
            x="threshold:Q", color=_threshold_colour(limits), tooltip=["threshold_of"])
        return alt.layer(bars + text, rules).resolve_scale(color="independent")
    x = time_x("window_end", "window end (UTC)", shown)
    colour = alt.Color("feature:N", title="feature", legend=alt.Legend(**BOTTOM))
    lines = alt.Chart(shown).mark_line(point=alt.OverlayMarkDef(size=20)).encode(
        x=x, y=alt.Y("value:Q", title=value_title), color=colour, tooltip=tooltip)
    breaches = alt.Chart(shown).transform_filter(alt.datum.breached).mark_point(
        filled=True, size=170, stroke=BREACH_COLOUR, strokeWidth=2, opacity=1).encode(
        x=x, y="value:Q", color=colour,
        shape=alt.Shape("feature:N", title="breached (feature)", legend=alt.Legend(**BOTTOM)),
        tooltip=tooltip)
    rules = alt.Chart(limits).mark_rule(strokeDash=[6, 4], strokeWidth=2).encode(
        y="threshold:Q", color=_threshold_colour(limits), tooltip=["threshold_of"])
    return alt.layer(lines + breaches, rules).resolve_scale(color="independent")


def auc_chart(with_auc: pd.DataFrame, live_auc_min: float | None) -> alt.LayerChart:
    extra = () if live_auc_min is None else (live_auc_min,)
    domain = value_domain(with_auc["auc"], *extra, floor=0.0, ceiling=1.0)
    tooltip = ["report", "version", alt.Tooltip("auc:Q", format=".4f"),
               alt.Tooltip("accuracy:Q", format=".4f"),
               alt.Tooltip("calibration:Q", format=".3f"), "labelled"]
    limit = pd.DataFrame({"live_auc_min": list(extra),
                          "threshold_of": [f"live_auc_min {v:g}" for v in extra]})
    limit_colour = alt.Color("threshold_of:N", title="threshold", legend=alt.Legend(**BOTTOM),
                             scale=alt.Scale(range=[THRESHOLD_COLOURS[1]]))
    if times(with_auc, "window_end") == 1:
        values = labelled_bars(with_auc, "version", "auc", title="model version",
                               value_title="live AUC", tooltip=tooltip, domain=[0.0, 1.0])
        if limit.empty:
            return alt.layer(values)
        rule = alt.Chart(limit).mark_rule(strokeDash=[6, 4], strokeWidth=2).encode(
            x="live_auc_min:Q", color=limit_colour, tooltip=["threshold_of"])
        return alt.layer(values, rule).resolve_scale(color="independent")
    lines = alt.Chart(with_auc).mark_line(point=alt.OverlayMarkDef(size=60)).encode(
        x=time_x("window_end", "window end (UTC)", with_auc),
        y=alt.Y("auc:Q", title="live AUC", scale=alt.Scale(domain=domain, nice=False)),
        color=alt.Color("version:N", title="model version", legend=alt.Legend(**BOTTOM)),
        tooltip=tooltip)
    if limit.empty:
        return alt.layer(lines)
    rule = alt.Chart(limit).mark_rule(strokeDash=[6, 4], strokeWidth=2).encode(
        y="live_auc_min:Q", color=limit_colour, tooltip=["threshold_of"])
    return alt.layer(lines, rule).resolve_scale(color="independent")
