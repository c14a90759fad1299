"""Tests for the data-validation gate: readable anomaly lines, and the component failing the run."""

from __future__ import annotations

from pathlib import Path

import pytest
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.types import standard_artifacts

from pipelines.components import gate

AGE_REASON = "Unexpectedly large value: 500."


def _anomalies(**reasons: str) -> anomalies_pb2.Anomalies:
    anomalies = anomalies_pb2.Anomalies()
    for feature, description in reasons.items():
        info = anomalies.anomaly_info[feature]
        info.description = f"{feature} looks wrong"
        reason = info.reason.add()
        reason.type = anomalies_pb2.AnomalyInfo.INT_TYPE_BIG_INT
        reason.short_description = "Out-of-range values"
        reason.description = description
    return anomalies


def _write(uri: Path, split: str, anomalies: anomalies_pb2.Anomalies) -> None:
    folder = uri / f"Split-{split}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / gate.ANOMALIES_FILE).write_bytes(anomalies.SerializeToString())


def test_read_anomalies_by_split(tmp_path: Path) -> None:
    _write(tmp_path, "train", _anomalies(Age=AGE_REASON))
    _write(tmp_path, "eval", anomalies_pb2.Anomalies())
    (tmp_path / "Split-test").mkdir()  # a split folder without the file is ignored
    result = gate.read_anomalies(str(tmp_path))
    assert sorted(result) == ["eval", "train"]
    assert result["train"] == _anomalies(Age=AGE_REASON)
    assert not result["eval"].anomaly_info


def test_describe_names_split_feature_and_reason(tmp_path: Path) -> None:
    _write(tmp_path, "train", _anomalies(Age=AGE_REASON))
    lines = gate.describe(gate.read_anomalies(str(tmp_path)))
    assert lines == [f"[train] Age: {AGE_REASON}"]


def test_describe_several_features_and_reasons() -> None:
    train = _anomalies(Country="Unexpected string values: Atlantis.", Age=AGE_REASON)
    extra = train.anomaly_info["Age"].reason.add()
    extra.short_description = "Missing values"
    train.dataset_anomaly_info.description = "Low number of examples"
    bare = anomalies_pb2.Anomalies()
    bare.anomaly_info["City"].description = "City has no reason list"
    lines = gate.describe({"train": train, "eval": bare})
    assert lines == [
        f"[train] Age: {AGE_REASON}; Missing values",
        "[train] Country: Unexpected string values: Atlantis.",
        "[train] (dataset): Low number of examples",
        "[eval] City: City has no reason list",
    ]


def test_no_anomalies_gives_no_lines(tmp_path: Path) -> None:
    _write(tmp_path, "train", anomalies_pb2.Anomalies())
    _write(tmp_path, "eval", anomalies_pb2.Anomalies())
    assert gate.describe(gate.read_anomalies(str(tmp_path))) == []
    assert gate.read_anomalies(str(tmp_path / "nowhere")) == {}


def _run_gate(tmp_path: Path) -> standard_artifacts.String:
    anomalies = standard_artifacts.ExampleAnomalies()
    anomalies.uri = str(tmp_path / "anomalies")
    report = standard_artifacts.String()
    report.uri = str(tmp_path / "report" / "value")  # a ValueArtifact's uri is its file
    Path(report.uri).parent.mkdir(parents=True)
    executor = gate.AnomaliesGate.EXECUTOR_SPEC.executor_class()
    executor.Do({"anomalies": [anomalies]}, {"gate_report": [report]}, {})
    return report


def test_gate_component_passes_clean_data(tmp_path: Path) -> None:
    _write(tmp_path / "anomalies", "train", anomalies_pb2.Anomalies())
    report = _run_gate(tmp_path)
    assert report.value == "no anomalies"
    assert (tmp_path / "report" / "value").read_text() == "no anomalies"


def test_gate_component_fails_on_anomalies(tmp_path: Path) -> None:
    _write(tmp_path / "anomalies", "eval", _anomalies(Age=AGE_REASON))
    with pytest.raises(gate.DataValidationError) as err:
        _run_gate(tmp_path)
    message = str(err.value)
    assert "schema/schema.pbtxt" in message
    assert f"[eval] Age: {AGE_REASON}" in message
