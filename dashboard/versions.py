"""Each model version the server holds, with its labels, push time and the run that pushed it.

The server only knows version numbers and states. Who pushed a version, and when, is in the
push record the Pusher writes into every version it pushes (``names.PUSH_RECORD``,
``pipelines/components/pusher.py``), and in ML Metadata (the run whose Pusher recorded that
``pushed_version``). The record is read where the dashboard can reach the version folder (the
run's ``pushed_destination``); otherwise ML Metadata's run start stands in for the push time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dashboard.history import RunRecord
from dashboard.serving_client import VersionStatus
from pipelines.common.names import PUSH_RECORD

# TF Serving's documented label names (serving_config.md: "stable" and "canary"); neither API
# lists a model's labels, so these are the ones asked for.
KNOWN_LABELS = ("stable", "canary")


def read_push_record(version_dir: str | Path | None) -> dict[str, Any] | None:
    """The push record inside a version folder, None when it is not reachable or not one."""
    if not version_dir:
        return None
    try:
        record = json.loads((Path(version_dir) / PUSH_RECORD).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _pushed_at(record: Mapping[str, Any] | None) -> datetime | None:
    text = (record or {}).get("pushed_at")
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _as_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def version_rows(statuses: Iterable[VersionStatus], labels: Mapping[str, int],
                 runs: Iterable[RunRecord],
                 records: Mapping[int, Mapping[str, Any] | None]) -> list[dict[str, Any]]:
    """One row per version the server holds, newest first: state, labels, when it was pushed
    and by which run (``records``: each version's push record, where one was read)."""
    by_version = {int(r.pushed_version): r for r in sorted(runs, key=lambda r: r.started)
                  if r.pushed_version and r.pushed_version.isdigit()}
    rows = []
    for status in sorted(statuses, key=lambda s: s.version, reverse=True):
        run = by_version.get(status.version)
        record = records.get(status.version)
        pushed = _pushed_at(record)
        run_id = (record or {}).get("pipeline_run_id") or (run.run_id if run else None)
        rows.append({
            "version": status.version,
            "state": status.state,
            "labels": ", ".join(sorted(k for k, v in labels.items() if v == status.version)),
            "pushed at": pushed or _as_utc(run.started if run else None),
            "push time from": "push record" if pushed else ("run start" if run else None),
            "run": run_id,
            "blessed": run.blessed if run else None,
            "error": status.error,
        })
    return rows


def push_records(statuses: Iterable[VersionStatus], runs: Iterable[RunRecord]
                 ) -> dict[int, dict[str, Any] | None]:
    """The push record of each held version whose pushing run's folder is reachable."""
    destinations = {r.pushed_version: r.pushed_destination for r in runs
                    if r.pushed_version and r.pushed_destination}
    return {s.version: read_push_record(destinations.get(str(s.version))) for s in statuses}
