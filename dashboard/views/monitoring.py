"""Monitoring: drift per feature over time, live accuracy per version, and each alert with the
retraining run it caused (from the monitor's reports and the pipeline's runs)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import monitoring, monitoring_charts, ui
from dashboard.config import ENV_MONITORING_DIR, ENV_PIPELINE_ROOT
from pipelines.common import names

SHOWN_REASONS = 20  # alerts whose reasons are written out in full


@st.cache_data(show_spinner="Reading monitoring reports ...")
def _reports(monitoring_dir: str, stamp: tuple[tuple[str, int], ...]) -> monitoring.Loaded:
    return monitoring.load_reports(Path(monitoring_dir))


@st.cache_data(show_spinner="Reading retraining runs ...")
def _runs(pipeline_root: str, pipeline_name: str, stamp: tuple[int, ...]
          ) -> tuple[list[monitoring.RetrainingRun], list[str]]:
    return monitoring.retraining_runs(Path(pipeline_root), pipeline_name)


def _runs_stamp(root: Path) -> tuple[int, ...]:
    store = names.metadata_path(root)
    summaries = sorted(root.glob("runs/*/run_summary.json"))
    return (ui.mtime(store), ui.mtime(f"{store}-journal"), ui.mtime(f"{store}-wal"),
            len(summaries), *(ui.mtime(p) for p in summaries))


cfg = ui.config()
st.title("Monitoring")
st.caption(f"The monitor's reports in `{cfg.monitoring_dir}`: skew and drift of the served "
           "features against their thresholds, live accuracy of each model version from the "
           "delayed labels, and every alert with the retraining run it started (runs of "
           f"`{cfg.pipeline_root}`).")
st.button("Refresh", icon=":material/refresh:")

loaded = _reports(str(cfg.monitoring_dir), monitoring.report_stamp(cfg.monitoring_dir))
if loaded.problems:
    st.warning(f"**{len(loaded.problems)} report folder(s) skipped:**\n\n"
               + "\n".join(f"- {p}" for p in loaded.problems), icon=":material/warning:")
reports = loaded.reports
if not reports:
    st.info(f"**No monitoring reports yet** in `{cfg.monitoring_dir}`.\n\n"
            "Judge the served model's request log with `make monitor` (for example "
            "`make monitor ARGS=\"--last 1h\"`; `make simulate` sends it traffic first). Each "
            f"run writes a report here. Another folder is read with "
            f"`{ENV_MONITORING_DIR}=path/to/monitoring make dashboard`.",
            icon=":material/monitoring:")
    st.stop()

runs, run_problems = _runs(str(cfg.pipeline_root), cfg.pipeline_name,
                           _runs_stamp(cfg.pipeline_root))
for problem in run_problems:
    st.warning(problem, icon=":material/warning:")
alerts = monitoring.alert_rows(reports, runs)
latest = max(reports, key=lambda r: r.generated_at)

cards = st.columns(4)
cards[0].metric("Reports", len(reports), border=True,
                help=f"From {reports[0].window_start:%Y-%m-%d %H:%M} to "
                     f"{reports[-1].window_end:%Y-%m-%d %H:%M} UTC (judged windows).")
cards[1].metric("Latest decision", latest.action, border=True,
                help=f"Report {latest.folder}: " + " ".join(latest.reasons))
cards[2].metric("Alerts", len(alerts), border=True,
                help="Reports where a signal breached its threshold (retrain or cool-down).")
cards[3].metric("Retraining runs", sum(1 for a in alerts if a["retraining run"]), border=True,
                help="Alerts linked to the pipeline run whose --trigger-reason names them.")

st.header("Skew and drift per feature")
measured = pd.DataFrame(monitoring.measurement_rows(reports))
if measured.empty:
    st.info("No report has measured skew or drift yet: drift needs a previous window with "
            "traffic, skew the served version's training statistics in ML Metadata, and both "
            "need policy.min_requests requests.")
else:
    series = sorted(measured["series"].unique(), key=lambda s: (s != "drift", s))
    chosen = st.segmented_control(
        "Signal", series, default=series[0],
        help="drift: this window against the previous one; skew vN: served version N "
             "against its training data.") or series[0]
    of_series = measured[measured["series"] == chosen]
    feature_names = sorted(of_series["feature"].unique())
    shown_features = st.multiselect("Features", feature_names, default=feature_names)
    shown = of_series[of_series["feature"].isin(shown_features)]
    if shown.empty:
        st.info("Pick at least one feature to chart.")
    else:
        st.altair_chart(monitoring_charts.drift_chart(
            shown, "distance (L-infinity / Jensen-Shannon)").properties(height=320),
            width="stretch")
    st.caption(f"{chosen} of each feature per judged window; dashed: the thresholds (one "
               "colour per threshold value), large ringed marker: a breach, in its feature's "
               "colour and shape (one window: bars, red where breached). L-infinity distance "
               "for string features, Jensen-Shannon divergence for numeric ones.")
    newest = of_series[of_series["report"] == of_series.sort_values("window_end")[
        "report"].iloc[-1]]
    st.caption(f"Report {newest['report'].iloc[0]}:")
    st.dataframe(newest[["feature", "value", "threshold", "breached", "measure"]],
                 hide_index=True, column_config={
                     "value": st.column_config.NumberColumn(format="%.4f"),
                     "breached": st.column_config.CheckboxColumn("breached")})

st.header("Live accuracy per model version")
live = pd.DataFrame(monitoring.live_rows(reports))
with_auc = live.dropna(subset=["auc"]) if not live.empty else live
if with_auc.empty:
    st.info("No report has a live AUC yet: it needs delayed labels "
            "(`workspace/labels/part-*.parquet`) for logged predictions of both classes; "
            "`make simulate` writes some.")
else:
    st.altair_chart(monitoring_charts.auc_chart(with_auc, latest.live_auc_min).properties(
        height=280), width="stretch")
    st.caption("Live AUC of each model version's labelled predictions per judged window; "
               "dashed: the policy's live_auc_min.")
st.dataframe(live[["version", "auc", "window_end", "labelled", "requests", "accuracy",
                   "calibration", "log_loss", "judged"]].sort_values(
    ["window_end", "version"], ascending=[False, True]) if not live.empty else live,
    hide_index=True, column_config={
        "window_end": st.column_config.DatetimeColumn("window end", format="YYYY-MM-DD HH:mm"),
        "auc": st.column_config.NumberColumn("AUC", format="%.4f"),
        "accuracy": st.column_config.NumberColumn(format="%.4f"),
        "calibration": st.column_config.NumberColumn(
            format="%.3f", help="mean prediction / mean label (1 is calibrated)"),
        "log_loss": st.column_config.NumberColumn("log loss", format="%.4f"),
        "judged": st.column_config.CheckboxColumn(
            "judged", help="the version the policy judged in that report")})

st.header("Alerts and the retraining they caused")
if not alerts:
    st.success("No alert: no report breached a threshold.", icon=":material/check_circle:")
    st.stop()
for row in alerts:
    if row["eval AUC"] is None and row["evaluation_uri"]:
        row["eval AUC"] = ui.evaluation(row["evaluation_uri"],
                                        ui.mtime(row["evaluation_uri"]))[0].get("auc")
# The columns a reader looks for first, so a narrow screen still shows them.
KEY_COLUMNS = ["report", "retraining run", "decision", "blessed", "pushed version", "eval AUC",
               "run status", "triggered", "breached", "generated_at", "reasons"]
table = pd.DataFrame(alerts)[KEY_COLUMNS]
st.dataframe(table, hide_index=True, column_config={
    "report": st.column_config.TextColumn(pinned=True),
    "generated_at": st.column_config.DatetimeColumn("judged at",
                                                    format="YYYY-MM-DD HH:mm:ss"),
    "blessed": st.column_config.CheckboxColumn("blessed"),
    "eval AUC": st.column_config.NumberColumn(format="%.4f"),
    "reasons": st.column_config.TextColumn(width="large"),
})
with st.expander(f"Why each alert was raised ({min(len(alerts), SHOWN_REASONS)} newest)"):
    for row in alerts[:SHOWN_REASONS]:
        reasons = row["reasons"].split("; ") if row["reasons"] else ["(no reason recorded)"]
        st.markdown(f"**{row['report']}** ({row['decision']}"
                    + (f", retraining run `{row['retraining run']}`"
                       if row["retraining run"] else "") + "):\n"
                    + "\n".join(f"- {reason}" for reason in reasons))
if not any(row["retraining run"] for row in alerts):
    st.caption(f"No retraining run names these reports yet: `make monitor ARGS=\"--trigger "
               f"local\"` retrains on a breach (runs are read from `{cfg.pipeline_root}`; "
               f"another root with `{ENV_PIPELINE_ROOT}=...`).")
