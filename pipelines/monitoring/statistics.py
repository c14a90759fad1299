"""TFDV statistics of served features, and skew/drift measured the way TFDV measures them.

Statistics are computed in process on Arrow record batches with TFDV's own combiners (the
same generators StatisticsGen runs, without Beam), so 1M logged rows take seconds. Skew and
drift come from ``tfdv.validate_statistics`` with comparators written into a copy of the
curated schema: L-infinity distance for string features, Jensen-Shannon divergence for numeric
ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from models import features
from pipelines.common import names, storage
from pipelines.monitoring.config import DriftThresholds

STATS_FILE = names.STATISTICS_FILE
_HIGH = ("COMPARATOR_L_INFTY_HIGH", "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH")
COMPARATOR_REASONS = {"skew": _HIGH, "drift": _HIGH}


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One skew or drift measurement of one feature, with its threshold."""

    feature: str
    kind: str  # "skew" or "drift"
    measure: str  # "L_INFTY" or "JENSEN_SHANNON_DIVERGENCE"
    value: float
    threshold: float

    @property
    def breached(self) -> bool:
        return self.value > self.threshold

    def as_dict(self) -> dict[str, Any]:
        return {"measure": self.measure, "value": round(self.value, 6),
                "threshold": self.threshold, "breached": self.breached}


class StatsAccumulator:
    """TFDV's in-memory statistics combiners, fed batch by batch. ``statistics()`` finalizes
    the quantile sketches: call it once."""

    def __init__(self) -> None:
        import tensorflow_data_validation as tfdv
        from tensorflow_data_validation.statistics import stats_impl

        self._generators = stats_impl.get_generators(tfdv.StatsOptions(), in_memory=True)
        self._accumulators = [g.create_accumulator() for g in self._generators]
        self.rows = 0

    def add(self, batch: pa.RecordBatch) -> None:
        from tfx_bsl.arrow import table_util

        if not batch.num_rows:
            return
        canonical = table_util.CanonicalizeRecordBatch(batch)
        self._accumulators = [g.add_input(a, canonical)
                              for g, a in zip(self._generators, self._accumulators, strict=True)]
        self.rows += batch.num_rows

    def statistics(self) -> Any:
        """The DatasetFeatureStatisticsList of everything added."""
        from tensorflow_data_validation.statistics import stats_impl

        return stats_impl.extract_statistics_output(
            [g.compact(a) for g, a in zip(self._generators, self._accumulators, strict=True)],
            self._generators)


def feature_batches(table: pa.Table, max_rows: int = 250_000) -> Iterable[pa.RecordBatch]:
    """The serving-feature columns of ``table`` as record batches (nulls stay missing values)."""
    selected = table.select(list(features.SERVING_FEATURES))
    yield from selected.combine_chunks().to_batches(max_chunksize=max_rows)


def statistics_by_version(table: pa.Table) -> tuple[Any, dict[int, Any]]:
    """Statistics of the whole window and of each model version's rows. With one version (the
    usual case) they are the same statistics, computed once."""
    import pyarrow.compute as pc

    versions = sorted(v for v in pc.unique(table["model_version"]).to_pylist() if v is not None)
    per_version = {v: table_statistics(table.filter(pc.equal(table["model_version"], v)))
                   for v in versions}
    if len(per_version) == 1:
        return next(iter(per_version.values())), per_version
    return table_statistics(table), per_version


def table_statistics(table: pa.Table) -> Any:
    accumulator = StatsAccumulator()
    for batch in feature_batches(table):
        accumulator.add(batch)
    return accumulator.statistics()


def load_statistics(stats_dir: str | Path, split: str = "train") -> Any:
    """A StatisticsGen output's split statistics (``<uri>/Split-<split>/FeatureStats.pb``)."""
    path = Path(stats_dir) / f"Split-{split}" / STATS_FILE
    if not path.is_file():
        path = Path(stats_dir) / STATS_FILE if (Path(stats_dir) / STATS_FILE).is_file() else path
    if not path.is_file():
        raise FileNotFoundError(f"no statistics file {path}")
    return load_statistics_file(path)


def load_statistics_file(where: storage.Location) -> Any:
    """A ``FeatureStats.pb`` (DatasetFeatureStatisticsList) from a local path or gs://, as
    ``tfdv.load_stats_binary`` reads it; ``ValueError`` naming the file if it is not one."""
    from google.protobuf.message import DecodeError
    from tensorflow_metadata.proto.v0 import statistics_pb2

    data = storage.read_bytes(where)
    try:
        return statistics_pb2.DatasetFeatureStatisticsList.FromString(data)
    except DecodeError as err:
        raise ValueError(f"{where}: not TFDV statistics (FeatureStats.pb): {err}") from None


def load_schema(path: str | Path) -> Any:
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    try:
        return text_format.Parse(Path(path).read_text(), schema_pb2.Schema())
    except (OSError, text_format.ParseError) as err:
        raise ValueError(f"schema {path}: cannot read a TFDV schema ({err})") from None


def with_comparators(schema: Any, thresholds: DriftThresholds) -> Any:
    """A copy of ``schema`` whose compared features carry skew and drift comparators."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    out = schema_pb2.Schema()
    out.CopyFrom(schema)
    for feature in out.feature:
        if feature.name not in features.SERVING_FEATURES:
            continue
        threshold = thresholds.for_feature(feature.name, is_string=feature.type == schema_pb2.BYTES)
        if threshold is None:
            continue
        for comparator in (feature.skew_comparator, feature.drift_comparator):
            if feature.type == schema_pb2.BYTES:
                comparator.infinity_norm.threshold = threshold
            else:
                comparator.jensen_shannon_divergence.threshold = threshold
    return out


def _measurements(anomalies: Any, schema: Any, kind: str) -> dict[str, Measurement]:
    thresholds = {}
    for feature in schema.feature:
        comparator = feature.skew_comparator if kind == "skew" else feature.drift_comparator
        if comparator.HasField("infinity_norm"):
            thresholds[feature.name] = comparator.infinity_norm.threshold
        elif comparator.HasField("jensen_shannon_divergence"):
            thresholds[feature.name] = comparator.jensen_shannon_divergence.threshold
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    names = anomalies_pb2.DriftSkewInfo.Measurement.Type.Name
    out = {}
    for info in anomalies.drift_skew_info:
        name = ".".join(info.path.step)
        measurements = info.skew_measurements if kind == "skew" else info.drift_measurements
        for m in measurements:
            if name in thresholds:
                out[name] = Measurement(name, kind, names(m.type), float(m.value),
                                        thresholds[name])
    return out


def measure_skew(training: Any, serving: Any, schema: Any) -> tuple[dict[str, Measurement], Any]:
    """Skew of ``serving`` statistics against ``training`` ones, and TFDV's anomalies proto
    restricted to skew findings (the training data was validated by the pipeline already)."""
    import tensorflow_data_validation as tfdv

    anomalies = tfdv.validate_statistics(training, schema, environment="TRAINING",
                                         serving_statistics=serving)
    return _measurements(anomalies, schema, "skew"), _only_comparators(anomalies, "skew")


def measure_drift(current: Any, previous: Any | None, schema: Any
                  ) -> tuple[dict[str, Measurement], Any]:
    """Drift of ``current`` against ``previous`` window statistics, and the anomalies of the
    current window against the schema in the SERVING environment (ranges, domains, presence)."""
    import tensorflow_data_validation as tfdv

    anomalies = tfdv.validate_statistics(current, schema, environment="SERVING",
                                         previous_statistics=previous)
    return _measurements(anomalies, schema, "drift") if previous is not None else {}, anomalies


def _only_comparators(anomalies: Any, kind: str) -> Any:
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    out = anomalies_pb2.Anomalies()
    out.CopyFrom(anomalies)
    wanted = {anomalies_pb2.AnomalyInfo.Type.Value(r) for r in COMPARATOR_REASONS[kind]}
    for name in list(out.anomaly_info):
        info = out.anomaly_info[name]
        if not any(reason.type in wanted for reason in info.reason):
            del out.anomaly_info[name]
    return out


def schema_anomalies(anomalies: Any) -> dict[str, list[str]]:
    """feature -> descriptions of its non-comparator anomalies (range, domain, presence)."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    comparator = {anomalies_pb2.AnomalyInfo.Type.Value(r) for r in COMPARATOR_REASONS["drift"]}
    out: dict[str, list[str]] = {}
    for name, info in sorted(anomalies.anomaly_info.items()):
        reasons = [r.description for r in info.reason if r.type not in comparator]
        if reasons:
            out[name] = reasons
    return out


def merge_anomalies(parts: Mapping[str, Any]) -> Any:
    """One Anomalies proto of several (feature keys prefixed with the part name)."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    out = anomalies_pb2.Anomalies()
    for prefix, anomalies in parts.items():
        if not out.HasField("baseline"):
            out.baseline.CopyFrom(anomalies.baseline)
        for name, info in anomalies.anomaly_info.items():
            out.anomaly_info[f"{prefix}/{name}"].CopyFrom(info)
        out.drift_skew_info.extend(anomalies.drift_skew_info)
    return out
