"""The blessing explanation: TFMA's threshold rule on hand-made configs, and against the real
TFMA output (eval_config.json, ValidationResult, metrics, plots) of four real runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dashboard import blessing, evaluation, explain, run_metrics
from dashboard.history import list_runs

CONFIG = {"metricsSpecs": [{"metrics": [
    {"className": "ExampleCount"},
    {"className": "AUC", "perSliceThresholds": [{"slicingSpecs": [{}], "threshold": {
        "valueThreshold": {"lowerBound": 0.75},
        "changeThreshold": {"absolute": -0.01, "direction": "HIGHER_IS_BETTER"}}}]},
    {"className": "BinaryAccuracy", "threshold": {"valueThreshold": {"upperBound": 0.99}}},
    {"className": "MeanPrediction", "config": '{"name": "mean_pred"}', "threshold": {
        "changeThreshold": {"absolute": 0.05, "direction": "LOWER_IS_BETTER"}}},
]}]}


def test_metric_names_follow_tfma():
    assert blessing.metric_name({"className": "AUCPrecisionRecall"}) == "auc_precision_recall"
    assert blessing.metric_name({"className": "BinaryAccuracy"}) == "binary_accuracy"
    assert blessing.metric_name({"className": "AUC", "config": '{"name": "my_auc"}'}) == "my_auc"


def test_thresholds_of_a_config():
    assert blessing.thresholds(CONFIG) == [
        blessing.Threshold("auc", lower=0.75, change=-0.01),
        blessing.Threshold("binary_accuracy", upper=0.99),
        blessing.Threshold("mean_pred", change=0.05, higher_is_better=False)]


def test_bounds_are_inclusive_and_changes_need_a_baseline():
    auc = blessing.Threshold("auc", lower=0.75, change=-0.01)
    assert blessing.check(auc, 0.75, None).passed is True
    assert blessing.check(auc, 0.7499, None).passed is False
    assert blessing.check(auc, 0.80, None).change_passed is None
    assert blessing.check(auc, 0.80, 0.805).passed is True
    assert blessing.check(auc, 0.80, 0.8101).change_passed is False
    exact = blessing.Threshold("auc", change=-0.25)  # binary fractions: no rounding
    assert blessing.check(exact, 0.5, 0.75).passed is True
    lower = blessing.Threshold("loss", change=0.05, higher_is_better=False)
    assert blessing.check(lower, 0.30, 0.26).passed is True
    assert blessing.check(lower, 0.32, 0.26).passed is False


def test_verdict_sentences():
    auc = blessing.Threshold("auc", lower=0.75, change=-0.01)
    good = [blessing.check(auc, 0.95, 0.94)]
    assert explain.verdict(good, True, "17962").sentence == (
        "Blessed: AUC 0.9500 ≥ 0.75 and AUC changed by +0.0100 against the served version "
        "17962, allowed -0.01.")
    dropped = [blessing.check(auc, 0.90, 0.95)]
    assert explain.verdict(dropped, False, "17962").sentence == (
        "Not blessed: AUC dropped by -0.0500 against the served version 17962, allowed -0.01.")
    low = [blessing.check(auc, 0.70, None)]
    assert explain.verdict(low, False).sentence == (
        "Not blessed: AUC 0.7000 is below the threshold 0.75.")
    # The Evaluator's own reason when our reading finds none, flagged as a disagreement.
    odd = explain.verdict(good, False, "1", ["the Evaluator found no examples"])
    assert odd.sentence == "Not blessed: the Evaluator found no examples." and not odd.agrees
    assert explain.verdict([], True).sentence == (
        "Blessed: there was no served model to compare with.")


def test_a_missing_or_foreign_eval_config_is_a_clear_error(tmp_path):
    with pytest.raises(blessing.EvalConfigError, match="cannot read the Evaluator's config"):
        blessing.read_eval_config(str(tmp_path))
    (tmp_path / "eval_config.json").write_text(json.dumps({"version": "0.47.1"}))
    with pytest.raises(blessing.EvalConfigError, match="expected a JSON object with an "
                                                       "'evalConfig' object"):
        blessing.read_eval_config(str(tmp_path))


def _lower_bound(uri: str) -> float:
    # Read straight from TFMA's JSON, not through the code under test.
    config = json.loads((Path(uri) / "eval_config.json").read_text())["evalConfig"]
    (auc,) = [m for m in config["metricsSpecs"][0]["metrics"] if m["className"] == "AUC"]
    return auc["perSliceThresholds"][0]["threshold"]["valueThreshold"]["lowerBound"]


@pytest.fixture(scope="module")
def real_runs(history_root):
    runs = list_runs(history_root.root / "metadata.sqlite", "clickflow")
    return list(reversed(runs))  # oldest first, as history_root.kinds


@pytest.mark.e2e
def test_the_explanation_agrees_with_tfma_on_real_runs(history_root, real_runs):
    """Our reading of eval_config.json + run_summary.json against TFMA's own ValidationResult,
    metrics (with the ``auc_diff`` TFMA computes for the candidate) and model names."""
    import tensorflow_model_analysis as tfma

    assert history_root.kinds == ("blessed", "blessed", "not blessed", "failed")
    first, second, third, failed = real_runs
    for run in (first, second, third):
        config = blessing.read_eval_config(run.evaluation_uri)
        verdict, checks = run_metrics.judge(run, config)
        validation = tfma.load_validation_result(run.evaluation_uri)
        assert run.blessed is validation.validation_ok is verdict.blessed
        assert all(c.passed for c in checks) is validation.validation_ok and verdict.agrees
        tfma_overall, _tfma_sliced = evaluation.metrics(run.evaluation_uri)
        assert run_metrics.overall(run)["auc"] == pytest.approx(tfma_overall["auc"])
        assert checks[0].threshold.lower == _lower_bound(run.evaluation_uri)
        if run is first:
            assert evaluation.models(run.evaluation_uri) == (None, None)
            assert checks[0].change_passed is None
        else:
            assert evaluation.models(run.evaluation_uri) == ("candidate", "baseline")
            base, _ = evaluation.baseline_metrics(run.evaluation_uri)
            assert checks[0].baseline == pytest.approx(base["auc"])
            assert checks[0].diff == pytest.approx(tfma_overall["auc_diff"])
    assert second.summary["baseline"]["served_version"] == first.pushed_version
    assert third.blessed is False and failed.blessed is None
    assert run_metrics.judge(failed, None)[0].sentence.startswith(
        "No verdict: the run failed at AnomaliesGate: the data breaks the schema")


@pytest.mark.e2e
def test_curves_of_a_two_model_result_hold_both_models(real_runs):
    """TFMA keys a two-model result's plots by model name: both are read."""
    first, second = real_runs[0], real_runs[1]
    one = evaluation.curves(first.evaluation_uri)
    two = evaluation.curves(second.evaluation_uri)
    assert {p["model"] for p in one} == {"candidate"}
    assert {p["model"] for p in two} == {"candidate", "baseline"}
    for points in (one, two):
        overall = [p for p in points if p["slice"] == "Overall" and p["model"] == "candidate"]
        assert len(overall) > 10 and {"Male:0", "Male:1"} <= {p["slice"] for p in points}
        assert all(0.0 <= p["recall"] <= 1.0 for p in overall)
