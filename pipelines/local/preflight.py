"""Before any TFX work: the folders a run writes are writable, and a killed run is cleaned up.

A read-only serving folder used to be found after 40 s of work, by the Pusher, and a full disk
or a read-only pipeline root ended in a traceback. Both are checked here by writing (and
removing) a probe file: permissions, read-only mounts, quotas and a full disk all show up the
way they will for the run, which ``os.access`` alone does not tell (it ignores read-only mounts
for root and knows nothing of space).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipelines.common import names
from pipelines.common.errors import ClickflowError

# Below this much free space a run warns (a 300-row run writes 2.4 MB of artifacts and a
# 100,000-row run about 60 MB; the same again each time the data changes).
LOW_SPACE_BYTES = 100 * 1024 * 1024


class PreflightError(ClickflowError):
    """A folder the run must write cannot be written."""


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_writable(path: Path, flag: str) -> None:
    """Creates ``path`` if needed and writes a probe file in it; PreflightError naming the
    flag, the path and the fix when it cannot."""
    probe = path / f".clickflow-write-check-{os.getpid()}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as f:
            f.write(b"ok\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as err:
        reason = err.strerror or str(err)
        where = err.filename or path
        raise PreflightError(
            f"{flag} {path}: cannot write there ({reason}: {where}). Give a folder you can "
            f"write to with {flag}, or make this one writable (ls -ld "
            f"{_existing_parent(path)} shows its owner and mode); nothing was run.") from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def low_space_warning(*paths: Path) -> str | None:
    """A warning line when a disk the run writes has less than LOW_SPACE_BYTES free."""
    for path in paths:
        free = shutil.disk_usage(_existing_parent(path)).free
        if free < LOW_SPACE_BYTES:
            return (f"Warning: only {free / 1e6:.1f} MB free on the disk holding {path}; the "
                    "run may fill it (a 100,000-row run writes about 60 MB).")
    return None


@contextlib.contextmanager
def held_root(root: Path, serving_dir: Path, *, pipeline_name: str, run_id: str,
              wait_seconds: float = 0.0) -> Iterator[dict[str, Any]]:
    """``with held_root(...) as recovered:`` checks both folders are writable, holds the
    pipeline root's run lock (RunLockedError naming the other run when it is held), and
    restores ML Metadata after a killed run (``recovered`` says what was done)."""
    from pipelines.local.run_lock import RunLock

    check_writable(root, "--pipeline-root")
    check_writable(serving_dir, "--serving-dir")
    with RunLock(root, run_id, wait_seconds=wait_seconds) as lock:
        if notice := lock.takeover_notice():
            print(notice)
        if warning := low_space_warning(root, serving_dir):
            print(warning)
        yield recover(root=root, metadata_path=names.metadata_path(root),
                      serving_dir=serving_dir, pipeline_name=pipeline_name, run_id=run_id,
                      previous=lock.previous)


def recover(*, root: Path, metadata_path: Path, serving_dir: Path, pipeline_name: str,
            run_id: str, previous: Any = None) -> dict[str, Any]:
    """Records pushes of killed runs and marks their unfinished executions abandoned (see
    ``pipelines.metadata.recovery``); writes a summary for each abandoned run that has none.
    ``previous`` is the run lock's last holder when it ended without releasing the lock: its
    run is abandoned even when it was killed between two components.

    Returns what was done, for run_summary.json; prints a line for each.
    """
    if not metadata_path.exists() and previous is None:
        return {}
    from pipelines.metadata import recovery
    from pipelines.metadata import store as mlmd_store

    reason = (f"its process ended before it finished (killed or crashed); found by run {run_id}"
              + (f"; the run lock was last held by {previous.describe()}" if previous else ""))
    pushes, abandoned = [], []
    if metadata_path.exists():
        store = mlmd_store.open_store(metadata_path, writable=True)
        pushes = recovery.record_unrecorded_pushes(store, str(serving_dir), pipeline_name,
                                                   reason=reason)
        abandoned = recovery.mark_abandoned(store, reason=reason)
    for push in pushes:
        print(f"Recovered: version {push.version} ({push.destination}) was pushed by run "
              f"{push.run_id}, which was killed before recording it; it is now in ML Metadata.")
    runs: dict[str, list[str]] = {}
    for item in abandoned:
        runs.setdefault(item.run_id, []).append(item.node_id)
    for push in pushes:
        runs.setdefault(push.run_id, []).append(push.node_id)
    if previous is not None:
        runs.setdefault(previous.run_id, [])
    for run, nodes in runs.items():
        if nodes:
            print(f"Recovered: run {run} was killed during {', '.join(nodes)}; marked abandoned "
                  "in ML Metadata.")
        elif not (root / "runs" / run / names.SUMMARY_FILE).exists():
            print(f"Recovered: run {run} ended before it finished; recorded as abandoned.")
        _write_abandoned_summary(root, run, nodes, [p for p in pushes if p.run_id == run],
                                 reason)
    if not runs:
        return {}
    return {"abandoned_runs": sorted(runs),
            "abandoned_executions": [vars(a) for a in abandoned],
            "recorded_pushes": [vars(p) for p in pushes]}


def _write_abandoned_summary(root: Path, run: str, nodes: list[str], pushes: list[Any],
                             reason: str) -> None:
    """runs/<run>/run_summary.json for a killed run, unless it wrote one itself."""
    history = root / "runs" / run / names.SUMMARY_FILE
    if not run or history.exists():
        return
    summary = {"run_id": run, "mlmd_run_context": run, "status": "abandoned",
               "failed_component": nodes[0] if nodes else None, "error": reason,
               "blessed": bool(pushes) or None,
               "pushed_model": pushes[-1].destination if pushes else None,
               "up_to_date": False}
    history.parent.mkdir(parents=True, exist_ok=True)
    history.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
