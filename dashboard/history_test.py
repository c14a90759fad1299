"""Model history readers: empty and missing stores, run summaries, statistics and anomalies.

A store with real runs comes from the pipeline itself (``pipeline_root`` fixture, e2e).
"""

import json
import time
from datetime import datetime

import pytest
from tensorflow_metadata.proto.v0 import anomalies_pb2, statistics_pb2

from dashboard import history


def test_a_missing_store_is_history_unavailable(tmp_path):
    with pytest.raises(history.HistoryUnavailable, match=r"no ML Metadata store at .*meta.sqlite"):
        history.list_runs(tmp_path / "meta.sqlite", "clickflow")


def test_an_empty_store_has_no_runs(empty_store):
    assert history.list_runs(empty_store, "clickflow") == []


def test_a_file_that_is_not_sqlite_is_a_readable_error(tmp_path):
    path = tmp_path / "metadata.sqlite"
    path.write_text("not a database")
    with pytest.raises(history.HistoryUnavailable, match="cannot open the ML Metadata store"):
        history.list_runs(path, "clickflow")


def _summary(started: datetime, wall: float, **extra):
    run_id = started.strftime("%Y%m%d-%H%M%S") + "-123"
    return {"run_id": run_id, "wall_seconds": wall, **extra}


def test_a_run_is_matched_to_the_invocation_it_started_in():
    first = _summary(datetime(2026, 1, 1, 9, 0, 0), 60, data={"spans": ["span-00001"]})
    second = _summary(datetime(2026, 1, 1, 9, 5, 0), 60, data={"spans": ["span-00002"]})
    start = time.mktime(datetime(2026, 1, 1, 9, 5, 1).timetuple())
    assert history.match_summary(start, [first, second]) is second
    start = time.mktime(datetime(2026, 1, 1, 9, 0, 30).timetuple())
    assert history.match_summary(start, [first, second]) is first
    later = time.mktime(datetime(2026, 1, 1, 10, 0, 0).timetuple())
    assert history.match_summary(later, [first, second]) is None
    assert history.match_summary(start, [{"run_id": "garbage"}]) is None


def test_summaries_skip_up_to_date_and_broken_files(tmp_path):
    runs = tmp_path / "runs"
    for name, text in [("a", json.dumps({"run_id": "a"})),
                       ("b", json.dumps({"run_id": "b", "up_to_date": True})),
                       ("c", "{broken")]:
        (runs / name).mkdir(parents=True)
        (runs / name / "run_summary.json").write_text(text)
    assert history.read_summaries(tmp_path) == [{"run_id": "a"}]


def _write_split(uri, split, name, proto):
    folder = uri / f"Split-{split}"
    folder.mkdir(parents=True)
    (folder / name).write_bytes(proto.SerializeToString())


def test_statistics_rows_and_histograms(tmp_path):
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    dataset = stats.datasets.add(num_examples=10)
    age = dataset.features.add(type=statistics_pb2.FeatureNameStatistics.INT)
    age.path.step.append("Age")
    age.num_stats.mean, age.num_stats.std_dev, age.num_stats.max = 36.5, 4.0, 61
    age.num_stats.common_stats.num_non_missing, age.num_stats.common_stats.num_missing = 9, 1
    histogram = age.num_stats.histograms.add(type=statistics_pb2.Histogram.STANDARD)
    histogram.buckets.add(low_value=20, high_value=40, sample_count=6)
    histogram.buckets.add(low_value=40, high_value=61, sample_count=3)
    age.num_stats.histograms.add(type=statistics_pb2.Histogram.QUANTILES).buckets.add(
        low_value=0, high_value=1, sample_count=1)
    city = dataset.features.add(type=statistics_pb2.FeatureNameStatistics.STRING)
    city.path.step.append("City")
    city.string_stats.unique = 7
    city.string_stats.top_values.add(value="Oslo", frequency=3)
    city.string_stats.common_stats.num_non_missing = 10
    _write_split(tmp_path, "train", "FeatureStats.pb", stats)

    rows = history.feature_statistics(str(tmp_path))
    assert rows[0] == {"split": "train", "feature": "Age", "type": "INT", "mean": 36.5,
                       "std_dev": 4.0, "min": 0.0, "median": 0.0, "max": 61.0, "zeros": 0,
                       "count": 9, "missing": 1}
    assert rows[1] == {"split": "train", "feature": "City", "type": "STRING", "unique": 7,
                       "top_value": "Oslo", "count": 10, "missing": 0}
    assert history.numeric_histograms(str(tmp_path)) == [
        {"feature": "Age", "low": 20.0, "high": 40.0, "count": 6.0},
        {"feature": "Age", "low": 40.0, "high": 61.0, "count": 3.0}]
    assert history.numeric_histograms(str(tmp_path), split="eval") == []


def test_anomalies_per_split(tmp_path):
    found = anomalies_pb2.Anomalies()
    info = found.anomaly_info["Age"]
    info.severity = anomalies_pb2.AnomalyInfo.ERROR
    info.short_description = "Out-of-range values"
    info.description = "Unexpectedly large value: 500."
    _write_split(tmp_path, "eval", "SchemaDiff.pb", found)
    _write_split(tmp_path, "train", "SchemaDiff.pb", anomalies_pb2.Anomalies())
    assert history.anomalies(str(tmp_path)) == [{
        "split": "eval", "feature": "Age", "severity": "ERROR",
        "short_description": "Out-of-range values",
        "description": "Unexpectedly large value: 500."}]


def test_a_run_named_by_the_runner_is_matched_by_name_never_by_time():
    """Two runs that overlapped in time: each summary names its own MLMD run context."""
    started = datetime(2026, 1, 1, 9, 0, 0)
    first = _summary(started, 600, mlmd_run_context="20260101-090000-1")
    second = _summary(datetime(2026, 1, 1, 9, 1, 0), 600, mlmd_run_context="20260101-090100-2")
    inside_both = time.mktime(datetime(2026, 1, 1, 9, 2, 0).timetuple())
    assert history.match_summary(inside_both, [first, second], "20260101-090000-1") is first
    assert history.match_summary(inside_both, [first, second], "20260101-090100-2") is second
    assert history.match_summary(inside_both, [first, second], "2026-01-01T09:02:00") is None
