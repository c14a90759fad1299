"""A whole monitoring run against an ML Metadata store laid out as TFX records a run."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from pipelines.common import request_log
from pipelines.data import drift as dd
from pipelines.metadata.store import open_store
from pipelines.monitoring import lineage, monitor, policy, statistics
from pipelines.monitoring.config import MonitorConfig, PolicyConfig
from pipelines.testing.traffic import generated, logged_requests

VERSION = 1700000000
T0 = datetime(2026, 3, 1, 10, tzinfo=timezone.utc)
NOW = T0 + timedelta(hours=12)
SCHEMA = Path(__file__).resolve().parents[2] / "schema" / "schema.pbtxt"


def _put(store: Any, type_name: str, uri: str, props: dict[str, Any] | None = None) -> Any:
    from ml_metadata.proto import metadata_store_pb2 as pb

    type_id = store.put_artifact_type(pb.ArtifactType(name=type_name))
    artifact = pb.Artifact(type_id=type_id, uri=uri, state=pb.Artifact.LIVE)
    for key, value in (props or {}).items():
        if isinstance(value, int):
            artifact.custom_properties[key].int_value = value
        else:
            artifact.custom_properties[key].string_value = value
    artifact.id = store.put_artifacts([artifact])[0]
    return artifact


def _execute(store: Any, name: str, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
    from ml_metadata.proto import metadata_store_pb2 as pb

    type_id = store.put_execution_type(pb.ExecutionType(name=name))
    events = []
    for kind, artifacts in ((pb.Event.INPUT, inputs), (pb.Event.OUTPUT, outputs)):
        for key, artifact in artifacts.items():
            event = pb.Event(type=kind)
            event.path.steps.add().key = key
            events.append((artifact, event))
    store.put_execution(pb.Execution(type_id=type_id, last_known_state=pb.Execution.COMPLETE),
                        events, [])


@pytest.fixture(scope="module")
def pipeline_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """metadata.sqlite with ExampleGen -> StatisticsGen, Transform -> Trainer -> Pusher, and
    the StatisticsGen output on disk, as a TFX run leaves them."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb

    root = tmp_path_factory.mktemp("pipeline_root")
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(root / "metadata.sqlite")
    store = metadata_store.MetadataStore(config)
    stats_uri = root / "StatisticsGen" / "statistics" / "3"
    (stats_uri / "Split-train").mkdir(parents=True)
    # StatisticsGen writes a serialized DatasetFeatureStatisticsList per split
    (stats_uri / "Split-train" / statistics.STATS_FILE).write_bytes(
        statistics.table_statistics(generated(3000, 100)).SerializeToString())
    raw = _put(store, "Examples", str(root / "ExampleGen" / "examples" / "1"))
    _execute(store, "ExampleGen", {}, {"examples": raw})
    stats = _put(store, "ExampleStatistics", str(stats_uri))
    _execute(store, "StatisticsGen", {"examples": raw}, {"statistics": stats})
    transformed = _put(store, "Examples", str(root / "Transform" / "transformed_examples" / "6"))
    _execute(store, "Transform", {"examples": raw}, {"transformed_examples": transformed})
    model = _put(store, "Model", str(root / "Trainer" / "model" / "7"))
    _execute(store, "Trainer", {"examples": transformed}, {"model": model})
    pushed = _put(store, "PushedModel", str(root / "Pusher" / "pushed_model" / "10"), {
        "pushed": 1, "pushed_version": str(VERSION),
        "pushed_destination": f"/serving/clickflow/{VERSION}"})
    _execute(store, "Pusher", {"model": model}, {"pushed_model": pushed})
    from ml_metadata.proto import metadata_store_pb2

    store.put_context_type(metadata_store_pb2.ContextType(name="pipeline"))
    return root


def _settings(tmp_path: Path, pipeline_root: Path, **kw: Any) -> monitor.MonitorSettings:
    cfg = MonitorConfig(policy=PolicyConfig(min_requests=1000, min_labelled=500))
    values = {"log_dir": tmp_path / "log", "labels_dir": tmp_path / "labels",
              "window": monitor.Window(T0, T0 + timedelta(hours=1)),
              "out_dir": tmp_path / "out", "pipeline_root": pipeline_root,
              "schema_path": SCHEMA, "config": cfg, **kw}
    return monitor.MonitorSettings(**values)


def _serve(tmp_path: Path, rows: pa.Table, start: datetime, prefix: str, files: int = 2,
           label_rows: int | None = None) -> pa.Table:
    log, labels = logged_requests(rows, version=VERSION, start=start, seconds=3500,
                                  id_prefix=prefix)
    per = -(-log.num_rows // files)
    for i in range(files):
        request_log.write_request_log_file(tmp_path / "log", log.slice(i * per, per),
                                           seq=len(prefix) * 100 + i)
    request_log.write_labels_file(tmp_path / "labels", labels.slice(0, label_rows), prefix)
    return log


def test_drifted_window_is_judged_recorded_and_breaches(tmp_path: Path,
                                                        pipeline_root: Path) -> None:
    _serve(tmp_path, generated(2000, 1), T0 - timedelta(hours=1), "p")
    log = _serve(tmp_path, generated(2000, 2, dd.DRIFT_PRESETS["both"]), T0, "c", files=3)
    # the same file delivered twice, and a corrupt file: counted once, reported
    day = tmp_path / "log" / f"date={T0:%Y-%m-%d}"
    first = sorted(day.glob(f"part-{T0:%H%M%S}-*.parquet"))[0]
    (day / "part-235959-1-9.parquet").write_bytes(first.read_bytes())
    (day / "part-235959-1-8.parquet").write_bytes(first.read_bytes()[:100])

    outcome = monitor.run_monitor(_settings(tmp_path, pipeline_root), now=NOW)
    report = json.loads((outcome.report_dir / monitor.REPORT_FILE).read_text())
    assert report["request_log"]["requests"] == log.num_rows
    assert report["request_log"]["duplicates"] == -(-log.num_rows // 3)
    assert len(report["request_log"]["problems"]) == 1
    assert "part-235959-1-8.parquet: unreadable" in report["request_log"]["problems"][0]
    version = report["versions"][str(VERSION)]
    assert version["lineage"]["train_statistics_uri"].endswith("StatisticsGen/statistics/3")
    assert {n for n, m in version["skew"].items() if m["breached"]} == {
        "Age", "DailyTimeSpentOnSite", "Male", "Country"}
    assert {n for n, m in report["drift"].items() if m["breached"]} == {
        "Age", "DailyTimeSpentOnSite", "Male", "Country"}
    assert version["live"]["labelled"] == 2000
    assert version["live"]["auc"] < 0.8  # the click mechanism changed under the model
    assert report["decision"]["action"] == policy.RETRAIN
    assert set(report["decision"]["breached"]) == {"skew", "drift", "live_auc_min"}
    for name in ("anomalies.pbtxt", "schema_with_thresholds.pbtxt", "reliability.svg",
                 "skew_drift.svg"):
        assert (outcome.report_dir / name).stat().st_size > 0
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    anomalies = text_format.Parse((outcome.report_dir / "anomalies.pbtxt").read_text(),
                                  anomalies_pb2.Anomalies())
    assert f"skew/v{VERSION}/Age" in anomalies.anomaly_info
    assert "drift/Age" in anomalies.anomaly_info

    store = open_store(pipeline_root / "metadata.sqlite")
    execution_id = report["metadata"]["execution_id"]
    events = store.get_events_by_execution_ids([execution_id])
    inputs = store.get_artifacts_by_id([e.artifact_id for e in events if e.type == e.INPUT])
    assert {a.type for a in inputs} == {"PushedModel", "Model"}
    [artifact] = store.get_artifacts_by_id([report["metadata"]["artifact_id"]])
    assert artifact.type == "MonitoringReport" and artifact.uri == str(outcome.report_dir)
    assert artifact.properties["breached"].int_value == 1
    assert [c.name for c in store.get_contexts_by_artifact(artifact.id)] == [
        "clickflow.monitoring"]


def test_calm_window_with_pending_labels(tmp_path: Path, pipeline_root: Path) -> None:
    _serve(tmp_path, generated(1500, 3), T0 - timedelta(hours=1), "p")
    _serve(tmp_path, generated(1500, 4), T0, "c", label_rows=600)
    outcome = monitor.run_monitor(_settings(tmp_path, pipeline_root, record_metadata=False),
                                  now=NOW)
    report = outcome.report
    assert report["labels"]["labelled"] == 600 and report["labels"]["pending"] == 900
    assert report["labels"]["orphan_labels"] == 1500  # the previous window's labels
    assert outcome.decision.action == policy.NO_ACTION, outcome.decision.reasons
    assert report["versions"][str(VERSION)]["live"]["auc"] > 0.85
    assert report["metadata"] is None


def test_empty_window_is_not_enough_data(tmp_path: Path, pipeline_root: Path) -> None:
    outcome = monitor.run_monitor(_settings(tmp_path, pipeline_root), now=NOW)
    assert outcome.decision.action == policy.NOT_ENOUGH_DATA
    assert outcome.report["status"] == "not enough data"
    assert outcome.report["request_log"]["requests"] == 0
    assert (outcome.report_dir / monitor.REPORT_FILE).is_file()


def test_unknown_version_reports_skew_unavailable(tmp_path: Path, pipeline_root: Path) -> None:
    log, _ = logged_requests(generated(50, 5), version=42, start=T0, seconds=60, id_prefix="u")
    request_log.write_request_log_file(tmp_path / "log", log)
    outcome = monitor.run_monitor(_settings(tmp_path, pipeline_root, record_metadata=False),
                                  now=NOW)
    assert "no PushedModel with pushed_version 42" in (
        outcome.report["versions"]["42"]["skew_unavailable"])


def test_without_metadata_skew_is_measured_against_the_pushed_versions_statistics(
        tmp_path: Path, pipeline_root: Path) -> None:
    """The CronJob in the cloud has no ML Metadata: the pushed version carries its train
    split's statistics (the model card step copies them, names.TRAINING_STATISTICS_DIR), and
    skew is the same as against ML Metadata's StatisticsGen output."""
    from pipelines.common import names

    _serve(tmp_path, generated(2000, 2, dd.DRIFT_PRESETS["both"]), T0, "c")
    with_metadata = monitor.run_monitor(
        _settings(tmp_path, pipeline_root, record_metadata=False), now=NOW).report
    serving = tmp_path / "serving"
    no_metadata = tmp_path / "no_metadata"  # a pipeline root without metadata.sqlite
    no_metadata.mkdir()
    bare = monitor.run_monitor(_settings(tmp_path, no_metadata, record_metadata=False,
                                         serving_model_dir=serving, out_dir=tmp_path / "o1"),
                               now=NOW).report["versions"][str(VERSION)]
    assert bare["skew"] == {}
    assert f"{serving}/{VERSION}/{names.TRAINING_STATISTICS_DIR}/FeatureStats.pb" in (
        bare["skew_unavailable"])
    carried = serving / str(VERSION) / names.TRAINING_STATISTICS_DIR
    carried.mkdir(parents=True)
    source = pipeline_root / "StatisticsGen" / "statistics" / "3" / "Split-train"
    (carried / names.STATISTICS_FILE).write_bytes(
        (source / names.STATISTICS_FILE).read_bytes())
    found = monitor.run_monitor(_settings(tmp_path, no_metadata, record_metadata=False,
                                          serving_model_dir=serving, out_dir=tmp_path / "o2"),
                                now=NOW).report["versions"][str(VERSION)]
    assert found["skew"] == with_metadata["versions"][str(VERSION)]["skew"]
    assert found["skew_statistics"] == str(carried / names.STATISTICS_FILE)
    assert {n for n, m in found["skew"].items() if m["breached"]} == {
        "Age", "DailyTimeSpentOnSite", "Male", "Country"}
    (carried / names.STATISTICS_FILE).write_bytes(b"\xff not a proto")
    broken = monitor.run_monitor(_settings(tmp_path, no_metadata, record_metadata=False,
                                           serving_model_dir=serving, out_dir=tmp_path / "o3"),
                                 now=NOW).report["versions"][str(VERSION)]
    assert "is unreadable" in broken["skew_unavailable"]
    assert "not TFDV statistics" in broken["skew_unavailable"]


def test_trigger_recorded_in_metadata_starts_the_cooldown(tmp_path: Path,
                                                          pipeline_root: Path) -> None:
    store = open_store(pipeline_root / "metadata.sqlite", writable=True)
    lineage.record_report(store, pipeline_name="clickflow", report_uri=str(tmp_path),
                          window={"start": "a", "end": "b"}, signals={}, breached=["drift"],
                          decision={"action": "retrain", "decided_at": (
                              NOW - timedelta(hours=2)).isoformat(), "reasons": []},
                          triggered=True, judged=[])
    _serve(tmp_path, generated(1200, 6, dd.DRIFT_PRESETS["covariate"]), T0, "c")
    outcome = monitor.run_monitor(_settings(tmp_path, pipeline_root, record_metadata=False),
                                  now=NOW)
    assert outcome.decision.action == policy.COOLDOWN
    assert "skew" in outcome.decision.breached


def test_judgment_is_shown_before_the_triggered_run_starts(tmp_path: Path) -> None:
    _serve(tmp_path, generated(1200, 7), T0 - timedelta(hours=1), "p")
    _serve(tmp_path, generated(1200, 8, dd.DRIFT_PRESETS["both"]), T0, "c")
    seen: list[tuple[str, bool, bool]] = []

    def on_judged(report: dict[str, Any], report_dir: Path) -> None:
        seen.append((report["decision"]["action"], report["trigger"] is None,
                     (report_dir / "trigger.log").exists()))

    # "--train-steps 0" makes local_runner.py exit at once with status 2: a real, fast run.
    settings = _settings(tmp_path, tmp_path / "no_store", trigger_mode="local",
                         data_dir=tmp_path / "data", runner_args=("--train-steps", "0"))
    outcome = monitor.run_monitor(settings, now=NOW, on_judged=on_judged)
    assert seen == [(policy.RETRAIN, True, False)]
    assert outcome.report["trigger"]["returncode"] == 2
    assert outcome.report["trigger"]["span_rows"] == 1200
    assert "--train-steps" in (outcome.report_dir / "trigger.log").read_text()
