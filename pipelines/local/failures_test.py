"""A failed run's one paragraph, for the errors each layer really raises on a full or
read-only disk: Python's OSError, TensorFlow's file system, SQLite (ML Metadata) and Beam."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import pytest

from pipelines.common.errors import ConfigError
from pipelines.local import failures


def test_a_full_disk_names_the_path_and_the_fix() -> None:
    error = OSError(errno.ENOSPC, "No space left on device", "/r/Transform/7/x.gz")
    text = failures.explain(error, component="Transform")
    assert text.startswith("the disk is full: in Transform, writing (/r/Transform/7/x.gz)")
    assert "Free some space" in text and "--pipeline-root" in text


def test_tensorflow_file_system_errors_are_read_from_their_text(tmp_path: Path) -> None:
    import tensorflow as tf

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(tf.errors.OpError) as caught:  # a real TensorFlow file-system error
        tf.io.gfile.makedirs(str(blocker / "below"))
    assert failures.storage_problem(caught.value) is None  # not a disk problem: told as is
    denied = tf.errors.PermissionDeniedError(None, None, f"{tmp_path}/m/1; Permission denied")
    try:
        raise RuntimeError("Beam failed") from denied
    except RuntimeError as err:
        text = failures.explain(err, component="Trainer")
    assert text.startswith(f"permission denied: in Trainer, writing ({tmp_path}/m/1)")


def test_sqlite_and_beam_wrapped_errors(tmp_path: Path) -> None:
    full = sqlite3.OperationalError("database or disk is full")
    assert failures.storage_problem(full) == ("no space", None)
    beam = RuntimeError("OSError: [Errno 28] No space left on device: '/r/x' [while running "
                        "'WriteSplit[train]']")
    assert failures.storage_problem(beam) == ("no space", "/r/x")
    readonly = sqlite3.OperationalError("attempt to write a readonly database")
    assert failures.storage_problem(readonly)[0] == "not writable"


def test_a_user_error_is_told_as_it_is() -> None:
    try:
        raise RuntimeError("launcher failed") from ConfigError("--min-auc: expected 0..1")
    except RuntimeError as err:
        assert failures.explain(err, component="Evaluator") == "--min-auc: expected 0..1"
