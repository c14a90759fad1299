"""Model card: what a pushed version is for, what it learned from, how it scored against which
thresholds, and what it cannot do; linkable by ``?run=<run id>``."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import model_card, run_picker, ui
from pipelines.components.model_card_render import md_escape

cfg = ui.config()
st.title("Model card")
runs = ui.runs_or_stop(cfg)
pushed = [r for r in runs if r.pushed_version]
if not pushed:
    st.info(
        "No run has pushed a model yet: only pushed models get a card. The Model history "
        "page says why each run's model was or was not blessed.",
        icon=":material/description:",
    )
    st.stop()

wanted = st.query_params.get("run")
if wanted and wanted in {r.run_id for r in runs} - {r.run_id for r in pushed}:
    st.info(
        f"Run `{wanted}` pushed no model, so it has no card (only pushed models get one); "
        f"showing the newest pushed version instead.",
        icon=":material/description:",
    )
    st.query_params["run"] = pushed[0].run_id
run = run_picker.pick_run(pushed, "Pushed version")
found = model_card.find(run)
if found.card is None:
    st.warning(
        f"No model card for version {run.pushed_version}: {found.reason}",
        icon=":material/description:",
    )
    st.stop()

card = found.card
details = card["model_details"]
data = card["model_parameters"]["data"]
st.caption(
    f"Version `{details['version']['name']}` pushed {details['version']['date']} to "
    f"`{details['path']}` by run `{details['pipeline_run_id']}`. Card read from "
    f"`{found.folder}`."
)
downloads = st.columns(2)
for column, (label, body, mime, name) in zip(
    downloads,
    (
        ("Download the card (HTML)", found.html, "text/html", "model_card.html"),
        ("Download the card (Markdown)", found.markdown, "text/markdown", "model_card.md"),
    ),
    strict=True,
):
    if body is not None:
        column.download_button(label, body, file_name=name, mime=mime)

st.subheader("Intended use")
st.markdown(card["considerations"]["intended_use"])  # curated text from the repository

st.subheader("Data")
spans = data.get("spans") or []
st.markdown(
    md_escape(
        (f"Spans: {', '.join(spans)}" if spans else "Spans: not recorded")
        + (f"; events from {data['first']} to {data['last']}" if data.get("first") else "")
    )
)
st.dataframe(
    pd.DataFrame(data["splits"]),
    hide_index=True,
    column_order=model_card.column_order(data["splits"], model_card.SPLIT_COLUMNS),
    column_config={"positive_rate": st.column_config.NumberColumn("click rate", format="%.4f")},
)

st.subheader("Metrics per slice (eval split)")
metric_rows = model_card.metric_rows(card)
st.dataframe(pd.DataFrame(metric_rows), hide_index=True,
             column_order=model_card.column_order(metric_rows, model_card.METRIC_COLUMNS),
             column_config=model_card.four_decimals(metric_rows))

st.subheader("Thresholds")
thresholds = model_card.threshold_rows(card)
if thresholds:
    st.dataframe(
        pd.DataFrame(thresholds),
        hide_index=True,
        column_order=model_card.column_order(thresholds, model_card.THRESHOLD_COLUMNS),
        column_config={
            "passed": st.column_config.CheckboxColumn("passed"),
            "overall_value": st.column_config.NumberColumn("overall value", format="%.4f"),
        },
    )
else:
    st.info("No threshold applied to this evaluation.")

st.subheader("Comparisons")
for comparison in card["quantitative_analysis"]["comparisons"]:
    st.markdown(f"**Compared with the {md_escape(comparison['what'])}**")
    if comparison["status"] == "compared":
        st.dataframe(pd.DataFrame(comparison["metrics"]), hide_index=True,
                     column_order=model_card.column_order(comparison["metrics"],
                                                          model_card.COMPARISON_COLUMNS),
                     column_config=model_card.four_decimals(comparison["metrics"]))
    else:
        st.caption(md_escape(comparison["status"]))

st.subheader("Limitations")
limits = card["considerations"]["limitations"]
st.markdown("\n".join(f"- {md_escape(item)}" for item in limits) if limits else "None recorded.")
run_picker.page_link(
    "views/history.py",
    "Model history: why each model was blessed, or not",
    ":material/history:",
    {"run": run.run_id},
)
