"""How well the model did on a labelled file: confusion matrix, ROC, calibration, histogram.

Pure functions of the file's labels and the server's probabilities, so each can be checked by
hand. A row counts as a predicted click when its probability is at least the threshold (the
convention of TFMA's confusion matrices and of the server's ``clicked`` output at 0.5).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.common.metrics import roc_auc

ROC_POINTS = 200


def _arrays(labels, probabilities) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(probabilities, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"labels and probabilities must be 1-D of one length, got {y.shape} "
                         f"and {p.shape}")
    return y, p


def both_classes(labels) -> bool:
    y = np.asarray(labels)
    return bool(y.size) and bool((y == 1).any()) and bool((y == 0).any())


def confusion(labels, probabilities, threshold: float) -> dict[str, int]:
    """True/false positives/negatives when ``probability >= threshold`` predicts a click."""
    y, p = _arrays(labels, probabilities)
    predicted = p >= threshold
    actual = y == 1
    return {"tp": int((predicted & actual).sum()), "fp": int((predicted & ~actual).sum()),
            "fn": int((~predicted & actual).sum()), "tn": int((~predicted & ~actual).sum())}


def confusion_table(counts: dict[str, int]) -> pd.DataFrame:
    """The 2x2 table as people read it: actual in rows, predicted in columns."""
    return pd.DataFrame({"actual": ["clicked (1)", "did not click (0)"],
                         "predicted click": [counts["tp"], counts["fp"]],
                         "predicted no click": [counts["fn"], counts["tn"]]})


def rates(counts: dict[str, int]) -> dict[str, float | None]:
    """Precision, recall and accuracy of a confusion matrix (None where undefined)."""
    tp, fp, fn, tn = counts["tp"], counts["fp"], counts["fn"], counts["tn"]
    total = tp + fp + fn + tn
    return {"precision": tp / (tp + fp) if tp + fp else None,
            "recall": tp / (tp + fn) if tp + fn else None,
            "accuracy": (tp + tn) / total if total else None}


def auc(labels, probabilities) -> float:
    y, p = _arrays(labels, probabilities)
    return roc_auc(y, p)


def roc_curve(labels, probabilities, points: int = ROC_POINTS) -> pd.DataFrame:
    """False and true positive rates at every distinct threshold, thinned to about ``points``
    (a chart of a million rows needs no million points); starts at (0, 0), ends at (1, 1)."""
    y, p = _arrays(labels, probabilities)
    order = np.argsort(-p, kind="stable")
    p, y = p[order], y[order]
    # The last row of each run of tied probabilities: one point per threshold.
    last = np.r_[np.nonzero(np.diff(p))[0], p.size - 1]
    tps = np.cumsum(y)[last]
    fps = (last + 1) - tps
    positives, negatives = max(int(y.sum()), 1), max(int(y.size - y.sum()), 1)
    keep = np.unique(np.linspace(0, last.size - 1, min(points, last.size)).astype(int))
    return pd.DataFrame({
        "false_positive_rate": np.r_[0.0, fps[keep] / negatives],
        "true_positive_rate": np.r_[0.0, tps[keep] / positives],
        "threshold": np.r_[1.0, p[last][keep]]})


def calibration(labels, probabilities, bins: int = 10) -> pd.DataFrame:
    """Reliability bins: per equal-width probability bin, the mean prediction and the share
    that clicked; a calibrated model lies on the diagonal. Empty bins are left out."""
    y, p = _arrays(labels, probabilities)
    index = np.minimum((p * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        inside = index == b
        if inside.any():
            rows.append({"bin": f"{b / bins:.1f}-{(b + 1) / bins:.1f}", "rows": int(inside.sum()),
                         "mean_probability": float(p[inside].mean()),
                         "clicked_share": float(y[inside].mean())})
    return pd.DataFrame(rows)


def histogram(probabilities, labels=None, bins: int = 20) -> pd.DataFrame:
    """Rows per equal-width probability bin (per label when there are labels)."""
    p = np.asarray(probabilities, dtype=np.float64)
    index = np.minimum((p * bins).astype(int), bins - 1)
    groups = {"all": np.ones(p.size, bool)} if labels is None else {
        "clicked (1)": np.asarray(labels) == 1, "did not click (0)": np.asarray(labels) == 0}
    rows = []
    for name, mask in groups.items():
        counts = np.bincount(index[mask], minlength=bins)
        rows.extend({"low": b / bins, "high": (b + 1) / bins, "label": name, "rows": int(c)}
                    for b, c in enumerate(counts))
    return pd.DataFrame(rows)
