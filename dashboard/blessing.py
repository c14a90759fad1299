"""Why a model was or was not blessed: the Evaluator's thresholds against the metrics it saw.

Read without TFMA (importing it takes ~10 s, TensorFlow another ~10 s): the thresholds come
from the TFMA result's ``eval_config.json`` (TFMA's EvalConfig in proto JSON: camelCase keys)
and the metrics from the runner's ``run_summary.json`` (the candidate's, and the served
baseline's on the same eval rows). The checks follow TFMA's own rule
(``tensorflow_model_analysis/evaluators/metrics_validator.py``, ``_check_threshold``): a
value passes when lower <= value <= upper; a change (candidate - baseline) passes when it is
>= ``absolute`` for HIGHER_IS_BETTER and <= it for LOWER_IS_BETTER. Change thresholds are only
judged when a baseline was evaluated. The Evaluator's own verdict (the blessing) stays the
authority: where the two disagree, the page says so.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

OVERALL = "Overall"


class EvalConfigError(ValueError):
    """The TFMA result's eval_config.json is missing or not what TFMA writes."""


@dataclasses.dataclass(frozen=True)
class Threshold:
    """One metric threshold of the eval config, on one slice."""

    metric: str
    slice: str = OVERALL
    lower: float | None = None
    upper: float | None = None
    change: float | None = None  # the absolute change allowed (TFMA's ``absolute``)
    relative: float | None = None
    higher_is_better: bool = True


@dataclasses.dataclass(frozen=True)
class Check:
    """A threshold against the candidate's (and baseline's) value, and whether it passed."""

    threshold: Threshold
    candidate: float | None
    baseline: float | None
    value_passed: bool | None  # None: no value bound, or no value to check
    change_passed: bool | None  # None: no change bound, or no baseline to compare with

    @property
    def diff(self) -> float | None:
        if self.candidate is None or self.baseline is None:
            return None
        return self.candidate - self.baseline

    @property
    def passed(self) -> bool | None:
        results = [r for r in (self.value_passed, self.change_passed) if r is not None]
        return all(results) if results else None


def metric_name(metric: dict[str, Any]) -> str:
    """TFMA's metric name of a MetricConfig: its config's ``name``, else the class in
    snake case (AUC -> auc, AUCPrecisionRecall -> auc_precision_recall)."""
    try:
        name = json.loads(metric.get("config") or "{}").get("name")
    except ValueError:
        name = None
    if name:
        return str(name)
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_",
                   str(metric.get("className", "")))
    return words.lower()


def _slice_name(spec: dict[str, Any]) -> str:
    values = spec.get("featureValues") or {}
    if values:
        return ",".join(f"{k}:{v}" for k, v in sorted(values.items()))
    keys = spec.get("featureKeys") or []
    return ",".join(keys) if keys else OVERALL


def _bound(container: dict[str, Any], key: str) -> float | None:
    value = container.get(key)
    if isinstance(value, dict):
        value = value.get("value", 0.0)  # proto JSON leaves out a wrapper's default 0
    return None if value is None else float(value)


def _threshold(name: str, slice_name: str, spec: dict[str, Any]) -> Threshold:
    value = spec.get("valueThreshold") or {}
    change = spec.get("changeThreshold")
    return Threshold(
        metric=name, slice=slice_name, lower=_bound(value, "lowerBound"),
        upper=_bound(value, "upperBound"),
        change=None if change is None else _bound(change, "absolute"),
        relative=None if change is None else _bound(change, "relative"),
        higher_is_better=(change or {}).get("direction", "HIGHER_IS_BETTER")
        != "LOWER_IS_BETTER")


def thresholds(eval_config: dict[str, Any]) -> list[Threshold]:
    """Every threshold of an EvalConfig (proto JSON), in config order."""
    out = []
    for spec in eval_config.get("metricsSpecs") or []:
        for metric in spec.get("metrics") or []:
            name = metric_name(metric)
            if metric.get("threshold"):
                out.append(_threshold(name, OVERALL, metric["threshold"]))
            for per_slice in metric.get("perSliceThresholds") or []:
                for slicing in per_slice.get("slicingSpecs") or [{}]:
                    out.append(_threshold(name, _slice_name(slicing),
                                          per_slice.get("threshold") or {}))
        for name, threshold in sorted((spec.get("thresholds") or {}).items()):
            out.append(_threshold(name, OVERALL, threshold))
    return out


def camel_case(value: Any) -> Any:
    """Proto JSON with field names (``per_slice_thresholds``, as TFX stores exec properties)
    in the camelCase names TFMA's eval_config.json uses."""
    if isinstance(value, dict):
        return {re.sub(r"_([a-z])", lambda m: m.group(1).upper(), k): camel_case(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [camel_case(v) for v in value]
    return value


def read_eval_config(evaluation_uri: str) -> dict[str, Any]:
    """The EvalConfig TFMA wrote beside its result (``eval_config.json``)."""
    path = f"{str(evaluation_uri).rstrip('/')}/eval_config.json"
    try:
        if "://" in path:  # a bucket: only then is TensorFlow's file system worth importing
            import tensorflow as tf

            with tf.io.gfile.GFile(path) as f:
                text = f.read()
        else:
            text = Path(path).read_text()
        data = json.loads(text)
    except (OSError, ValueError) as err:
        raise EvalConfigError(f"cannot read the Evaluator's config {path}: {err}") from err
    config = data.get("evalConfig") if isinstance(data, dict) else None
    if not isinstance(config, dict):
        raise EvalConfigError(f"{path}: expected a JSON object with an 'evalConfig' object "
                              "(what TFMA writes)")
    return config


def model_names(eval_config: dict[str, Any]) -> tuple[str | None, str | None]:
    """(candidate, baseline) model names; (None, None) for a one-model evaluation."""
    specs = eval_config.get("modelSpecs") or []
    baseline = next((s.get("name") for s in specs if s.get("isBaseline")), None)
    if baseline is None:
        return None, None
    return next((s.get("name") for s in specs if not s.get("isBaseline")), None), baseline


def check(threshold: Threshold, candidate: float | None, baseline: float | None) -> Check:
    """TFMA's rule for one threshold (see the module docstring)."""
    value_passed = None
    if candidate is not None and (threshold.lower is not None or threshold.upper is not None):
        value_passed = ((threshold.lower is None or candidate >= threshold.lower)
                        and (threshold.upper is None or candidate <= threshold.upper))
    change_passed = None
    has_change = threshold.change is not None or threshold.relative is not None
    if has_change and candidate is not None and baseline is not None:
        diff, results = candidate - baseline, []
        if threshold.change is not None:
            results.append(diff >= threshold.change if threshold.higher_is_better
                           else diff <= threshold.change)
        if threshold.relative is not None and baseline != 0:
            ratio = diff / baseline
            results.append(ratio >= threshold.relative if threshold.higher_is_better
                           else ratio <= threshold.relative)
        change_passed = all(results)
    return Check(threshold, candidate, baseline, value_passed, change_passed)


def checks(eval_config: dict[str, Any], candidate: dict[str, dict[str, float]],
           baseline: dict[str, dict[str, float]] | None) -> list[Check]:
    """Every threshold checked; ``candidate``/``baseline``: slice name -> metric -> value."""
    out = []
    for threshold in thresholds(eval_config):
        value = (candidate.get(threshold.slice) or {}).get(threshold.metric)
        base = None if baseline is None else (baseline.get(threshold.slice) or {}).get(
            threshold.metric)
        out.append(check(threshold, value, base))
    return out
