"""Bounds of the request log on disk: a byte quota and a maximum age, oldest files first.

The log is ``<dir>/date=YYYY-MM-DD/part-<HHMMSS>-<pid>-<seq>.parquet`` (``pipelines.common.
request_log``), so a file's name orders it in time and its folder dates it. After every file it
writes, the writer deletes whole files, oldest first, until the folder holds at most
``max_bytes`` and nothing older than ``max_age_seconds``; only complete part files are ever
deleted (never a ``.tmp`` being written, a labels folder or anything else a user keeps there).

The same code bounds a ``gs://`` log (through ``pipelines.common.storage``: one listing of
the log's day prefixes and a delete per file), run by each writer after each upload. A
bucket lifecycle rule (age on the ``request_log/`` prefix) is a backstop for the age bound
where no writer runs, not a replacement for the byte quota, which only a listing can keep.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timezone

from pipelines.common import storage
from pipelines.common.request_log import DATE_DIR_RE, PART_RE

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Pruned:
    files: int  # deleted by this call
    bytes: int  # freed by this call
    kept_bytes: int  # what the log holds now
    deleted: tuple[str, ...] = ()  # the files this call deleted


def _parts(directory: storage.Location) -> list[tuple[float, storage.Location, int]]:
    """(approximate UTC start, location, size) of every complete part file, oldest first."""
    parts = []
    try:
        folders = storage.list_dir(directory)
    except OSError:
        return []
    for folder in folders:
        match = DATE_DIR_RE.match(folder.name)
        if not match or not folder.is_dir:
            continue
        try:
            day = datetime.strptime(match.group(1), "%Y-%m-%d").replace(tzinfo=timezone.utc)
            files = storage.list_dir(folder.location)
        except (ValueError, OSError):
            continue
        for entry in files:
            if not PART_RE.match(entry.name):
                continue
            hhmmss = entry.name[5:11]
            started = day.timestamp() + int(hhmmss[:2]) * 3600 + int(hhmmss[2:4]) * 60 + \
                int(hhmmss[4:])
            parts.append((started, entry.location, entry.size))
    return sorted(parts, key=lambda p: (p[0], storage.name_of(p[1])))


def prune(directory: storage.Location, *, max_bytes: int | None, max_age_seconds: float | None,
          now: float, keep: storage.Location | None = None) -> Pruned:
    """Deletes the oldest part files past either bound; ``keep`` (the file just written) stays
    even when it alone is over the quota, so the newest records are never the ones lost."""
    parts = _parts(directory)
    total = sum(size for _, _, size in parts)
    deleted = freed = 0
    gone: list[str] = []
    for started, path, size in parts:
        too_old = max_age_seconds is not None and now - started > max_age_seconds
        over = max_bytes is not None and total > max_bytes
        if not too_old and not over:
            break  # oldest first: nothing after this one is older, and the quota holds
        if storage.same(path, keep):
            continue
        try:
            storage.delete(path)
        except OSError as err:
            log.warning("request log: cannot delete %s (%s)", path, err.strerror or err)
            continue
        deleted += 1
        freed += size
        total -= size
        gone.append(str(path))
        storage.remove_empty_dir(str(path).rsplit("/", 1)[0])  # only succeeds when empty
    return Pruned(files=deleted, bytes=freed, kept_bytes=total, deleted=tuple(gone))
