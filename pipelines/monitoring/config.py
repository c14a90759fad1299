"""Typed monitoring configuration: comparator thresholds and the retraining policy.

Defaults live here; a YAML file (``--config``) overrides any of them, and unknown keys or
values of the wrong kind are errors naming the key, so a typo never silently keeps a default.

.. code-block:: yaml

    thresholds:
      categorical_linf: 0.05        # L-infinity distance, string features
      numeric_jsd: 0.05             # Jensen-Shannon divergence, numeric features
      features: {Age: 0.08}         # per-feature override
      skip_features: [Timestamp]    # never compared
    policy:
      signals: [skew, drift, live_auc_min, live_auc_drop]
      min_requests: 1000
      min_labelled: 500
      live_auc_min: 0.75
      live_auc_max_drop: 0.05
      cooldown_hours: 24
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from models import features as feature_names
from pipelines.common.errors import ConfigError

SIGNALS = ("skew", "drift", "live_auc_min", "live_auc_drop")


class MonitorConfigError(ConfigError):
    """A monitoring setting that cannot be used; the message names it and what is expected."""


@dataclasses.dataclass(frozen=True)
class DriftThresholds:
    """Comparator thresholds (TFDV's measures: L-infinity for strings, JSD for numbers).

    Timestamp is skipped by default: every window has new event times by construction, so it
    would always "drift". With >= 1,000 rows a window of the same distribution measures about
    0.01 on either measure (measured on generated data), a shift that matters 0.05 or more.
    Male is binary: its JSD is ~0.0001 for equal rates and 0.036 for 48% -> 70% male, so its
    threshold is 0.01. A YAML ``features`` mapping replaces these per-feature defaults.
    """

    categorical_linf: float = 0.05
    numeric_jsd: float = 0.05
    features: Mapping[str, float] = dataclasses.field(default_factory=lambda: {"Male": 0.01})
    skip_features: tuple[str, ...] = (feature_names.TIMESTAMP_FEATURE,)

    def __post_init__(self) -> None:
        for name in ("categorical_linf", "numeric_jsd"):
            _check_fraction(f"thresholds.{name}", getattr(self, name))
        for name, value in self.features.items():
            _check_feature(f"thresholds.features.{name}", name)
            _check_fraction(f"thresholds.features.{name}", value)
        for name in self.skip_features:
            _check_feature("thresholds.skip_features", name)

    def for_feature(self, name: str, *, is_string: bool) -> float | None:
        if name in self.skip_features:
            return None
        if name in self.features:
            return float(self.features[name])
        return self.categorical_linf if is_string else self.numeric_jsd


@dataclasses.dataclass(frozen=True)
class PolicyConfig:
    """When a monitoring report triggers retraining.

    ``min_requests`` logged requests are needed before skew/drift count, ``min_labelled``
    labelled ones before live AUC counts (fewer: "not enough data", never a trigger). No
    trigger within ``cooldown_hours`` of the last one, so a breach that persists while the new
    model trains does not start a second run.
    """

    signals: tuple[str, ...] = SIGNALS
    min_requests: int = 1000
    min_labelled: int = 500
    live_auc_min: float = 0.75
    live_auc_max_drop: float = 0.05
    cooldown_hours: float = 24.0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.signals) - set(SIGNALS))
        if unknown:
            raise MonitorConfigError(
                f"policy.signals: unknown signal(s) {unknown}; expected some of {list(SIGNALS)}")
        for name in ("min_requests", "min_labelled"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise MonitorConfigError(f"policy.{name} must be an integer >= 1, got {value!r}")
        _check_fraction("policy.live_auc_min", self.live_auc_min)
        _check_fraction("policy.live_auc_max_drop", self.live_auc_max_drop)
        if not _is_number(self.cooldown_hours) or self.cooldown_hours < 0:
            raise MonitorConfigError(
                f"policy.cooldown_hours must be a number >= 0, got {self.cooldown_hours!r}")


@dataclasses.dataclass(frozen=True)
class MonitorConfig:
    thresholds: DriftThresholds = dataclasses.field(default_factory=DriftThresholds)
    policy: PolicyConfig = dataclasses.field(default_factory=PolicyConfig)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "config") -> MonitorConfig:
        if not isinstance(data, Mapping):
            raise MonitorConfigError(f"{source}: expected a mapping with 'thresholds' and/or "
                                     f"'policy', got {type(data).__name__}")
        _no_unknown(source, data, ("thresholds", "policy"))
        sections = {}
        for key, kind in (("thresholds", DriftThresholds), ("policy", PolicyConfig)):
            section = data.get(key) or {}
            if not isinstance(section, Mapping):
                raise MonitorConfigError(f"{source}: '{key}' must be a mapping")
            names = [f.name for f in dataclasses.fields(kind)]
            _no_unknown(f"{source}: {key}", section, names)
            values = {k: tuple(v) if isinstance(v, list) else v for k, v in section.items()}
            try:
                sections[key] = kind(**values)
            except MonitorConfigError as err:
                raise MonitorConfigError(f"{source}: {err}") from None
            except (TypeError, ValueError) as err:
                raise MonitorConfigError(f"{source}: {key}: {err}") from None
        return cls(**sections)

    @classmethod
    def from_yaml(cls, path: str | Path) -> MonitorConfig:
        import yaml

        try:
            data = yaml.safe_load(Path(path).read_text())
        except OSError as err:
            raise MonitorConfigError(f"--config {path}: cannot read it ({err.strerror})") from None
        except yaml.YAMLError as err:
            raise MonitorConfigError(f"--config {path}: not valid YAML ({err})") from None
        return cls.from_mapping(data or {}, source=f"--config {path}")

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["thresholds"]["features"] = dict(self.thresholds.features)
        return out


def _no_unknown(where: str, data: Mapping[str, Any], known: Any) -> None:
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise MonitorConfigError(f"{where}: unknown key(s) {unknown}; expected some of "
                                 f"{sorted(known)}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_fraction(name: str, value: Any) -> None:
    if not _is_number(value) or not 0.0 <= value <= 1.0:
        raise MonitorConfigError(f"{name} must be a number between 0 and 1, got {value!r}")


def _check_feature(where: str, name: str) -> None:
    if name not in feature_names.SERVING_FEATURES:
        raise MonitorConfigError(f"{where}: unknown feature {name!r}; expected one of "
                                 f"{list(feature_names.SERVING_FEATURES)}")
