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
