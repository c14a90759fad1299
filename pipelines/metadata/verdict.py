"""Why a run's model was or was not blessed, and which metrics mean nothing on its eval split.

TFMA computes an AUC on any eval split: 0.0 when the split holds one class only, and nothing at
all when it is empty; the Evaluator then simply does not bless, and a user saw "AUC 0.0000, NOT
blessed" with no reason. Here the metric is reported as undefined (null) with the reason, and
the Evaluator's own validation result (``validations.tfrecord``, TFMA's ``ValidationResult``)
is read back into sentences: which threshold failed, with what value.
"""

from __future__ import annotations

from typing import Any

# Below this many eval rows an AUC is noise: reported as undefined, with the reason.
MIN_EVAL_ROWS = 20
# Ranking metrics that need both labels in the eval split.
RANKING_METRICS = ("auc", "auc_precision_recall")


def undefined_metrics(metrics: dict[str, Any], eval_rows: int | None) -> str | None:
    """Why the ranking metrics are undefined on this eval split, or None when they are not."""
    count = metrics.get("example_count")
    rows = int(count) if count is not None else eval_rows
    if not rows:
        return ("AUC is undefined: the eval split has no rows (the data is too small: about "
                "1 row in 5 goes to the eval split)")
    mean_label = metrics.get("mean_label")
    if mean_label in (0.0, 1.0):
        return (f"AUC is undefined: the eval split has only label {int(mean_label)} "
                f"({rows:,} rows): it needs clicks and non-clicks")
    if rows < MIN_EVAL_ROWS:
        return (f"AUC is undefined: the eval split has only {rows} rows (at least "
                f"{MIN_EVAL_ROWS} are needed for a meaningful AUC)")
    return None


def _value(value: Any) -> float | None:
    which = value.WhichOneof("type") if value is not None else None
    if which == "double_value":
        return value.double_value.value
    return None


def validation_failures(evaluation_uri: str) -> list[str]:
    """The Evaluator's failed checks, one sentence each ([] when it blessed, or no result)."""
    import tensorflow as tf
    import tensorflow_model_analysis as tfma

    if not tf.io.gfile.glob(f"{evaluation_uri.rstrip('/')}/validations*"):
        return []
    result = tfma.load_validation_result(evaluation_uri)
    if result.validation_ok:
        return []
    out = []
    for per_slice in result.metric_validations_per_slice:
        for failure in per_slice.failures:
            name = failure.metric_key.name
            value = _value(failure.metric_value)
            shown = "missing" if value is None else f"{value:.4f}"
            threshold = failure.metric_threshold
            if threshold.HasField("value_threshold"):
                bound = threshold.value_threshold
                if bound.HasField("lower_bound"):
                    out.append(f"{name} {shown} is below the threshold "
                               f"{bound.lower_bound.value:g}")
                    continue
                if bound.HasField("upper_bound"):
                    out.append(f"{name} {shown} is above the threshold "
                               f"{bound.upper_bound.value:g}")
                    continue
            if threshold.HasField("change_threshold"):
                change = threshold.change_threshold
                limit = change.absolute.value if change.HasField("absolute") else None
                out.append(f"{name} changed by {shown} against the served baseline"
                           + (f" (allowed: {limit:g})" if limit is not None else ""))
                continue
            out.append(failure.message or f"{name} {shown} failed its threshold")
    if not out and (result.missing_slices or result.missing_thresholds):
        out.append("the Evaluator found no examples to compute its metrics on")
    return out


OVERALL = "Overall"  # the whole eval split, as the dashboard names it
Sliced = dict[str, dict[str, float]]


def slice_name(slice_key: Any) -> str:
    """"Overall", "Male:1", "age_band:30-39": a TFMA slice key (tuple of (column, value))."""
    parts = [f"{k}:{v.decode() if isinstance(v, bytes) else v}" for k, v in slice_key]
    return ",".join(parts) or OVERALL


def simple_model_failures(result: Any, candidate: Sliced, simple: Sliced) -> list[str]:
    """Why the simple-model Evaluator did not bless: one sentence per failed slice, naming the
    metric, the slice, the candidate's and the simple model's values and the margin.

    ``result`` is TFMA's ``ValidationResult`` of the simple-model Evaluator (the candidate
    against the simple model as its baseline); ``candidate`` / ``simple``: slice name ->
    metric -> value, as ``runs.evaluation_metrics`` reads them (overall under "Overall").
    """
    from tensorflow_model_analysis.slicer import slicer_lib

    out: list[tuple[str, str]] = []  # (slice, sentence): overall first, then by slice name
    for per_slice in result.metric_validations_per_slice:
        where = slice_name(slicer_lib.deserialize_slice_key(per_slice.slice_key))
        for failure in per_slice.failures:
            name = failure.metric_key.name
            change = failure.metric_threshold.change_threshold
            margin = -change.absolute.value if change.HasField("absolute") else None
            ours = (candidate.get(where) or {}).get(name)
            theirs = (simple.get(where) or {}).get(name)
            diff = _value(failure.metric_value)
            if diff is None and ours is not None and theirs is not None:
                diff = ours - theirs
            on = "overall" if where == OVERALL else f"on slice {where}"
            if ours is None or theirs is None or diff is None:
                out.append((where, f"{name} {on}: {failure.message or 'no value'} (against "
                                   "the simple model)"))
                continue
            allowed = "" if margin is None else f" (margin {margin:g})"
            out.append((where, f"{name} {on}: the candidate's {ours:.4f} is {-diff:.4f} below "
                               f"the simple model's {theirs:.4f}{allowed}"))
    return [text for _where, text in sorted(out, key=lambda o: (o[0] != OVERALL, o[0]))]


def simple_model_margin(evaluation_uri: str) -> float | None:
    """The AUC margin the simple-model Evaluator judged with, from TFMA's eval_config.json."""
    import json

    import tensorflow as tf

    path = f"{evaluation_uri.rstrip('/')}/eval_config.json"
    try:
        with tf.io.gfile.GFile(path) as f:
            config = json.loads(f.read()).get("evalConfig") or {}
    except (OSError, ValueError, tf.errors.OpError):
        return None
    for spec in config.get("metricsSpecs") or []:
        for metric in spec.get("metrics") or []:
            if metric.get("className") != "AUC":
                continue
            # The threshold of the whole eval set (per_slice_thresholds with an empty slicing
            # spec, as pipelines.pipeline.simple_eval_config writes it), or a plain threshold.
            thresholds = [t.get("threshold") or {} for t in metric.get("perSliceThresholds") or []
                          if any(not s for s in t.get("slicingSpecs") or [])]
            thresholds.append(metric.get("threshold") or {})
            for threshold in thresholds:
                change = threshold.get("changeThreshold")
                if change is not None:
                    return -float(change.get("absolute", 0.0))
    return None


def simple_model_comparison(evaluation_uri: str, candidate: Sliced, simple: Sliced
                            ) -> dict[str, Any]:
    """The candidate against the simple model per slice, and why it failed (if it did)."""
    import tensorflow as tf
    import tensorflow_model_analysis as tfma

    slices = {}
    for where, values in sorted(candidate.items(), key=lambda kv: (kv[0] != OVERALL, kv[0])):
        ours, theirs = values.get("auc"), (simple.get(where) or {}).get("auc")
        slices[where] = {"candidate_auc": ours, "simple_auc": theirs,
                         "auc_change": None if ours is None or theirs is None
                         else round(ours - theirs, 6),
                         "examples": values.get("example_count")}
    failures: list[str] = []
    if tf.io.gfile.glob(f"{evaluation_uri.rstrip('/')}/validations*"):
        result = tfma.load_validation_result(evaluation_uri)
        if not result.validation_ok:
            failures = simple_model_failures(result, candidate, simple) or [
                "the simple-model Evaluator found no examples to compare the models on"]
    return {"margin": simple_model_margin(evaluation_uri), "slices": slices,
            "not_blessed_because": failures}
