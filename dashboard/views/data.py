"""Data: a run's TFDV statistics as Facets Overview shows them, its anomalies, and drift.

Train is compared with eval (skew within a run) or a split with the same split of another run
(drift between spans), by the distances TFDV's skew and drift comparators use.
"""

from __future__ import annotations

import json
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import history, statistics, ui
from pipelines.common.names import SUMMARY_FILE

TRAIN_EVAL, OTHER_RUN = "Train vs eval", "Against another run"
GATE = "AnomaliesGate"
# Wide enough for DailyTimeSpentOnSite, and pinned: a narrow screen scrolls the rest under it.
feature_column = st.column_config.TextColumn(pinned=True, width=170)

cfg = ui.config()
st.title("Data")
st.caption("What each run read, as TFDV's StatisticsGen measured it: per feature, train beside "
           "eval or this run beside another, the anomalies ExampleValidator found against the "
           "curated schema (`schema/schema.pbtxt`), and how far each feature moved.")


@st.cache_data(show_spinner="Reading the statistics (TFDV) ...")
def _splits(uri: str, mtime: int) -> dict[str, dict[str, statistics.Feature]]:
    return statistics.read_splits(uri)


def splits_of(run: history.RunRecord) -> dict[str, dict[str, statistics.Feature]]:
    try:
        return _splits(run.statistics_uri, ui.mtime(run.statistics_uri))
    except statistics.StatisticsError as err:
        st.error(f"The statistics of run {run.run_id} cannot be read: {err}")
        st.stop()


def spans_text(run: history.RunRecord) -> str:
    spans = (run.data or {}).get("spans") or []
    if spans:
        return spans[0] if len(spans) == 1 else f"{spans[0]} … {spans[-1]} ({len(spans)} spans)"
    return "" if run.span is None else f"span {run.span}"


def run_label(run: history.RunRecord) -> str:
    data = spans_text(run)
    return f"{run.started:%Y-%m-%d %H:%M:%S} — {run.status}{f' — {data}' if data else ''}"


def stopped_at_gate(run: history.RunRecord, found: list[dict]) -> bool:
    """Whether the AnomaliesGate stopped the run: its run_summary.json says so."""
    path = Path(cfg.pipeline_root) / "runs" / run.run_id / SUMMARY_FILE
    try:
        return json.loads(path.read_text()).get("failed_component") == GATE
    except (OSError, ValueError, AttributeError):
        # No summary (a run started by another runner): a failed run that found errors and
        # trained no model stopped where the gate stands.
        return run.status == "failed" and run.model_uri is None and any(
            a["severity"] == "ERROR" for a in found)


runs = ui.runs_or_stop(cfg)
measured = [r for r in runs if r.statistics_uri]
if not measured:
    st.info("No run has computed data statistics yet: StatisticsGen runs right after the "
            "example gen, so a run in progress shows here in a moment.")
    st.stop()

run = st.selectbox("Run", measured, format_func=run_label, key="run",
                   help="Newest first. A run stopped at the AnomaliesGate has statistics too.")
st.caption(f"Run `{run.run_id}` read {spans_text(run) or 'its data'}"
           f"{f' ({run.examples})' if run.examples else ''}. "
           f"Statistics: `{run.statistics_uri}`")

st.header("Anomalies")
found = ui.anomalies(run.anomalies_uri, ui.mtime(run.anomalies_uri)) if run.anomalies_uri \
    else []
if run.anomalies_uri is None:
    st.info("ExampleValidator has not checked this run's data against the schema.")
elif found and stopped_at_gate(run, found):
    st.error(f"**This run was stopped at the AnomaliesGate**: ExampleValidator found "
             f"{len(found)} anomaly(ies) against the curated schema (`schema/schema.pbtxt`), "
             "and the gate stops such data before Transform, so no model was trained or "
             "pushed. Fix the data, or, if the change is real and wanted, update the schema "
             "(`make schema` writes TFDV's proposal to compare with).",
             icon=":material/block:")
elif found:
    st.warning(f"**{len(found)} anomaly(ies)** against the curated schema "
               "(`schema/schema.pbtxt`); the AnomaliesGate stops a run on such data before "
               "Transform.", icon=":material/warning:")
else:
    st.success("No anomalies: the data fits the curated schema.")
if found:
    # What is wrong comes right after the feature, so a narrow screen shows it unscrolled.
    st.dataframe(pd.DataFrame(found)[["feature", "description", "split", "severity",
                                      "short_description"]], hide_index=True, column_config={
        "feature": feature_column,
        "short_description": st.column_config.TextColumn("anomaly"),
        "description": st.column_config.TextColumn("description", width="medium")})

st.header("Statistics")
mine = splits_of(run)
others = [r for r in measured if r.run_id != run.run_id]
mode = st.segmented_control("Compare", [TRAIN_EVAL, OTHER_RUN], default=TRAIN_EVAL,
                            key="mode") or TRAIN_EVAL
if mode == OTHER_RUN and not others:
    st.info("Only this run has statistics: there is no other run to compare against yet. "
            "Showing train against eval.")
    mode = TRAIN_EVAL
if mode == TRAIN_EVAL:
    a, b = mine.get("train", {}), mine.get("eval", {})
    labels = ("train", "eval")
    what = "Train against eval of this run: skew between the splits."
else:
    # Default: the newest run older than this one (the previous span), else the newest.
    older = [r for r in others if r.started <= run.started]
    other = st.selectbox("Compare against run", others, format_func=run_label,
                         index=others.index(older[0]) if older else 0, key="other")
    split = st.segmented_control("Split", list(statistics.SPLITS), default="train",
                                 key="split") or "train"
    theirs = splits_of(other)
    a, b = mine.get(split, {}), theirs.get(split, {})
    labels = (f"this run ({split})", f"{other.run_id} ({split})")
    what = (f"The {split} split of this run against that of run `{other.run_id}` "
            f"({spans_text(other) or 'its data'}): drift between the data the runs read.")
if not a and not b:
    st.info("Neither dataset has any feature statistics (an empty split?).")
    st.stop()
st.caption(f"{what} Distance: Jensen-Shannon divergence of the histograms for numeric "
           "features, L-infinity (largest change in a value's share) for categorical and 0/1 "
           "ones, as TFDV's skew and drift comparators compute them; 0 is identical, 1 "
           "disjoint. Most changed first; statistics are of the first dataset.")
rows = pd.DataFrame(statistics.table(a, b, labels))
percent = st.column_config.NumberColumn(format="%.1f%%")
distance = st.column_config.ProgressColumn(
    "distance", min_value=0.0, max_value=1.0, format="%.4f",
    help="Jensen-Shannon (numeric) or L-infinity (categorical, 0/1) between the two datasets.")
number = st.column_config.NumberColumn(format="%.2f")
numeric = rows[rows["kind"] != statistics.CATEGORICAL]
if len(numeric):
    st.subheader("Numeric features")
    st.dataframe(numeric[["feature", "distance", "count", "missing %", "mean", "std", "zeros %",
                          "min", "median", "max", "kind", "measure", "note"]],
                 hide_index=True, column_config={
        "feature": feature_column, "distance": distance,
        "missing %": percent, "zeros %": percent,
        **{c: number for c in ("mean", "std", "min", "median", "max")}})
text = rows[rows["kind"] == statistics.CATEGORICAL]
if len(text):
    st.subheader("Categorical features")
    st.dataframe(text[["feature", "distance", "count", "missing %", "unique", "top value",
                       "top frequency", "measure", "note"]], hide_index=True, column_config={
        "feature": feature_column, "distance": distance,
        "missing %": percent, "top frequency": st.column_config.NumberColumn(format="%d")})

st.subheader("Distributions")
st.caption(f"Share of each dataset's values, so datasets of different sizes compare: "
           f"{labels[0]} against {labels[1]}. Numeric features on common bins; categorical "
           "features by their ten most frequent values; 0/1 features as two bars.")
colours = alt.Scale(domain=list(labels), range=["#1f77b4", "#ff7f0e"])
legend = alt.Legend(orient="top", title=None, labelLimit=260)
# fit-x: Streamlit's default autosize ("fit", streamlit/elements/vega_charts.py) counts title,
# legend and axes in the height, and leaves a histogram a few pixels high.
fit_width = alt.AutoSizeParams(type="fit-x", contains="padding")
for i, row in enumerate(rows.itertuples()):
    if i % 2 == 0:  # one row of two per pair, so a narrow screen stacks them in order
        charts = st.columns(2)
    points = pd.DataFrame(statistics.overlay(a.get(row.feature), b.get(row.feature), labels))
    title = row.feature if pd.isna(row.distance) else \
        f"{row.feature} — {row.measure} {row.distance:.3f}"
    box = charts[i % 2].container(border=True)
    if points.empty:
        box.markdown(f"**{row.feature}**: no values to draw ({row.note or 'all missing'}).")
        continue
    share = alt.Axis(format="%", title="share")
    if "low" in points:
        chart = alt.Chart(points, title=title, height=180, autosize=fit_width).mark_bar(
            opacity=0.55, binSpacing=0).encode(
            x=alt.X("low:Q", bin="binned", title=row.feature), x2="high:Q",
            y=alt.Y("share:Q", stack=None, axis=share),
            color=alt.Color("dataset:N", scale=colours, legend=legend),
            tooltip=["dataset", "low", "high", alt.Tooltip("share:Q", format=".1%")])
    else:
        chart = alt.Chart(points, title=title, height=alt.Step(9),
                          autosize=fit_width).mark_bar().encode(
            y=alt.Y("value:N", sort=None, title=None, axis=alt.Axis(labelLimit=140)),
            yOffset=alt.YOffset("dataset:N", sort=list(labels)),
            x=alt.X("share:Q", axis=share),
            color=alt.Color("dataset:N", scale=colours, legend=legend),
            tooltip=["dataset", "value", alt.Tooltip("share:Q", format=".1%")])
    box.altair_chart(chart, width="stretch")
