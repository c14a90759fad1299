"""Compare runs: any two runs side by side (metrics, verdicts, data, parameters, feature
statistics), linkable by ``?a=<run id>&b=<run id>``."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import compare, evaluation_view, run_picker, ui

cfg = ui.config()
st.title("Compare runs")
runs = ui.runs_or_stop(cfg)
if len(runs) < 2:
    st.info("Two runs are needed to compare; this pipeline root has one so far. Its detail "
            "is on the Run detail page.", icon=":material/compare_arrows:")
    st.stop()

left, right = st.columns(2)
with left:
    a = run_picker.pick_run(runs, "Run A", param="a")
with right:
    b = run_picker.pick_run(runs, "Run B", param="b", default=1)
if a.run_id == b.run_id:
    st.info("Run A and run B are the same run: pick another for B.")

_NUMBER = st.column_config.NumberColumn(format="%.4f")
_DIFF = st.column_config.NumberColumn(format="%+.4f")
for name, run, column in (("A", a, left), ("B", b, right)):
    with column:
        st.markdown(f"**{name}**: {run_picker.outcome(run)}")
        evaluation_view.verdict_box(evaluation_view.judge(run)[0])

st.subheader("Metrics")
metrics = pd.DataFrame(compare.metric_rows(a, b))
if metrics.empty:
    st.info("Neither run has evaluation metrics.")
else:
    st.dataframe(metrics, hide_index=True,
                 column_config={"A": _NUMBER, "B": _NUMBER, "A - B": _DIFF})

st.subheader("Data")
st.dataframe(pd.DataFrame(compare.data_rows(a, b)), hide_index=True,
             column_config={"A - B": st.column_config.NumberColumn(format="%+d")})

st.subheader("Parameters")
only = st.toggle("Only parameters that differ", value=True)
params = pd.DataFrame(compare.param_rows(a.parameters, b.parameters, only_changed=only))
if params.empty:
    st.info("The two runs ran with the same parameters." if only
            else "ML Metadata records no parameters for these runs.")
else:
    st.dataframe(params, hide_index=True,
                 column_config={"same": st.column_config.CheckboxColumn("same")})

st.subheader("Feature statistics (train split)")
if a.statistics_uri is None or b.statistics_uri is None:
    st.info("Both runs need data statistics (StatisticsGen) to compare them.")
else:
    stats_a = ui.statistics(a.statistics_uri, ui.mtime(a.statistics_uri))[0]
    stats_b = ui.statistics(b.statistics_uri, ui.mtime(b.statistics_uri))[0]
    rows = pd.DataFrame(compare.stat_rows(stats_a, stats_b))
    st.dataframe(rows, hide_index=True, column_config={
        c: st.column_config.NumberColumn(format="%.3f")
        for c in ("mean A", "mean B", "mean A - B", "std A", "std B")})
