"""Metrics of a labelled file, each checked against a hand computation."""

import numpy as np
import pytest

from dashboard import labelled
from pipelines.common.metrics import roc_auc

LABELS = [1, 1, 0, 1, 0, 0, 1, 0]
PROBS = [0.9, 0.6, 0.55, 0.5, 0.3, 0.1, 0.2, 0.5]


def test_the_confusion_matrix_counts_at_or_above_the_threshold():
    # At 0.5: predicted clicks 0.9, 0.6, 0.55, 0.5, 0.5 -> labels 1, 1, 0, 1, 0.
    assert labelled.confusion(LABELS, PROBS, 0.5) == {"tp": 3, "fp": 2, "fn": 1, "tn": 2}
    assert labelled.confusion(LABELS, PROBS, 0.0) == {"tp": 4, "fp": 4, "fn": 0, "tn": 0}
    assert labelled.confusion(LABELS, PROBS, 0.95) == {"tp": 0, "fp": 0, "fn": 4, "tn": 4}
    table = labelled.confusion_table(labelled.confusion(LABELS, PROBS, 0.5))
    assert table["predicted click"].tolist() == [3, 2]
    assert table["predicted no click"].tolist() == [1, 2]


def test_rates_follow_their_definitions_and_say_when_undefined():
    rates = labelled.rates({"tp": 3, "fp": 2, "fn": 1, "tn": 2})
    assert rates == {"precision": 3 / 5, "recall": 3 / 4, "accuracy": 5 / 8}
    assert labelled.rates({"tp": 0, "fp": 0, "fn": 4, "tn": 4})["precision"] is None


def test_the_roc_curve_has_one_point_per_threshold_and_its_area_is_the_auc():
    curve = labelled.roc_curve(LABELS, PROBS)
    # 7 distinct probabilities (0.5 twice) plus the origin.
    assert len(curve) == 8
    assert (curve.iloc[0]["false_positive_rate"], curve.iloc[0]["true_positive_rate"]) == (0, 0)
    assert (curve.iloc[-1]["false_positive_rate"], curve.iloc[-1]["true_positive_rate"]) == (1, 1)
    # The tied pair at 0.5 (one click, one not) moves the curve diagonally, as rank AUC counts.
    area = np.trapz(curve["true_positive_rate"], curve["false_positive_rate"])
    assert area == pytest.approx(roc_auc(LABELS, PROBS)) == pytest.approx(
        labelled.auc(LABELS, PROBS))


def test_a_large_roc_curve_is_thinned_but_keeps_its_ends():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 50_000)
    probs = np.clip(labels * 0.3 + rng.random(50_000) * 0.7, 0, 1)
    curve = labelled.roc_curve(labels, probs, points=100)
    assert len(curve) <= 101
    assert curve.iloc[-1][["false_positive_rate", "true_positive_rate"]].tolist() == [1.0, 1.0]
    assert curve["false_positive_rate"].is_monotonic_increasing


def test_calibration_bins_hold_the_mean_prediction_and_the_share_that_clicked():
    bins = labelled.calibration(LABELS, PROBS, bins=2)
    # Below 0.5: 0.3, 0.1, 0.2 (labels 0, 0, 1); at or above: the other five.
    assert bins["rows"].tolist() == [3, 5]
    assert bins["mean_probability"].tolist() == pytest.approx([0.2, (0.9 + 0.6 + 0.55 + 1) / 5])
    assert bins["clicked_share"].tolist() == pytest.approx([1 / 3, 3 / 5])
    assert labelled.calibration([1], [1.0], bins=10)["bin"].tolist() == ["0.9-1.0"]


def test_the_histogram_counts_rows_per_bin_and_label():
    hist = labelled.histogram(PROBS, LABELS, bins=2)
    counts = {(r.label, r.low): r.rows for r in hist.itertuples()}
    assert counts == {("clicked (1)", 0.0): 1, ("clicked (1)", 0.5): 3,
                      ("did not click (0)", 0.0): 2, ("did not click (0)", 0.5): 2}
    assert labelled.histogram([0.0, 1.0], bins=4)["rows"].tolist() == [1, 0, 0, 1]


def test_one_class_or_mismatched_inputs_are_refused():
    assert not labelled.both_classes([1, 1]) and not labelled.both_classes([])
    assert labelled.both_classes(LABELS)
    with pytest.raises(ValueError, match="one length"):
        labelled.confusion([1, 0], [0.5], 0.5)
