"""What a model card says about an evaluation: metrics per slice, each threshold and whether it
held, and the candidate against the model it was compared with.

Everything is read back from the Evaluator's output folder, as TFMA wrote it: the
``eval_config.json`` that TFX's Evaluator actually ran (it drops change thresholds when there
is no baseline, so a threshold listed here is one that applied), the metrics
(``tfma.load_eval_result``) and the validation result (``tfma.load_validation_result``), which
lists failures only: a threshold passed when no failure names its metric on a slice it covers.
Thresholds are expanded by TFMA's own ``metric_thresholds_from_metrics_specs``, the function its
validator uses (tensorflow_model_analysis/metrics/metric_specs.py), so the card lists the
thresholds TFMA checked, not our reading of the config.
"""

from __future__ import annotations

import json
from typing import Any

OVERALL = "overall"
CANDIDATE_METRICS = (
    "example_count",
    "auc",
    "auc_precision_recall",
    "binary_accuracy",
    "precision",
    "recall",
    "calibration",
    "mean_label",
    "mean_prediction",
)


def slice_name(slice_key: tuple) -> str:
    """'overall' for TFMA's empty slice key, else 'Male:1' / 'age_band:30-39,Male:0'."""
    if not slice_key:
        return OVERALL
    return ",".join(f"{k}:{v.decode() if isinstance(v, bytes) else v}" for k, v in slice_key)


def _number(value: Any) -> float | None:
    if isinstance(value, dict):
        value = value.get("doubleValue", value.get("value"))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def model_names(evaluation_uri: str) -> tuple[str, str | None]:
    """(candidate, baseline) model names in the evaluation's eval_config.json: ("", None) for a
    one-model evaluation (TFMA leaves its model unnamed)."""
    import tensorflow as tf

    with tf.io.gfile.GFile(f"{evaluation_uri.rstrip('/')}/eval_config.json") as f:
        specs = json.load(f).get("evalConfig", {}).get("modelSpecs", [])
    baseline = next((s.get("name", "") for s in specs if s.get("isBaseline")), None)
    candidate = next((s.get("name", "") for s in specs if not s.get("isBaseline")), "")
    return candidate, baseline


def slice_metrics(evaluation_uri: str, model_name: str = "") -> dict[str, dict[str, float]]:
    """Slice name -> every scalar metric of one model (with TFMA's ``*_diff`` against the
    baseline when there was one), the overall slice first."""
    import tensorflow_model_analysis as tfma

    result = tfma.load_eval_result(evaluation_uri, model_name=model_name or None)
    out: dict[str, dict[str, float]] = {}
    for key, metrics in sorted(result.slicing_metrics, key=lambda km: (len(km[0]), km[0])):
        values = next(iter(metrics.values()), {})
        values = values.get("", values)
        out[slice_name(key)] = {
            k: v for k, v in ((k, _number(v)) for k, v in values.items()) if v is not None
        }
    return out


def _bound_text(threshold: Any) -> str:
    """'>= 0.75', '<= 0.2', 'change >= -0.01 (absolute)' for a TFMA Generic*Threshold."""
    from tensorflow_model_analysis.proto import config_pb2

    if isinstance(threshold, config_pb2.GenericValueThreshold):
        parts = []
        if threshold.HasField("lower_bound"):
            parts.append(f">= {threshold.lower_bound.value:g}")
        if threshold.HasField("upper_bound"):
            parts.append(f"<= {threshold.upper_bound.value:g}")
        return " and ".join(parts)
    higher = threshold.direction == config_pb2.MetricDirection.HIGHER_IS_BETTER
    sign = ">=" if higher else "<="
    parts = []
    if threshold.HasField("absolute"):
        parts.append(f"change {sign} {threshold.absolute.value:g} (absolute)")
    if threshold.HasField("relative"):
        parts.append(f"change {sign} {threshold.relative.value:g} (relative)")
    return " and ".join(parts)


def _spec_text(spec: Any) -> str:
    if spec is None:
        return "every slice"
    keys = [*spec.feature_keys, *(f"{k}:{v}" for k, v in sorted(spec.feature_values.items()))]
    return ",".join(keys) if keys else OVERALL


def thresholds(evaluation_uri: str, gate: str) -> list[dict[str, Any]]:
    """One row per threshold TFMA checked: metric, slices, bound, the overall value and
    whether it held on every slice it covers (``failed_slices`` names the others)."""
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.metrics import metric_specs
    from tensorflow_model_analysis.slicer import slicer_lib

    config = tfma.load_eval_result(evaluation_uri).config
    validation = tfma.load_validation_result(evaluation_uri)
    failures = [
        (slicer_lib.deserialize_slice_key(per_slice.slice_key), failure)
        for per_slice in validation.metric_validations_per_slice
        for failure in per_slice.failures
    ]
    candidate, _ = model_names(evaluation_uri)
    overall = slice_metrics(evaluation_uri, candidate).get(OVERALL, {})
    rows = []
    found = metric_specs.metric_thresholds_from_metrics_specs(config.metrics_specs, config)
    for key, pairs in sorted(found.items(), key=lambda kv: (kv[0].name, kv[0].is_diff)):
        if key.model_name and key.model_name != candidate:
            continue  # TFMA lists the baseline's keys too; only the candidate's are judged
        for spec, threshold in pairs:
            failed = sorted(
                {
                    slice_name(slice_key)
                    for slice_key, f in failures
                    if f.metric_key.name == key.name
                    and f.metric_key.is_diff == key.is_diff
                    and (
                        spec is None
                        or slicer_lib.SingleSliceSpec(spec=spec).is_slice_applicable(slice_key)
                    )
                }
            )
            value_key = f"{key.name}_diff" if key.is_diff else key.name
            rows.append(
                {
                    "gate": gate,
                    "metric": key.name + (" change vs baseline" if key.is_diff else ""),
                    "slices": _spec_text(spec),
                    "threshold": _bound_text(threshold),
                    "overall_value": overall.get(value_key),
                    "passed": not failed,
                    "failed_slices": failed,
                }
            )
    return rows


def comparison(evaluation_uri: str | None, *, what: str, absent: str) -> dict[str, Any]:
    """The candidate against the baseline model of one evaluation, overall: each metric of
    both and the difference (TFMA's ``*_diff``). ``absent`` says why there is none."""
    if evaluation_uri is None:
        return {"what": what, "status": absent}
    candidate, baseline = model_names(evaluation_uri)
    if baseline is None:
        return {"what": what, "status": absent}
    ours = slice_metrics(evaluation_uri, candidate).get(OVERALL, {})
    theirs = slice_metrics(evaluation_uri, baseline).get(OVERALL, {})
    rows = [
        {
            "metric": m,
            "candidate": ours.get(m),
            "baseline": theirs.get(m),
            "difference": ours.get(f"{m}_diff"),
        }
        for m in CANDIDATE_METRICS
        if m in ours or m in theirs
    ]
    return {"what": what, "status": "compared", "metrics": rows}
