"""Predict one click: a form built from the curated schema, answered by the model server."""

from __future__ import annotations

import json
from datetime import datetime

import streamlit as st

from dashboard import ui
from dashboard.serving_client import SIGNATURE, ServingError
from models import features

cfg = ui.config()
st.title("Predict a click")
st.caption(f"Fill in one visit; the model server at {cfg.serving_url} returns the probability "
           f"that the user clicks the ad. Ranges and hints come from `schema/schema.pbtxt`.")

fields = ui.form_fields()
version = ui.serving_version(cfg)
ui.version_badge(version)

with st.form("predict"):
    values: dict[str, object] = {}
    left, right = st.columns(2)
    for i, field in enumerate(fields):
        column = left if i % 2 == 0 else right
        if field.kind == "timestamp":
            default = datetime.strptime(str(field.default), features.TIMESTAMP_FORMAT)
            day, clock = column.columns(2)
            date = day.date_input(f"{field.name} (date)", value=default.date(), help=field.help)
            moment = clock.time_input(f"{field.name} (time)", value=default.time(),
                                      help=field.help)
            values[field.name] = datetime.combine(date, moment).strftime(
                features.TIMESTAMP_FORMAT)
        elif field.choices is not None:
            values[field.name] = column.selectbox(field.name, field.choices,
                                                  index=field.choices.index(field.default),
                                                  help=field.help)
        elif field.kind == "string":
            values[field.name] = column.text_input(field.name, value=field.default,
                                                   help=field.help)
        elif field.kind == "int" and (field.minimum, field.maximum) == (0, 1):
            values[field.name] = column.radio(field.name, (0, 1), index=int(field.default),
                                              horizontal=True, help=field.help)
        elif field.kind == "int":
            values[field.name] = column.number_input(
                field.name, min_value=int(field.minimum) if field.minimum is not None else None,
                max_value=int(field.maximum) if field.maximum is not None else None,
                value=int(field.default), step=1, help=field.help)
        else:
            values[field.name] = column.number_input(
                field.name, min_value=field.minimum, max_value=field.maximum,
                value=float(field.default), step=1.0, format="%.2f", help=field.help)
    submitted = st.form_submit_button("Predict", type="primary")

if submitted:
    problems = [p for f in fields if (p := f.problem(values[f.name])) is not None]
    if problems:
        st.error("The form has problems:\n\n" + "\n".join(f"- {p}" for p in problems))
        st.stop()
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
    st.markdown(f"Answered by model **{cfg.model_name}**, version "
                f"**{result.model_version}**.")
    with st.expander("The same request with curl"):
        body = json.dumps({"signature_name": SIGNATURE, "instances": [values]})
        st.code(f"curl -s -X POST {cfg.serving_url}/v1/models/{cfg.model_name}/versions/"
                f"{result.model_version}:predict -d '{body}'", language="bash")
