"""One monitoring run: read a window of the request log, measure skew, drift and live
accuracy, decide, write the report, record it in ML Metadata and (optionally) retrain."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.common import names, request_log, storage
from pipelines.common.errors import ClickflowError
from pipelines.common.request_log import utc
from pipelines.metadata.store import StoreUnavailable, open_store
from pipelines.monitoring import lineage, live, plots, policy, statistics, trigger
from pipelines.monitoring.config import MonitorConfig

REPORT_FILE = "monitoring_report.json"
ANOMALIES_FILE = "anomalies.pbtxt"
SCHEMA_FILE = "schema_with_thresholds.pbtxt"
TRIGGER_MODES = ("none", "local", "cloud")


@dataclasses.dataclass(frozen=True)
class Window:
    """The half-open time range [start, end) of logged requests to judge (UTC)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", utc(self.start))
        object.__setattr__(self, "end", utc(self.end))
        if not self.start < self.end:
            raise ValueError(f"the window start {self.start.isoformat()} must be before its "
                             f"end {self.end.isoformat()}")

    def previous(self) -> Window:
        return Window(self.start - (self.end - self.start), self.start)

    def as_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


@dataclasses.dataclass(frozen=True)
class MonitorSettings:
    """Where a run reads and writes: ``log_dir``, ``labels_dir`` and ``out_dir`` are folders
    or ``gs://`` URIs (``pipelines.common.storage``); the cool-down state is kept in
    ``out_dir`` too, so a monitor in the cloud keeps it in Cloud Storage."""

    log_dir: storage.Location
    labels_dir: storage.Location
    window: Window
    out_dir: storage.Location
    pipeline_root: Path
    schema_path: Path
    pipeline_name: str = "clickflow"
    model_name: str | None = None  # judge only this model's requests (None: all)
    config: MonitorConfig = dataclasses.field(default_factory=MonitorConfig)
    labels_cutoff: datetime | None = None  # labels stamped later have not arrived (None: now)
    record_metadata: bool = True
    trigger_mode: str = "none"
    data_dir: Path | None = None  # where labelled traffic becomes a span (local trigger)
    cloud_config: Path | None = None
    cloud_target: str = "vertex"
    # BigQuery and Cloud Storage calls of the cloud trigger go here instead of Google Cloud
    # (a local fake or emulator; None: Google Cloud with default credentials).
    cloud_endpoint: str | None = None
    # Delayed labels from this BigQuery table (PROJECT.DATASET.TABLE) instead of labels_dir.
    labels_table: str | None = None
    runner_args: tuple[str, ...] = ()
    # The served versions (the server's --model-base-path, a folder or gs://): each pushed one
    # holds its training statistics (names.TRAINING_STATISTICS_DIR), read where ML Metadata has
    # none (None: ML Metadata only).
    serving_model_dir: storage.Location | None = None

    @property
    def metadata_path(self) -> Path:
        return names.metadata_path(self.pipeline_root)


@dataclasses.dataclass
class Outcome:
    report: dict[str, Any]
    report_dir: storage.Location
    decision: policy.Decision


def _load_log(settings: MonitorSettings, window: Window) -> tuple[pa.Table, dict[str, Any]]:
    table, problems = request_log.read_window(settings.log_dir, window.start, window.end)
    other_models = 0
    if settings.model_name is not None and table.num_rows:
        mine = pc.equal(table["model_name"], settings.model_name)
        other_models = table.num_rows - (pc.sum(mine).as_py() or 0)
        table = table.filter(mine)
    deduped = live.dedupe_requests(table)
    return deduped.table, {"records": table.num_rows, "requests": deduped.table.num_rows,
                           "duplicates": deduped.duplicates, "other_models": other_models,
                           "problems": problems}


def _lineages(settings: MonitorSettings, versions: list[int]
              ) -> tuple[dict[int, lineage.ModelLineage], str | None]:
    try:
        store = open_store(settings.metadata_path)
    except StoreUnavailable as err:
        return {}, str(err)
    found = {v: lineage.model_lineage(store, v) for v in versions}
    return {v: found_lineage for v, found_lineage in found.items() if found_lineage}, None


def _training_statistics(settings: MonitorSettings, version: int,
                         found: lineage.ModelLineage | None, metadata_problem: str | None
                         ) -> tuple[Any, str | None, str | None]:
    """(statistics, where they were read, None) of the train split that ``version`` learned
    from, or (None, None, why not): ML Metadata's StatisticsGen output first, else the copy the
    pushed version carries (``names.TRAINING_STATISTICS_DIR``, written by the model card
    step), which is how a monitor without the pipeline's metadata (in the cloud) finds them."""
    if found is None:
        problem = metadata_problem or (
            f"no PushedModel with pushed_version {version} in {settings.metadata_path}")
    elif not found.train_statistics_uri:
        problem = "ML Metadata has no training statistics for this model"
    else:
        try:
            return (statistics.load_statistics(found.train_statistics_uri, "train"),
                    found.train_statistics_uri, None)
        except (FileNotFoundError, OSError) as err:
            problem = f"training statistics unreadable: {err}"
    if settings.serving_model_dir is None:
        return None, None, problem
    beside = storage.join(settings.serving_model_dir, str(version),
                          *names.TRAINING_STATISTICS_DIR.split("/"), statistics.STATS_FILE)
    try:
        return statistics.load_statistics_file(beside), str(beside), None
    except FileNotFoundError:
        return None, None, f"{problem}; and no {beside}"
    except (OSError, ValueError) as err:
        return None, None, f"{problem}; and {beside} is unreadable: {err}"


def _reference_auc(evaluation_uri: str | None) -> float | None:
    if not evaluation_uri:
        return None
    from pipelines.metadata import runs as run_summary

    overall, _ = run_summary.evaluation_metrics(evaluation_uri)
    return overall.get("auc")


def run_monitor(settings: MonitorSettings, *, now: datetime,
                on_judged: Callable[[dict[str, Any], storage.Location], None] | None = None
                ) -> Outcome:
    """Everything one monitoring run does; the report is returned and written to disk.

    ``on_judged(report, report_dir)`` is called once the decision is made and recorded, before
    a triggered retraining starts (which can take minutes), so a caller can show the judgment
    while the run goes on (the demo does)."""
    began = time.perf_counter()
    now = utc(now)
    cfg = settings.config
    seconds: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        seconds[name] = round(time.perf_counter() - since, 3)
        return time.perf_counter()

    t = time.perf_counter()
    requests, log_info = _load_log(settings, settings.window)
    previous, previous_info = _load_log(settings, settings.window.previous())
    t = lap("read_log", t)

    schema = statistics.with_comparators(statistics.load_schema(settings.schema_path),
                                         cfg.thresholds)
    versions = sorted(pc.unique(requests["model_version"]).to_pylist()) if requests.num_rows \
        else []
    anomaly_parts: dict[str, Any] = {}
    drift: dict[str, Any] = {}
    served_anomalies: dict[str, list[str]] = {}
    per_version: dict[int, dict[str, Any]] = {v: {} for v in versions}
    version_stats: dict[int, Any] = {}
    if requests.num_rows:
        window_stats, version_stats = statistics.statistics_by_version(requests)
        previous_stats = statistics.table_statistics(previous) if previous.num_rows else None
        t = lap("statistics", t)
        measured, drift_anomalies = statistics.measure_drift(window_stats, previous_stats, schema)
        drift = {name: m.as_dict() for name, m in sorted(measured.items())}
        served_anomalies = statistics.schema_anomalies(drift_anomalies)
        anomaly_parts["drift"] = drift_anomalies
    lineages, metadata_problem = _lineages(settings, versions)
    for version in versions:
        entry = per_version[version]
        found = lineages.get(version)
        entry["lineage"] = found.describe() if found else None
        entry["skew"] = {}
        training, source, unavailable = _training_statistics(settings, version, found,
                                                             metadata_problem)
        if training is None:
            entry["skew_unavailable"] = unavailable
            continue
        entry["skew_statistics"] = source
        measured, skew_anomalies = statistics.measure_skew(training, version_stats[version],
                                                           schema)
        entry["skew"] = {name: m.as_dict() for name, m in sorted(measured.items())}
        anomaly_parts[f"skew/v{version}"] = skew_anomalies
    t = lap("skew_drift", t)

    if settings.labels_table:
        from pipelines.monitoring.labels_table import read_labels_table

        labels, label_problems = read_labels_table(settings.labels_table,
                                                   settings.cloud_endpoint)
    else:
        labels, label_problems = request_log.read_labels(settings.labels_dir)
    joined = live.join_labels(requests, labels, settings.labels_cutoff or now)
    metrics = live.metrics_by_version(joined.table) if requests.num_rows else {}
    for version, values in metrics.items():
        per_version[version]["live"] = values
    t = lap("labels_and_metrics", t)

    judged_version = _judged_version(metrics, cfg.policy.min_labelled)
    live_auc = metrics.get(judged_version, {}).get("auc") if judged_version is not None else None
    reference_auc = None
    if (live_auc is not None and "live_auc_drop" in cfg.policy.signals
            and metrics[judged_version]["labelled"] >= cfg.policy.min_labelled):
        found = lineages.get(judged_version)
        reference_auc = _reference_auc(found.evaluation_uri if found else None)
        per_version[judged_version]["eval_auc"] = reference_auc
    signals = policy.Signals(
        requests=requests.num_rows, labelled=joined.labelled,
        skew_breaches=tuple(f"v{v}/{name}" for v, e in per_version.items()
                            for name, m in e.get("skew", {}).items() if m["breached"]),
        drift_breaches=tuple(name for name, m in drift.items() if m["breached"]),
        drift_measured=bool(drift),
        skew_measured=any(e.get("skew") for e in per_version.values()),
        live_auc=live_auc, reference_auc=reference_auc)
    last = _last_trigger(settings)
    decision = policy.decide(signals, cfg.policy, now=now, last_trigger=last)

    report_dir = _new_report_dir(settings.out_dir, now)
    report: dict[str, Any] = {
        "generated_at": now.isoformat(),
        "window": settings.window.as_dict(),
        "previous_window": settings.window.previous().as_dict(),
        "status": "not enough data" if decision.action == policy.NOT_ENOUGH_DATA else "judged",
        "request_log": {"dir": str(settings.log_dir), **log_info},
        "previous_window_log": {k: previous_info[k] for k in ("requests", "duplicates")},
        "labels": {"dir": None if settings.labels_table else str(settings.labels_dir),
                   "table": settings.labels_table, "read": labels.num_rows,
                   "cutoff": utc(settings.labels_cutoff or now).isoformat(),
                   **joined.counts(), "problems": label_problems},
        "drift": drift,
        "serving_schema_anomalies": served_anomalies,
        "versions": {str(v): e for v, e in per_version.items()},
        "judged_version": judged_version,
        "config": cfg.as_dict(),
        "decision": decision.as_dict(),
        "trigger": None,
        "metadata": None,
        "files": {},
    }
    _write_artifacts(report_dir, report, schema, anomaly_parts, per_version, drift)
    lap("report", t)
    if settings.record_metadata:
        report["metadata"] = _record(settings, report_dir, report, decision, lineages)
    if on_judged is not None:
        on_judged(report, report_dir)
    if decision.trigger and settings.trigger_mode != "none":
        trigger.write_state(settings.out_dir, now, list(decision.reasons), str(report_dir))
        report["trigger"] = _trigger(settings, joined.table, decision, report_dir, now).as_dict()
    report["seconds"] = {**seconds, "total": round(time.perf_counter() - began, 3)}
    _write_json(storage.join(report_dir, REPORT_FILE), report)
    return Outcome(report, report_dir, decision)


def _judged_version(metrics: dict[int, dict[str, Any]], min_labelled: int) -> int | None:
    """The newest version with enough labels, else the newest version with any."""
    enough = [v for v, m in metrics.items() if m["labelled"] >= min_labelled]
    if enough:
        return max(enough)
    some = [v for v, m in metrics.items() if m["labelled"]]
    return max(some) if some else None


def _last_trigger(settings: MonitorSettings) -> datetime | None:
    times = []
    state = trigger.read_state(settings.out_dir)
    if state is not None:
        times.append(state)
    if settings.metadata_path.is_file():
        recorded = lineage.last_trigger(open_store(settings.metadata_path))
        if recorded:
            times.append(utc(datetime.fromisoformat(recorded)))
    return max(times) if times else None


def _new_report_dir(out_dir: storage.Location, now: datetime) -> storage.Location:
    base = f"{now:%Y%m%dT%H%M%SZ}"
    path, n = storage.join(out_dir, base), 1
    while storage.is_dir(path):
        path, n = storage.join(out_dir, f"{base}-{n}"), n + 1
    storage.make_dirs(path)
    return path


def _write_json(path: storage.Location, data: dict[str, Any]) -> None:
    storage.write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def _write_artifacts(report_dir: storage.Location, report: dict[str, Any], schema: Any,
                     anomaly_parts: dict[str, Any], per_version: dict[int, dict[str, Any]],
                     drift: dict[str, Any]) -> None:
    from google.protobuf import text_format

    def write(name: str, text: str) -> None:
        storage.write_text(storage.join(report_dir, name), text)

    anomalies = statistics.merge_anomalies(anomaly_parts)
    write(ANOMALIES_FILE, text_format.MessageToString(anomalies))
    write(SCHEMA_FILE, text_format.MessageToString(schema))
    curves = {f"v{v}": e["live"]["reliability"] for v, e in per_version.items()
              if e.get("live", {}).get("reliability")}
    write("reliability.svg", plots.reliability_svg(curves))
    rows = [(f"drift {name}", m["value"], m["threshold"]) for name, m in drift.items()]
    rows += [(f"skew v{v} {name}", m["value"], m["threshold"])
             for v, e in per_version.items() for name, m in e.get("skew", {}).items()]
    write("skew_drift.svg",
          plots.measurements_svg(rows, "Skew and drift (bar) against thresholds (line)"))
    report["files"] = {name: str(storage.join(report_dir, name)) for name in (
        REPORT_FILE, ANOMALIES_FILE, SCHEMA_FILE, "reliability.svg", "skew_drift.svg")}


def _record(settings: MonitorSettings, report_dir: storage.Location, report: dict[str, Any],
            decision: policy.Decision, lineages: dict[int, lineage.ModelLineage]
            ) -> dict[str, Any]:
    try:
        store = open_store(settings.metadata_path, writable=True)
    except StoreUnavailable as err:
        return {"recorded": False, "reason": str(err)}
    judged = []
    for found in lineages.values():
        judged.append(("pushed_model", found.pushed_model))
        if found.model is not None:
            judged.append(("model", found.model))
    signals = {"drift": {k: v["value"] for k, v in report["drift"].items()},
               "skew": {v: {k: m["value"] for k, m in e.get("skew", {}).items()}
                        for v, e in report["versions"].items()},
               "live_auc": {v: e.get("live", {}).get("auc")
                            for v, e in report["versions"].items()}}
    execution_id, artifact_id = lineage.record_report(
        store, pipeline_name=settings.pipeline_name, report_uri=str(report_dir),
        window=report["window"], signals=signals, breached=list(decision.breached),
        decision=decision.as_dict(),
        triggered=decision.trigger and settings.trigger_mode != "none", judged=judged)
    return {"recorded": True, "store": str(settings.metadata_path),
            "execution_id": execution_id, "artifact_id": artifact_id}


def _trigger(settings: MonitorSettings, joined: pa.Table, decision: policy.Decision,
             report_dir: storage.Location, now: datetime) -> trigger.TriggerResult:
    reason = f"monitor: {', '.join(decision.breached)} (report {report_dir})"
    log_file = storage.join(report_dir, "trigger.log")
    examples = trigger.labelled_examples(joined)
    if settings.trigger_mode == "cloud":
        command = trigger.cloud_command(target=settings.cloud_target,
                                        config=settings.cloud_config,
                                        reason_tag="-".join(decision.breached).replace("_", "-"),
                                        now=now)
        ingested = None
        if examples.num_rows:
            try:
                ingested = trigger.ingest_cloud(settings.cloud_config, examples, now,
                                                settings.cloud_endpoint)
            except ClickflowError as err:
                return trigger.TriggerResult("cloud", command, None, span_rows=examples.num_rows,
                                             ingest_error=str(err))
        return trigger.TriggerResult("cloud", command, trigger.run_command(command, log_file),
                                     span_rows=examples.num_rows, log_file=str(log_file),
                                     ingested=ingested)
    data_dir = settings.data_dir or settings.pipeline_root.parent / "data"
    path = trigger.ingest_span(data_dir, examples)[1] if examples.num_rows else None
    command = trigger.local_command(data_dir=data_dir, pipeline_root=settings.pipeline_root,
                                    pipeline_name=settings.pipeline_name, reason=reason,
                                    extra_args=settings.runner_args)
    return trigger.TriggerResult("local", command, trigger.run_command(command, log_file),
                                 span=str(path) if path else None, span_rows=examples.num_rows,
                                 log_file=str(log_file))


def default_window(end: datetime, last: timedelta) -> Window:
    return Window(end - last, end)
