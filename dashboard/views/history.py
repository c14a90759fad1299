"""Model history: every pipeline run from ML Metadata, its evaluation, and the latest data."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import history, ui

cfg = ui.config()
st.title("Model history")
st.caption(f"Every run of pipeline '{cfg.pipeline_name}' recorded in ML Metadata "
           f"(`{cfg.metadata_path}`), newest first: what it read, how the model scored on the "
           f"eval split, whether the Evaluator blessed it and which version was pushed.")

try:
    runs = ui.runs(cfg)
except history.HistoryUnavailable as err:
    ui.no_runs(cfg, str(err))
    st.stop()
if not runs:
    ui.no_runs(cfg, f"the metadata store has no run of pipeline '{cfg.pipeline_name}'")
    st.stop()

metrics = {r.run_id: ui.evaluation(r.evaluation_uri, ui.mtime(r.evaluation_uri))
           for r in runs if r.evaluation_uri}


def _data_text(run: history.RunRecord) -> str:
    if run.data and run.data.get("spans"):
        return ", ".join(run.data["spans"])
    if run.data and run.data.get("path"):
        return str(run.data["path"])
    return "" if run.span is None else f"span {run.span}"


def _components(run: history.RunRecord) -> str:
    return ", ".join(f"{n} {state}" for state, n in sorted(run.component_states.items()))


table = pd.DataFrame([{
    "started": run.started,
    "run": run.run_id,
    "status": run.status,
    "components": _components(run),
    "data": _data_text(run),
    "examples": run.examples,
    "AUC": metrics.get(run.run_id, ({}, {}))[0].get("auc"),
    "PR AUC": metrics.get(run.run_id, ({}, {}))[0].get("auc_precision_recall"),
    "accuracy": metrics.get(run.run_id, ({}, {}))[0].get("binary_accuracy"),
    "blessed": run.blessed,
    "pushed version": run.pushed_version,
} for run in runs])

latest = runs[0]
latest_metrics = metrics.get(latest.run_id, ({}, {}))[0]
previous = next((metrics[r.run_id][0] for r in runs[1:] if r.run_id in metrics), {})
cards = st.columns(4)
cards[0].metric("Runs", len(runs), border=True)
auc = latest_metrics.get("auc")
delta = None if auc is None or "auc" not in previous else f"{auc - previous['auc']:+.4f}"
cards[1].metric("Latest eval AUC", "—" if auc is None else f"{auc:.4f}", delta, border=True,
                help="Delta: against the previous run with an evaluation.")
cards[2].metric("Latest run", latest.status, border=True,
                help="'blessed' is the Evaluator's verdict: AUC thresholds and the baseline.")
cards[3].metric("Serving candidate", latest.pushed_version or "none pushed", border=True,
                help="The version the latest run pushed (TF Serving loads the newest).")

st.dataframe(table, hide_index=True, column_config={
    "started": st.column_config.DatetimeColumn("started", format="YYYY-MM-DD HH:mm:ss"),
    "AUC": st.column_config.NumberColumn(format="%.4f"),
    "PR AUC": st.column_config.NumberColumn(format="%.4f"),
    "accuracy": st.column_config.NumberColumn(format="%.4f"),
    "blessed": st.column_config.CheckboxColumn("blessed"),
})
if table["AUC"].notna().sum() >= 2:
    st.altair_chart(
        alt.Chart(table.dropna(subset=["AUC"]), height=220, title="Eval AUC by run").mark_line(
            point=True).encode(
            x=alt.X("started:T", title="run started",
                    axis=alt.Axis(format="%Y-%m-%d %H:%M", labelAngle=0, tickCount=5)),
            y=alt.Y("AUC:Q", scale=alt.Scale(zero=False, padding=20),
                    axis=alt.Axis(format=".3f")),
            tooltip=["run", "AUC", "blessed", "pushed version"]),
        width="stretch")

st.header("Evaluation")
evaluated = [r for r in runs if r.evaluation_uri]
if not evaluated:
    st.info("No run has reached the Evaluator yet.")
else:
    run = st.selectbox("Run", evaluated, format_func=lambda r: (
        f"{r.started:%Y-%m-%d %H:%M:%S} — {r.run_id}"
        f"{' — blessed' if r.blessed else ' — not blessed'}"))
    overall, sliced = metrics[run.run_id]
    st.caption(f"TFMA result: `{run.evaluation_uri}`")
    points = pd.DataFrame(ui.curves(run.evaluation_uri, ui.mtime(run.evaluation_uri)))
    slices = sorted(points["slice"].unique(), key=lambda s: (s != "Overall", s)) \
        if len(points) else []
    chosen = st.multiselect("Slices", slices, default=slices[:1])
    shown = points[points["slice"].isin(chosen)] if len(points) else points
    roc, pr = st.columns(2)
    roc.subheader("ROC curve")
    roc.altair_chart(alt.Chart(shown).mark_line().encode(
        x=alt.X("false_positive_rate:Q", title="false positive rate"),
        y=alt.Y("recall:Q", title="true positive rate"), color="slice:N",
        order="threshold:Q", tooltip=["slice", "threshold", "false_positive_rate", "recall"]),
        width="stretch")
    pr.subheader("Precision-recall curve")
    pr.altair_chart(alt.Chart(shown).mark_line().encode(
        x=alt.X("recall:Q"), y=alt.Y("precision:Q", scale=alt.Scale(zero=False)),
        color="slice:N", order=alt.Order("threshold:Q", sort="descending"),
        tooltip=["slice", "threshold", "recall", "precision"]), width="stretch")

    st.subheader("Metrics by slice")
    slice_rows = pd.DataFrame([
        {"slice": name, "feature": name.split(":", 1)[0], "AUC": values.get("auc"),
         "accuracy": values.get("binary_accuracy"), "examples": values.get("example_count")}
        for name, values in sorted(sliced.items())])
    if len(slice_rows):
        st.altair_chart(alt.Chart(slice_rows).mark_bar().encode(
            x=alt.X("AUC:Q", scale=alt.Scale(domain=[0, 1])), y=alt.Y("slice:N", sort=None),
            color="feature:N", tooltip=["slice", "AUC", "accuracy", "examples"]),
            width="stretch")
        overall_auc = overall.get("auc")
        st.caption(f"Overall AUC {overall_auc:.4f} on {overall.get('example_count', 0):.0f} "
                   "eval examples; a slice with few examples has a noisy AUC."
                   if overall_auc is not None else "No overall AUC in this result.")
    else:
        st.info("This evaluation has no sliced metrics.")

st.header("Data of the latest run")
with_data = next((r for r in runs if r.statistics_uri), None)
if with_data is None:
    st.info("No run has computed data statistics yet.")
    st.stop()
st.caption(f"Run {with_data.run_id}: statistics `{with_data.statistics_uri}`")
found = ui.anomalies(with_data.anomalies_uri, ui.mtime(with_data.anomalies_uri)) \
    if with_data.anomalies_uri else []
if with_data.anomalies_uri is None:
    st.info("ExampleValidator has not run for this data.")
elif found:
    st.error(f"**{len(found)} anomaly(ies)**: the data breaks the curated schema "
             "(`schema/schema.pbtxt`); the AnomaliesGate stops such runs before Transform.")
    st.dataframe(pd.DataFrame(found), hide_index=True)
else:
    st.success("No anomalies: the data fits the curated schema.")

stats, histograms = ui.statistics(with_data.statistics_uri, ui.mtime(with_data.statistics_uri))
stats_frame = pd.DataFrame(stats)
if stats_frame.empty:
    st.info("The statistics artifact has no features.")
    st.stop()
split = st.segmented_control("Split", sorted(stats_frame["split"].unique(), reverse=True),
                             default="train") or "train"
of_split = stats_frame[stats_frame["split"] == split]
numeric = of_split[of_split["type"].isin(["INT", "FLOAT"])]
if len(numeric):
    st.dataframe(numeric[["feature", "type", "count", "missing", "mean", "std_dev", "min",
                          "median", "max", "zeros"]], hide_index=True, column_config={
        c: st.column_config.NumberColumn(format="%.2f")
        for c in ("mean", "std_dev", "min", "median", "max")})
text = of_split[~of_split["type"].isin(["INT", "FLOAT"])]
if len(text):
    st.dataframe(text[["feature", "type", "count", "missing", "unique", "top_value"]],
                 hide_index=True)
buckets = pd.DataFrame(histograms)
if not buckets.empty:
    feature = st.selectbox("Histogram of (train split)", sorted(buckets["feature"].unique()))
    st.altair_chart(alt.Chart(buckets[buckets["feature"] == feature]).mark_bar().encode(
        x=alt.X("low:Q", title=feature, bin="binned"), x2="high:Q",
        y=alt.Y("count:Q", title="examples"), tooltip=["low", "high", "count"]),
        width="stretch")
