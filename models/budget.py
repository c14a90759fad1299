"""How long the Trainer (and each Tuner trial) trains: a budget that grows with the data.

A fixed step count trains 1,000 rows for dozens of passes and 1M rows for a sliver of one
(300 steps x 64 = 19,200 examples). Instead a Keras "epoch" is one pass over the train split,
or EPOCH_STEPS_MAX steps when a pass is longer, so that early stopping looks at the eval loss
often enough on large data; training runs up to ``max_epochs`` such epochs and never more than
``max_steps`` steps in all (the pipeline's ``train_steps``, a ceiling), and stops early when
the eval loss has not improved for ``patience`` epochs, keeping the best weights.
"""

from __future__ import annotations

import dataclasses
import math

import tensorflow as tf

EPOCH_STEPS_MAX = 500


@dataclasses.dataclass(frozen=True)
class TrainingBudget:
    epochs: int
    steps_per_epoch: int

    @property
    def max_steps(self) -> int:
        return self.epochs * self.steps_per_epoch


def training_budget(train_rows: int, batch_size: int, *, max_steps: int,
                    max_epochs: int) -> TrainingBudget:
    """Epochs and steps per epoch for ``train_rows`` rows, within ``max_steps`` in all."""
    for name, value in (("train_rows", train_rows), ("batch_size", batch_size),
                        ("max_steps", max_steps), ("max_epochs", max_epochs)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    steps_per_epoch = min(math.ceil(train_rows / batch_size), EPOCH_STEPS_MAX, max_steps)
    epochs = max(1, min(max_epochs, max_steps // steps_per_epoch))
    return TrainingBudget(epochs=epochs, steps_per_epoch=steps_per_epoch)


def count_examples(file_patterns: list[str]) -> int:
    """Records in the (GZIP, as TFX writes them, or plain) TFRecord files of ``file_patterns``."""
    files = sorted({f for pattern in file_patterns for f in tf.io.gfile.glob(pattern)})
    if not files:
        raise ValueError(f"no files match {file_patterns}")
    compression = "GZIP" if all(f.endswith(".gz") for f in files) else ""
    dataset = tf.data.TFRecordDataset(files, compression_type=compression).batch(65_536)
    return int(dataset.reduce(tf.constant(0, tf.int64),
                              lambda n, batch: n + tf.shape(batch, tf.int64)[0]).numpy())


def early_stopping(patience: int) -> tf.keras.callbacks.Callback:
    """Stop when the eval loss has not improved for ``patience`` epochs; keep the best weights."""
    return tf.keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience,
                                            restore_best_weights=True)
