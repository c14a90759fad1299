"""Every test session runs as the entry points do: bootstrap() before TensorFlow is imported."""

from models.bootstrap import bootstrap

bootstrap()

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from pipelines.local import speedups  # noqa: E402


@pytest.fixture(autouse=True)
def _stock_libraries_after_each_test():
    """A test that installed library speed-ups gets them undone, so none leaks into the next."""
    yield
    speedups.uninstall()


@pytest.fixture(scope="session")
def drift_demo(tmp_path_factory: pytest.TempPathFactory
               ) -> tuple[Path, subprocess.CompletedProcess]:
    """`make demo-drift` on small data, once per session: its folder (pipeline root with two
    runs, monitoring reports, served models) and the finished process. Its own test checks the
    loop; the dashboard's browser walk shows its monitoring reports."""
    workdir = tmp_path_factory.mktemp("drift-demo") / "demo"
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.demo", "--workdir", str(workdir),
         "--rows", "800", "--train-rows", "1000", "--train-steps", "150", "--seed", "3"],
        cwd=Path(__file__).resolve().parent, env=env, capture_output=True, text=True,
        timeout=600, check=False)
    return workdir, result


@pytest.fixture(scope="session")
def history_root(tmp_path_factory: pytest.TempPathFactory):
    """A pipeline root after four real runs (``tests.run_history``): blessed with no baseline,
    blessed against the served baseline, not blessed, and failed at the gate. Shared by the
    dashboard's pages and the model card's tests: one history per session."""
    from tests import run_history

    return run_history.build(tmp_path_factory.mktemp("history"))


# The test process once aborted at interpreter exit ("terminate called without an active
# exception", exit 134) after every test had passed: the fake BigQuery's DuckDB connection died
# in a daemon thread during finalization (fixed in pipelines/testing/fake_bigquery.py). Any
# C++ object whose last reference goes with a daemon thread at exit does the same, at random,
# so the results, final by then, end the process with pytest's own exit status, skipping the
# teardown, as local_runner.py does after a run. CLICKFLOW_PYTEST_TEARDOWN=1 runs the teardown.
def pytest_sessionfinish(session, exitstatus) -> None:
    session.config._clickflow_exit_status = int(exitstatus)


def pytest_unconfigure(config) -> None:
    status = getattr(config, "_clickflow_exit_status", None)
    if status is not None and not os.environ.get("CLICKFLOW_PYTEST_TEARDOWN"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
