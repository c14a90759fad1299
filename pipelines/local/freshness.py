"""The up-to-date check: a run is skipped when nothing it depends on changed since the last one.

The fingerprint covers the data files (path, size, mtime), every project module the pipeline
imports (found by reading the imports, so a module moved into a subpackage is still covered),
the SQL and schema files, the pinned requirements and the run's settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from pipelines.common import names
from pipelines.data.inputs import ResolvedData
from pipelines.local import modules
from pipelines.local.summary import print_result, read_summary, run_id, write_summary

# Read by the pipeline at run time (not imported), so hashed beside the modules.
DATA_FILES = ("pipelines/data/sql/*.sql", "schema/*.pbtxt", "requirements.txt",
              "constraints.txt")
# Where the modules of a local run are found: the runner and the graph it builds.
ENTRY_MODULES = ("local_runner", "pipelines.pipeline")


def code_files(root: Path | None = None) -> list[Path]:
    """The files a local run's result depends on: imported project modules and data files."""
    root = root or names.REPO_ROOT
    files = set(modules.project_modules(root, ENTRY_MODULES).values())
    for pattern in DATA_FILES:
        files.update(root.glob(pattern))
    return sorted(files)


def fingerprint(data: ResolvedData, settings: dict[str, Any], root: Path | None = None) -> str:
    """Hash of everything a run depends on: data files, code, schema, settings, pinned set."""
    root = root or names.REPO_ROOT
    digest = hashlib.sha256()
    for path in data.files:
        stat = os.stat(path)
        digest.update(f"{path}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    for path in code_files(root):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def up_to_date(pipeline_root: Path, metadata_path: Path, fp: str) -> dict[str, Any] | None:
    """The last summary if it succeeded with the same fingerprint and its outputs still exist."""
    last = read_summary(pipeline_root)
    if not last or last.get("fingerprint") != fp or last.get("status") != "succeeded":
        return None
    if not metadata_path.exists():
        return None
    pushed = last.get("pushed_model")
    if pushed and not Path(pushed).exists():
        return None
    return last


def report_up_to_date(root: Path, previous: dict[str, Any], started: float) -> int:
    """Prints that nothing changed and refreshes the summary's timing; no TFX import needed."""
    summary = dict(previous)
    summary["up_to_date"] = True
    summary["reused_run_id"] = previous.get("run_id")
    summary["run_id"] = run_id()
    summary["component_seconds"] = {}
    summary["component_usage"] = {}
    summary["wall_seconds"] = round(time.perf_counter() - started, 2)
    path = write_summary(root, summary)
    print(f"Up to date: data, code, schema and settings are unchanged since run "
          f"{previous.get('run_id')} (use --force to run anyway).")
    print_result(summary, path)
    return 0
