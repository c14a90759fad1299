"""Fixtures for the server tests: one real small model, exported once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real SavedModel of the pipeline's model (``pipelines.testing.small_model``), read-only
    for tests."""
    from pipelines.testing.small_model import export_small_model

    return export_small_model(tmp_path_factory.mktemp("small_model") / "1")


@pytest.fixture(scope="session")
def make_version(small_model: Path):
    """Copies the small model into ``base/<version>`` (written aside, then renamed in)."""

    def make(base: Path, version: int) -> Path:
        base.mkdir(parents=True, exist_ok=True)
        staging = base / f".staging-{version}"
        shutil.copytree(small_model, staging)
        target = base / str(version)
        staging.rename(target)
        return target

    return make
