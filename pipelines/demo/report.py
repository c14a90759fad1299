"""What the demo measured (``DemoFacts``) and how it says so: numbered, timed step headers
(``Steps``), the monitor's judgment as it is made, and the closing summary table."""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import Any, TextIO

from pipelines.demo.options import STEPS

INDENT = "      "


@dataclasses.dataclass
class VersionFacts:
    version: int
    trained_on: str
    eval_auc: float | None
    live_auc_normal: float | None = None
    live_auc_drifted: float | None = None


@dataclasses.dataclass
class DemoFacts:
    """What the demo measured; ``summary_lines`` turns it into the closing table."""

    versions: list[VersionFacts] = dataclasses.field(default_factory=list)
    drift_breaches: list[str] = dataclasses.field(default_factory=list)
    skew_breaches: list[str] = dataclasses.field(default_factory=list)
    decision: str | None = None
    decision_after: str | None = None
    reasons: list[str] = dataclasses.field(default_factory=list)
    retrain_run_id: str | None = None
    trigger_reason: str | None = None
    mlmd_run_context: str | None = None
    baseline_auc_new_eval: float | None = None  # the old model on the retraining's eval split
    best_auc_normal: float | None = None
    best_auc_drifted: float | None = None
    loaded_version: int | None = None
    step_seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    server: dict[str, Any] = dataclasses.field(default_factory=dict)
    completed: bool = False


def auc_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def summary_lines(facts: DemoFacts) -> list[str]:
    """The closing summary: one row per model version, the ceiling, the signals and the run."""
    header = ("version", "trained on", "eval AUC", "live AUC normal", "live AUC drifted")
    rows = [(str(v.version), v.trained_on, auc_text(v.eval_auc), auc_text(v.live_auc_normal),
             auc_text(v.live_auc_drifted)) for v in facts.versions]
    rows.append(("best possible", "(true click probability)", "",
                 auc_text(facts.best_auc_normal), auc_text(facts.best_auc_drifted)))
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in (header, *rows)]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if len(facts.versions) >= 2:
        old, new = facts.versions[0], facts.versions[-1]
        if old.live_auc_drifted is not None and new.live_auc_drifted is not None:
            lines.append(f"Live AUC on drifted traffic: v{old.version} {old.live_auc_drifted:.4f}"
                         f" -> v{new.version} {new.live_auc_drifted:.4f} "
                         f"({new.live_auc_drifted - old.live_auc_drifted:+.4f})")
    if len(facts.versions) >= 2 and facts.baseline_auc_new_eval is not None:
        old, new = facts.versions[0], facts.versions[-1]
        lines.append(f"Evaluator on the new eval split: v{new.version} {auc_text(new.eval_auc)} "
                     f"vs the blessed baseline v{old.version} {facts.baseline_auc_new_eval:.4f}")
    lines.append("Drift (vs the normal window): " + (", ".join(facts.drift_breaches) or "none"))
    lines.append("Skew (vs training data): " + (", ".join(facts.skew_breaches) or "none"))
    lines.append(f"Decision: {facts.decision or '-'}"
                 + (f"; after retraining: {facts.decision_after}" if facts.decision_after else ""))
    lines.append(f"Retraining run: {facts.retrain_run_id or 'none'}"
                 + (f" (MLMD run context {facts.mlmd_run_context})"
                    if facts.mlmd_run_context else ""))
    lines.append(f"Trigger reason: {facts.trigger_reason or '-'}")
    if facts.step_seconds:
        total = sum(facts.step_seconds.values())
        lines.append(f"Time: {total:.0f} s (" + ", ".join(
            f"{name} {seconds:.0f} s" for name, seconds in facts.step_seconds.items()) + ")")
    return lines


class Steps:
    """Numbered step headers and their timing."""

    def __init__(self, facts: DemoFacts, out: TextIO = sys.stdout):
        self.facts, self.out = facts, out
        self._current: tuple[str, float] | None = None

    def say(self, text: str = "") -> None:
        print(f"{INDENT}{text}" if text else "", file=self.out, flush=True)

    def begin(self, number: int, title: str, what: str) -> None:
        self.end()
        print(f"\n[{number}/{STEPS}] {title}", file=self.out, flush=True)
        self.say(what)
        self._current = (f"{number}. {title}", time.perf_counter())

    def end(self) -> None:
        if self._current is not None:
            name, began = self._current
            seconds = time.perf_counter() - began
            self.facts.step_seconds[name] = round(seconds, 1)
            self.say(f"({seconds:.1f} s)")
            self._current = None


def show_judgment(report: dict[str, Any], steps: Steps) -> None:
    """The monitor's report as a few lines: the window, drift, skew, live AUC, the decision."""
    say = steps.say
    log = report["request_log"]
    say(f"window {report['window']['start']} .. {report['window']['end']}: "
        f"{log['requests']:,} request(s), {report['labels']['labelled']:,} labelled; "
        f"previous window: {report['previous_window_log']['requests']:,} request(s)")
    drift = [f"{n} {m['value']:.3f}>{m['threshold']}" for n, m in report["drift"].items()
             if m["breached"]]
    if not report["drift"]:
        say("drift: not measured (no requests in the previous window)")
    else:
        say("drift vs the previous window: " + (", ".join(drift) or "none above threshold"))
    for version, entry in report["versions"].items():
        skew = [f"{n} {m['value']:.3f}>{m['threshold']}"
                for n, m in entry.get("skew", {}).items() if m["breached"]]
        say(f"skew of v{version} vs its training data: "
            + (", ".join(skew) or entry.get("skew_unavailable") or "none above threshold"))
        live = entry.get("live") or {}
        if live.get("auc") is not None:
            eval_auc = entry.get("eval_auc")
            say(f"live AUC of v{version}: {live['auc']:.4f} on {live['labelled']:,} labels"
                + (f" (its eval AUC {eval_auc:.4f})" if eval_auc is not None else "")
                + f", accuracy {live['accuracy']:.4f}, calibration "
                f"{live['calibration']:.2f}")
    decision = report["decision"]
    say(f"decision: {decision['action'].upper()}")
    for reason in decision["reasons"]:
        say(f"  - {reason}")
