"""roc_auc against hand-computed values."""

from __future__ import annotations

import pytest

from pipelines.common.metrics import roc_auc


def test_roc_auc_hand_computed_with_ties() -> None:
    # Pairs (pos, neg): (0.8, 0.1) 1, (0.8, 0.4) 1, (0.8, 0.8) 0.5, (0.4, 0.1) 1, (0.4, 0.4) 0.5,
    # (0.4, 0.8) 0 -> 4 / 6.
    labels = [0, 1, 1, 0, 0]
    scores = [0.1, 0.8, 0.4, 0.4, 0.8]
    assert roc_auc(labels, scores) == pytest.approx(4 / 6)
    assert roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert roc_auc([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4]) == 0.0
    assert roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5


def test_roc_auc_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="both classes"):
        roc_auc([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="equal length"):
        roc_auc([0, 1], [0.1])
    with pytest.raises(ValueError, match="0/1"):
        roc_auc([0, 2], [0.1, 0.2])
