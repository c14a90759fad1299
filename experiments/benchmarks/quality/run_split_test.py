"""Tests for reading a run's split back (the happy path is `make bench-quality` itself)."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.benchmarks.quality import run_split


def test_a_root_without_a_store_is_named(tmp_path: Path) -> None:
    with pytest.raises(run_split.RunNotFound, match=str(tmp_path)):
        run_split.read_run(tmp_path)
