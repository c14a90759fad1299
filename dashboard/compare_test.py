"""Comparing runs and reading their parameters: pure functions on hand-made inputs (the
pages run them on real runs in history_page_test.py)."""

from __future__ import annotations

import json

import pytest

from dashboard import blessing, compare, explain, run_params


def test_exec_properties_are_flattened_and_long_texts_left_out():
    assert run_params.flatten("Trainer", "train_args", '{\n  "num_steps": 150\n}') == [
        ("Trainer.train_args.num_steps", "150")]
    struct = json.dumps({"custom_config": {"@type": "type.googleapis.com/google.protobuf.Struct",
                                           "value": {"query": "SELECT 1", "max_dropped": 0.05}}})
    assert run_params.flatten("ExampleGen", "custom_config", struct) == [
        ("ExampleGen.custom_config.custom_config.max_dropped", "0.05")]
    assert run_params.flatten("Transform", "custom_config", "null") == []
    assert run_params.flatten("X", "path", "a" * 200)[0][1].endswith("…")


def test_the_evaluator_config_becomes_its_thresholds():
    stored = {"metrics_specs": [{"metrics": [{"class_name": "AUC", "per_slice_thresholds": [{
        "slicing_specs": [{}], "threshold": {
            "change_threshold": {"absolute": -0.01, "direction": "HIGHER_IS_BETTER"},
            "value_threshold": {"lower_bound": 0.9999}}}]}]}]}
    assert run_params.flatten("Evaluator", "eval_config", json.dumps(stored)) == [
        ("Evaluator.auc.lower_bound", "0.9999"), ("Evaluator.auc.change", "-0.01")]
    assert blessing.camel_case({"per_slice_thresholds": [{"lower_bound": 1}]}) == {
        "perSliceThresholds": [{"lowerBound": 1}]}


def test_parameters_that_differ_come_first():
    rows = compare.param_rows({"a": "1", "b": "2"}, {"a": "1", "b": "3", "c": "4"})
    assert [(r["parameter"], r["same"]) for r in rows] == [("b", False), ("c", False),
                                                           ("a", True)]
    assert [r["parameter"] for r in compare.param_rows({"a": "1"}, {"a": "1"}, True)] == []


def test_statistics_of_two_runs_side_by_side():
    a = [{"split": "train", "feature": "Age", "mean": 36.0, "std_dev": 8.0, "missing": 0},
         {"split": "eval", "feature": "Age", "mean": 99.0, "std_dev": 1.0, "missing": 0},
         {"split": "train", "feature": "City", "unique": 7, "missing": 0}]
    b = [{"split": "train", "feature": "Age", "mean": 35.0, "std_dev": 9.0, "missing": 2}]
    assert compare.stat_rows(a, b) == [{
        "feature": "Age", "mean A": 36.0, "mean B": 35.0, "mean A - B": 1.0, "std A": 8.0,
        "std B": 9.0, "missing A": 0, "missing B": 2}]


def test_a_run_without_a_verdict_says_why():
    assert explain.no_evaluation("running", None, None) == (
        "No verdict yet: the run is still going.")
    assert "marked it abandoned" in explain.no_evaluation("abandoned", None, None)
    assert explain.no_evaluation("failed", "Trainer", "OOM:\nmore") == (
        "No verdict: the run failed at Trainer: OOM.")
    assert explain.no_evaluation("failed", None, None) == (
        "No verdict: the run failed before the Evaluator.")


def test_slices_against_the_baseline():
    candidate = {"Overall": {"auc": 0.9, "example_count": 100.0},
                 "Male:1": {"auc": 0.8, "example_count": 40.0, "binary_accuracy": 0.7}}
    baseline = {"Overall": {"auc": 0.85}, "Male:1": {"auc": 0.82, "binary_accuracy": 0.75}}
    rows = explain.slice_rows(candidate, baseline)
    assert [r["slice"] for r in rows] == ["Overall", "Male:1"]
    assert rows[1]["AUC change"] == pytest.approx(-0.02)
    assert rows[1]["baseline accuracy"] == 0.75
    assert "baseline AUC" not in explain.slice_rows(candidate, None)[0]
