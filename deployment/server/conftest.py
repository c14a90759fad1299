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


# gs:// in tests: the real google-cloud-storage client against the JSON API fake on 127.0.0.1
# (pipelines.testing.fake_gcs), selected by STORAGE_EMULATOR_HOST, the client's own emulator
# setting (google/cloud/storage/_helpers.py), which the storage layer reads per call.
@pytest.fixture
def gcs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from pipelines.common import storage
    from pipelines.testing import fake_bigquery

    (tmp_path / "gcs" / "bucket").mkdir(parents=True)
    monkeypatch.setattr("deployment.server.log_writer.UPLOAD_BACKOFF_SECONDS", (0.05, 0.2))
    with fake_bigquery.serving(tmp_path / "gcs") as server:
        monkeypatch.setenv(storage.EMULATOR_ENV, server.endpoint)
        yield server
