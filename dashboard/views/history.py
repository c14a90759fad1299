"""Model history: every pipeline run from ML Metadata, and why each model was or was not
blessed. Fast on a busy root: metrics come from each run's run_summary.json, and TFMA is read
only for the selected run's curves (or a run without a summary)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import evaluation_view, history, run_metrics, run_picker, ui

cfg = ui.config()
st.title("Model history")
st.caption(f"Every run of pipeline '{cfg.pipeline_name}' recorded in ML Metadata "
           f"(`{cfg.metadata_path}`), newest first: its outcome, how the model scored on the "
           f"eval split, and why the Evaluator blessed it or not.")

runs = ui.runs_or_stop(cfg)


def _data_text(run: history.RunRecord) -> str:
    if run.data and run.data.get("spans"):
        spans = run.data["spans"]
        return spans[0] if len(spans) == 1 else f"{spans[0]} … {spans[-1]} ({len(spans)})"
    if run.data and run.data.get("path"):
        return str(run.data["path"])
    return "" if run.span is None else f"span {run.span}"


table = pd.DataFrame([{
    "started": run.started,
    "outcome": run_picker.outcome(run),
    "AUC": run_metrics.overall(run).get("auc"),
    "blessed": run.blessed,
    "pushed version": run.pushed_version,
    "PR AUC": run_metrics.overall(run).get("auc_precision_recall"),
    "accuracy": run_metrics.overall(run).get("binary_accuracy"),
    "data": _data_text(run),
    "detail": f"run?run={run.run_id}",
    "status": run.status,
    "examples": run.examples,
} for run in runs])

latest = runs[0]
failed = [r for r in runs if r.status in ("failed", "abandoned")]
auc = run_metrics.overall(latest).get("auc")
previous = next((run_metrics.overall(r)["auc"] for r in runs[1:]
                 if "auc" in run_metrics.overall(r)), None)
cards = st.columns(4)
cards[0].metric("Runs", len(runs), f"{len(failed)} failed" if failed else None,
                delta_color="inverse" if failed else "normal", border=True,
                help="Failed: stopped at a component (named in the table), or abandoned.")
cards[1].metric("Latest AUC", "—" if auc is None else f"{auc:.4f}",
                None if auc is None or previous is None else f"{auc - previous:+.4f}",
                border=True, help="Eval-split AUC; delta against the previous evaluated run.")
cards[2].metric("Latest run", latest.status, border=True, help=run_picker.outcome(latest))
served = next((r.pushed_version for r in runs if r.pushed_version), None)
cards[3].metric("Last pushed", served or "—", border=True,
                help="The newest version a run pushed (TF Serving serves the newest).")
if failed and failed[0] is not latest:
    st.caption("Failed: " + "; ".join(
        f"{r.started:%m-%d %H:%M:%S} {run_picker.outcome(r)}"
        + (f" ({r.error.strip().splitlines()[0].rstrip(':')})" if r.error else "")
        for r in failed[:3]) + ("; ..." if len(failed) > 3 else ""))
if latest.status in ("failed", "abandoned"):
    st.error(f"**The latest run {run_picker.outcome(latest)}.** "
             + (latest.error or "ML Metadata records the failed execution; see the run detail."),
             icon=":material/error:")

st.dataframe(table, hide_index=True, column_config={
    # Short and unpinned: on a phone the decisive columns fit before the table scrolls.
    "started": st.column_config.DatetimeColumn("started", format="MM-DD HH:mm:ss"),
    "outcome": st.column_config.TextColumn("outcome"),
    "blessed": st.column_config.CheckboxColumn("blessed", width="small"),
    "AUC": st.column_config.NumberColumn(format="%.4f"),
    "PR AUC": st.column_config.NumberColumn(format="%.4f"),
    "accuracy": st.column_config.NumberColumn(format="%.4f"),
    "detail": st.column_config.LinkColumn("detail", display_text="open"),
})
scored = table.dropna(subset=["AUC"]).iloc[::-1].copy()  # oldest first, left to right
if len(scored) >= 2:
    # One label per run, in time order: runs minutes apart share a time axis's every tick.
    scored["run started"] = scored["started"].dt.strftime("%m-%d %H:%M:%S")
    # A Vega-Lite spec, not Altair: importing Altair costs ~1.7 s of the page's first load.
    st.vega_lite_chart(scored[["run started", "AUC", "outcome"]], {
        "title": "Eval AUC by run", "height": 220,
        "mark": {"type": "line", "point": {"filled": True, "size": 70}},
        "encoding": {
            "x": {"field": "run started", "type": "ordinal", "sort": None,
                  "axis": {"labelAngle": -30}},
            "y": {"field": "AUC", "type": "quantitative", "axis": {"format": ".3f"},
                  "scale": {"zero": False, "padding": 20}},
            "tooltip": [{"field": "run started"}, {"field": "AUC", "format": ".4f"},
                        {"field": "outcome"}]}}, width="stretch")

st.header("Why blessed, or not")
run = run_picker.pick_run(runs)
evaluation_view.show(run)
links = st.columns(3 if run.pushed_version else 2)
with links[0]:
    run_picker.page_link("views/run.py", "Run detail: parameters, lineage, error",
                         ":material/account_tree:", {"run": run.run_id})
if run.pushed_version:
    with links[2]:
        run_picker.page_link("views/card.py", f"Model card of version {run.pushed_version}",
                             ":material/description:", {"run": run.run_id})
with links[1]:
    run_picker.page_link("views/compare.py", "Compare two runs", ":material/compare_arrows:",
                         {"a": run.run_id})
st.divider()
run_picker.page_link("views/data.py", "Data statistics and anomalies", ":material/bar_chart:")
