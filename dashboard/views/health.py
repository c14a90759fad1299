"""Serving health: the versions the server holds (with push time, labels and pushing run),
requests over time from its request log, and latency and errors while the page is open."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import charts, health, request_history, ui, versions
from dashboard.config import ENV_REQUEST_LOG_DIR
from dashboard.serving_client import (
    ServingError,
    counters_and_gauges,
    latency_quantiles,
    parse_metrics,
    request_counts,
)

SAMPLE_SECONDS = 10  # how often the open page samples the server's metrics
MIN_GAP_SECONDS = 1.0  # a rerun sooner than this adds no sample (its rates would be noise)
KEEP_SAMPLES = 360  # an hour of samples
WINDOWS = {"last hour": timedelta(hours=1), "last 6 hours": timedelta(hours=6),
           "last 24 hours": timedelta(days=1), "last 7 days": timedelta(days=7)}
BOTTOM = alt.Legend(orient="bottom", direction="horizontal")  # beside, it squeezes a phone
SIZE_COLOURS = alt.Scale(domain=[health.ONE_ROW, health.BATCH, health.ALL_SIZES],
                         range=["#0072B2", "#E69F00", "#555555"])


@st.cache_data(ttl=10, show_spinner="Reading the request log ...")
def _logged(log_dir: str, start: datetime) -> tuple[list[dict], list[str]]:
    return request_history.logged_requests(Path(log_dir), start)


def version_table(statuses, client) -> None:
    labels = {}
    for label in versions.KNOWN_LABELS:
        try:
            version = client.label_version(label)
        except ServingError:
            version = None
        if version is not None:
            labels[label] = version
    runs = []
    if cfg.metadata_path.is_file():
        try:
            runs = ui.runs(cfg)
        except Exception as err:  # ml_metadata raises its own types; the versions still show
            st.warning(f"Cannot read which runs pushed these versions from "
                       f"{cfg.metadata_path}: {err}", icon=":material/warning:")
    rows = versions.version_rows(statuses, labels, runs, versions.push_records(statuses, runs))
    order = ["version", "state", "pushed at", "run", "labels", "blessed", "push time from",
             "error"]
    st.dataframe(pd.DataFrame(rows, columns=order), hide_index=True, column_config={
        "version": st.column_config.NumberColumn(format="%d", pinned=True),
        "pushed at": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
        "labels": st.column_config.TextColumn(help="TF Serving version labels (stable, canary) "
                                                   "pointing at this version"),
        "blessed": st.column_config.CheckboxColumn()})
    if rows and not any(r["run"] for r in rows):
        st.caption(f"No run in `{cfg.pipeline_root}` pushed these versions (another pipeline "
                   "root, or pushed by hand).")


def request_chart() -> None:
    st.subheader("Requests over time")
    window = st.segmented_control("Window", list(WINDOWS), default="last hour") or "last hour"
    now = datetime.now(timezone.utc)
    start = now - WINDOWS[window]
    requests, problems = _logged(str(cfg.request_log_dir), start.replace(second=0,
                                                                        microsecond=0))
    if problems:
        with st.expander(f"{len(problems)} request-log file(s) skipped"):
            st.markdown("\n".join(f"- {p}" for p in problems))
    if not requests:
        st.info(f"No prediction logged in the {window} in `{cfg.request_log_dir}` (the "
                f"server's --request-log-dir; another folder with `{ENV_REQUEST_LOG_DIR}=...`).",
                icon=":material/history:")
        return
    seconds = health.bucket_seconds(now - start)
    series = pd.DataFrame(health.request_series(requests, seconds))
    colour = alt.Color("size:N", title="request", scale=SIZE_COLOURS, legend=BOTTOM)
    if charts.times(series, "time") == 1:
        chart = charts.labelled_bars(series, "size", "requests", title="request",
                                     value_title="requests", fmt=",d", colour="size",
                                     scale=SIZE_COLOURS)
    else:
        chart = alt.Chart(series).mark_bar().encode(
            x=charts.time_x("time", "UTC", series),
            y=alt.Y("requests:Q", title=f"requests / {seconds // 60} min" if seconds >= 60
                    else f"requests / {seconds} s"),
            color=colour, tooltip=["time:T", "size", "requests", "rows"])
    st.altair_chart(chart.properties(height=240), width="stretch")
    one = sum(r["size"] == health.ONE_ROW for r in requests)
    st.caption(f"{len(requests):,} prediction requests logged ({one:,} one-row, "
               f"{len(requests) - one:,} batch; {sum(r['rows'] for r in requests):,} rows) in "
               f"`{cfg.request_log_dir}`. The log holds answered predictions only: errors "
               "and latency are below.")


@st.fragment(run_every=SAMPLE_SECONDS)
def live_section() -> None:
    st.subheader("Latency and errors while this page is open")
    key = f"health_samples:{cfg.serving_url}"
    samples: list[health.Snapshot] = st.session_state.setdefault(key, [])
    try:
        with ui.client(cfg) as client:
            families = parse_metrics(client.metrics_text()[1])
    except ServingError as err:
        st.warning(f"No sample this time: {err}", icon=":material/warning:")
        return
    now = datetime.now(timezone.utc)
    if not samples or (now - samples[-1].at).total_seconds() >= MIN_GAP_SECONDS:
        samples.append(health.snapshot(families, now))
        del samples[:-KEEP_SAMPLES]
    rows = pd.DataFrame(health.intervals(samples))
    if rows.empty:
        st.info(f"Sampling the server's metrics every {SAMPLE_SECONDS} s: the first interval "
                "shows here after the next sample.", icon=":material/timer:")
        return
    measured = rows.dropna(subset=["p50_ms"])
    colour = alt.Color("size:N", title="request", scale=SIZE_COLOURS, legend=BOTTOM)
    if measured.empty:
        st.caption("No prediction between the samples, so no latency yet.")
    elif charts.times(measured, "time") == 1:
        st.altair_chart(charts.labelled_bars(
            measured, "size", "p50_ms", title="request", value_title="p50 latency (ms)",
            fmt=".1f", colour="size", scale=SIZE_COLOURS).properties(height=120), width="stretch")
    else:
        st.altair_chart(alt.Chart(measured).mark_line(point=True).encode(
            x=charts.time_x("time", "UTC", measured),
            y=alt.Y("p50_ms:Q", title="p50 (ms)"), color=colour,
            tooltip=["time:T", "size", alt.Tooltip("p50_ms:Q", format=".1f"),
                     alt.Tooltip("p90_ms:Q", format=".1f"), "latency_requests"]
        ).properties(height=220), width="stretch")
    rates = rows.drop_duplicates("time").melt(
        id_vars="time", value_vars=["requests_per_minute", "errors_per_minute"],
        var_name="kind", value_name="per_minute")
    kinds = alt.Scale(domain=["requests_per_minute", "errors_per_minute"],
                      range=["#0072B2", "#D62728"])
    if charts.times(rates, "time") == 1:
        rate_chart = charts.labelled_bars(rates, "kind", "per_minute", title=None,
                                          value_title="per minute", fmt=".1f", colour="kind",
                                          scale=kinds).properties(height=100)
    else:
        rate_chart = alt.Chart(rates).mark_line(point=True).encode(
            x=charts.time_x("time", "UTC", rates), y=alt.Y("per_minute:Q", title="/ min"),
            color=alt.Color("kind:N", title=None, scale=kinds, legend=BOTTOM),
            tooltip=["time:T", "kind", alt.Tooltip("per_minute:Q", format=".1f")]
        ).properties(height=180)
    st.altair_chart(rate_chart, width="stretch")
    st.caption(f"Between successive samples ({len(samples)} so far, every {SAMPLE_SECONDS} s): "
               "p50 latency of one-row and batch requests, and model requests and errors per "
               "minute. An interval across a server restart is left out.")
    columns = ["time", "size", "p50_ms", "p90_ms", "latency_requests", "requests_per_minute",
               "errors_per_minute"]
    st.dataframe(rows[columns].sort_values("time", ascending=False), hide_index=True,
                 column_config={
        "time": st.column_config.DatetimeColumn(format="HH:mm:ss"),
        **{c: st.column_config.NumberColumn(format="%.1f")
           for c in ("requests_per_minute", "errors_per_minute", "p50_ms", "p90_ms")}})


cfg = ui.config()
st.title("Serving health")
st.caption(f"The model server at {cfg.serving_url}: the versions of model '{cfg.model_name}' "
           "it holds, requests over time from its request log, and its Prometheus metrics "
           "(health probes left out).")
st.button("Refresh", icon=":material/refresh:")

try:
    with ui.client(cfg) as server:
        statuses = server.model_status()
        metrics_url, text = server.metrics_text()
        families = parse_metrics(text)
        available = [s.version for s in statuses if s.state == "AVAILABLE"]
        if available:
            ui.version_badge(max(available))
        else:
            st.warning(f"Model '{cfg.model_name}' has no AVAILABLE version: predictions fail "
                       "until one loads.")
        latency = pd.DataFrame(latency_quantiles(families))
        counts = pd.DataFrame(request_counts(families), columns=["metric", "labels", "count",
                                                                  "succeeded"])
        cards = st.columns(4)
        cards[0].metric("Requests", f"{counts['count'].sum():,.0f}", border=True,
                        help="Model API requests since the server started.")
        # Predictions only: looking up the labels stable/canary (this page does) answers 400
        # for a label the model lacks, and would count as a failure nobody sent.
        predicting = counts["labels"].str.contains(r"\bapi=(?:predict|classify|regress)\b")
        failed = counts.loc[predicting & ~counts["succeeded"].astype(bool), "count"].sum()
        cards[1].metric("Failed predictions", f"{failed:,.0f}", border=True,
                        help="predict, classify and regress requests answered with an error "
                             "status (4xx, 5xx) since the server started; status and metadata "
                             "lookups are left out.")
        for card, size in zip(cards[2:], (health.ONE_ROW, health.BATCH), strict=True):
            of_size = latency[latency["labels"].str.contains(f"size={size}")] \
                if len(latency) else latency
            p50 = of_size["p50"].dropna()
            card.metric(f"p50 {size}", f"{p50.iloc[0]:,.1f} ms" if len(p50) else "—",
                        border=True, help=f"Median latency of {size} predict requests since "
                                          "the server started (histogram estimate).")
        st.subheader("Model versions")
        version_table(statuses, server)
except ServingError as err:
    ui.serving_problem(cfg, err)
    request_chart()
    st.stop()

request_chart()
live_section()
with st.expander("Since the server started: counters and latency"):
    st.dataframe(counts, hide_index=True)
    if len(latency):
        st.dataframe(latency, hide_index=True, column_config={
            c: st.column_config.NumberColumn(format="%.2f")
            for c in ("mean", "p50", "p90", "p99")})
    st.dataframe(pd.DataFrame(counters_and_gauges(families)), hide_index=True)
with st.expander(f"Raw metrics ({metrics_url})"):
    st.code(text, language="text")
