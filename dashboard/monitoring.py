"""The monitor's reports as tidy tables, and each alert linked to the retraining run it caused.

Reads what ``python -m pipelines.monitoring run`` leaves behind: one folder per run under its
``--out-dir`` (``<UTC time>/monitoring_report.json``), and what a triggered retraining leaves
in the pipeline root (``runs/<id>/run_summary.json`` and the ``trigger_reason`` property of the
run's ML Metadata ``pipeline_run`` context). A report that cannot be read is skipped and named,
never fatal: the page shows everything else. Pure: no Streamlit here.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dashboard import history
from pipelines.common import names, storage
from pipelines.common.errors import ClickflowError
from pipelines.common.names import SUMMARY_FILE
from pipelines.metadata.store import open_store
from pipelines.monitoring.monitor import REPORT_FILE
from pipelines.monitoring.policy import COOLDOWN, RETRAIN

# The monitor's trigger reason ends with the report folder it acted on:
# "monitor: drift, live_auc_min (report /path/to/monitoring/20260301T130000Z)".
_REPORT_IN_REASON = re.compile(r"\(report (?P<path>.+)\)\s*$")


class ReportError(ClickflowError, ValueError):
    """A monitoring report that cannot be used; the message names the file and the field."""


@dataclasses.dataclass(frozen=True)
class Report:
    """One monitoring run as the page shows it."""

    folder: str  # the report folder's name: unique in one monitoring dir, and what a
    # triggered run's reason names
    path: storage.Location  # a file or a gs:// object
    generated_at: datetime
    window_start: datetime
    window_end: datetime
    status: str  # "judged" or "not enough data"
    action: str  # the policy's decision: retrain, none, not_enough_data, cooldown
    breached: tuple[str, ...]
    reasons: tuple[str, ...]
    drift: dict[str, dict[str, Any]]
    versions: dict[str, dict[str, Any]]
    judged_version: int | None
    requests: int
    labelled: int
    trigger: dict[str, Any] | None
    live_auc_min: float | None  # the policy threshold this report was judged with

    @property
    def is_alert(self) -> bool:
        return self.action in (RETRAIN, COOLDOWN) or bool(self.breached)


@dataclasses.dataclass(frozen=True)
class Loaded:
    reports: list[Report]  # oldest first
    problems: list[str]  # one line per folder that was skipped, naming it and why


def _field(data: dict[str, Any], dotted: str, kinds: type | tuple[type, ...],
           path: storage.Location, optional: bool = False) -> Any:
    value: Any = data
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            if optional:
                return None
            raise ReportError(f"{path}: field '{dotted}' is missing")
        value = value[part]
    if value is None and optional:
        return None
    if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        raise ReportError(f"{path}: field '{dotted}' should be {_kind_name(kinds)}, got {value!r}")
    if not isinstance(value, kinds):
        raise ReportError(f"{path}: field '{dotted}' should be {_kind_name(kinds)}, got "
                          f"{_short(value)}")
    return value


def _kind_name(kinds: type | tuple[type, ...]) -> str:
    names = {dict: "an object", list: "a list", str: "text", int: "a whole number",
             float: "a number", bool: "true or false"}
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _time(data: dict[str, Any], dotted: str, path: storage.Location) -> datetime:
    text = _field(data, dotted, str, path)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ReportError(f"{path}: field '{dotted}' should be an ISO 8601 time, got "
                          f"{text!r}") from None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def _measurements(data: dict[str, Any], dotted: str,
                  path: storage.Location) -> dict[str, dict[str, Any]]:
    found = _field(data, dotted, dict, path, optional=True) or {}
    for feature in found:
        for key, kinds in (("value", (int, float)), ("threshold", (int, float)),
                           ("breached", bool), ("measure", str)):
            _field(data, f"{dotted}.{feature}.{key}", kinds, path)
    return found


def parse_report(path: storage.Location, data: Any) -> Report:
    """A ``monitoring_report.json`` as written by ``pipelines.monitoring.monitor``; a
    ReportError naming the field when it is not one."""
    if not isinstance(data, dict):
        raise ReportError(f"{path}: expected a JSON object, got {type(data).__name__}")
    versions = _field(data, "versions", dict, path, optional=True) or {}
    for version in versions:
        if not version.isdigit():
            raise ReportError(f"{path}: field 'versions' should be keyed by model version "
                              f"numbers, got {version!r}")
        _field(data, f"versions.{version}", dict, path)
        _measurements(data, f"versions.{version}.skew", path)
        _field(data, f"versions.{version}.live", dict, path, optional=True)
        for key in ("auc", "accuracy", "calibration", "log_loss"):
            _field(data, f"versions.{version}.live.{key}", (int, float), path, optional=True)
        _field(data, f"versions.{version}.live.labelled", int, path, optional=True)
    judged = _field(data, "judged_version", int, path, optional=True)
    live_auc_min = _field(data, "config.policy.live_auc_min", (int, float), path, optional=True)
    return Report(
        folder=str(path).rstrip("/").rsplit("/", 2)[-2],
        path=path,
        generated_at=_time(data, "generated_at", path),
        window_start=_time(data, "window.start", path),
        window_end=_time(data, "window.end", path),
        status=_field(data, "status", str, path),
        action=_field(data, "decision.action", str, path),
        breached=tuple(_field(data, "decision.breached", list, path)),
        reasons=tuple(str(r) for r in _field(data, "decision.reasons", list, path)),
        drift=_measurements(data, "drift", path),
        versions=versions,
        judged_version=judged,
        requests=_field(data, "request_log.requests", int, path, optional=True) or 0,
        labelled=_field(data, "labels.labelled", int, path, optional=True) or 0,
        trigger=_field(data, "trigger", dict, path, optional=True),
        live_auc_min=None if live_auc_min is None else float(live_auc_min),
    )


def report_stamp(monitoring_dir: storage.Location) -> tuple[tuple[str, int], ...]:
    """(folder, report mtime) of every report folder: changes whenever a report is written,
    so it is the cache key of ``load_reports``. On gs:// one listing: (folder, generation),
    folders without a report left out until it appears."""
    if storage.is_gcs(monitoring_dir):
        try:
            files = storage.list_files(monitoring_dir, retry_seconds=5)
        except OSError:
            return ()
        return tuple((e.name.split("/")[0], e.version) for e in files
                     if e.name.count("/") == 1 and e.name.endswith("/" + REPORT_FILE))
    try:
        entries = sorted(os.scandir(monitoring_dir), key=lambda e: e.name)
    except OSError:
        return ()
    stamp = []
    for entry in entries:
        if entry.is_dir():
            try:
                stamp.append((entry.name, os.stat(Path(entry.path, REPORT_FILE)).st_mtime_ns))
            except OSError:
                stamp.append((entry.name, 0))
    return tuple(stamp)


def load_reports(monitoring_dir: storage.Location) -> Loaded:
    """Every report under ``monitoring_dir`` (a folder or gs://), oldest window first;
    unreadable ones listed."""
    if not storage.is_gcs(monitoring_dir):
        monitoring_dir = Path(monitoring_dir)
        if monitoring_dir.exists() and not monitoring_dir.is_dir():
            return Loaded([], [f"{monitoring_dir} is not a folder (CLICKFLOW_MONITORING_DIR "
                               "should name the monitor's --out-dir)"])
    try:
        folders = [e for e in storage.list_dir(monitoring_dir) if e.is_dir]
    except OSError as err:
        return Loaded([], [f"cannot list the monitoring reports: {err}"])
    reports, problems = [], []
    for folder in folders:
        path = storage.join(folder.location, REPORT_FILE)
        try:
            data = json.loads(storage.read_text(path, retry_seconds=5))
        except FileNotFoundError:
            problems.append(f"{folder.name}: no {REPORT_FILE} (a monitoring run still "
                            "going, e.g. waiting for the retraining it triggered, or one that "
                            "stopped)")
            continue
        except (OSError, UnicodeDecodeError) as err:
            problems.append(f"{folder.name}: cannot read {path}: {err}")
            continue
        except ValueError as err:
            problems.append(f"{folder.name}: {path} is not valid JSON ({err})")
            continue
        try:
            reports.append(parse_report(path, data))
        except ReportError as err:
            problems.append(f"{folder.name}: {err}")
    reports.sort(key=lambda r: (r.window_end, r.generated_at, r.folder))
    return Loaded(reports, problems)


def measurement_rows(reports: list[Report]) -> list[dict[str, Any]]:
    """Per report x feature: drift against the previous window, and skew of each served
    version against its training data, with the threshold and whether it was breached."""
    rows = []
    for report in reports:
        base = {"report": report.folder, "window_end": report.window_end,
                "generated_at": report.generated_at}
        measured = [("drift", None, report.drift)]
        measured += [("skew", int(v), e.get("skew") or {}) for v, e in report.versions.items()]
        for signal, version, by_feature in measured:
            for feature, m in sorted(by_feature.items()):
                rows.append({**base, "signal": signal, "version": version,
                             "series": signal if version is None else f"skew v{version}",
                             "feature": feature, "measure": m["measure"],
                             "value": float(m["value"]), "threshold": float(m["threshold"]),
                             "breached": bool(m["breached"])})
    return rows


def live_rows(reports: list[Report]) -> list[dict[str, Any]]:
    """Per report x served model version: requests, labelled predictions and live metrics."""
    rows = []
    for report in reports:
        for version, entry in sorted(report.versions.items(), key=lambda item: int(item[0])):
            live = entry.get("live") or {}
            rows.append({
                "report": report.folder, "window_end": report.window_end,
                "version": version, "requests": live.get("requests"),
                "labelled": live.get("labelled", 0), "auc": live.get("auc"),
                "accuracy": live.get("accuracy"), "calibration": live.get("calibration"),
                "log_loss": live.get("log_loss"), "eval_auc": entry.get("eval_auc"),
                "judged": report.judged_version == int(version),
            })
    return rows


@dataclasses.dataclass(frozen=True)
class RetrainingRun:
    """A pipeline run started by the monitor, from its summary and/or ML Metadata."""

    reason: str
    report_folder: str | None  # the report folder its reason names
    run_id: str | None = None  # the local runner's id (runs/<id>/)
    mlmd_run: str | None = None  # the TFX run id (the pipeline_run context's name)
    started: datetime | None = None
    status: str | None = None
    blessed: bool | None = None
    pushed_version: str | None = None
    eval_auc: float | None = None
    evaluation_uri: str | None = None


def report_folder_of(reason: str | None) -> str | None:
    """The report folder a monitor-triggered run's reason names, else None.

    Only the folder's name is kept: the path was the monitor's, and the dashboard may see the
    same workspace under another mount (its container on GKE)."""
    match = _REPORT_IN_REASON.search(reason or "")
    if match is None:
        return None
    return Path(match.group("path").strip()).name or None


def _summary_started(run_id: str) -> datetime | None:
    try:
        return datetime.strptime(run_id[:15], "%Y%m%d-%H%M%S")
    except ValueError:
        return None


def runs_from_summaries(pipeline_root: Path) -> tuple[list[RetrainingRun], list[str]]:
    """Every local runner invocation with a trigger reason, from ``runs/<id>/``."""
    found, problems = [], []
    for path in sorted(Path(pipeline_root).glob(f"runs/*/{SUMMARY_FILE}")):
        try:
            summary = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            problems.append(f"{path}: unreadable run summary ({err})")
            continue
        reason = summary.get("trigger_reason") if isinstance(summary, dict) else None
        if not isinstance(reason, str) or not reason:
            continue
        metrics = summary.get("metrics") if isinstance(summary.get("metrics"), dict) else {}
        pushed = summary.get("pushed_model")
        run_id = str(summary.get("run_id") or path.parent.name)
        found.append(RetrainingRun(
            reason=reason, report_folder=report_folder_of(reason), run_id=run_id,
            mlmd_run=summary.get("mlmd_run_context"), started=_summary_started(run_id),
            status=summary.get("status") or ("up to date" if summary.get("up_to_date")
                                              else None),
            blessed=summary.get("blessed"),
            pushed_version=Path(pushed).name if isinstance(pushed, str) and pushed else None,
            eval_auc=metrics.get("auc")))
    return found, problems


def runs_from_store(metadata_path: Path, pipeline_name: str
                    ) -> tuple[list[RetrainingRun], list[str]]:
    """Every ``pipeline_run`` context with a ``trigger_reason``, with its blessing and push
    (read-only; a missing store is no run, a broken one a problem)."""
    if not Path(metadata_path).is_file():
        return [], []
    try:
        store = open_store(metadata_path)
        contexts = history.pipeline_runs(store, pipeline_name)
    except Exception as err:  # ml_metadata raises its own error types; name the file
        return [], [f"cannot read the retraining runs from {metadata_path}: {err}"]
    found = []
    for context in contexts:
        properties = context.custom_properties
        reason = properties["trigger_reason"].string_value \
            if "trigger_reason" in properties else ""
        if not reason:
            continue
        record = history.run_record(store, context, pipeline_name)
        found.append(RetrainingRun(
            reason=reason, report_folder=report_folder_of(reason), mlmd_run=context.name,
            started=record.started, status=record.status, blessed=record.blessed,
            pushed_version=record.pushed_version, evaluation_uri=record.evaluation_uri))
    return found, []


def _merge(summaries: list[RetrainingRun], recorded: list[RetrainingRun]) -> list[RetrainingRun]:
    """One entry per run: a summary and the MLMD context it names (``mlmd_run_context``) are
    the same run; ML Metadata's blessing and push win, the summary adds its eval AUC."""
    by_context = {r.mlmd_run: r for r in recorded}
    merged = []
    for summary in summaries:
        context = by_context.pop(summary.mlmd_run, None) if summary.mlmd_run else None
        if context is None:
            merged.append(summary)
            continue
        merged.append(dataclasses.replace(
            context, run_id=summary.run_id, started=summary.started or context.started,
            blessed=context.blessed if context.blessed is not None else summary.blessed,
            pushed_version=context.pushed_version or summary.pushed_version,
            eval_auc=summary.eval_auc,
            status=summary.status if summary.status == "failed" else context.status))
    return merged + list(by_context.values())


def retraining_runs(pipeline_root: Path, pipeline_name: str
                    ) -> tuple[list[RetrainingRun], list[str]]:
    """Every run the monitor (or anyone with --trigger-reason) started, newest first."""
    summaries, problems = runs_from_summaries(pipeline_root)
    recorded, store_problems = runs_from_store(names.metadata_path(pipeline_root),
                                               pipeline_name)
    runs = _merge(summaries, recorded)
    runs.sort(key=lambda r: r.started or datetime.min, reverse=True)
    return runs, problems + store_problems


def alert_rows(reports: list[Report], runs: list[RetrainingRun]) -> list[dict[str, Any]]:
    """Each report that breached a signal, newest first, with what it did: the trigger it ran
    and the newest retraining run whose reason names its folder."""
    by_folder: dict[str, RetrainingRun] = {}
    for run in sorted(runs, key=lambda r: r.started or datetime.min):
        if run.report_folder:
            by_folder[run.report_folder] = run
    rows = []
    for report in sorted(reports, key=lambda r: r.generated_at, reverse=True):
        if not report.is_alert:
            continue
        run = by_folder.get(report.folder)
        trigger = report.trigger or {}
        if trigger:
            code = trigger.get("returncode")
            triggered = f"{trigger.get('mode')} (exit {code})" if code is not None else \
                str(trigger.get("mode"))
        elif run is not None:
            triggered = "yes"  # the report is rewritten only after the run it waits for
        else:
            triggered = "cool-down" if report.action == COOLDOWN else "not triggered"
        rows.append({
            "report": report.folder, "generated_at": report.generated_at,
            "window_end": report.window_end, "decision": report.action,
            "breached": ", ".join(report.breached), "reasons": "; ".join(report.reasons),
            "triggered": triggered,
            "retraining run": None if run is None else (run.run_id or run.mlmd_run),
            "run status": None if run is None else run.status,
            "blessed": None if run is None else run.blessed,
            "pushed version": None if run is None else run.pushed_version,
            "eval AUC": None if run is None else run.eval_auc,
            "evaluation_uri": None if run is None else run.evaluation_uri,
        })
    return rows
