"""The loop closed in the cloud, offline (issue 18): served traffic through the logging proxy
-> request log in Cloud Storage -> delayed labels in Cloud Storage -> the monitor on gs://
-> its decision -> the labelled traffic loaded into BigQuery -> the retraining run submitted.

Nothing reaches Google Cloud. Every system we do not own is a recording fake of its REST API
on 127.0.0.1, driven by the real client, in the commands the cloud jobs run:
- Cloud Storage and BigQuery: ``pipelines.testing.fake_bigquery`` (with ``fake_gcs``), used by
  the real google-cloud-storage client (STORAGE_EMULATOR_HOST, its emulator setting) and the
  real google-cloud-bigquery client (--cloud-endpoint);
- Kubeflow Pipelines: ``pipelines.testing.fake_kfp`` (v2beta1, refuses what KFP's API server
  refuses), used by the real ``kfp`` client in ``kubeflow_runner.py submit --target kfp``;
- TF Serving: our server process on a real small model (``pipelines.testing.small_model``),
  answering REST and gRPC like TF Serving, behind the proxy as on GKE.

    .venv/bin/python -m pytest -q -s tests/cloud_loop_test.py   # -s prints the transcript
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import grpc
import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from pipelines.common import names, request_log, storage
from pipelines.common.names import REPO_ROOT
from pipelines.common.processes import ServiceProcess, free_port
from pipelines.monitoring import statistics
from pipelines.testing import fake_bigquery, fake_kfp
from pipelines.testing.grpc_requests import predict_request
from pipelines.testing.traffic import generated

pytestmark = pytest.mark.e2e

BUCKET, PROJECT = "clickflow-loop", "loop-project"
TABLE = f"{PROJECT}.ads.ad_clicks"
REST_REQUESTS, GRPC_REQUESTS = 40, 20
FEATURES = ["DailyTimeSpentOnSite", "Age", "AreaIncome", "DailyInternetUsage", "AdTopicLine",
            "City", "Male", "Country", "Timestamp"]


def say(step: str, text: str) -> None:
    print(f"[{step}] {text}", flush=True)


def _process(argv: list[str], port: int, log: Path, name: str, env: dict) -> ServiceProcess:
    return ServiceProcess([sys.executable, "-m", "deployment.server", *argv],
                          url=f"http://127.0.0.1:{port}", log_file=log, ready_path="/readyz",
                          env=env, ready_timeout=120, grace_s=30, name=name)


def _rows(count: int) -> list[dict]:
    table = generated(count, seed=11)
    return [{name: row[name] for name in FEATURES} for row in table.to_pylist()]


def test_served_traffic_to_a_submitted_retraining_run(tmp_path: Path, monkeypatch) -> None:
    from pipelines.testing.small_model import export_small_model

    gcs_root = tmp_path / "gcs"
    (gcs_root / BUCKET).mkdir(parents=True)
    export_small_model(tmp_path / "models" / "1")
    with fake_bigquery.serving(gcs_root) as cloud, fake_kfp.serving() as kfp:
        cloud.add_dataset(PROJECT, "ads")
        monkeypatch.setenv(storage.EMULATOR_ENV, cloud.endpoint)  # this test's own reads
        env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
               storage.EMULATOR_ENV: cloud.endpoint}
        env.pop("CLICKFLOW_KFP_HOST", None)
        say("setup", f"Cloud Storage + BigQuery fake {cloud.endpoint}, KFP fake {kfp.host}")

        # 1. TF Serving's stand-in, and the logging proxy in front of it as on GKE.
        port, grpc_port = free_port(), free_port()
        backend = _process(["--model-base-path", str(tmp_path / "models"), "--port", str(port),
                            "--grpc-port", str(grpc_port), "--no-request-log",
                            "--log-level", "warning"],
                           port, tmp_path / "backend.log", "the backend", env)
        front, front_grpc = free_port(), free_port()
        log_uri = f"gs://{BUCKET}/request_log"
        proxy = _process(["--proxy-rest", f"http://127.0.0.1:{port}", "--proxy-grpc",
                          f"127.0.0.1:{grpc_port}", "--port", str(front), "--grpc-port",
                          str(front_grpc), "--request-log-dir", log_uri,
                          "--request-log-roll-seconds", "0.5", "--log-level", "warning"],
                         front, tmp_path / "proxy.log", "the proxy", env)
        rows = _rows(REST_REQUESTS + GRPC_REQUESTS)
        with backend:
            say("serve", f"backend (our server standing in for TF Serving) on :{port}/:{grpc_port}")
            with proxy:
                say("serve", f"proxy on :{front}/:{front_grpc}, --request-log-dir {log_uri}")
                with httpx.Client(base_url=proxy.url, timeout=30) as client:
                    for i, row in enumerate(rows[:REST_REQUESTS]):
                        response = client.post("/v1/models/clickflow:predict",
                                               json={"instances": [row]},
                                               headers={"X-Request-Id": f"rest-{i}"})
                        assert response.status_code == 200, response.text
                        assert response.headers["X-Request-Id"] == f"rest-{i}"
                from tensorflow_serving.apis import prediction_service_pb2_grpc

                with grpc.insecure_channel(f"127.0.0.1:{front_grpc}") as channel:
                    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
                    for i, row in enumerate(rows[REST_REQUESTS:]):
                        stub.Predict(predict_request(row), timeout=30,
                                     metadata=(("x-request-id", f"grpc-{i}"),))
                say("traffic", f"{REST_REQUESTS} REST + {GRPC_REQUESTS} gRPC predictions "
                    "answered through the proxy")
            assert proxy.returncode == 0, proxy.log_file.read_text()[-2000:]

        # 2. The log is in the bucket, whole files only, nothing left behind or dropped.
        objects = sorted(p.relative_to(gcs_root / BUCKET).as_posix()
                         for p in (gcs_root / BUCKET / "request_log").rglob("*"))
        objects = [o for o in objects if o.endswith(".parquet")]
        logged, problems = request_log.read_request_log(log_uri)
        assert problems == [] and logged.num_rows == len(rows)
        assert sorted(logged["request_id"].to_pylist()) == sorted(
            [f"rest-{i}" for i in range(REST_REQUESTS)]
            + [f"grpc-{i}" for i in range(GRPC_REQUESTS)])
        say("log", f"{logged.num_rows} records in {len(objects)} object(s) under {log_uri}: "
            + ", ".join(objects[:3]) + (" ..." if len(objects) > 3 else ""))

        # 3. Delayed labels land in the bucket: here the opposite of what the model said, so
        # the live AUC is far below policy.live_auc_min whatever the small model learnt.
        clicked = pc.cast(pc.less(logged["probability"], 0.5), pa.int64())
        labels = pa.table({"request_id": logged["request_id"], "ClickedOnAd": clicked,
                           "labelled_at": logged["logged_at"]})
        labels_uri = f"gs://{BUCKET}/labels"
        request_log.write_labels_file(labels_uri, labels, "day-1")
        say("labels", f"{labels.num_rows} delayed labels written to {labels_uri}/")

        # 4. The monitor, as the CronJob runs it.
        cloud_yaml = tmp_path / "cloud.yaml"
        cloud_yaml.write_text(
            f"project: {PROJECT}\nregion: us-central1\nbucket: {BUCKET}\n"
            f"bigquery_table: {TABLE}\ntarget: kfp\nkfp_host: {kfp.host}\n"
            "pipeline_image: us-central1-docker.pkg.dev/p/clickflow/pipeline:0.1.0\n")
        monitor_yaml = tmp_path / "monitor.yaml"
        monitor_yaml.write_text("policy:\n  signals: [live_auc_min]\n  min_requests: 50\n"
                                "  min_labelled: 50\n  live_auc_min: 0.75\n")
        # The pushed version in the bucket carries its train split's statistics, as the
        # pipeline's model card step copies them (pipelines/components/model_card_test.py):
        # the CronJob's skew reference, with no ML Metadata to ask.
        serving_uri = f"gs://{BUCKET}/serving_model/clickflow"
        carried = storage.join(serving_uri, "1", *names.TRAINING_STATISTICS_DIR.split("/"),
                               names.STATISTICS_FILE)
        storage.write_bytes(carried, statistics.table_statistics(
            generated(2000, seed=3)).SerializeToString())
        out_uri = f"gs://{BUCKET}/monitoring"
        command = [sys.executable, "-m", "pipelines.monitoring", "run", "--log-dir", log_uri,
                   "--labels-dir", labels_uri, "--out-dir", out_uri, "--no-metadata",
                   "--serving-model-dir", serving_uri,
                   "--trigger", "cloud", "--cloud-config", str(cloud_yaml),
                   "--cloud-target", "kfp", "--cloud-endpoint", cloud.endpoint,
                   "--config", str(monitor_yaml), "--pipeline-root", str(tmp_path / "root"),
                   "--last", "1h"]
        say("monitor", " ".join(["python", *command[1:]]).replace(str(tmp_path), "$TMP"))
        monitor_env = {k: v for k, v in env.items() if k != storage.EMULATOR_ENV}
        done = subprocess.run(command, cwd=REPO_ROOT, env=monitor_env, capture_output=True,
                              text=True, timeout=600)
        for line in done.stdout.splitlines():
            say("monitor", line)
        assert done.returncode == 0, done.stdout + done.stderr

        # 5. Its report, plots, anomalies and cool-down state are in the bucket.
        (folder,) = [p for p in (gcs_root / BUCKET / "monitoring").iterdir() if p.is_dir()]
        assert {p.name for p in folder.iterdir()} >= {
            "monitoring_report.json", "anomalies.pbtxt", "reliability.svg", "skew_drift.svg",
            "trigger.log"}
        report = json.loads((folder / "monitoring_report.json").read_text())
        assert report["request_log"]["requests"] == len(rows)
        assert report["labels"]["labelled"] == len(rows)
        assert report["decision"]["action"] == "retrain"
        assert report["decision"]["breached"] == ["live_auc_min"]
        assert report["metadata"] is None  # --no-metadata
        served = report["versions"]["1"]
        assert served["skew_statistics"] == carried and served["skew"], served
        say("skew", f"v1 against {carried}: " + ", ".join(
            f"{name} {m['value']:.3f}" for name, m in sorted(served["skew"].items())))
        state = json.loads((gcs_root / BUCKET / "monitoring" / "trigger_state.json").read_text())
        assert state["report"] == f"{out_uri}/{folder.name}"
        say("report", f"{out_uri}/{folder.name}/: decision {report['decision']['action']} "
            f"({'; '.join(report['decision']['reasons'])})")

        # 6. The labelled traffic is today's partition of the training table, before the run.
        trigger = report["trigger"]
        assert trigger["ingest_error"] is None and trigger["ingested"]["rows"] == len(rows)
        day = trigger["ingested"]["partition"]
        assert cloud.partition_counts(PROJECT, "ads", "ad_clicks") == {day: len(rows)}
        say("ingest", f"{trigger['ingested']['rows']} labelled rows loaded into {TABLE}$"
            f"{day} (job {trigger['ingested']['job_id']})")

        # 7. The retraining run was submitted to KFP, named after the monitor's reason.
        assert trigger["returncode"] == 0, (folder / "trigger.log").read_text()[-3000:]
        ((_, run),) = kfp.calls("POST", "/apis/v2beta1/runs")
        assert run["display_name"].startswith("clickflow-monitor-live-auc-min-")
        assert run["display_name"] == trigger["command"][trigger["command"].index(
            "--run-name") + 1]
        # The reason as its own value too: a label on Vertex (KFP's runs take none).
        assert trigger["command"][trigger["command"].index("--trigger-reason") + 1] == \
            "live-auc-min"
        assert run["runtime_config"]["pipeline_root"] == f"gs://{BUCKET}/pipeline_root"
        example_gen = run["pipeline_spec"]["root"]["dag"]["tasks"]["BigQueryExampleGen"]
        assert TABLE in json.dumps(example_gen) or TABLE in json.dumps(run["pipeline_spec"])
        say("submit", f"KFP run {run['display_name']!r} created (run id "
            f"{next(iter(kfp.runs))}), trigger reason: {', '.join(report['decision']['breached'])}")

        # 8. The labelling system moved to BigQuery: the same labels loaded into a table, and a
        # second monitor run, within the cool-down, reads them there and its state from the
        # bucket: no second run is submitted.
        from google.cloud import bigquery

        bq, _ = fake_bigquery.clients(cloud, PROJECT)
        bq.load_table_from_uri(f"{labels_uri}/part-day-1.parquet", f"{PROJECT}.ads.labels",
                               job_config=bigquery.LoadJobConfig(source_format="PARQUET", schema=[
                                   bigquery.SchemaField("request_id", "STRING"),
                                   bigquery.SchemaField("ClickedOnAd", "INTEGER"),
                                   bigquery.SchemaField("labelled_at", "TIMESTAMP")])).result()
        second = [*command[:command.index("--labels-dir")],
                  "--labels-table", f"{PROJECT}.ads.labels",
                  *command[command.index("--labels-dir") + 2:]]
        again = subprocess.run(second, cwd=REPO_ROOT, env=monitor_env, capture_output=True,
                               text=True, timeout=600)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "Decision: cooldown" in again.stdout
        assert len(kfp.calls("POST", "/apis/v2beta1/runs")) == 1
        newest = max(p for p in (gcs_root / BUCKET / "monitoring").iterdir() if p.is_dir())
        report = json.loads((newest / "monitoring_report.json").read_text())
        assert report["labels"]["table"] == f"{PROJECT}.ads.labels"
        assert report["labels"]["labelled"] == len(rows)
        say("cool-down", f"second run, labels from {PROJECT}.ads.labels: "
            + next(line for line in again.stdout.splitlines() if "cool-down" in line).strip())
