"""Fixtures of the dashboard tests: real stores, a real model server and a real pipeline root.

The model server is the project's own (`python -m deployment.server`) serving a model from
``pipelines.testing.small_model.export_small_model``; the pipeline root comes from one real
local run.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
MODEL_VERSION = 1700000000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, what: str, log: Path,
             timeout: float = 180.0) -> None:
    """Polls ``url`` until it answers 200; fails with the process's log if it dies or hangs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    process.terminate()
    pytest.fail(f"{what} did not answer {url} within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


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
    log = logs / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "deployment.server", "--model-base-path",
             str(model_base_path), "--host", "127.0.0.1", "--port", str(port),
             "--request-log-dir", str(logs / "request_log")],
            cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/readyz", process, "the model server", log)
        yield url
    finally:
        stop(process)


@pytest.fixture(scope="session")
def pipeline_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pipeline root (with metadata.sqlite) from one real local run on 300 generated rows."""
    import local_runner
    from pipelines.data import generator as data_generator

    work = tmp_path_factory.mktemp("pipeline")
    data_generator.write_span(work / "data", 1, 300, seed=7)
    root = work / "root"
    code = local_runner.main(["--data", str(work / "data"), "--pipeline-root", str(root),
                              "--serving-dir", str(work / "serving"), "--train-steps", "100"])
    assert code == 0, "the pipeline run for the dashboard tests failed"
    return root
