"""Batch scoring: upload a CSV of the ad-click columns, get it back with click probabilities.

The upload is read where Streamlit holds it and checked and scored chunk by chunk
(``dashboard.scoring``); the rows that pass are scored, the others listed with their line
numbers. Both come back as files; the page shows the first rows of each.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import batch, labelled, labelled_view, scoring, ui
from dashboard.serving_client import ServingError
from models import features

PREVIEW_ROWS = 1_000

cfg = ui.config()
st.title("Score a file")
st.caption(
    f"Upload a CSV with the columns {', '.join(features.SERVING_FEATURES)} (any order; case, "
    f"spaces and underscores are ignored, so the Kaggle header works). With a "
    f"`{features.LABEL_KEY}` column you also see how well the model did on your file. Rows "
    f"that break the schema are listed with their line numbers; the others are scored. Up to "
    f"{st.get_option('server.maxUploadSize')} MB (the dashboard's memory limit; split a larger "
    f"file).")

fields = ui.form_fields()
upload = st.file_uploader("CSV file", type=["csv"])
# The upload is read where Streamlit holds it (in memory); only the outputs go to a folder,
# one per upload, kept while the page shows it (the downloads read from it).
state = st.session_state.get("score")
if upload is None:
    if state is not None:
        shutil.rmtree(state["folder"], ignore_errors=True)
        del st.session_state["score"]
    st.stop()
if state is None or state["file_id"] != upload.file_id:
    if state is not None:
        shutil.rmtree(state["folder"], ignore_errors=True)
    state = st.session_state["score"] = {
        "file_id": upload.file_id, "folder": Path(tempfile.mkdtemp(prefix="clickflow-score-")),
        "reports": {}}

header = batch.read_header(upload, upload.name)
if header.ignored:
    st.caption(f"Ignored columns: {', '.join(header.ignored)}")
if header.problems:
    st.error(f"**{upload.name} cannot be scored.**\n\n"
             + "\n".join(f"- {p}" for p in header.problems), icon=":material/description:")
    st.stop()

version = ui.serving_version(cfg)
report = state["reports"].get(version)
if report is None:
    bar = st.progress(0.0, text="Checking and scoring ...")
    try:
        with ui.client(cfg) as client:
            report = scoring.score_file(
                upload, header, fields, client, version, state["folder"],
                progress=lambda done, total: bar.progress(
                    min(done / total, 1.0), text=f"Checked {done:,} of about {total:,} rows"))
    except ServingError as err:
        bar.empty()
        ui.serving_problem(cfg, err)
        st.stop()
    bar.empty()
    state["reports"][version] = report

if not report.scored and not report.rejected:
    st.error(f"{upload.name} has a header but no rows.", icon=":material/description:")
    st.stop()
ui.version_badge(version)
cards = st.columns(3)
cards[0].metric("Rows scored", f"{report.scored:,}", border=True)
cards[1].metric("Rows rejected", f"{report.rejected:,}", border=True)
cards[2].metric("Predicted clicks", f"{report.clicked:,}", border=True,
                help="Scored rows whose click probability is at least 0.5.")
stem = Path(upload.name).stem

if report.rejected:
    more = f", and {report.more_problems:,} more in the rejected file" \
        if report.more_problems else ""
    st.warning(f"**{report.rejected:,} row(s) of {upload.name} were not scored**{more}. "
               f"Lines count the header as line 1.", icon=":material/rule:")
    st.dataframe(pd.DataFrame(report.problems, columns=["line", "problems"]),
                 hide_index=True, width="stretch", column_config={
                     "line": st.column_config.NumberColumn("line", width="small"),
                     "problems": st.column_config.TextColumn("problems", width="large")})
    rejected = scoring.download(report.rejected_path, f"{stem}-rejected.csv")
    st.download_button("Download rejected rows (CSV)", data=rejected.data,
                       file_name=rejected.file_name, mime=rejected.mime, on_click="ignore")

if not report.scored:
    st.error(f"No row of {upload.name} could be scored.", icon=":material/block:")
    st.stop()

if report.scored > PREVIEW_ROWS:
    st.caption(f"The first {PREVIEW_ROWS:,} of {report.scored:,} scored rows; the download "
               f"has them all.")
preview = pd.read_csv(report.scored_path, nrows=PREVIEW_ROWS)
st.dataframe(preview, hide_index=True, column_config={
    "probability": st.column_config.ProgressColumn("probability", min_value=0.0, max_value=1.0,
                                                   format="%.4f", pinned=True),
    "clicked": st.column_config.NumberColumn("clicked", width="small", pinned=True),
    "line": st.column_config.NumberColumn("line", width="small")})
scored = scoring.download(report.scored_path, f"{stem}-predictions.csv")
st.download_button("Download predictions (CSV)", data=scored.data, file_name=scored.file_name,
                   mime=scored.mime, type="primary", on_click="ignore")
if scored.compressed or (report.rejected and rejected.compressed):
    st.caption(f"Files over {scoring.PLAIN_DOWNLOAD_MAX >> 20} MiB come gzip-compressed (.csv.gz; "
               f"pandas, R and most spreadsheet tools open them, or `gunzip` them): a download "
               f"is held in the dashboard's memory until it is sent.")

if header.labelled:
    if labelled.both_classes(report.labels):
        labelled_view.show(report.labels, report.probabilities)
    else:
        st.info(f"The {features.LABEL_KEY} column of the scored rows holds one class only: "
                f"no AUC or confusion matrix.", icon=":material/info:")
