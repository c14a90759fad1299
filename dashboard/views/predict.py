"""Predict one click: a form built from the curated schema, answered by the model server.

Every input is checked with the same rules as an uploaded file (``cells.parse_cell``) and the
request is sent only when all of them pass, with exactly the values on screen. Values the
schema allows but the served model never saw in training get a warning, not a block.
"""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from dashboard import cells, history, training_range, ui
from dashboard.serving_client import SIGNATURE, ServingError

cfg = ui.config()
st.title("Predict a click")
st.caption(f"Fill in one visit; the model server at {cfg.serving_url} returns the probability "
           f"that the user clicks the ad. Ranges and hints come from `schema/schema.pbtxt`.")

fields = ui.form_fields()
version = ui.serving_version(cfg)
ui.version_badge(version)


@st.cache_data(show_spinner="Reading the training statistics ...")
def _trained(run: history.RunRecord, why: str, root: str, mtime: int
             ) -> training_range.TrainingRange:
    return training_range.load(run, why, Path(root))


def trained_on() -> tuple[training_range.TrainingRange | None, str]:
    """The served model's training range, or why there is none to compare with."""
    try:
        runs = ui.runs(cfg)
    except history.HistoryUnavailable as err:
        return None, f"no pipeline runs to compare with ({err})"
    run, why = training_range.pick_run(runs, version)
    if run is None:
        return None, f"no training statistics to compare with: {why}"
    try:
        return _trained(run, why, str(cfg.pipeline_root), ui.mtime(run.statistics_uri)), why
    except (OSError, ValueError) as err:
        return None, f"the statistics of run {run.run_id} cannot be read ({err})"


def _label(field) -> str:
    allowed = f" ({field.range_text()})" if field.kind in ("int", "float") else ""
    return f"{field.name}{allowed}"


with st.form("predict"):
    typed: dict[str, str] = {}
    left, right = st.columns(2)
    for i, field in enumerate(fields):
        column = left if i % 2 == 0 else right
        if field.kind == "int" and (field.minimum, field.maximum) == (0, 1):
            # The schema's 0/1 domain: 1 means yes (e.g. "1 for male, 0 otherwise.").
            typed[field.name] = str(column.radio(
                f"{field.name}: yes/no", (1, 0), index=0 if field.default == 1 else 1,
                format_func=lambda v: "yes (1)" if v else "no (0)", horizontal=True,
                help=field.help))
        elif field.choices is not None:
            typed[field.name] = column.selectbox(field.name, field.choices,
                                                 index=field.choices.index(field.default),
                                                 help=field.help)
        elif field.kind == "int":
            # No min/max on the widget: a value outside them would be shown but not sent.
            typed[field.name] = str(column.number_input(
                _label(field), value=int(field.default), step=1, help=field.help))
        else:
            # Text, so what is sent is what is shown (a number widget rounds to its format).
            hint = "YYYY-MM-DD HH:MM:SS" if field.kind == "timestamp" else field.help
            typed[field.name] = column.text_input(_label(field), value=str(field.default),
                                                  help=f"{field.help} {hint}".strip())
    submitted = st.form_submit_button("Predict", type="primary")

if not submitted:
    st.stop()
values: dict[str, object] = {}
problems = []
for field in fields:
    values[field.name], problem = cells.parse_cell(field, typed[field.name])
    if problem:
        allowed = f" (allowed: {field.range_text()})" if field.kind in ("int", "float") and \
            "allowed" not in problem else ""
        problems.append(f"{field.name}: {problem}{allowed}")
if problems:
    st.error("**Not sent: the form has problems.**\n\n"
             + "\n".join(f"- {p}" for p in problems), icon=":material/block:")
    st.stop()

trained, why = trained_on()
if trained is None:
    st.caption(f"No training-data warnings: {why}.")
else:
    notes = training_range.warnings(values, trained)
    if notes:
        st.warning("**The model never saw data like this; treat the answer with care.**\n\n"
                   + "\n".join(f"- {n}" for n in notes), icon=":material/warning:")
    sources = "; ".join(f"{k}: {v}" for k, v in trained.category_source.items())
    st.caption(f"Training ranges: the train split's statistics of run {trained.run_id} "
               f"({trained.why}). Known categories: {sources}.")

try:
    with ui.client(cfg) as client:
        result = client.predict([values], version=version)
except ServingError as err:
    ui.serving_problem(cfg, err)
    st.stop()
prediction = result.predictions[0]
probability, answer = st.columns(2)
probability.metric("Click probability", f"{prediction.probability:.4f}", border=True)
clicked = prediction.clicked if prediction.clicked is not None else int(
    prediction.probability >= 0.5)
answer.metric("Prediction", "click" if clicked else "no click", border=True)
st.markdown(f"Answered by model **{cfg.model_name}**, version **{result.model_version}**.")
with st.expander("The same request with curl"):
    body = json.dumps({"signature_name": SIGNATURE, "instances": [values]})
    st.code(f"curl -s -X POST {cfg.serving_url}/v1/models/{cfg.model_name}/versions/"
            f"{result.model_version}:predict -d '{body}'", language="bash")
