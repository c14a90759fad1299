"""The server's request log, read back as requests: the I/O edge of ``dashboard.health``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dashboard import health
from pipelines.common import request_log, storage


def logged_requests(log_dir: storage.Location, start: datetime, end: datetime | None = None
                    ) -> tuple[list[dict[str, Any]], list[str]]:
    """Each request logged in [start, end) with its size, and the files that were skipped.

    A missing folder is no request and no problem: the server may not have logged yet.
    ``log_dir`` may be ``gs://``; a listing that fails is one problem, not an exception."""
    try:
        if not storage.is_dir(log_dir, retry_seconds=5):
            return [], []
        table, problems = request_log.read_window(log_dir, start, end)
    except OSError as err:
        return [], [f"cannot read the request log: {err}"]
    columns = table.select(["logged_at", "request_id", "model_version"]).to_pydict()
    requests = health.requests_from_log(columns["logged_at"], columns["request_id"],
                                        columns["model_version"])
    return requests, problems
