"""Tests for the training budget."""

from __future__ import annotations

from pathlib import Path

import pytest
import tensorflow as tf

from models import budget


@pytest.mark.parametrize(("rows", "max_steps", "epochs", "steps"), [
    (800, 20_000, 100, 13),        # 1k rows: 100 passes at most (early stopping ends sooner)
    (8_000, 20_000, 100, 125),
    (80_000, 20_000, 40, 500),     # an epoch is capped at EPOCH_STEPS_MAX steps
    (800_000, 20_000, 40, 500),    # 1M rows: 20,000 steps x 64 = 1.6 passes, not 2.4%
    (800, 300, 23, 13),            # --train-steps 300 stays a ceiling
    (800, 5, 1, 5),
])
def test_budget_grows_with_rows_up_to_the_ceiling(rows: int, max_steps: int, epochs: int,
                                                  steps: int) -> None:
    got = budget.training_budget(rows, 64, max_steps=max_steps, max_epochs=100)
    assert (got.epochs, got.steps_per_epoch) == (epochs, steps)
    assert got.max_steps <= max_steps


def test_budget_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="train_rows"):
        budget.training_budget(0, 64, max_steps=10, max_epochs=1)
    with pytest.raises(ValueError, match="max_epochs"):
        budget.training_budget(10, 64, max_steps=10, max_epochs=0)


def test_count_examples_of_gzip_and_plain_files(tmp_path: Path) -> None:
    for name, options, n in (("a.gz", "GZIP", 70_000), ("b.gz", "GZIP", 5)):
        with tf.io.TFRecordWriter(str(tmp_path / name), options=options) as writer:
            for i in range(n):
                writer.write(str(i).encode())
    assert budget.count_examples([str(tmp_path / "*.gz")]) == 70_005
    with tf.io.TFRecordWriter(str(tmp_path / "plain.tfrecord")) as writer:
        writer.write(b"x")
    assert budget.count_examples([str(tmp_path / "plain.tfrecord")]) == 1
    with pytest.raises(ValueError, match="no files"):
        budget.count_examples([str(tmp_path / "none-*")])
