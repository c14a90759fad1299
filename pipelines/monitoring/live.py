"""Delayed ground truth joined to logged predictions, and live metrics per model version."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from models import features
from pipelines.common.metrics import roc_auc
from pipelines.common.request_log import TIMESTAMP, utc

RELIABILITY_BINS = 10


@dataclasses.dataclass(frozen=True)
class Deduped:
    table: pa.Table
    duplicates: int  # records dropped because their request_id was seen already


def dedupe_requests(table: pa.Table) -> Deduped:
    """One record per request_id (the earliest logged), so a record read twice counts once."""
    if table.num_rows == 0:
        return Deduped(table, 0)
    indexed = table.append_column("__row", pa.array(np.arange(table.num_rows)))
    ordered = indexed.sort_by([("request_id", "ascending"), ("logged_at", "ascending"),
                               ("__row", "ascending")])
    first = _first_of_runs(ordered["request_id"])
    kept = ordered.filter(first).sort_by("__row").drop(["__row"])
    return Deduped(kept, table.num_rows - kept.num_rows)


def _first_of_runs(ids: pa.ChunkedArray) -> pa.Array:
    """True where a sorted id column starts a new run of equal ids."""
    values = ids.combine_chunks()
    if len(values) == 0:
        return pa.array([], pa.bool_())
    previous = pa.concat_arrays([pa.array([None], values.type), values.slice(0, len(values) - 1)])
    return pc.fill_null(pc.not_equal(values, previous), True)


@dataclasses.dataclass(frozen=True)
class JoinResult:
    """Logged predictions with their label (null while pending) and what the join found."""

    table: pa.Table  # request-log columns + ClickedOnAd (int64, null = pending)
    labelled: int
    pending: int  # predictions with no label (yet)
    orphan_labels: int  # labels whose request_id has no prediction in this window
    duplicate_labels: int  # extra labels for one request_id (the latest labelled_at wins)
    late_labels: int  # labels stamped after the cutoff: not arrived yet as of this report
    labels_before_prediction: int  # labelled_at earlier than logged_at: impossible, dropped

    def counts(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in ("labelled", "pending", "orphan_labels",
                                              "duplicate_labels", "late_labels",
                                              "labels_before_prediction")}


def join_labels(requests: pa.Table, labels: pa.Table, cutoff: datetime) -> JoinResult:
    """Attach each deduplicated request's label; labels after ``cutoff`` do not count yet."""
    cutoff_scalar = pa.scalar(utc(cutoff), TIMESTAMP)
    on_time = pc.less_equal(labels["labelled_at"], cutoff_scalar)
    late = labels.num_rows - (pc.sum(on_time).as_py() or 0)
    labels = labels.filter(on_time)
    indexed = labels.append_column("__row", pa.array(np.arange(labels.num_rows)))
    ordered = indexed.sort_by([("request_id", "ascending"), ("labelled_at", "descending"),
                               ("__row", "descending")])
    latest = ordered.filter(_first_of_runs(ordered["request_id"])).drop(["__row"])
    duplicates = labels.num_rows - latest.num_rows
    ids = requests["request_id"]
    orphans = int(pc.sum(pc.invert(pc.is_in(latest["request_id"], value_set=ids.combine_chunks()
                                            if ids.num_chunks else pa.array([], pa.string()))))
                  .as_py() or 0)
    position = pc.index_in(ids, value_set=latest["request_id"].combine_chunks()
                           if latest.num_rows else pa.array([], pa.string()))
    label = pc.take(latest[features.LABEL_KEY], position)
    labelled_at = pc.take(latest["labelled_at"], position)
    impossible = pc.fill_null(pc.less(labelled_at, requests["logged_at"]), False)
    n_impossible = int(pc.sum(impossible).as_py() or 0)
    label = pc.if_else(impossible, pa.scalar(None, pa.int64()), label)
    table = requests.append_column(features.LABEL_KEY, label)
    labelled = table.num_rows - table[features.LABEL_KEY].null_count
    return JoinResult(table, labelled, table.num_rows - labelled, orphans, duplicates, late,
                      n_impossible)


def live_metrics(probability: np.ndarray, label: np.ndarray) -> dict[str, Any]:
    """AUC, accuracy at 0.5, calibration (mean prediction / mean label), log loss and a
    reliability curve of labelled predictions. AUC is None (with a note) for one class."""
    p = np.asarray(probability, dtype=np.float64)
    y = np.asarray(label, dtype=np.int64)
    out: dict[str, Any] = {"labelled": int(y.size)}
    if y.size == 0:
        return {**out, "auc": None, "accuracy": None, "calibration": None, "log_loss": None,
                "mean_prediction": None, "mean_label": None, "reliability": [],
                "note": "no labelled predictions"}
    mean_label, mean_prediction = float(y.mean()), float(p.mean())
    clipped = np.clip(p, 1e-7, 1 - 1e-7)
    out.update({
        "accuracy": float(np.mean((p >= 0.5) == (y == 1))),
        "mean_prediction": mean_prediction,
        "mean_label": mean_label,
        "calibration": mean_prediction / mean_label if mean_label > 0 else None,
        "log_loss": float(-np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))),
        "reliability": reliability_curve(p, y),
    })
    try:
        out["auc"] = roc_auc(y, p)
    except ValueError as err:
        out["auc"], out["note"] = None, str(err)
    return out


def reliability_curve(p: np.ndarray, y: np.ndarray, bins: int = RELIABILITY_BINS
                      ) -> list[dict[str, float]]:
    """Per equal-width probability bin: its range, count, mean prediction, fraction clicked."""
    index = np.minimum((p * bins).astype(np.int64), bins - 1)
    counts = np.bincount(index, minlength=bins)
    pred_sum = np.bincount(index, weights=p, minlength=bins)
    label_sum = np.bincount(index, weights=y, minlength=bins)
    return [{"low": i / bins, "high": (i + 1) / bins, "count": int(counts[i]),
             "mean_prediction": float(pred_sum[i] / counts[i]),
             "fraction_clicked": float(label_sum[i] / counts[i])}
            for i in range(bins) if counts[i]]


def metrics_by_version(joined: pa.Table) -> dict[int, dict[str, Any]]:
    """live_metrics of each model version's labelled predictions, plus its request count."""
    out = {}
    versions = joined["model_version"].to_numpy()
    probability = joined["probability"].to_numpy()
    label_column = joined[features.LABEL_KEY]
    has_label = pc.is_valid(label_column).to_numpy()
    label = pc.fill_null(label_column, 0).to_numpy()
    for version in np.unique(versions):
        rows = versions == version
        mask = rows & has_label
        metrics = live_metrics(probability[mask], label[mask])
        out[int(version)] = {"requests": int(rows.sum()), **metrics}
    return out
