"""Fixtures for the batch-scoring tests: one real small model, pushed into a serving folder."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def pushed_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Pusher's layout, ``base/<version>/``, holding a real small model of the pipeline's
    (``pipelines.testing.small_model``) as version 7; read-only for tests."""
    from pipelines.testing.small_model import export_small_model

    base = tmp_path_factory.mktemp("serving") / "clickflow"
    base.mkdir()
    export_small_model(base / "7")
    return base
