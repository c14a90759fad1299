"""Undefined metrics and the Evaluator's failed checks, read from TFMA's own output format
(``validations.tfrecord``: serialized ``ValidationResult`` protos, as TFMA's
metrics_plots_and_validations_writer writes them and ``tfma.load_validation_result`` reads)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.metadata import verdict


@pytest.mark.parametrize(("metrics", "rows", "expected"), [
    ({"example_count": 55.0, "mean_label": 1.0, "auc": 0.0},
     55, "AUC is undefined: the eval split has only label 1 (55 rows)"),
    ({"example_count": 40.0, "mean_label": 0.0, "auc": 0.0},
     40, "AUC is undefined: the eval split has only label 0 (40 rows)"),
    ({}, 0, "AUC is undefined: the eval split has no rows"),
    ({"example_count": 7.0, "mean_label": 0.4}, 7, "AUC is undefined: the eval split has only 7"),
])
def test_degenerate_eval_splits_make_the_auc_undefined(metrics, rows, expected) -> None:
    assert verdict.undefined_metrics(metrics, rows).startswith(expected)


def test_a_healthy_split_is_left_alone() -> None:
    assert verdict.undefined_metrics({"example_count": 200.0, "mean_label": 0.5}, 200) is None


def _write_validation(folder: Path, result) -> None:
    import tensorflow as tf

    folder.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(folder / "validations.tfrecord")) as writer:
        writer.write(result.SerializeToString())


def test_failed_thresholds_are_told_as_sentences(tmp_path: Path) -> None:
    from tensorflow_model_analysis.proto import validation_result_pb2 as vr

    result = vr.ValidationResult(validation_ok=False)
    per_slice = result.metric_validations_per_slice.add()
    low = per_slice.failures.add()
    low.metric_key.name = "auc"
    low.metric_threshold.value_threshold.lower_bound.value = 0.75
    low.metric_value.double_value.value = 0.7123
    drop = per_slice.failures.add()
    drop.metric_key.name = "auc"
    drop.metric_threshold.change_threshold.absolute.value = -0.01
    drop.metric_value.double_value.value = -0.04
    _write_validation(tmp_path / "failed", result)
    assert verdict.validation_failures(str(tmp_path / "failed")) == [
        "auc 0.7123 is below the threshold 0.75",
        "auc changed by -0.0400 against the served baseline (allowed: -0.01)"]

    _write_validation(tmp_path / "ok", vr.ValidationResult(validation_ok=True))
    assert verdict.validation_failures(str(tmp_path / "ok")) == []
    assert verdict.validation_failures(str(tmp_path / "no-result")) == []


# The simple-baseline gate, decided by TFMA's own code: the EvalConfig the pipeline gives the
# SimpleModelEvaluator, completed as TFX's Evaluator executor completes it when a baseline is
# given (tfx/components/evaluator/executor.py: update_eval_config_with_defaults(...,
# has_baseline=True, rubber_stamp=True), which names the models "candidate" and "baseline"),
# then TFMA's metrics_validator.validate_metrics on each slice, as its evaluator runs it.
def _gate(margin: float, aucs: dict[tuple, tuple[float, float]]):
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.evaluators import metrics_validator
    from tensorflow_model_analysis.metrics import metric_types
    from tensorflow_model_analysis.proto import validation_result_pb2 as vr

    from pipelines.config import PipelineConfig
    from pipelines.pipeline import simple_eval_config

    config = tfma.utils.update_eval_config_with_defaults(
        simple_eval_config(PipelineConfig(simple_model_margin=margin)), has_baseline=True,
        rubber_stamp=True)
    result = vr.ValidationResult(validation_ok=True)
    candidate, simple = {}, {}
    for slice_key, (ours, theirs) in aucs.items():
        key = metric_types.MetricKey(name="auc", model_name=tfma.CANDIDATE_KEY)
        base = metric_types.MetricKey(name="auc", model_name=tfma.BASELINE_KEY)
        checked = metrics_validator.validate_metrics(
            (slice_key, {key: ours, base: theirs, key.make_diff_key(): ours - theirs}), config)
        result.validation_ok &= checked.validation_ok
        result.metric_validations_per_slice.extend(checked.metric_validations_per_slice)
        candidate[verdict.slice_name(slice_key)] = {"auc": ours}
        simple[verdict.slice_name(slice_key)] = {"auc": theirs}
    return result, verdict.simple_model_failures(result, candidate, simple)


def test_a_candidate_worse_than_the_simple_model_by_more_than_the_margin_is_not_blessed() -> None:
    result, reasons = _gate(0.02, {(("Male", 0),): (0.9, 0.9), (): (0.80, 0.85)})
    assert result.validation_ok is False
    assert reasons == ["auc overall: the candidate's 0.8000 is 0.0500 below the simple "
                       "model's 0.8500 (margin 0.02)"]


def test_slices_are_reported_not_judged() -> None:
    """A slice far below the simple model does not block a candidate within the margin
    overall: a few dozen rows of an age band move AUC by hundredths at random."""
    result, reasons = _gate(0.01, {(): (0.95, 0.955), (("Male", 1),): (0.90, 0.93),
                                   (("age_band", "30-39"),): (0.97, 0.96)})
    assert result.validation_ok is True and reasons == []


@pytest.mark.parametrize("margin", [0.01, 0.0])
def test_within_the_margin_or_better_is_blessed(margin) -> None:
    aucs = {(): (0.95, 0.95 - margin), (("Male", 1),): (0.92, 0.92),
            (("age_band", "<30"),): (0.99, 0.985)}
    if margin:
        aucs[(("age_band", "50+"),)] = (0.90, 0.909)  # 0.009 below: within 0.01
    result, reasons = _gate(margin, aucs)
    assert result.validation_ok is True and reasons == []


def test_the_gate_and_its_margin_are_checked_config() -> None:
    from pipelines.common.errors import ConfigError
    from pipelines.config import PipelineConfig

    for bad in (-0.1, 1.5, "0.01", True):
        with pytest.raises(ConfigError, match="simple_model_margin"):
            PipelineConfig(simple_model_margin=bad)
    with pytest.raises(ConfigError, match="simple_model_gate"):
        PipelineConfig(simple_model_gate="no")
