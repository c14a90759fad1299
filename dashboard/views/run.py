"""Run detail: one run's status, failure, verdict, lineage and parameters, linkable by
``?run=<run id>``."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import evaluation_view, lineage, monitoring, run_picker, ui

cfg = ui.config()
st.title("Run detail")
runs = ui.runs_or_stop(cfg)

run = run_picker.pick_run(runs)
summary = run.summary or {}
wall = summary.get("wall_seconds")
st.caption(f"Run `{run.run_id}` started {run.started:%Y-%m-%d %H:%M:%S}"
           + (f", took {wall:.0f} s" if wall else "") + f": {run.status}. Components: "
           + ", ".join(f"{n} {state}" for state, n in sorted(run.component_states.items())))
if run.status in ("failed", "abandoned"):
    where = f" at **{run.failed_component}**" if run.failed_component else ""
    st.error(f"This run {'failed' if run.status == 'failed' else 'was abandoned'}{where}.",
             icon=":material/error:")
    if run.error:
        st.code(run.error, language=None, wrap_lines=True)
    elif run.status == "failed":
        st.caption("The runner wrote no error text for it (no run_summary.json): ML Metadata "
                   "only records that the execution failed.")

st.subheader("Verdict")
evaluation_view.show(run, curves=False)

st.subheader("Lineage")
count = None
if run.anomalies_uri:
    count = len(ui.anomalies(run.anomalies_uri, ui.mtime(run.anomalies_uri)))
loaded = monitoring.load_reports(cfg.monitoring_dir)
st.dataframe(pd.DataFrame(lineage.rows(run, loaded.reports, count)), hide_index=True,
             column_config={"where": st.column_config.TextColumn("where", width="large")})
run_picker.page_link("views/data.py", "Data statistics and anomalies", ":material/bar_chart:")

st.subheader("Parameters")
params = dict(run.parameters)
for key in ("trigger_reason", "best_possible_auc"):
    if summary.get(key) is not None:
        params[f"runner.{key}"] = str(summary[key])
if params:
    st.dataframe(pd.DataFrame([{"parameter": k, "value": v} for k, v in params.items()]),
                 hide_index=True, column_config={
                     "parameter": st.column_config.TextColumn("parameter", width="medium")})
else:
    st.info("ML Metadata records no component parameters for this run.")
seconds = summary.get("component_seconds") or {}
if seconds:
    st.markdown("**Time per component** (seconds)")
    st.dataframe(pd.DataFrame(sorted(seconds.items(), key=lambda kv: -kv[1]),
                              columns=["component", "seconds"]), hide_index=True)
run_picker.page_link("views/compare.py", "Compare with another run",
                     ":material/compare_arrows:", {"a": run.run_id})
