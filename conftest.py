"""Every test session runs as the entry points do: bootstrap() before TensorFlow is imported."""

from models.bootstrap import bootstrap

bootstrap()

import pytest  # noqa: E402

from pipelines.local import speedups  # noqa: E402


@pytest.fixture(autouse=True)
def _stock_libraries_after_each_test():
    """A test that installed library speed-ups gets them undone, so none leaks into the next."""
    yield
    speedups.uninstall()
