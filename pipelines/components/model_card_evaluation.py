"""What a model card says about an evaluation: metrics per slice, each threshold and whether it
held, and the candidate against the model it was compared with.

Everything is read back from the Evaluator's output folder, as TFMA wrote it: the
``eval_config.json`` that TFX's Evaluator actually ran (it drops change thresholds when there
is no baseline, so a threshold listed here is one that applied), the metrics
(``tfma.load_metrics``) and the validation result (``tfma.load_validation_result``), which
lists failures only: a threshold passed when no failure names its metric on a slice it covers.
Thresholds are expanded by TFMA's own ``metric_thresholds_from_metrics_specs``, the function its
validator uses (tensorflow_model_analysis/metrics/metric_specs.py), so the card lists the
thresholds TFMA checked, not our reading of the config.
"""

from __future__ import annotations

import functools
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


@functools.lru_cache(maxsize=8)
def _metrics(evaluation_uri: str) -> dict[tuple[str, bool], dict[str, dict[str, float]]]:
    """(model name, is_diff) -> slice name -> metric -> value, from one read of TFMA's metrics
    file (``tfma.load_metrics``: no plots; ``load_eval_result`` also reads those, ~0.8 s)."""
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.slicer import slicer_lib

    out: dict[tuple[str, bool], dict[str, dict[str, float]]] = {}
    ordered = sorted(
        (
            (slicer_lib.deserialize_slice_key(m.slice_key), m)
            for m in tfma.load_metrics(evaluation_uri)
        ),
        key=lambda km: (len(km[0]), km[0]),
    )
    for key, for_slice in ordered:
        for entry in for_slice.metric_keys_and_values:
            if entry.key.HasField("sub_key") or not entry.value.HasField("double_value"):
                continue
            model = out.setdefault((entry.key.model_name, entry.key.is_diff), {})
            model.setdefault(slice_name(key), {})[entry.key.name] = entry.value.double_value.value
    return out


def _config(evaluation_uri: str) -> Any:
    """The EvalConfig the Evaluator ran, by TFMA's own reader (writers/eval_config_writer.py)."""
    from tensorflow_model_analysis.writers import eval_config_writer

    config, *_ = eval_config_writer.load_eval_run(evaluation_uri)
    if config is None:
        raise FileNotFoundError(f"{evaluation_uri}: no eval_config.json (not a TFMA output)")
    return config


def model_names(evaluation_uri: str) -> tuple[str, str | None]:
    """(candidate, baseline) model names of the evaluation: ("", None) for a one-model
    evaluation (TFMA leaves its model unnamed)."""
    specs = _config(evaluation_uri).model_specs
    baseline = next((s.name for s in specs if s.is_baseline), None)
    return next((s.name for s in specs if not s.is_baseline), ""), baseline


def slice_metrics(evaluation_uri: str, model_name: str = "") -> dict[str, dict[str, float]]:
    """Slice name -> every scalar metric of one model, with ``<metric>_diff`` (against the
    baseline, when there was one) beside it; the overall slice first."""
    found = _metrics(evaluation_uri)
    out = {name: dict(values) for name, values in found.get((model_name, False), {}).items()}
    for name, values in found.get((model_name, True), {}).items():
        out.setdefault(name, {}).update({f"{k}_diff": v for k, v in values.items()})
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

    config = _config(evaluation_uri)
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
