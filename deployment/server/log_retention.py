"""Bounds of the request log on disk: a byte quota and a maximum age, oldest files first.

The log is ``<dir>/date=YYYY-MM-DD/part-<HHMMSS>-<pid>-<seq>.parquet`` (``pipelines.common.
request_log``), so a file's name orders it in time and its folder dates it. After every file it
writes, the writer deletes whole files, oldest first, until the folder holds at most
``max_bytes`` and nothing older than ``max_age_seconds``; only complete part files are ever
deleted (never a ``.tmp`` being written, a labels folder or anything else a user keeps there).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from datetime import datetime, timezone
from pathlib import Path

from pipelines.common.request_log import DATE_DIR_RE, PART_RE

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Pruned:
    files: int  # deleted by this call
    bytes: int  # freed by this call
    kept_bytes: int  # what the log holds now


def _parts(directory: Path) -> list[tuple[float, Path, int]]:
    """(approximate UTC start, path, size) of every complete part file, oldest first."""
    parts = []
    try:
        folders = list(os.scandir(directory))
    except OSError:
        return []
    for folder in folders:
        match = DATE_DIR_RE.match(folder.name)
        if not match or not folder.is_dir():
            continue
        try:
            day = datetime.strptime(match.group(1), "%Y-%m-%d").replace(tzinfo=timezone.utc)
            files = list(os.scandir(folder.path))
        except (ValueError, OSError):
            continue
        for entry in files:
            if not PART_RE.match(entry.name):
                continue
            hhmmss = entry.name[5:11]
            started = day.timestamp() + int(hhmmss[:2]) * 3600 + int(hhmmss[2:4]) * 60 + \
                int(hhmmss[4:])
            try:
                parts.append((started, Path(entry.path), entry.stat().st_size))
            except OSError:
                continue
    return sorted(parts, key=lambda p: (p[0], p[1].name))


def prune(directory: Path, *, max_bytes: int | None, max_age_seconds: float | None,
          now: float, keep: Path | None = None) -> Pruned:
    """Deletes the oldest part files past either bound; ``keep`` (the file just written) stays
    even when it alone is over the quota, so the newest records are never the ones lost."""
    parts = _parts(directory)
    total = sum(size for _, _, size in parts)
    deleted = freed = 0
    for started, path, size in parts:
        too_old = max_age_seconds is not None and now - started > max_age_seconds
        over = max_bytes is not None and total > max_bytes
        if not too_old and not over:
            break  # oldest first: nothing after this one is older, and the quota holds
        if path == keep:
            continue
        try:
            path.unlink(missing_ok=True)
        except OSError as err:
            log.warning("request log: cannot delete %s (%s)", path, err.strerror)
            continue
        deleted += 1
        freed += size
        total -= size
        _remove_if_empty(path.parent)
    return Pruned(files=deleted, bytes=freed, kept_bytes=total)


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()  # only succeeds when empty
