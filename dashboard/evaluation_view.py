"""The evaluation of one run on a page: verdict, thresholds, metrics, slices and curves.

Shared by Model history and Run detail. Reads the run's summary and eval_config.json (fast);
TFMA only for a run without a summary, and for the curves when asked for.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import blessing, explain, run_metrics, ui
from dashboard.history import RunRecord
from pipelines.metadata.verdict import MIN_EVAL_ROWS

_NUMBER = st.column_config.NumberColumn(format="%.4f")


def _config(run: RunRecord) -> dict | None:
    if run.evaluation_uri is None:
        return None
    try:
        return ui.eval_config(run.evaluation_uri, ui.mtime(run.evaluation_uri))
    except blessing.EvalConfigError as err:
        st.warning(f"The thresholds cannot be shown: {err}")
        return None


def _metrics(run: RunRecord) -> tuple[dict | None, dict | None]:
    """(candidate, baseline) slice -> metrics: the summary's, else TFMA's for this run."""
    found = run_metrics.candidate(run.summary)
    if found is not None or run.evaluation_uri is None:
        return found, run_metrics.baseline(run.summary)
    return ui.tfma_metrics(run.evaluation_uri, ui.mtime(run.evaluation_uri))


def verdict_box(verdict: explain.Verdict) -> None:
    if verdict.blessed:
        st.success(verdict.sentence, icon=":material/verified:")
    elif verdict.blessed is False:
        st.error(verdict.sentence, icon=":material/block:")
    else:
        st.info(verdict.sentence, icon=":material/info:")
    if not verdict.agrees:
        st.warning("The thresholds read from eval_config.json do not explain the Evaluator's "
                   "verdict on their own; the Evaluator's blessing is what counted.")


def judge(run: RunRecord) -> tuple[explain.Verdict, list[blessing.Check], dict | None,
                                    dict | None]:
    """The run's verdict and checks, and the (candidate, baseline) metrics they used."""
    metrics, base = _metrics(run)
    verdict, checks = run_metrics.judge(run, _config(run), metrics, base)
    return verdict, checks, metrics, base


def show(run: RunRecord, curves: bool = True) -> None:
    """Everything this run's evaluation says (see the module docstring)."""
    verdict, checks, metrics, base = judge(run)
    verdict_box(verdict)
    if run.evaluation_uri is None:
        return
    if checks:
        st.markdown("**Thresholds that decided** (TFMA's rule: a value passes within its "
                    "bounds; a change is candidate - baseline)")
        st.dataframe(pd.DataFrame(explain.check_rows(checks)), hide_index=True,
                     column_config={"passed": st.column_config.CheckboxColumn("passed"),
                                    "candidate": _NUMBER, "baseline": _NUMBER,
                                    "change": st.column_config.NumberColumn(format="%+.4f")})
    overall = (metrics or {}).get(blessing.OVERALL, {})
    base_overall = None if base is None else base.get(blessing.OVERALL)
    if overall:
        version = run_metrics.baseline_version(run.summary)
        st.markdown("**Candidate against the served baseline**" + (
            f" (version {version}, on the same eval rows)" if version else "")
            if base_overall else "**Candidate metrics** (no served model to compare with)")
        st.dataframe(pd.DataFrame(explain.metric_rows(overall, base_overall)),
                     hide_index=True, column_config={
                         "candidate": _NUMBER, "baseline": _NUMBER,
                         "change": st.column_config.NumberColumn(format="%+.4f")})
    simple_model(run)
    slices(metrics or {})
    st.caption(f"TFMA result: `{run.evaluation_uri}`")
    if curves and st.toggle("Show ROC and precision-recall curves, and every slice against "
                            "the baseline", key=f"curves_{run.run_id}",
                            help="Reads the TFMA result with TFMA: ~10-20 s the first time."):
        show_curves(run)
        slice_comparison(run)


def simple_model(run: RunRecord) -> None:
    """The simple-baseline gate: the candidate's AUC against a logistic regression's on the same
    eval rows, overall and per slice (the verdict above says why it failed, if it did)."""
    simple = run_metrics.simple_model(run.summary)
    if simple is None:
        return
    margin = simple.get("margin")
    allowed = f"at most {margin:g} lower" if margin is not None else "within the margin"
    passed = ("passed" if simple.get("blessed") else "**failed**: " + "; ".join(
        simple.get("not_blessed_because") or ["no reason recorded"]))
    st.markdown("**Candidate against the simple model** (logistic regression on the numeric "
                f"features, the same eval rows; the candidate's AUC may be {allowed} overall, "
                f"slices are shown, not judged): {passed}")
    st.dataframe(pd.DataFrame(explain.simple_model_rows(simple)), hide_index=True,
                 column_config={"within margin": st.column_config.CheckboxColumn(
                     "within margin"), "AUC": _NUMBER, "simple model AUC": _NUMBER,
                     "AUC change": st.column_config.NumberColumn(format="%+.4f")})
    metrics = simple.get("metrics") or {}
    if metrics.get("binary_accuracy") is not None:
        st.caption(f"Simple model accuracy {metrics['binary_accuracy']:.4f}; its TFMA result: "
                   f"`{simple.get('evaluation')}`")


def slice_comparison(run: RunRecord) -> None:
    """Per slice, candidate against baseline: the run summary keeps only the candidate's."""
    candidate, base = ui.tfma_metrics(run.evaluation_uri, ui.mtime(run.evaluation_uri))
    rows = pd.DataFrame(explain.slice_rows(candidate, base))
    if rows.empty:
        return
    st.markdown("**Every slice, candidate against the served baseline**" if base else
                "**Every slice** (no served model to compare with)")
    st.dataframe(rows, hide_index=True, column_config={
        c: _NUMBER for c in ("AUC", "baseline AUC", "accuracy", "baseline accuracy")} | {
        "AUC change": st.column_config.NumberColumn(format="%+.4f")})


def slices(metrics: dict[str, dict[str, float]]) -> None:
    """AUC per slice, the axis zoomed to the values; slices too small to mean much apart."""
    rows = pd.DataFrame([
        {"slice": name, "feature": name.split(":", 1)[0], "AUC": values.get("auc"),
         "examples": values.get("example_count")}
        for name, values in sorted(metrics.items()) if name != blessing.OVERALL])
    if rows.empty:
        st.info("This evaluation has no sliced metrics.")
        return
    st.markdown("**AUC by slice**")
    # TFMA writes AUC 0.0 for a slice that holds one label only (pipelines/metadata/verdict.py):
    # undefined, not a model that ranks every pair wrong.
    big = rows[(rows["examples"].fillna(0) >= MIN_EVAL_ROWS) & rows["AUC"].notna()
               & (rows["AUC"] > 0.0)]
    small = rows[~rows.index.isin(big.index)]
    if len(big):
        low, high = big["AUC"].min(), big["AUC"].max()
        pad = max((high - low) * 0.25, 0.005)
        big = big.assign(label=big["slice"] + " (n=" + big["examples"].map("{:.0f}".format) + ")")
        # A Vega-Lite spec, not Altair: importing Altair costs ~1.7 s of a page's first load.
        st.vega_lite_chart(big[["label", "slice", "feature", "AUC", "examples"]], {
            "mark": {"type": "point", "filled": True, "size": 90},
            "encoding": {
                "x": {"field": "AUC", "type": "quantitative", "axis": {"format": ".3f"},
                      "scale": {"domain": [max(0.0, low - pad), min(1.0, high + pad)]}},
                "y": {"field": "label", "type": "nominal", "sort": None, "title": None,
                      "axis": {"labelLimit": 320}},
                "color": {"field": "feature", "type": "nominal", "legend": None},
                "tooltip": [{"field": "slice"}, {"field": "AUC", "format": ".4f"},
                            {"field": "examples"}]}}, width="stretch")
    if len(small):
        st.caption(f"Not charted: under {MIN_EVAL_ROWS} eval examples (the AUC is noise) or "
                   "one label only (AUC 0, undefined): "
                   + ", ".join(f"{r.slice} (n={r.examples:.0f}, AUC {r.AUC:.3f})"
                               for r in small.itertuples()))


def show_curves(run: RunRecord) -> None:
    import altair as alt  # only here: ~1.7 s to import, and the curves load TFMA anyway

    points = pd.DataFrame(ui.curves(run.evaluation_uri, ui.mtime(run.evaluation_uri)))
    if points.empty:
        st.info("The TFMA result has no confusion-matrix plot.")
        return
    names = sorted(points["slice"].unique(), key=lambda s: (s != "Overall", s))
    chosen = st.multiselect("Slices", names, default=names[:1], key=f"slices_{run.run_id}")
    shown = points[points["slice"].isin(chosen)]
    dash = alt.StrokeDash("model:N", sort=["candidate", "baseline"])
    roc, pr = st.columns(2)
    roc.markdown("**ROC curve**")
    roc.altair_chart(alt.Chart(shown).mark_line().encode(
        x=alt.X("false_positive_rate:Q", title="false positive rate"),
        y=alt.Y("recall:Q", title="true positive rate"), color="slice:N", strokeDash=dash,
        order="threshold:Q", tooltip=["model", "slice", "threshold", "recall"]),
        width="stretch")
    pr.markdown("**Precision-recall curve**")
    pr.altair_chart(alt.Chart(shown).mark_line().encode(
        x=alt.X("recall:Q"), y=alt.Y("precision:Q", scale=alt.Scale(zero=False)),
        color="slice:N", strokeDash=dash, order=alt.Order("threshold:Q", sort="descending"),
        tooltip=["model", "slice", "threshold", "recall", "precision"]), width="stretch")
