"""Batch scoring: upload a CSV of the ad-click columns, get it back with click probabilities."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import streamlit as st

from dashboard import batch, ui
from dashboard.serving_client import ServingError
from models import features
from pipelines.common.metrics import roc_auc

cfg = ui.config()
st.title("Score a file")
st.caption(
    f"Upload a CSV with the columns {', '.join(features.SERVING_FEATURES)} (any order; case, "
    f"spaces and underscores are ignored, so the Kaggle header works). A `{features.LABEL_KEY}` "
    f"column is optional: with it you also get the AUC on your file. Every row is checked "
    f"against the schema first; up to {batch.MAX_ROWS:,} rows.")

fields = ui.form_fields()
upload = st.file_uploader("CSV file", type=["csv"])
if upload is None:
    st.stop()

data = upload.getvalue()
digest = hashlib.sha256(data).hexdigest()
with tempfile.TemporaryDirectory(prefix="clickflow-upload-") as folder:
    path = Path(folder) / "upload.csv"
    path.write_bytes(data)
    check = batch.check_csv(path, fields, display_name=upload.name)

if check.ignored_columns:
    st.caption(f"Ignored columns: {', '.join(check.ignored_columns)}")
if not check.ok:
    st.error(f"**{upload.name} cannot be scored: {len(check.problems)} problem(s).**\n\n"
             + "\n".join(f"- {p}" for p in check.problems)
             + "\n\nLines count the header as line 1.", icon=":material/description:")
    st.stop()

frame = check.frame
version = ui.serving_version(cfg)
key = f"scored-{digest}-{version}"
if key not in st.session_state:
    bar = st.progress(0.0, text=f"Scoring {len(frame):,} rows ...")
    try:
        with ui.client(cfg) as client:
            st.session_state[key] = batch.score(
                client, frame, progress=lambda done, total: bar.progress(
                    done / total, text=f"Scored {done:,} of {total:,} rows"))
    except ServingError as err:
        bar.empty()
        ui.serving_problem(cfg, err)
        st.stop()
    bar.empty()
scored = st.session_state[key]

ui.version_badge(version)
labelled = features.LABEL_KEY in scored.columns and scored[features.LABEL_KEY].nunique() == 2
cards = st.columns(4 if labelled else 3)
cards[0].metric("Rows scored", f"{len(scored):,}", border=True)
cards[1].metric("Mean click probability", f"{scored['probability'].mean():.3f}", border=True)
cards[2].metric("Predicted clicks", f"{int((scored['probability'] >= 0.5).sum()):,}",
                border=True)
if labelled:
    auc = roc_auc(scored[features.LABEL_KEY].to_numpy(), scored["probability"].to_numpy())
    cards[3].metric("AUC on this file", f"{auc:.4f}", border=True,
                    help=f"Against the labels in your file's {features.LABEL_KEY} column.")
st.dataframe(scored, hide_index=True, column_config={
    "probability": st.column_config.ProgressColumn("probability", min_value=0.0, max_value=1.0,
                                                   format="%.4f")})
st.download_button("Download predictions (CSV)", batch.to_csv_bytes(scored),
                   file_name=f"{Path(upload.name).stem}-predictions.csv", mime="text/csv",
                   type="primary")
