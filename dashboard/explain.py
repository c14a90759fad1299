"""A run's verdict in one plain sentence, and its checks as table rows.

Pure functions over what ``dashboard.blessing`` checked and what the run recorded, so the
page, the run detail and the tests share one wording.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from dashboard.blessing import OVERALL, Check

LABELS = {"auc": "AUC", "auc_precision_recall": "PR AUC", "binary_accuracy": "accuracy",
          "example_count": "examples"}


def label(metric: str) -> str:
    return LABELS.get(metric, metric.replace("_", " "))


def _signed(value: float) -> str:
    return f"{value:+.4f}"


def _bound_text(check: Check) -> str:
    t = check.threshold
    parts = []
    if t.lower is not None:
        parts.append(f"≥ {t.lower:g}")
    if t.upper is not None:
        parts.append(f"≤ {t.upper:g}")
    return " and ".join(parts)


def _where(check: Check) -> str:
    return "" if check.threshold.slice == OVERALL else f" on slice {check.threshold.slice}"


def _value_clause(check: Check) -> str | None:
    if check.value_passed is None:
        return None
    t = check.threshold
    if check.value_passed:
        return f"{label(t.metric)}{_where(check)} {check.candidate:.4f} {_bound_text(check)}"
    if t.lower is not None and check.candidate < t.lower:
        return (f"{label(t.metric)}{_where(check)} {check.candidate:.4f} is below the "
                f"threshold {t.lower:g}")
    return (f"{label(t.metric)}{_where(check)} {check.candidate:.4f} is above the threshold "
            f"{t.upper:g}")


def _change_clause(check: Check, version: str | None) -> str | None:
    if check.change_passed is None or check.diff is None:
        return None
    t = check.threshold
    against = f"the served version {version}" if version else "the served baseline"
    allowed = []
    if t.change is not None:
        allowed.append(f"{t.change:+g}")
    if t.relative is not None:
        allowed.append(f"{t.relative:+.1%} relative")
    verb = "changed" if check.change_passed else "dropped"
    return (f"{label(t.metric)}{_where(check)} {verb} by {_signed(check.diff)} against "
            f"{against}, allowed {' / '.join(allowed)}")


@dataclasses.dataclass(frozen=True)
class Verdict:
    blessed: bool | None
    sentence: str
    # False when our reading of the thresholds disagrees with the Evaluator's blessing.
    agrees: bool = True


def verdict(checks: list[Check], blessed: bool | None, baseline_version: str | None = None,
            evaluator_reasons: list[str] | None = None,
            gate_reasons: list[str] | None = None) -> Verdict:
    """"Blessed: AUC 0.95 ≥ 0.75 and changed by +0.01 against the served version ...".

    ``gate_reasons``: why a second gate (the simple-model Evaluator) refused the model; they
    explain a "not blessed" that the thresholds in ``checks`` do not.
    """
    if blessed is None:
        return Verdict(None, "No verdict: the Evaluator has not judged this model.")
    if blessed:
        clauses = [c for check in checks if check.passed
                   for c in (_value_clause(check), _change_clause(check, baseline_version))
                   if c]
        if not any(c.change_passed is not None for c in checks):
            clauses.append("there was no served model to compare with" if not baseline_version
                           else "no change threshold was set")
        text = "Blessed: " + (" and ".join(clauses) if clauses else "no threshold was set")
        failed = [c for c in checks if c.passed is False]
        return Verdict(True, text + ".", agrees=not failed)
    failed = [c for check in checks if check.passed is False
              for c in (_value_clause(check) if check.value_passed is False else None,
                        _change_clause(check, baseline_version)
                        if check.change_passed is False else None) if c]
    gates = list(gate_reasons or [])
    reasons = [*failed, *gates] if failed or gates else list(evaluator_reasons or [])
    text = "Not blessed: " + ("; ".join(reasons) if reasons
                              else "the Evaluator gave no reason it recorded")
    return Verdict(False, text + ".", agrees=bool(failed) or bool(gates) or not checks)


def simple_model_rows(simple: dict[str, Any]) -> list[dict[str, Any]]:
    """Per slice, the candidate's AUC against the simple model's (run_summary.json's
    ``simple_model``), and whether it is within the margin (TFMA's rule: change >= -margin)."""
    margin = simple.get("margin")
    rows = []
    for name, values in sorted((simple.get("slices") or {}).items(),
                               key=lambda kv: (kv[0] != OVERALL, kv[0])):
        change = values.get("auc_change")
        rows.append({"slice": name, "within margin": None if change is None or margin is None
                     else change >= -margin, "AUC": values.get("candidate_auc"),
                     "simple model AUC": values.get("simple_auc"), "AUC change": change,
                     "examples": values.get("examples")})
    return rows


def no_evaluation(status: str, failed_component: str | None, error: str | None) -> str:
    """Why a run has no verdict at all."""
    if status == "running":
        return "No verdict yet: the run is still going."
    if status == "abandoned":
        return ("No verdict: the run's process was stopped before the Evaluator ran (the next "
                "run marked it abandoned).")
    if status == "failed":
        where = f"at {failed_component}" if failed_component else "before the Evaluator"
        first = (error or "").strip().splitlines()[0].rstrip(":") if error and error.strip() \
            else None
        return f"No verdict: the run failed {where}" + (f": {first}." if first else ".")
    return "No verdict: this run did not evaluate a model."


def check_rows(checks: list[Check]) -> list[dict[str, Any]]:
    """One row per threshold: the table under the verdict."""
    rows = []
    for check in checks:
        t = check.threshold
        # The deciding columns first: a narrow screen shows them without scrolling.
        rows.append({
            "metric": label(t.metric), "passed": check.passed, "candidate": check.candidate,
            "bound": _bound_text(check) or None, "change": check.diff,
            "allowed change": None if t.change is None else f"{t.change:+g}",
            "baseline": check.baseline, "slice": t.slice,
        })
    return rows


def metric_rows(candidate: dict[str, float], baseline: dict[str, float] | None
                ) -> list[dict[str, Any]]:
    """Candidate vs baseline for every metric either has."""
    baseline = baseline or {}
    names = [k for k in candidate] + [k for k in baseline if k not in candidate]
    return [{"metric": label(k), "candidate": candidate.get(k), "baseline": baseline.get(k),
             "change": (candidate[k] - baseline[k])
             if k in candidate and k in baseline else None} for k in names]


def slice_rows(candidate: dict[str, dict[str, float]],
               baseline: dict[str, dict[str, float]] | None) -> list[dict[str, Any]]:
    """Per slice: examples, the candidate's AUC and accuracy, the baseline's and the change."""
    rows = []
    for name, values in sorted(candidate.items(), key=lambda kv: (kv[0] != OVERALL, kv[0])):
        base = (baseline or {}).get(name, {})
        auc, base_auc = values.get("auc"), base.get("auc")
        row = {"slice": name, "examples": values.get("example_count"), "AUC": auc,
               "accuracy": values.get("binary_accuracy")}
        if baseline is not None:
            row.update({"baseline AUC": base_auc, "AUC change": None if auc is None or
                        base_auc is None else auc - base_auc,
                        "baseline accuracy": base.get("binary_accuracy")})
        rows.append(row)
    return rows
