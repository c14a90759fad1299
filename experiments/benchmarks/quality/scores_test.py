"""Tests for the quality benchmark's scores and targets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from experiments.benchmarks.quality import scores


def test_calibration_error_of_known_bins() -> None:
    # Bin [0.2, 0.3): p 0.25 twice, one click -> |0.5 - 0.25| x 2/4; bin [0.9, 1]: p 1.0 and
    # 0.9, both clicked -> |1 - 0.95| x 2/4.
    y = np.array([0, 1, 1, 1])
    p = np.array([0.25, 0.25, 1.0, 0.9])
    assert scores.expected_calibration_error(y, p) == pytest.approx(0.125 + 0.025)
    assert scores.expected_calibration_error(y, p, bins=1) == pytest.approx(abs(0.75 - 0.6))


def test_calibrated_scores_have_a_small_error() -> None:
    rng = np.random.default_rng(0)
    p = rng.random(50_000)
    y = (rng.random(p.size) < p).astype(int)
    assert scores.expected_calibration_error(y, p) < 0.01
    assert scores.expected_calibration_error(y, np.clip(p + 0.2, 0, 1)) > 0.15


def test_score_of_a_perfect_and_an_inverted_model() -> None:
    y = np.array([0, 0, 1, 1])
    perfect = scores.score(y, np.array([0.0, 0.1, 0.9, 1.0]))
    assert (perfect.auc, perfect.accuracy) == (1.0, 1.0)
    assert perfect.log_loss == pytest.approx(-math.log(0.9) / 2, rel=1e-4)
    inverted = scores.score(y, np.array([1.0, 0.9, 0.1, 0.0]))
    assert (inverted.auc, inverted.accuracy) == (0.0, 0.0)
    assert inverted.log_loss > 5


@pytest.mark.parametrize("bad", [np.array([0.1, np.nan]), np.array([0.1, 1.5])])
def test_score_rejects_impossible_probabilities(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="probabilities"):
        scores.score(np.array([0, 1]), bad)


def _s(auc: float, accuracy: float) -> scores.Scores:
    return scores.Scores(auc=auc, accuracy=accuracy, log_loss=0.1, ece=0.01)


def test_verdict_uses_the_best_baseline_per_metric() -> None:
    baselines = {"a": _s(0.990, 0.950), "b": _s(0.980, 0.970)}
    assert scores.verdict(_s(0.9890, 0.9650), baselines)[0]
    passed, why = scores.verdict(_s(0.9889, 0.9650), baselines)
    assert not passed and "AUC 0.9889 < best baseline 0.9900" in why
    passed, why = scores.verdict(_s(0.995, 0.9649), baselines)
    assert not passed and "accuracy" in why and "AUC" not in why
    with pytest.raises(ValueError, match="no baseline"):
        scores.verdict(_s(1.0, 1.0), {})


def test_table_marks_only_the_pipeline_rows() -> None:
    text = scores.table({"default 1,000": {"pipeline": _s(0.95, 0.9), "logistic": _s(0.96, 0.9)},
                         "real-like 1,000": {"pipeline": _s(0.99, 0.97),
                                             "logistic": _s(0.99, 0.97)}})
    rows = text.splitlines()
    assert rows[0].startswith("| data set | model | AUC |")
    assert rows[2] == "| default 1,000 | pipeline | 0.9500 | 0.9000 | 0.1000 | 0.0100 | FAIL |"
    assert rows[3].endswith("|  |") and rows[4].endswith("| PASS |")
