"""Fixtures of the dashboard tests: real stores, a real model server and a real pipeline root.

The model server is the project's own (`python -m deployment.server`) serving a model from
``pipelines.testing.small_model.export_small_model``; the pipeline root comes from one real
local run.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.common.processes import ServiceProcess, free_port

MODEL_VERSION = 1700000000
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# The pages as the browser tests saw them are kept here (default workspace/screenshots/,
# git-ignored).
SCREENSHOT_DIR_ENV = "CLICKFLOW_SCREENSHOT_DIR"


def screenshot_dir() -> Path:
    from pipelines.common.names import REPO_ROOT

    keep = Path(os.environ.get(SCREENSHOT_DIR_ENV) or REPO_ROOT / "workspace" / "screenshots")
    keep.mkdir(parents=True, exist_ok=True)
    return keep


@pytest.fixture
def empty_store(tmp_path: Path) -> Path:
    """A metadata.sqlite with ML Metadata's tables and no pipeline run."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    path = tmp_path / "metadata.sqlite"
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    sqlite = metadata_store_pb2.SqliteMetadataSourceConfig
    config.sqlite.connection_mode = sqlite.READWRITE_OPENCREATE
    metadata_store.MetadataStore(config)
    return path


@pytest.fixture(scope="session")
def model_base_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TF Serving model folder holding one small real model as version MODEL_VERSION."""
    from pipelines.testing.small_model import export_small_model

    base = tmp_path_factory.mktemp("serving") / "clickflow"
    export_small_model(base / str(MODEL_VERSION))
    return base


@pytest.fixture(scope="session")
def serving_url(model_base_path: Path, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[str]:
    """The project's model server on a free local port, ready (a version loaded)."""
    port = free_port()
    logs = tmp_path_factory.mktemp("server-logs")
    server = ServiceProcess(
        [sys.executable, "-m", "deployment.server", "--model-base-path", str(model_base_path),
         "--host", "127.0.0.1", "--port", str(port),
         "--request-log-dir", str(logs / "request_log")],
        url=f"http://127.0.0.1:{port}", log_file=logs / "server.log", ready_path="/readyz",
        name="the model server")
    with server:
        yield server.url


@pytest.fixture(scope="session")
def pipeline_root(history_root) -> Path:
    """A pipeline root (with metadata.sqlite) after one real local run on 300 generated rows:
    ``history_root`` (the repository's conftest.py) as it was after its first run."""
    return history_root.first_run_root


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, per test module: Playwright's sync API keeps an event loop running
    in this thread while it is open, which asyncio.run() in a later module would trip on."""
    if not CHROMIUM.exists():
        message = (f"{CHROMIUM} is not installed (Debian package 'chromium'; make setup "
                   "installs it when it runs as root). This test never downloads a browser.")
        if os.environ.get("CI"):
            pytest.fail(message)  # CI's make setup installs it: a skip there would hide a gap
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
