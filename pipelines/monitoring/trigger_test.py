"""The retraining trigger: labelled traffic as a span, the runner commands, the state file."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.common.names import REPO_ROOT
from pipelines.common.request_log import LABEL_SCHEMA
from pipelines.data import generator as dg
from pipelines.data import inputs, spans
from pipelines.data import source as data_source
from pipelines.local.modules import project_modules
from pipelines.monitoring import live, monitor, policy, trigger
from pipelines.monitoring.config import SIGNALS
from pipelines.testing import fake_bigquery
from pipelines.testing.traffic import generated, logged_requests

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


def test_labelled_traffic_becomes_the_next_readable_span(tmp_path: Path) -> None:
    dg.write_span(tmp_path, 1, 100, 0)
    log, labels = logged_requests(generated(300, 1), version=1, start=T0, seconds=60,
                                  id_prefix="r")
    joined = live.join_labels(log, labels.slice(0, 200), cutoff=T0 + timedelta(days=1))
    examples = trigger.labelled_examples(joined.table)
    assert examples.num_rows == 200
    span, path = trigger.ingest_span(tmp_path, examples)
    assert span == 2 and path == tmp_path / "span-00002"
    resolved = inputs.resolve_data(tmp_path)  # the local runner accepts it as is
    assert len(resolved.files) == 2 and not resolved.generated
    assert examples.schema.equals(spans.EXAMPLES_SCHEMA, check_metadata=True)
    assert not spans.is_generated(path / "part-00000.parquet")
    assert spans.is_generated(tmp_path / "span-00001" / "part-00000.parquet")
    written = pq.read_table(path / "part-00000.parquet")
    assert written.equals(examples) and written.schema.metadata is None
    source = data_source.SourceFiles.from_pattern(data_source.spans_pattern(tmp_path))
    data_source.column_map(source)


SYNTHETIC = {"pipelines.data.generator", "pipelines.data.drift"}


@pytest.mark.parametrize("module", ["pipelines.monitoring.trigger", "pipelines.data.spans"])
def test_real_data_never_goes_through_the_generator(module: str) -> None:
    """Neither the ingest of real traffic nor span storage imports the synthetic generator,
    directly or through any project module they import (imports read with ``ast``)."""
    reached = project_modules(REPO_ROOT, [module])
    assert module in reached  # the module was found and read
    assert not SYNTHETIC & set(reached), sorted(SYNTHETIC & set(reached))


def test_the_import_check_sees_the_generator() -> None:
    assert set(project_modules(REPO_ROOT, ["pipelines.data.drift"])) >= SYNTHETIC
    assert "pipelines.data.generator" in project_modules(REPO_ROOT, ["pipelines.data.inputs"])


def test_ingest_refuses_nothing(tmp_path: Path) -> None:
    log, _ = logged_requests(generated(5, 1), version=1, start=T0, seconds=60, id_prefix="r")
    empty = live.join_labels(log, LABEL_SCHEMA.empty_table(), T0)
    with pytest.raises(ValueError, match="no labelled requests"):
        trigger.ingest_span(tmp_path, trigger.labelled_examples(empty.table))
    assert spans.list_spans(tmp_path) == []


def test_local_command_marks_the_run_as_triggered(tmp_path: Path) -> None:
    command = trigger.local_command(data_dir=tmp_path / "data", pipeline_root=tmp_path / "root",
                                    pipeline_name="clickflow", reason="monitor: drift")
    assert command[1].endswith("local_runner.py")
    assert command[command.index("--trigger-reason") + 1] == "monitor: drift"
    assert command[command.index("--wait-lock") + 1] == str(trigger.LOCK_WAIT_SECONDS)
    assert command[command.index("--data") + 1] == str(tmp_path / "data")


def test_cloud_command_is_accepted_by_the_kubeflow_runner(tmp_path: Path) -> None:
    kubeflow_runner = pytest.importorskip("kubeflow_runner")
    command = trigger.cloud_command(target="kfp", config=tmp_path / "cloud.yaml",
                                    reason_tag="drift", now=T0)
    assert command[1].endswith("kubeflow_runner.py")
    args = kubeflow_runner.build_parser().parse_args(command[2:])
    assert args.command == "submit" and args.target == "kfp"
    assert args.run_name == "clickflow-monitor-drift-20260301-000000"
    assert args.trigger_reason == "drift"  # a label of the Vertex run
    assert args.config == tmp_path / "cloud.yaml"
    # Every signal breached at once still makes a valid label value (at most 63 characters).
    every = "-".join(SIGNALS).replace("_", "-") * 3  # longer than any real breach
    command = trigger.cloud_command(target="vertex", config=None, reason_tag=every, now=T0)
    assert len(kubeflow_runner.build_parser().parse_args(command[2:]).trigger_reason) == 63


def test_state_file_round_trip_and_bad_state(tmp_path: Path) -> None:
    assert trigger.read_state(tmp_path) is None
    trigger.write_state(tmp_path, T0, ["drift"], "r")
    assert trigger.read_state(tmp_path) == T0
    (tmp_path / trigger.STATE_FILE).write_text("{not json")
    with pytest.raises(ValueError, match=r"trigger_state\.json: unreadable"):
        trigger.read_state(tmp_path)


CLOUD_YAML = ("project: my-gcp-project\nregion: us-central1\nbucket: clickflow-bucket\n"
              "bigquery_table: my-gcp-project.ads.ad_clicks\npipeline_image: "
              "us-central1-docker.pkg.dev/p/clickflow/pipeline:0.1.0\n")


def _cloud_settings(tmp_path: Path, endpoint: str) -> monitor.MonitorSettings:
    config = tmp_path / "cloud.yaml"
    config.write_text(CLOUD_YAML)
    return monitor.MonitorSettings(
        log_dir=tmp_path / "log", labels_dir=tmp_path / "labels",
        window=monitor.Window(T0, T0 + timedelta(hours=1)), out_dir=tmp_path / "out",
        pipeline_root=tmp_path / "root", schema_path=tmp_path / "schema.pbtxt",
        trigger_mode="cloud", cloud_config=config, cloud_endpoint=endpoint)


def test_the_cloud_trigger_ingests_labelled_traffic_before_it_submits(tmp_path: Path,
                                                                      monkeypatch) -> None:
    """Against the BigQuery fake (pipelines.testing.fake_bigquery, which cites BigQuery's API
    reference): today's partition holds the labelled requests when the run is submitted."""
    (tmp_path / "gcs" / "clickflow-bucket").mkdir(parents=True)
    log, labels = logged_requests(generated(150, 1), version=1, start=T0, seconds=60,
                                  id_prefix="r")
    joined = live.join_labels(log, labels.slice(0, 90), cutoff=T0 + timedelta(days=1)).table
    decision = policy.Decision(policy.RETRAIN, ("drift",), ("drift",), T0)
    with fake_bigquery.serving(tmp_path / "gcs") as server:
        server.add_dataset("my-gcp-project", "ads")
        submitted = []

        def run(command: list[str], log_file: Path) -> int:
            submitted.append(server.partition_counts("my-gcp-project", "ads", "ad_clicks"))
            return 0

        monkeypatch.setattr(trigger, "run_command", run)
        settings = _cloud_settings(tmp_path, server.endpoint)
        result = monitor._trigger(settings, joined, decision, tmp_path / "report", T0)
        again = monitor._trigger(settings, joined, decision, tmp_path / "report", T0)
        assert submitted == [{"20260301": 90}, {"20260301": 90}]  # loaded once, before submit
        assert result.returncode == 0 and result.ingested["rows"] == 90
        assert again.ingested["already_loaded"] and again.ingest_error is None
        assert result.command[2] == "submit"

        server.datasets.clear()  # ingestion fails: the run is not submitted
        failed = monitor._trigger(settings, joined, decision, tmp_path / "report", T0)
    assert failed.returncode is None and failed.ingested is None
    assert "dataset my-gcp-project.ads does not exist" in failed.ingest_error
    assert len(submitted) == 2
