"""The Score page's section for a labelled file: AUC, a confusion matrix at a chosen threshold,
ROC, calibration and the probability histogram (numbers from ``dashboard.labelled``)."""

from __future__ import annotations

import altair as alt
import numpy as np
import streamlit as st

from dashboard import labelled
from models import features


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def show(labels: np.ndarray, probabilities: np.ndarray) -> None:
    st.subheader("How the model did on your file")
    st.caption(f"Against the {features.LABEL_KEY} column of the {labels.size:,} scored rows.")
    threshold = st.slider("Threshold: a probability at or above it counts as a click",
                          min_value=0.0, max_value=1.0, value=0.5, step=0.01)
    counts = labelled.confusion(labels, probabilities, threshold)
    rates = labelled.rates(counts)
    cards = st.columns(4)
    cards[0].metric("AUC on this file", f"{labelled.auc(labels, probabilities):.4f}",
                    border=True, help="Independent of the threshold.")
    cards[1].metric("Precision", _percent(rates["precision"]), border=True)
    cards[2].metric("Recall", _percent(rates["recall"]), border=True)
    cards[3].metric("Accuracy", _percent(rates["accuracy"]), border=True)
    st.markdown(f"**Confusion matrix at threshold {threshold:.2f}**")
    st.dataframe(labelled.confusion_table(counts), hide_index=True)

    roc, calibration = st.columns(2)
    curve = labelled.roc_curve(labels, probabilities)
    roc.markdown("**ROC curve**")
    roc.altair_chart(alt.Chart(curve).mark_line().encode(
        x=alt.X("false_positive_rate", title="false positive rate"),
        y=alt.Y("true_positive_rate", title="true positive rate"),
        tooltip=["threshold", "false_positive_rate", "true_positive_rate"]),
        width="stretch")
    bins = labelled.calibration(labels, probabilities)
    calibration.markdown("**Calibration** (a calibrated model follows the diagonal)")
    diagonal = alt.Chart(alt.Data(values=[{"x": 0, "y": 0}, {"x": 1, "y": 1}])).mark_line(
        strokeDash=[4, 4], color="gray").encode(x="x:Q", y="y:Q")
    points = alt.Chart(bins).mark_line(point=True).encode(
        x=alt.X("mean_probability", title="mean predicted probability",
                scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("clicked_share", title="share that clicked", scale=alt.Scale(domain=[0, 1])),
        tooltip=["bin", "rows", "mean_probability", "clicked_share"])
    calibration.altair_chart(diagonal + points, width="stretch")

    st.markdown("**Predicted probabilities**")
    hist = labelled.histogram(probabilities, labels)
    st.altair_chart(alt.Chart(hist).mark_bar(opacity=0.7).encode(
        x=alt.X("low", bin="binned", title="probability"), x2="high",
        y=alt.Y("rows", stack=None), color=alt.Color("label", title=features.LABEL_KEY),
        tooltip=["label", "low", "high", "rows"]), width="stretch")
