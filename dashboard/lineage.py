"""A run's lineage as the run detail shows it: data -> statistics/anomalies -> model ->
pushed version -> the monitoring reports that judged that version.

Pure: the run (ML Metadata and its summary) and the monitor's parsed reports in, rows out.
"""

from __future__ import annotations

from typing import Any

from dashboard.history import RunRecord
from dashboard.monitoring import Report


def reports_for(version: str | None, reports: list[Report]) -> list[Report]:
    """The reports that measured ``version`` (served it in their window, or judged it)."""
    if not version or not version.isdigit():
        return []
    return [r for r in reports if r.judged_version == int(version) or version in r.versions]


def _data(run: RunRecord) -> str:
    data = run.data or {}
    spans = data.get("spans") or []
    rows = ((run.summary or {}).get("rows") or {})
    parts = [", ".join(spans) if spans else (str(data["path"]) if data.get("path") else
                                              (f"span {run.span}" if run.span is not None
                                               else "not recorded"))]
    if rows.get("read") is not None:
        parts.append(f"{rows['read']:,} rows read, {rows.get('kept', rows['read']):,} kept")
    if run.examples:
        parts.append(run.examples)
    return "; ".join(parts)


def rows(run: RunRecord, reports: list[Report], anomaly_count: int | None
         ) -> list[dict[str, Any]]:
    """One row per lineage step: step, state, detail, where (artifact URI or report)."""
    out = [{"step": "data", "state": "read" if run.examples or run.data else "—",
            "detail": _data(run), "where": (run.data or {}).get("path")}]
    out.append({"step": "statistics", "state": "computed" if run.statistics_uri else "—",
                "detail": "per-feature statistics of train and eval (StatisticsGen)",
                "where": run.statistics_uri})
    if run.anomalies_uri is None:
        state, detail = "—", "ExampleValidator did not run"
    elif anomaly_count:
        state, detail = "anomalies", f"{anomaly_count} anomaly(ies) against the curated schema"
    else:
        state, detail = "clean", "the data fits the curated schema"
    out.append({"step": "anomalies", "state": state, "detail": detail,
                "where": run.anomalies_uri})
    if run.failed_component:
        out.append({"step": "stopped", "state": "failed",
                    "detail": f"at {run.failed_component}", "where": None})
    out.append({"step": "model", "state": "trained" if run.model_uri else "—",
                "detail": "Trainer's SavedModel", "where": run.model_uri})
    verdict = {True: "blessed", False: "not blessed", None: "—"}[run.blessed]
    out.append({"step": "evaluation", "state": verdict, "detail": "Evaluator (TFMA)",
                "where": run.evaluation_uri})
    out.append({"step": "pushed", "state": run.pushed_version or "not pushed",
                "detail": "TF Serving version" if run.pushed_version else
                "only a blessed model is pushed", "where": run.pushed_destination})
    judged = reports_for(run.pushed_version, reports)
    for report in judged:
        out.append({"step": "monitoring", "state": report.action,
                    "detail": f"{report.window_start:%Y-%m-%d %H:%M} to "
                              f"{report.window_end:%Y-%m-%d %H:%M}: {report.status}"
                              + (f", breached {', '.join(report.breached)}"
                                 if report.breached else ""),
                    "where": str(report.path)})
    if run.pushed_version and not judged:
        out.append({"step": "monitoring", "state": "—",
                    "detail": "no monitoring report has measured this version", "where": None})
    return out
