"""Up-front checks: a folder the run cannot write is named with the flag and the fix before any
TFX work (the read-only mounts themselves are in tests/trust_e2e_test.py)."""

from __future__ import annotations

import shutil
from collections import namedtuple
from pathlib import Path

import pytest

from pipelines.local import preflight


def test_a_folder_that_is_a_file_is_refused_naming_the_flag(tmp_path: Path) -> None:
    blocker = tmp_path / "root"
    blocker.write_text("a file, not a folder")
    with pytest.raises(preflight.PreflightError) as caught:
        preflight.check_writable(blocker / "inner", "--pipeline-root")
    message = str(caught.value)
    assert message.startswith(f"--pipeline-root {blocker / 'inner'}: cannot write there (")
    assert "Not a directory" in message and f"ls -ld {blocker}" in message


def test_a_writable_folder_is_created_and_left_clean(tmp_path: Path) -> None:
    preflight.check_writable(tmp_path / "a" / "b", "--serving-dir")
    assert list((tmp_path / "a" / "b").iterdir()) == []


def test_low_space_is_warned_about(tmp_path: Path, monkeypatch) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 5 * 10**6, 5 * 10**6))
    warning = preflight.low_space_warning(tmp_path / "not-yet")
    assert warning.startswith(f"Warning: only 5.0 MB free on the disk holding {tmp_path}")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**12, 0, 10**12))
    assert preflight.low_space_warning(tmp_path) is None


def test_nothing_to_recover_in_a_new_root(tmp_path: Path) -> None:
    assert preflight.recover(root=tmp_path, metadata_path=tmp_path / "metadata.sqlite",
                             serving_dir=tmp_path / "s", pipeline_name="clickflow",
                             run_id="r", previous=None) == {}
