"""Serving health: the model versions the server holds and its Prometheus metrics."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import ui
from dashboard.serving_client import (
    ServingError,
    counters_and_gauges,
    latency_quantiles,
    parse_metrics,
    request_counts,
)

cfg = ui.config()
st.title("Serving health")
st.caption(f"What the model server at {cfg.serving_url} reports: the versions of model "
           f"'{cfg.model_name}' it holds, and its Prometheus metrics since it started "
           "(requests, errors, latency; health probes are left out).")
st.button("Refresh", icon=":material/refresh:")

try:
    with ui.client(cfg) as client:
        statuses = client.model_status()
        metrics_url, text = client.metrics_text()
except ServingError as err:
    ui.serving_problem(cfg, err)
    st.stop()

available = [s.version for s in statuses if s.state == "AVAILABLE"]
if available:
    ui.version_badge(max(available))
else:
    st.warning(f"Model '{cfg.model_name}' has no AVAILABLE version: predictions fail until "
               "one loads.")
try:
    families = parse_metrics(text)
except ServingError as err:
    st.error(f"{metrics_url}: {err}")
    st.stop()
counts = pd.DataFrame(request_counts(families), columns=["metric", "labels", "count",
                                                          "succeeded"])
latency = pd.DataFrame(latency_quantiles(families))

cards = st.columns(4)
cards[0].metric("Requests", f"{counts['count'].sum():,.0f}", border=True,
                help="Model API requests (status, metadata, predict, ...) since the server "
                     "started.")
failed = counts.loc[~counts["succeeded"].astype(bool), "count"].sum()
cards[1].metric("Failed requests", f"{failed:,.0f}", border=True,
                help="Requests answered with an error status (4xx, 5xx, not OK).")
if len(latency):
    predict = latency[latency["labels"].str.contains("api=predict")]
    row = (predict if len(predict) else latency).sort_values("count", ascending=False).iloc[0]
    unit = " ms" if row["unit"] == "ms" else ""
    for card, q in zip(cards[2:], ("p50", "p99"), strict=True):
        value = row[q]
        card.metric(f"Latency {q}", "—" if pd.isna(value) else f"{value:,.1f}{unit}",
                    border=True, help=f"{row['metric']} ({row['labels']}), estimated from "
                                      "the histogram's buckets")

st.subheader("Model versions")
st.dataframe(pd.DataFrame([{"version": s.version, "state": s.state, "error": s.error}
                           for s in statuses]), hide_index=True)
st.subheader("Requests")
if len(counts):
    st.dataframe(counts, hide_index=True)
else:
    st.info("No model requests yet.")
st.subheader("Latency")
if len(latency):
    st.dataframe(latency, hide_index=True, column_config={
        c: st.column_config.NumberColumn(format="%.2f") for c in ("mean", "p50", "p90", "p99")})
else:
    st.info("The server exports no latency histogram yet.")
others = pd.DataFrame(counters_and_gauges(families))
if len(others):
    with st.expander("Every counter and gauge"):
        st.dataframe(others, hide_index=True)
with st.expander(f"Raw metrics ({metrics_url})"):
    st.code(text, language="text")
