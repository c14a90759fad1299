"""The checks of the monitor and ingestion CronJobs: the overlays pass them, each finds a real
problem, and the jobs' commands are accepted by the monitor's and the ingestion's own command
lines (and, for the ingestion's day, by a real shell)."""

from __future__ import annotations

import copy
import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from deployment import manifests as m
from deployment.manifests import check as c
from deployment.manifests import cronjobs as cj
from deployment.manifests import render as r
from deployment.manifests import sidecar as sc
from deployment.manifests.conftest import container, expand, one, pod_of


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_overlays_pass_the_cronjob_checks(rendered, overlay: str) -> None:
    assert cj.cronjob_problems(rendered[overlay]) == []


def test_cronjob_fields_are_checked(rendered) -> None:
    objects = copy.deepcopy(rendered["prod"])
    monitor = one(objects, "CronJob", m.MONITOR_CRONJOB)
    monitor["spec"]["concurrencyPolicy"] = "Allow"
    del monitor["spec"]["startingDeadlineSeconds"]
    del monitor["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"]
    pod = pod_of(objects, "CronJob", m.MONITOR_CRONJOB)
    pod["automountServiceAccountToken"] = True
    pod["containers"][0]["args"].remove("--no-metadata")
    ingest = pod_of(objects, "CronJob", m.INGEST_CRONJOB)
    ingest["serviceAccountName"] = "clickflow-serving"
    where = "CronJob clickflow/clickflow-monitor"
    problems = cj.cronjob_problems(objects)
    assert problems[:5] == [
        f"{where}: concurrencyPolicy must be Forbid (two runs would race on their state), is "
        "'Allow'",
        f"{where}: spec.startingDeadlineSeconds must be set (a number)",
        f"{where}: jobTemplate.spec.activeDeadlineSeconds must be set (a number)",
        f"{where}: automountServiceAccountToken must be false (the job does not call the "
        "Kubernetes API)",
        f"{where}: command must be {' '.join(cj.MONITOR_COMMAND)} [--labels-table "
        "PROJECT.DATASET.TABLE], is "
        f"{' '.join(c for c in cj.MONITOR_COMMAND if c != '--no-metadata')}"]
    assert problems[5:] == [
        "CronJob clickflow/clickflow-ingest: needs its own ServiceAccount clickflow-ingest "
        "annotated iam.gke.io/gcp-service-account: NAME@PROJECT.iam.gserviceaccount.com "
        "(Workload Identity)"]


def test_policy_checks_cronjob_pods_but_asks_them_for_no_probes(rendered) -> None:
    objects = copy.deepcopy(rendered["dev"])
    pod = pod_of(objects, "CronJob", m.INGEST_CRONJOB)
    pod["securityContext"]["runAsNonRoot"] = False
    del pod["containers"][0]["resources"]["limits"]["memory"]
    assert c.policy_problems(objects) == [
        "CronJob clickflow-dev/clickflow-ingest: spec.template.spec.securityContext.runAsNonRoot "
        "must be true",
        "CronJob clickflow-dev/clickflow-ingest container 'ingest': resources.limits.memory is "
        "not set"]


def test_a_cloud_config_of_another_bucket_or_broken_is_found(tree: Path) -> None:
    cloud = tree / "overlays" / "dev" / "cloud.yaml"
    cloud.write_text(cloud.read_text().replace("bucket: my-project-clickflow-dev",
                                               "bucket: my-project-clickflow"))
    bucket, models = c.check(tree / "overlays" / "dev")
    assert bucket.startswith("ConfigMap clickflow-dev/clickflow-cloud-config-")
    assert ": cloud.yaml bucket 'my-project-clickflow' is not CLICKFLOW_BUCKET="\
        "'my-project-clickflow-dev' of ConfigMap clickflow-dev/clickflow-serving-env-" in bucket
    assert models.endswith(": cloud.yaml pushes models to 'gs://my-project-clickflow/"
                           "serving_model/clickflow', TF Serving reads SERVING_MODEL_BASE_PATH="
                           "'gs://my-project-clickflow-dev/serving_model/clickflow'")
    cloud.write_text(cloud.read_text() + "trian_steps: 10\n")
    [problem] = c.check(tree / "overlays" / "dev")
    assert ": cloud.yaml is not a valid cloud config: " in problem and "trian_steps" in problem


def test_the_monitor_command_is_what_the_monitor_accepts(rendered) -> None:
    from pipelines.monitoring.__main__ import build_parser

    objects = rendered["prod"]
    job = pod_of(objects, "CronJob", m.MONITOR_CRONJOB)["containers"][0]
    env = one(objects, "ConfigMap", m.SERVING_ENV_CONFIG_MAP)["data"]
    bucket, base_path = env[m.BUCKET_KEY], env[m.BASE_PATH_KEY]
    argv = expand(job["command"] + job["args"], {m.BUCKET_KEY: bucket,
                                                 m.BASE_PATH_KEY: base_path})
    assert argv[:3] == ["python", "-m", "pipelines.monitoring"]
    args = build_parser().parse_args(argv[3:])
    assert (args.trigger, args.no_metadata) == ("cloud", True)
    # Skew without the pipeline's metadata: against the statistics each version TF Serving
    # reads carries (the serving pod's model base path, from the same ConfigMap).
    assert args.serving_model_dir == base_path
    assert base_path.startswith(f"gs://{bucket}/")
    assert str(args.cloud_config) == m.CLOUD_CONFIG_FILE
    # It reads the log where the proxy writes it.
    proxy = container(pod_of(objects, "Deployment", m.SERVING_DEPLOYMENT), m.PROXY_CONTAINER)
    written = sc.flags(expand(proxy["args"], {m.BUCKET_KEY: bucket}))["request-log-dir"]
    assert argv[argv.index("--log-dir") + 1] == written == f"gs://{bucket}/request_log"


def _gnu_date() -> bool:
    """The jobs image's date is GNU coreutils' (Debian); BSD date has no -d yesterday."""
    if not shutil.which("date"):
        return False
    done = subprocess.run(["date", "-u", "-d", "yesterday", "+%F"], capture_output=True,
                          timeout=10, check=False)
    return done.returncode == 0


@pytest.mark.skipif(not _gnu_date(), reason="no GNU date here (the jobs image has one)")
def test_the_ingest_command_runs_in_a_shell_and_asks_for_yesterday(rendered) -> None:
    from pipelines.cloud.ingest_cli import build_parser

    job = pod_of(rendered["prod"], "CronJob", m.INGEST_CRONJOB)["containers"][0]
    [script] = expand(job["args"], {})
    assert job["command"] == ["/bin/sh", "-c"] and script.startswith("exec python ")
    # The shell's own expansion of the script, with python replaced by printing its argv.
    shown = subprocess.run(["/bin/sh", "-c", script.replace("exec python", "printf '%s\\n'", 1)],
                           capture_output=True, text=True, timeout=30, check=True).stdout.split()
    assert shown[:2] == ["-m", "pipelines.cloud.ingest"]
    args = build_parser().parse_args(shown[2:])
    today = dt.datetime.now(dt.timezone.utc).date()
    assert args.day in (today - dt.timedelta(days=1), today)  # a run at midnight sees both
    assert str(args.config) == m.CLOUD_CONFIG_FILE


def test_the_overlay_cloud_configs_load(rendered) -> None:
    from pipelines.cloud.config import load_cloud_config

    for overlay, objects in rendered.items():
        path = r.OVERLAYS / overlay / "cloud.yaml"
        config = load_cloud_config(path, environ={})
        data = yaml.safe_load(one(objects, "ConfigMap", m.CLOUD_CONFIG_MAP)["data"]["cloud.yaml"])
        assert data["bucket"] == config.bucket


LABELS_TABLE_PATCH = """\
- op: add
  path: /spec/jobTemplate/spec/template/spec/containers/0/args/-
  value: --labels-table
- op: add
  path: /spec/jobTemplate/spec/template/spec/containers/0/args/-
  value: {table}
"""


def _add_labels_table(tree: Path, table: str) -> Path:
    """The overlay patch deployment/README.md documents for labels in BigQuery."""
    overlay = tree / "overlays" / "prod"
    (overlay / "labels-table-patch.yaml").write_text(LABELS_TABLE_PATCH.format(table=table))
    kustomization = overlay / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace(
        "  - path: hpa-patch.yaml\n",
        "  - path: hpa-patch.yaml\n  - path: labels-table-patch.yaml\n"
        "    target:\n      kind: CronJob\n      name: clickflow-monitor\n"))
    return overlay


def test_an_overlay_may_read_the_labels_from_a_bigquery_table(tree: Path) -> None:
    """Without the patch the monitor keeps its labels on gs:// (no --labels-table); with it, the
    rendered command is one the monitor accepts and reads that table."""
    from pipelines.monitoring.__main__ import build_parser

    assert "--labels-table" not in cj.MONITOR_COMMAND
    # The patch is deployment/README.md's, word for word.
    assert LABELS_TABLE_PATCH.format(table="my-project.ads.click_labels") in (
        r.REPO / "deployment" / "README.md").read_text()
    overlay = _add_labels_table(tree, "my-project.ads.click_labels")
    assert c.check(overlay) == []
    job = pod_of(r.render(overlay), "CronJob", m.MONITOR_CRONJOB)["containers"][0]
    args = build_parser().parse_args(expand(job["command"] + job["args"],
                                            {m.BUCKET_KEY: "my-bucket"})[3:])
    assert args.labels_table == "my-project.ads.click_labels"


def test_a_bad_labels_table_or_another_extra_flag_is_found(tree: Path) -> None:
    overlay = _add_labels_table(tree, "ads.click_labels")
    [problem] = c.check(overlay)
    assert problem == ("CronJob clickflow/clickflow-monitor: --labels-table 'ads.click_labels': "
                       "expected PROJECT.DATASET.TABLE (e.g. my-project.ads.labels)")
    patch = overlay / "labels-table-patch.yaml"
    patch.write_text(patch.read_text().replace("--labels-table", "--labels-cutoff"))
    [problem] = c.check(overlay)
    assert problem.startswith("CronJob clickflow/clickflow-monitor: command must be ")
