"""What the history pages show of a run's evaluation, from its run_summary.json.

The runner writes the candidate's metrics (overall and per slice), the served baseline's
metrics on the same rows and the Evaluator's reasons into run_summary.json: reading them there
keeps TFMA (~20 s to import) off the page for every run but the one whose curves are asked
for. A run without a summary (an older runner, a run still going) is read with TFMA by the
page, for the selected run only.
"""

from __future__ import annotations

from typing import Any

from dashboard import blessing, explain
from dashboard.history import RunRecord

Sliced = dict[str, dict[str, float]]


def candidate(summary: dict[str, Any] | None) -> Sliced | None:
    """Slice ("Overall", "Male:1", ...) -> metric -> value, for the candidate model."""
    if not summary or not summary.get("metrics"):
        return None
    return {blessing.OVERALL: dict(summary["metrics"]), **(summary.get("sliced_metrics") or {})}


def baseline(summary: dict[str, Any] | None) -> Sliced | None:
    """The served baseline's overall metrics on the same eval rows; None without one."""
    found = (summary or {}).get("baseline") or {}
    return {blessing.OVERALL: dict(found["metrics"])} if found.get("metrics") else None


def simple_model(summary: dict[str, Any] | None) -> dict[str, Any] | None:
    """The candidate against the simple model (run_summary.json's ``simple_model``), or None
    for a run without the simple-baseline gate."""
    found = (summary or {}).get("simple_model")
    return found if isinstance(found, dict) else None


def baseline_version(summary: dict[str, Any] | None) -> str | None:
    return ((summary or {}).get("baseline") or {}).get("served_version")


def overall(run: RunRecord) -> dict[str, float]:
    """The candidate's overall metrics; {} when the summary has none."""
    return (candidate(run.summary) or {}).get(blessing.OVERALL, {})


def judge(run: RunRecord, eval_config: dict[str, Any] | None,
          metrics: Sliced | None = None, base: Sliced | None = None
          ) -> tuple[explain.Verdict, list[blessing.Check]]:
    """The run's verdict and checks. ``metrics``/``base`` replace the summary's (read with
    TFMA for a run that has no summary)."""
    if run.blessed is None and run.evaluation_uri is None:
        return explain.Verdict(None, explain.no_evaluation(
            run.status, run.failed_component, run.error)), []
    metrics = metrics if metrics is not None else candidate(run.summary) or {}
    base = base if base is not None else baseline(run.summary)
    checks = blessing.checks(eval_config, metrics, base) if eval_config else []
    if run.blessed is None:
        return explain.Verdict(None, explain.no_evaluation(
            run.status, run.failed_component, run.error)), checks
    reasons = (run.summary or {}).get("not_blessed_because") or []
    gate = (simple_model(run.summary) or {}).get("not_blessed_because") or []
    return explain.verdict(checks, run.blessed, baseline_version(run.summary), reasons,
                           gate_reasons=gate), checks
