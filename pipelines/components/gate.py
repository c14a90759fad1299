"""The data-validation gate: anomalies found by ExampleValidator stop the run before Transform."""


import os

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts

from pipelines.common.errors import ClickflowError

ANOMALIES_FILE = "SchemaDiff.pb"


class DataValidationError(ClickflowError, RuntimeError):
    """The examples break the schema; the message lists each feature and why."""


def read_anomalies(uri: str) -> dict:
    """Split name -> Anomalies proto, from an ExampleAnomalies artifact folder (local or GCS)."""
    import tensorflow as tf

    result = {}
    for path in sorted(tf.io.gfile.glob(os.path.join(uri, "Split-*", ANOMALIES_FILE))):
        anomalies = anomalies_pb2.Anomalies()
        with tf.io.gfile.GFile(path, "rb") as f:
            anomalies.ParseFromString(f.read())
        result[os.path.basename(os.path.dirname(path))[len("Split-"):]] = anomalies
    return result


def describe(anomalies_by_split: dict) -> list:
    """One readable line per anomaly: split, feature, what is wrong."""
    lines = []
    for split, anomalies in anomalies_by_split.items():
        for feature, info in sorted(anomalies.anomaly_info.items()):
            reasons = "; ".join(r.description or r.short_description for r in info.reason)
            lines.append(f"[{split}] {feature}: {reasons or info.description}")
        if anomalies.HasField("dataset_anomaly_info"):
            info = anomalies.dataset_anomaly_info
            reasons = "; ".join(r.description or r.short_description for r in info.reason)
            lines.append(f"[{split}] (dataset): {reasons or info.description}")
    return lines


@component
def AnomaliesGate(
    anomalies: InputArtifact[standard_artifacts.ExampleAnomalies],
    gate_report: OutputArtifact[standard_artifacts.String],
) -> None:
    """Fails the run, naming each feature and reason, when the examples have anomalies."""
    lines = describe(read_anomalies(anomalies.uri))
    report = "\n".join(lines) if lines else "no anomalies"
    gate_report.value = report
    if lines:
        raise DataValidationError(
            "the data breaks the schema (schema/schema.pbtxt):\n  " + "\n  ".join(lines))
