"""TFDV skew/drift on generated traffic: found on drifted data, quiet on fresh samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipelines.data import drift as dd
from pipelines.data import generator as dg
from pipelines.monitoring import statistics
from pipelines.monitoring.config import DriftThresholds
from pipelines.testing.traffic import generated

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schema" / "schema.pbtxt"
ROWS = 2000


@pytest.fixture(scope="module")
def schema() -> Any:
    return statistics.with_comparators(statistics.load_schema(SCHEMA_PATH), DriftThresholds())


@pytest.fixture(scope="module")
def training() -> Any:
    return statistics.table_statistics(generated(ROWS, 100))


def _breaches(measured: dict[str, statistics.Measurement]) -> set[str]:
    return {name for name, m in measured.items() if m.breached}


def test_comparators_written_into_schema_copy(schema: Any) -> None:
    by_name = {f.name: f for f in schema.feature}
    assert by_name["Country"].drift_comparator.infinity_norm.threshold == 0.05
    assert by_name["Age"].skew_comparator.jensen_shannon_divergence.threshold == 0.05
    assert by_name["Male"].skew_comparator.jensen_shannon_divergence.threshold == 0.01
    assert not by_name["Timestamp"].HasField("drift_comparator")
    assert not by_name["ClickedOnAd"].HasField("skew_comparator")


def test_fresh_samples_raise_no_false_alarms_across_seeds(schema: Any, training: Any) -> None:
    alarms, compared = [], 0
    previous = statistics.table_statistics(generated(ROWS, 0))
    for seed in range(1, 6):
        current = statistics.table_statistics(generated(ROWS, seed, day=dg.span_start(seed)))
        drift, anomalies = statistics.measure_drift(current, previous, schema)
        skew, _ = statistics.measure_skew(training, current, schema)
        assert len(drift) == len(skew) == 8  # every serving feature but Timestamp
        compared += len(drift) + len(skew)
        alarms += [f"seed {seed} drift {n}" for n in _breaches(drift)]
        alarms += [f"seed {seed} skew {n}" for n in _breaches(skew)]
        assert statistics.schema_anomalies(anomalies) == {}
        previous = current
    assert len(alarms) <= 0.02 * compared, alarms


def test_covariate_drift_and_skew_are_found(schema: Any, training: Any) -> None:
    fresh = statistics.table_statistics(generated(ROWS, 1))
    drifted = statistics.table_statistics(generated(ROWS, 2, dd.DRIFT_PRESETS["covariate"]))
    drift, _ = statistics.measure_drift(drifted, fresh, schema)
    skew, skew_anomalies = statistics.measure_skew(training, drifted, schema)
    shifted = {"Age", "DailyTimeSpentOnSite", "Male", "Country"}
    assert _breaches(drift) == shifted
    assert _breaches(skew) == shifted
    assert {name for name in skew_anomalies.anomaly_info} == shifted
    assert drift["Country"].measure == "L_INFTY"
    assert drift["Age"].measure == "JENSEN_SHANNON_DIVERGENCE"


def test_concept_drift_alone_leaves_features_unchanged(schema: Any, training: Any) -> None:
    concept = statistics.table_statistics(generated(ROWS, 3, dd.DRIFT_PRESETS["concept"]))
    skew, _ = statistics.measure_skew(training, concept, schema)
    assert _breaches(skew) == set()


def test_out_of_range_serving_values_are_schema_anomalies(schema: Any) -> None:
    import pyarrow as pa

    table = generated(200, 4)
    ages = table["Age"].to_pylist()
    ages[0] = 500
    bad = table.set_column(table.schema.get_field_index("Age"), "Age", pa.array(ages))
    _, anomalies = statistics.measure_drift(statistics.table_statistics(bad), None, schema)
    found = statistics.schema_anomalies(anomalies)
    assert list(found) == ["Age"]


def test_per_version_statistics(schema: Any) -> None:
    import pyarrow as pa

    from pipelines.testing.traffic import logged_requests

    a, _ = logged_requests(generated(300, 1), version=1, start=dg.FIRST_SPAN_DAY, seconds=60,
                           id_prefix="a")
    b, _ = logged_requests(generated(200, 2), version=2, start=dg.FIRST_SPAN_DAY, seconds=60,
                           id_prefix="b")
    window, per_version = statistics.statistics_by_version(pa.concat_tables([a, b]))
    assert window.datasets[0].num_examples == 500
    assert {v: s.datasets[0].num_examples for v, s in per_version.items()} == {1: 300, 2: 200}
