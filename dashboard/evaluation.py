"""A run's TFMA result, read with TFMA: per-model metrics and ROC / precision-recall points.

The slow path (importing TFMA and TensorFlow takes ~20 s on a 2-core machine): the page reads
it only for the one run a user selects, and only when the runner's run_summary.json does not
already hold what it shows (``dashboard.run_metrics``).
"""

from __future__ import annotations

from typing import Any

from dashboard import blessing
from pipelines.metadata import runs as run_summary

SLICE_METRICS = ("auc", "auc_precision_recall", "binary_accuracy", "example_count")


def models(evaluation_uri: str) -> tuple[str | None, str | None]:
    """(candidate, baseline) model names; (None, None) for a one-model result."""
    return blessing.model_names(blessing.read_eval_config(evaluation_uri))


def metrics(evaluation_uri: str, model_name: str | None = None
            ) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Overall and per-slice metrics of one model (default: the candidate)."""
    if model_name is None:
        model_name = models(evaluation_uri)[0]
    return run_summary.evaluation_metrics(evaluation_uri, slice_metric_names=SLICE_METRICS,
                                          model_name=model_name)


def baseline_metrics(evaluation_uri: str
                     ) -> tuple[dict[str, float], dict[str, dict[str, float]]] | None:
    """The served baseline's metrics on the same rows; None when there was no baseline."""
    baseline = models(evaluation_uri)[1]
    return None if baseline is None else metrics(evaluation_uri, baseline)


def curves(evaluation_uri: str) -> list[dict[str, Any]]:
    """ROC and precision-recall points of every slice and model, from TFMA's confusion-matrix
    plot; ``model`` is "candidate" or "baseline".

    With two models TFMA keys each slice's plots by model name, and ``load_eval_result``
    without a name returns none of them (``tensorflow_model_analysis/view/util.py``,
    ``convert_plots_proto_to_dict``: "Fail to find plots for model name"): each model is
    loaded by name (a one-model result has no names: loaded without one).
    """
    import tensorflow_model_analysis as tfma

    candidate, baseline = models(evaluation_uri)
    rows = []
    for role, model_name in (("candidate", candidate), ("baseline", baseline)):
        if role == "baseline" and model_name is None:
            continue
        for slice_key, plots in tfma.load_eval_result(evaluation_uri,
                                                      model_name=model_name).plots:
            rows.extend(_curve_points(slice_key, plots, role))
    return rows


def _curve_points(slice_key: Any, plots: dict[str, Any], role: str) -> list[dict[str, Any]]:
    # plots: output name -> sub key -> plot name -> values (one output, no sub key here).
    name = ",".join(f"{k}:{run_summary._text(v)}" for k, v in slice_key) or "Overall"
    values = next(iter((plots or {}).values()), {})
    values = values.get("", values)
    matrices = values.get("confusionMatrixAtThresholds", {}).get("matrices", [])
    return [{"slice": name, "model": role, "threshold": _float(m.get("threshold", 0.0)),
             "false_positive_rate": _float(m.get("falsePositiveRate", 0.0)),
             "recall": _float(m.get("recall", 0.0)),
             "precision": _float(m.get("precision", 1.0))} for m in matrices]


def _float(value: Any) -> float:
    return float(value) if not isinstance(value, str) else float(value.replace("Infinity", "inf"))


