"""The retraining policy: breaches, minimum sample sizes, cool-down."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from pipelines.monitoring import policy
from pipelines.monitoring.config import PolicyConfig

NOW = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
CALM = policy.Signals(requests=5000, labelled=2000, skew_breaches=(), drift_breaches=(),
                      drift_measured=True, skew_measured=True, live_auc=0.93,
                      reference_auc=0.95)


def _decide(measured: policy.Signals, last: datetime | None = None, **cfg: object):
    return policy.decide(measured, PolicyConfig(**cfg), now=NOW, last_trigger=last)


def test_no_breach_no_action() -> None:
    decision = _decide(CALM)
    assert decision.action == policy.NO_ACTION and not decision.trigger


@pytest.mark.parametrize(("change", "signal"), [
    ({"drift_breaches": ("Age",)}, "drift"),
    ({"skew_breaches": ("v1/Country",)}, "skew"),
    ({"live_auc": 0.70, "reference_auc": None}, "live_auc_min"),
    ({"live_auc": 0.85}, "live_auc_drop"),
])
def test_each_signal_triggers(change: dict, signal: str) -> None:
    decision = _decide(dataclasses.replace(CALM, **change))
    assert decision.action == policy.RETRAIN and decision.breached == (signal,)


def test_disabled_signal_does_not_trigger() -> None:
    drifted = dataclasses.replace(CALM, drift_breaches=("Age",))
    assert _decide(drifted, signals=("skew",)).action == policy.NO_ACTION


def test_too_few_requests_and_labels_is_not_enough_data() -> None:
    few = dataclasses.replace(CALM, requests=10, labelled=3, drift_breaches=("Age",),
                              live_auc=0.5)
    decision = _decide(few)
    assert decision.action == policy.NOT_ENOUGH_DATA and not decision.trigger
    assert any("min_requests is 1000" in r for r in decision.reasons)
    assert any("min_labelled is 500" in r for r in decision.reasons)


def test_empty_window_is_not_enough_data() -> None:
    empty = policy.Signals(0, 0, (), (), False, False, None, None)
    assert _decide(empty).action == policy.NOT_ENOUGH_DATA


def test_few_labels_still_judges_drift() -> None:
    decision = _decide(dataclasses.replace(CALM, labelled=3, drift_breaches=("Age",)))
    assert decision.action == policy.RETRAIN and decision.breached == ("drift",)


def test_cooldown_blocks_a_second_trigger_then_expires() -> None:
    drifted = dataclasses.replace(CALM, drift_breaches=("Age",))
    recent = _decide(drifted, last=NOW - timedelta(hours=23), cooldown_hours=24)
    assert recent.action == policy.COOLDOWN and recent.breached == ("drift",)
    assert any("cool-down" in r for r in recent.reasons)
    old = _decide(drifted, last=NOW - timedelta(hours=24, seconds=1), cooldown_hours=24)
    assert old.action == policy.RETRAIN
