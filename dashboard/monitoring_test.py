"""Monitoring page readers on reports written by the monitor itself.

``write_reports`` runs the real ``pipelines.monitoring.monitor.run_monitor`` over four hourly
windows of a request log written in the server's layout (calm, calm, drifted with a new model
version, drifted again in the cool-down). Its local trigger runs the real ``local_runner.py``
command with ``--help`` added, so the command (and the reason in it) is the monitor's own
while no pipeline runs; what that run would leave behind is written with the local runner's
own ``write_summary`` and ``mark_run``.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from dashboard import monitoring
from pipelines.common import request_log
from pipelines.data import drift as data_drift
from pipelines.local import summary as local
from pipelines.monitoring import monitor
from pipelines.monitoring.config import MonitorConfig, PolicyConfig
from pipelines.testing.traffic import generated, logged_requests

T0 = datetime(2026, 3, 1, 10, tzinfo=timezone.utc)
V1, V2 = 1700000000, 1700003600
SCHEMA = Path(__file__).resolve().parent.parent / "schema" / "schema.pbtxt"
WINDOWS = ("calm", "calm_again", "drifted", "cooldown")


def write_reports(work: Path) -> dict[str, Path]:
    """Four real monitoring reports under ``work/monitoring``; their folders by window name."""
    both = data_drift.DRIFT_PRESETS["both"]
    served = [(0, V1, generated(600, 1), "a"), (1, V1, generated(600, 2), "b"),
              (2, V1, generated(400, 3, both), "c"), (2, V2, generated(400, 4, both), "d"),
              (3, V2, generated(600, 5, both), "e")]
    for seq, (hour, version, rows, prefix) in enumerate(served):
        log, labels = logged_requests(rows, version=version, start=T0 + timedelta(hours=hour),
                                      seconds=3000, id_prefix=prefix)
        request_log.write_request_log_file(work / "log", log, seq=seq)
        request_log.write_labels_file(work / "labels", labels, prefix)
    config = MonitorConfig(policy=PolicyConfig(min_requests=200, min_labelled=200))
    folders = {}
    for hour, name in enumerate(WINDOWS):
        start = T0 + timedelta(hours=hour)
        settings = monitor.MonitorSettings(
            log_dir=work / "log", labels_dir=work / "labels",
            window=monitor.Window(start, start + timedelta(hours=1)),
            out_dir=work / "monitoring", pipeline_root=work / "pipeline_root",
            schema_path=SCHEMA, config=config, record_metadata=False, trigger_mode="local",
            data_dir=work / "data", runner_args=("--help",))
        folders[name] = monitor.run_monitor(settings, now=start + timedelta(hours=2)).report_dir
    return folders


def read(folder: Path) -> dict[str, Any]:
    return json.loads((folder / monitor.REPORT_FILE).read_text())


def trigger_reason(folder: Path) -> str:
    """The --trigger-reason the monitor passed to local_runner.py for this report."""
    command = read(folder)["trigger"]["command"]
    return command[command.index("--trigger-reason") + 1]


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_reports(tmp_path_factory.mktemp("monitor"))


def test_the_real_reports_load_oldest_first_with_their_decisions(reports):
    loaded = monitoring.load_reports(reports["calm"].parent)
    assert loaded.problems == []  # trigger_state.json beside the folders is not a report
    assert [r.folder for r in loaded.reports] == [reports[n].name for n in WINDOWS]
    assert [r.action for r in loaded.reports] == ["none", "none", "retrain", "cooldown"]
    drifted = loaded.reports[2]
    assert drifted.window_start == T0 + timedelta(hours=2)
    assert drifted.window_end == T0 + timedelta(hours=3)
    assert set(drifted.breached) == {"drift", "live_auc_min"}
    assert drifted.requests == 800 and drifted.labelled == 800
    assert drifted.trigger["mode"] == "local" and drifted.trigger["returncode"] == 0
    assert drifted.live_auc_min == 0.75
    assert [r.is_alert for r in loaded.reports] == [False, False, True, True]


def test_measurement_rows_are_the_reports_drift(reports):
    loaded = monitoring.load_reports(reports["calm"].parent)
    rows = monitoring.measurement_rows(loaded.reports)
    by_report: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        assert (row["signal"], row["version"], row["series"]) == ("drift", None, "drift")
        by_report.setdefault(row["report"], {})[row["feature"]] = row
    # the first window has no previous traffic to drift from; skew needs ML Metadata
    assert reports["calm"].name not in by_report
    for name in WINDOWS[1:]:
        drift = read(reports[name])["drift"]
        assert set(by_report[reports[name].name]) == set(drift)
        for feature, m in drift.items():
            row = by_report[reports[name].name][feature]
            assert (row["measure"], row["value"], row["threshold"], row["breached"]) == (
                m["measure"], m["value"], m["threshold"], m["breached"])
            assert row["window_end"] == datetime.fromisoformat(read(reports[name])["window"]
                                                               ["end"])
    assert "Timestamp" not in by_report[reports["drifted"].name]  # never compared
    assert {f for f, r in by_report[reports["drifted"].name].items() if r["breached"]} >= {
        "Age", "DailyTimeSpentOnSite"}
    assert not any(r["breached"] for r in by_report[reports["calm_again"].name].values())


def test_skew_rows_name_the_served_version():
    report = monitoring.parse_report(Path("x") / monitor.REPORT_FILE, {
        "generated_at": "2026-03-01T12:00:00+00:00", "status": "judged",
        "window": {"start": "2026-03-01T10:00:00+00:00", "end": "2026-03-01T11:00:00+00:00"},
        "decision": {"action": "retrain", "breached": ["skew"], "reasons": ["skew"]},
        "drift": {}, "versions": {str(V1): {"skew": {"Age": {
            "measure": "JENSEN_SHANNON_DIVERGENCE", "value": 0.2, "threshold": 0.05,
            "breached": True}}}}})
    (row,) = monitoring.measurement_rows([report])
    assert (row["signal"], row["version"], row["series"], row["feature"]) == (
        "skew", V1, f"skew v{V1}", "Age")
    assert report.is_alert and report.trigger is None and report.requests == 0


def test_live_rows_per_report_and_version(reports):
    loaded = monitoring.load_reports(reports["calm"].parent)
    rows = monitoring.live_rows(loaded.reports)
    assert [(r["report"], r["version"]) for r in rows] == [
        (reports["calm"].name, str(V1)), (reports["calm_again"].name, str(V1)),
        (reports["drifted"].name, str(V1)), (reports["drifted"].name, str(V2)),
        (reports["cooldown"].name, str(V2))]
    for row in rows:
        live = read(reports[next(n for n in WINDOWS if reports[n].name == row["report"])])[
            "versions"][row["version"]]["live"]
        assert row["auc"] == live["auc"] and row["accuracy"] == live["accuracy"]
        assert row["calibration"] == live["calibration"]
        assert row["labelled"] == live["labelled"] and row["requests"] == live["requests"]
    calm, _, old, new, _ = rows
    assert calm["auc"] > 0.85 and new["auc"] < 0.75  # the click mechanism changed
    assert (old["labelled"], new["labelled"]) == (400, 400)
    assert new["judged"] and not old["judged"]  # the newest version with enough labels


def test_the_monitors_trigger_reason_names_its_report(reports):
    reason = trigger_reason(reports["drifted"])
    assert reason.startswith("monitor: ")
    assert monitoring.report_folder_of(reason) == reports["drifted"].name
    assert monitoring.report_folder_of(
        "monitor: drift (report workspace/monitoring/20260301T130000Z-1)") == \
        "20260301T130000Z-1"
    for other in (None, "", "manual retrain", "monitor: drift (report x) and more"):
        assert monitoring.report_folder_of(other) is None


def _summary(reason: str, run_id: str, **extra: Any) -> dict[str, Any]:
    return {"run_id": run_id, "trigger_reason": reason, "up_to_date": False,
            "status": "succeeded", "blessed": True, "metrics": {"auc": 0.9312},
            "pushed_model": f"/serving/clickflow/{V2 + 3600}", **extra}


def test_an_alert_is_linked_to_the_run_its_trigger_started(reports, tmp_path):
    root = tmp_path / "pipeline_root"
    local.write_summary(root, _summary(trigger_reason(reports["drifted"]), "20260301-150100-7"))
    local.write_summary(root, {"run_id": "20260301-090000-3", "status": "succeeded"})
    runs, problems = monitoring.retraining_runs(root, "clickflow")
    assert problems == []
    (run,) = runs  # the run without a trigger reason is not a retraining run
    assert (run.run_id, run.report_folder, run.started) == (
        "20260301-150100-7", reports["drifted"].name, datetime(2026, 3, 1, 15, 1))
    alerts = monitoring.alert_rows(monitoring.load_reports(reports["calm"].parent).reports,
                                   runs)
    assert [a["report"] for a in alerts] == [reports["cooldown"].name, reports["drifted"].name]
    cooldown, drifted = alerts
    assert drifted["decision"] == "retrain" and drifted["breached"] == "drift, live_auc_min"
    assert "live AUC" in drifted["reasons"] and drifted["triggered"] == "local (exit 0)"
    assert (drifted["retraining run"], drifted["run status"], drifted["blessed"],
            drifted["pushed version"], drifted["eval AUC"]) == (
        "20260301-150100-7", "succeeded", True, str(V2 + 3600), 0.9312)
    assert cooldown["decision"] == "cooldown" and cooldown["retraining run"] is None
    assert cooldown["triggered"] == "cool-down" and "cool-down" in cooldown["reasons"]


def test_a_broken_run_summary_is_named_and_the_others_kept(reports, tmp_path):
    local.write_summary(tmp_path, _summary(trigger_reason(reports["drifted"]), "r1"))
    (tmp_path / "runs" / "r2").mkdir()
    (tmp_path / "runs" / "r2" / "run_summary.json").write_text("{half")
    runs, problems = monitoring.retraining_runs(tmp_path, "clickflow")
    assert [r.run_id for r in runs] == ["r1"]
    (problem,) = problems
    assert "runs/r2/run_summary.json: unreadable run summary" in problem


def _tfx_run(store: Any, pipeline: Any, run_name: str, version: int | None,
             blessed: int) -> None:
    """A pipeline_run context with Evaluator and Pusher executions, as TFX records them."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    run_type = store.put_context_type(pb.ContextType(name="pipeline_run"))
    node_type = store.put_context_type(pb.ContextType(name="node"))
    [run_id] = store.put_contexts([pb.Context(type_id=run_type, name=run_name)])
    store.put_parent_contexts([pb.ParentContext(child_id=run_id, parent_id=pipeline.id)])
    run = store.get_contexts_by_id([run_id])[0]
    outputs = [("Evaluator", "blessing", "ModelBlessing", {"blessed": blessed})]
    if version is not None:
        outputs.append(("Pusher", "pushed_model", "PushedModel",
                        {"pushed": 1, "pushed_version": str(version)}))
    for node, key, artifact_type, props in outputs:
        node_context = store.get_context_by_type_and_name("node", f"clickflow.{node}") or \
            store.get_contexts_by_id(store.put_contexts([pb.Context(
                type_id=node_type, name=f"clickflow.{node}")]))[0]
        artifact = pb.Artifact(type_id=store.put_artifact_type(pb.ArtifactType(
            name=artifact_type)), uri=f"/root/{node}/{key}/{run_id}")
        for name, value in props.items():
            if isinstance(value, int):
                artifact.custom_properties[name].int_value = value
            else:
                artifact.custom_properties[name].string_value = value
        event = pb.Event(type=pb.Event.OUTPUT)
        event.path.steps.add().key = key
        execution = pb.Execution(type_id=store.put_execution_type(pb.ExecutionType(
            name=node)), last_known_state=pb.Execution.COMPLETE)
        store.put_execution(execution, [(artifact, event)], [pipeline, run, node_context])


def test_runs_recorded_in_ml_metadata_are_linked_with_their_blessing_and_push(reports,
                                                                              empty_store):
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb

    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(empty_store)
    store = metadata_store.MetadataStore(config)
    [pipeline_id] = store.put_contexts([pb.Context(
        type_id=store.put_context_type(pb.ContextType(name="pipeline")), name="clickflow")])
    pipeline = store.get_contexts_by_id([pipeline_id])[0]
    reason = trigger_reason(reports["drifted"])
    _tfx_run(store, pipeline, "2026-03-01T15:01:02.000001", V2 + 3600, blessed=1)
    context = local.mark_run(empty_store, "clickflow", reason,  # what local_runner does
                             run_id="2026-03-01T15:01:02.000001")
    assert context == "2026-03-01T15:01:02.000001"
    _tfx_run(store, pipeline, "2026-03-01T16:00:00.000001", None, blessed=0)  # not triggered
    root = empty_store.parent

    (recorded,) = monitoring.retraining_runs(root, "clickflow")[0]
    assert (recorded.mlmd_run, recorded.run_id, recorded.report_folder) == (
        context, None, reports["drifted"].name)
    assert (recorded.status, recorded.blessed, recorded.pushed_version, recorded.eval_auc) == (
        "succeeded", True, str(V2 + 3600), None)

    # its run_summary.json names the same context: one run, the summary adds the eval AUC
    local.write_summary(root, _summary(reason, "20260301-150100-7", mlmd_run_context=context,
                                       blessed=False, pushed_model=None))
    (merged,) = monitoring.retraining_runs(root, "clickflow")[0]
    assert (merged.mlmd_run, merged.run_id, merged.blessed, merged.pushed_version,
            merged.eval_auc) == (context, "20260301-150100-7", True, str(V2 + 3600), 0.9312)


def test_unreadable_reports_are_skipped_and_named(reports, tmp_path):
    target = tmp_path / "monitoring"
    shutil.copytree(reports["calm"].parent, target)
    good = read(reports["drifted"])
    broken = {
        "20260302T000000Z": "{not json",
        "20260302T010000Z": json.dumps([1, 2]),
        "20260302T020000Z": json.dumps({**good, "window": {"start": good["window"]["start"]}}),
        "20260302T030000Z": json.dumps({**good, "generated_at": "yesterday"}),
        "20260302T040000Z": json.dumps({**good, "drift": {"Age": {**good["drift"]["Age"],
                                                                    "value": "high"}}}),
        "20260302T050000Z": json.dumps({**good, "versions": {"latest": {}}}),
    }
    for name, text in broken.items():
        (target / name).mkdir()
        (target / name / monitor.REPORT_FILE).write_text(text)
    (target / "20260302T060000Z").mkdir()  # a monitor run still waiting for its retraining
    (target / "20260302T060000Z" / "anomalies.pbtxt").write_text("")

    loaded = monitoring.load_reports(target)
    assert [r.folder for r in loaded.reports] == [reports[n].name for n in WINDOWS]
    problems = loaded.problems
    assert len(problems) == 7
    expected = ["is not valid JSON", "expected a JSON object, got list",
                "field 'window.end' is missing",
                "field 'generated_at' should be an ISO 8601 time, got 'yesterday'",
                "field 'drift.Age.value' should be a whole number or a number, got \"high\"",
                "field 'versions' should be keyed by model version numbers, got 'latest'",
                "no monitoring_report.json (a monitoring run still going"]
    for problem, name, words in zip(problems, [*broken, "20260302T060000Z"], expected,
                                    strict=True):
        assert problem.startswith(f"{name}: ") and words in problem, problem


def test_a_missing_folder_has_no_reports_and_a_file_is_named(tmp_path):
    assert monitoring.load_reports(tmp_path / "nothing") == monitoring.Loaded([], [])
    assert monitoring.report_stamp(tmp_path / "nothing") == ()
    (tmp_path / "file").write_text("")
    (problem,) = monitoring.load_reports(tmp_path / "file").problems
    assert "is not a folder" in problem and "CLICKFLOW_MONITORING_DIR" in problem


def test_the_cache_stamp_changes_when_a_report_is_written(tmp_path):
    (tmp_path / "20260301T100000Z").mkdir()
    before = monitoring.report_stamp(tmp_path)
    assert before == (("20260301T100000Z", 0),)
    (tmp_path / "20260301T100000Z" / monitor.REPORT_FILE).write_text("{}")
    assert monitoring.report_stamp(tmp_path) != before


def test_reports_in_cloud_storage_load_as_the_local_ones(reports, tmp_path, monkeypatch):
    """The monitor's --out-dir gs://... read through the real google-cloud-storage client,
    pointed by STORAGE_EMULATOR_HOST (its emulator setting) at the JSON API fake on
    127.0.0.1 (pipelines.testing.fake_gcs)."""
    from pipelines.common import storage
    from pipelines.testing import fake_bigquery

    shutil.copytree(reports["calm"].parent, tmp_path / "gcs" / "bucket" / "monitoring")
    local = monitoring.load_reports(reports["calm"].parent)
    with fake_bigquery.serving(tmp_path / "gcs") as server:
        monkeypatch.setenv(storage.EMULATOR_ENV, server.endpoint)
        loaded = monitoring.load_reports("gs://bucket/monitoring")
        assert loaded.problems == []
        assert [(r.folder, r.action, r.breached) for r in loaded.reports] == [
            (r.folder, r.action, r.breached) for r in local.reports]
        assert str(loaded.reports[0].path) == (
            f"gs://bucket/monitoring/{reports['calm'].name}/{monitor.REPORT_FILE}")
        before = monitoring.report_stamp("gs://bucket/monitoring")
        assert [name for name, _ in before] == [r.folder for r in local.reports]
        storage.write_text(f"gs://bucket/monitoring/20260302T000000Z/{monitor.REPORT_FILE}",
                           "{not json")
        after = monitoring.report_stamp("gs://bucket/monitoring")
        assert after != before and after[-1][0] == "20260302T000000Z"
        (problem,) = monitoring.load_reports("gs://bucket/monitoring").problems
        assert problem.startswith("20260302T000000Z: ") and "not valid JSON" in problem
