"""Label join (missing, duplicate, late, orphan ids) and live metrics."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pytest

from pipelines.common.metrics import roc_auc
from pipelines.common.request_log import LABEL_SCHEMA, TIMESTAMP
from pipelines.monitoring import live
from pipelines.testing.traffic import generated, logged_requests

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


def _labels(rows: list[tuple[str, int, datetime]]) -> pa.Table:
    ids, values, times = zip(*rows, strict=True) if rows else ((), (), ())
    return pa.Table.from_arrays([pa.array(ids, pa.string()), pa.array(values, pa.int64()),
                                 pa.array(times, TIMESTAMP)], schema=LABEL_SCHEMA)


@pytest.fixture
def requests() -> pa.Table:
    log, _ = logged_requests(generated(6, 0), version=1, start=T0, seconds=60, id_prefix="q")
    return log


def test_dedupe_keeps_one_record_per_request_id(requests: pa.Table) -> None:
    doubled = pa.concat_tables([requests, requests.slice(2, 3)])
    result = live.dedupe_requests(doubled)
    assert result.duplicates == 3
    assert result.table["request_id"].to_pylist() == requests["request_id"].to_pylist()


def test_join_counts_missing_duplicate_late_and_orphan_ids(requests: pa.Table) -> None:
    h = timedelta(hours=1)
    labels = _labels([
        ("q0", 1, T0 + h),
        ("q1", 0, T0 + h), ("q1", 1, T0 + 2 * h),  # duplicate: the later label wins
        ("q2", 1, T0 + 30 * h),                       # late: after the cutoff
        ("q3", 1, T0 - h),                            # before the prediction: impossible
        ("zz", 1, T0 + h),                            # orphan: no such request
    ])
    result = live.join_labels(requests, labels, cutoff=T0 + 24 * h)
    got = dict(zip(result.table["request_id"].to_pylist(),
                   result.table["ClickedOnAd"].to_pylist(), strict=True))
    assert got == {"q0": 1, "q1": 1, "q2": None, "q3": None, "q4": None, "q5": None}
    assert result.counts() == {"labelled": 2, "pending": 4, "orphan_labels": 1,
                               "duplicate_labels": 1, "late_labels": 1,
                               "labels_before_prediction": 1}


def test_join_without_labels_leaves_everything_pending(requests: pa.Table) -> None:
    result = live.join_labels(requests, _labels([]), cutoff=T0)
    assert result.labelled == 0 and result.pending == requests.num_rows


def test_live_metrics_match_definitions() -> None:
    rng = np.random.default_rng(0)
    p = rng.random(2000)
    y = (rng.random(2000) < p).astype(np.int64)
    m = live.live_metrics(p, y)
    assert m["auc"] == pytest.approx(roc_auc(y, p))
    assert m["accuracy"] == pytest.approx(np.mean((p >= 0.5) == y))
    assert m["calibration"] == pytest.approx(p.mean() / y.mean())
    assert 0.9 < m["calibration"] < 1.1  # the scores are calibrated by construction
    assert sum(b["count"] for b in m["reliability"]) == 2000
    for b in m["reliability"]:
        assert b["low"] <= b["mean_prediction"] <= b["high"]
        assert abs(b["fraction_clicked"] - b["mean_prediction"]) < 0.1


def test_live_metrics_one_class_and_empty() -> None:
    one = live.live_metrics(np.array([0.2, 0.7]), np.array([1, 1]))
    assert one["auc"] is None and "both classes" in one["note"]
    assert one["accuracy"] == 0.5
    empty = live.live_metrics(np.array([]), np.array([]))
    assert empty["auc"] is None and empty["labelled"] == 0


def test_metrics_by_version_uses_only_labelled_rows() -> None:
    a, la = logged_requests(generated(400, 1), version=1, start=T0, seconds=60, id_prefix="a")
    b, _ = logged_requests(generated(300, 2), version=2, start=T0, seconds=60, id_prefix="b")
    joined = live.join_labels(pa.concat_tables([a, b]), la.slice(0, 100),
                              cutoff=T0 + timedelta(days=1))
    by_version = live.metrics_by_version(joined.table)
    assert by_version[1]["requests"] == 400 and by_version[1]["labelled"] == 100
    assert by_version[2]["requests"] == 300 and by_version[2]["labelled"] == 0
    assert by_version[2]["auc"] is None
