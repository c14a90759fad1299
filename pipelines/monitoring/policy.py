"""The retraining policy: which breached signals trigger a run, and when not to (too little
data, cool-down). Pure: everything it needs comes in as arguments, the clock included."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

from pipelines.monitoring.config import PolicyConfig

RETRAIN, NO_ACTION, NOT_ENOUGH_DATA, COOLDOWN = "retrain", "none", "not_enough_data", "cooldown"


@dataclasses.dataclass(frozen=True)
class Signals:
    """What the monitoring run measured, reduced to what the policy judges."""

    requests: int
    labelled: int
    skew_breaches: tuple[str, ...]  # "v<version>/<feature>" whose skew is above its threshold
    drift_breaches: tuple[str, ...]  # features whose drift is above its threshold
    drift_measured: bool  # a previous window existed to compare with
    skew_measured: bool  # training statistics were found for a served version
    live_auc: float | None  # live AUC of the newest served version with enough labels
    reference_auc: float | None  # that version's offline eval AUC (from the Evaluator)


@dataclasses.dataclass(frozen=True)
class Decision:
    action: str
    breached: tuple[str, ...]
    reasons: tuple[str, ...]
    decided_at: datetime

    @property
    def trigger(self) -> bool:
        return self.action == RETRAIN

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "breached": list(self.breached),
                "reasons": list(self.reasons), "decided_at": self.decided_at.isoformat()}


def decide(signals: Signals, policy: PolicyConfig, *, now: datetime,
           last_trigger: datetime | None) -> Decision:
    """Evaluate every enabled signal that has enough data; retrain on any breach unless the
    last trigger is younger than the cool-down."""
    enabled = set(policy.signals)
    breached: list[str] = []
    reasons: list[str] = []
    evaluated = 0
    enough_requests = signals.requests >= policy.min_requests
    if {"skew", "drift"} & enabled and not enough_requests:
        reasons.append(f"skew/drift not judged: {signals.requests} request(s) in the window, "
                       f"policy.min_requests is {policy.min_requests}")
    if "skew" in enabled and enough_requests and signals.skew_measured:
        evaluated += 1
        if signals.skew_breaches:
            breached.append("skew")
            reasons.append("training/serving skew above threshold: "
                           + ", ".join(signals.skew_breaches))
    if "drift" in enabled and enough_requests and signals.drift_measured:
        evaluated += 1
        if signals.drift_breaches:
            breached.append("drift")
            reasons.append("drift from the previous window above threshold: "
                           + ", ".join(signals.drift_breaches))
    live = {"live_auc_min", "live_auc_drop"} & enabled
    enough_labels = signals.labelled >= policy.min_labelled and signals.live_auc is not None
    if live and not enough_labels:
        reasons.append(f"live AUC not judged: {signals.labelled} labelled prediction(s), "
                       f"policy.min_labelled is {policy.min_labelled}")
    if "live_auc_min" in enabled and enough_labels:
        evaluated += 1
        assert signals.live_auc is not None
        if signals.live_auc < policy.live_auc_min:
            breached.append("live_auc_min")
            reasons.append(f"live AUC {signals.live_auc:.4f} < policy.live_auc_min "
                           f"{policy.live_auc_min}")
    if "live_auc_drop" in enabled and enough_labels and signals.reference_auc is not None:
        evaluated += 1
        assert signals.live_auc is not None
        drop = signals.reference_auc - signals.live_auc
        if drop > policy.live_auc_max_drop:
            breached.append("live_auc_drop")
            reasons.append(f"live AUC {signals.live_auc:.4f} is {drop:.4f} below the eval AUC "
                           f"{signals.reference_auc:.4f} (policy.live_auc_max_drop "
                           f"{policy.live_auc_max_drop})")
    if not evaluated:
        return Decision(NOT_ENOUGH_DATA, (), tuple(reasons) or ("no signal could be judged",),
                        now)
    if not breached:
        return Decision(NO_ACTION, (), (*reasons, "no enabled signal breached"), now)
    if last_trigger is not None:
        ready_at = last_trigger + timedelta(hours=policy.cooldown_hours)
        if now < ready_at:
            return Decision(COOLDOWN, tuple(breached), (
                *reasons, f"cool-down: last retraining trigger at {last_trigger.isoformat()}, "
                f"next allowed at {ready_at.isoformat()} (policy.cooldown_hours "
                f"{policy.cooldown_hours})"), now)
    return Decision(RETRAIN, tuple(breached), tuple(reasons), now)
