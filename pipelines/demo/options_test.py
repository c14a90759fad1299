"""The demo folder: a new or empty one becomes a demo folder, anything else is never touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.demo.options import MARKER, DemoError, prepare_workdir


def test_new_or_empty_folder_becomes_a_demo_folder(tmp_path: Path) -> None:
    paths = prepare_workdir(tmp_path / "new" / "demo", fresh=False)
    assert (paths.root / MARKER).is_file()
    (tmp_path / "empty").mkdir()
    assert (prepare_workdir(tmp_path / "empty", fresh=True).root / MARKER).is_file()


def test_a_folder_that_is_not_a_demo_is_never_touched(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    for fresh in (False, True):
        with pytest.raises(DemoError, match="not a demo folder"):
            prepare_workdir(tmp_path, fresh=fresh)
    assert (tmp_path / "precious.txt").read_text() == "keep me"
    (tmp_path / "file").write_text("")
    with pytest.raises(DemoError, match="not a folder"):
        prepare_workdir(tmp_path / "file", fresh=True)


def test_an_earlier_demo_is_deleted_only_with_fresh(tmp_path: Path) -> None:
    paths = prepare_workdir(tmp_path / "d", fresh=False)
    (paths.root / "data").mkdir()
    with pytest.raises(DemoError, match="pass --fresh"):
        prepare_workdir(paths.root, fresh=False)
    assert (paths.root / "data").is_dir()
    prepare_workdir(paths.root, fresh=True)
    assert sorted(p.name for p in paths.root.iterdir()) == [MARKER]
