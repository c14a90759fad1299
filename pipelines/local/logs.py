"""Console output of a local run: quiet libraries, one progress line per component."""

from __future__ import annotations

import contextlib
from typing import Any

from pipelines.local import speedups


class ProgressLogging:
    """Routes TFX's per-component log lines to a handler while the pipeline runs.

    LocalDagRunner announces each component through absl at INFO level, and some executors
    (Transform) lower absl's level mid-run, which would silence the progress lines: the absl
    logger's level is set to INFO and held there until the run ends (the ``pin_absl_level`` patch
    of ``speedups``, applied also with the speed-ups off). Without --verbose every other handler
    shows errors only.
    """

    def __init__(self, handler: Any, verbose: bool):
        self.handler, self.verbose = handler, verbose

    def __enter__(self) -> Any:
        import logging

        root = logging.getLogger()
        self._root_level = root.level
        root.setLevel(logging.INFO)
        root.addHandler(self.handler)
        if not self.verbose:
            logging.getLogger("tensorflow").setLevel(logging.ERROR)
            for other in root.handlers:
                if other is not self.handler:
                    other.setLevel(logging.ERROR)
        logging.getLogger("absl").setLevel(logging.INFO)
        self._pin = contextlib.ExitStack()
        self._pin.enter_context(speedups.patched("pin_absl_level"))
        return self.handler

    def __exit__(self, *exc: Any) -> None:
        import logging

        self._pin.close()
        logging.getLogger().removeHandler(self.handler)
        logging.getLogger().setLevel(self._root_level)
