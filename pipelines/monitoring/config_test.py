"""Monitoring configuration: defaults, YAML overrides, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.monitoring.config import DriftThresholds, MonitorConfig, MonitorConfigError


def test_defaults() -> None:
    cfg = MonitorConfig()
    assert cfg.thresholds.for_feature("Country", is_string=True) == 0.05
    assert cfg.thresholds.for_feature("Age", is_string=False) == 0.05
    assert cfg.thresholds.for_feature("Timestamp", is_string=True) is None


def test_yaml_overrides(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("thresholds:\n  numeric_jsd: 0.1\n  features: {Age: 0.2}\n"
                    "policy:\n  signals: [drift]\n  cooldown_hours: 2\n")
    cfg = MonitorConfig.from_yaml(path)
    assert cfg.thresholds.for_feature("Age", is_string=False) == 0.2
    assert cfg.thresholds.for_feature("AreaIncome", is_string=False) == 0.1
    assert cfg.policy.signals == ("drift",) and cfg.policy.cooldown_hours == 2


@pytest.mark.parametrize(("text", "message"), [
    ("policy:\n  cooldown: 3\n", "unknown key(s) ['cooldown']"),
    ("policy:\n  signals: [drfit]\n", "unknown signal(s) ['drfit']"),
    ("policy:\n  min_requests: 0\n", "policy.min_requests must be an integer >= 1"),
    ("thresholds:\n  numeric_jsd: high\n", "thresholds.numeric_jsd must be a number"),
    ("thresholds:\n  features: {Agee: 0.1}\n", "unknown feature 'Agee'"),
    ("- a\n- b\n", "expected a mapping"),
    ("policy: [\n", "not valid YAML"),
])
def test_bad_yaml_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(MonitorConfigError, match=message.replace("[", r"\[").replace("]", r"\]")
                       .replace("(", r"\(").replace(")", r"\)")):
        MonitorConfig.from_yaml(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MonitorConfigError, match="cannot read it"):
        MonitorConfig.from_yaml(tmp_path / "none.yaml")


def test_skip_features_validated() -> None:
    with pytest.raises(MonitorConfigError, match="skip_features"):
        DriftThresholds(skip_features=("Nope",))
