"""Scores of a probabilistic classifier (AUC, accuracy, log loss, calibration) and the targets.

Every model in the quality benchmark, the pipeline's and the baselines, is scored here from its
eval-split probabilities, so the table compares numbers computed the same way.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np

from pipelines.common.metrics import roc_auc

# The targets: the pipeline's model may trail the best simple baseline by at most this.
AUC_MARGIN = 0.001
ACCURACY_MARGIN = 0.005
CALIBRATION_BINS = 10
_EPS = 1e-7


@dataclasses.dataclass(frozen=True)
class Scores:
    """Eval-split scores of one model."""

    auc: float
    accuracy: float
    log_loss: float
    ece: float  # expected calibration error, CALIBRATION_BINS equal-width bins


def expected_calibration_error(labels: np.ndarray, probabilities: np.ndarray,
                               bins: int = CALIBRATION_BINS) -> float:
    """Sum over equal-width probability bins of |click rate - mean probability| x bin share."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1 or y.size == 0:
        raise ValueError(f"labels and probabilities must be 1-D, equal and non-empty, got "
                         f"{y.shape} and {p.shape}")
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    index = np.minimum((p * bins).astype(np.int64), bins - 1)  # p == 1.0 goes to the last bin
    total = 0.0
    for b in range(bins):
        rows = index == b
        if rows.any():
            total += abs(y[rows].mean() - p[rows].mean()) * rows.mean()
    return float(total)


def score(labels: np.ndarray, probabilities: np.ndarray) -> Scores:
    """AUC, accuracy at 0.5, mean log loss and ECE of ``probabilities`` for 0/1 ``labels``."""
    y = np.asarray(labels).astype(np.int64)
    p = np.asarray(probabilities, dtype=np.float64)
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise ValueError("probabilities must be finite and in [0, 1]")
    clipped = np.clip(p, _EPS, 1.0 - _EPS)
    log_loss = -np.mean(y * np.log(clipped) + (1 - y) * np.log(1.0 - clipped))
    return Scores(auc=roc_auc(y, p), accuracy=float(np.mean((p >= 0.5) == (y == 1))),
                  log_loss=float(log_loss), ece=expected_calibration_error(y, p))


def verdict(model: Scores, baselines: Mapping[str, Scores]) -> tuple[bool, str]:
    """(passed, why): AUC >= best baseline AUC - AUC_MARGIN and accuracy likewise."""
    if not baselines:
        raise ValueError("no baseline to compare with")
    best_auc = max(s.auc for s in baselines.values())
    best_accuracy = max(s.accuracy for s in baselines.values())
    failures = []
    if model.auc < best_auc - AUC_MARGIN - 1e-12:
        failures.append(f"AUC {model.auc:.4f} < best baseline {best_auc:.4f} - {AUC_MARGIN}")
    if model.accuracy < best_accuracy - ACCURACY_MARGIN - 1e-12:
        failures.append(f"accuracy {model.accuracy:.4f} < best baseline "
                        f"{best_accuracy:.4f} - {ACCURACY_MARGIN}")
    return not failures, "; ".join(failures) or "within the margins of the best baseline"


def _cell(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.4f}"


def table(results: Mapping[str, Mapping[str, Scores]], pipeline_key: str = "pipeline") -> str:
    """Markdown table: data set x model x scores, and PASS/FAIL on the pipeline's rows."""
    lines = ["| data set | model | AUC | accuracy | log loss | ECE | target |",
             "|---|---|---|---|---|---|---|"]
    for dataset, models in results.items():
        baselines = {k: v for k, v in models.items() if k != pipeline_key}
        for name, s in models.items():
            mark = ""
            if name == pipeline_key and baselines:
                mark = "PASS" if verdict(s, baselines)[0] else "FAIL"
            lines.append(f"| {dataset} | {name} | {_cell(s.auc)} | {_cell(s.accuracy)} | "
                         f"{_cell(s.log_loss)} | {_cell(s.ece)} | {mark} |")
    return "\n".join(lines)
