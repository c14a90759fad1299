"""The checks of the proxy sidecar and the CronJobs: the overlays pass them, each finds a real
problem (in kustomize's output of a broken copy, or a changed copy of the rendered objects), and
what the manifests tell the proxy and the jobs is accepted by their real command lines."""

from __future__ import annotations

import copy
import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from deployment import manifests as m
from deployment.manifests import check as c
from deployment.manifests import cloud_loop as cl
from deployment.manifests import render as r
from deployment.manifests.conftest import one


def _pod(objects, kind: str, name: str) -> dict:
    [pod] = r.pod_specs(one(objects, kind, name))
    return pod


def _container(pod: dict, name: str) -> dict:
    [container] = [c for c in pod["containers"] if c["name"] == name]
    return container


def _expand(args: list[str], env: dict[str, str]) -> list[str]:
    """Kubernetes' expansion of command and args: $(VAR) from the container's env, $$ -> $
    (Kubernetes API, Container.args: "Double $$ are reduced to a single $")."""
    def one_arg(arg: str) -> str:
        return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                      lambda x: "$" if x[0] == "$$" else env.get(x[1], x[0]), arg)
    return [one_arg(a) for a in args]


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_overlays_pass_the_proxy_and_cronjob_checks(rendered, overlay: str) -> None:
    assert cl.proxy_problems(rendered[overlay]) == []
    assert cl.cronjob_problems(rendered[overlay]) == []


def test_the_proxy_arguments_are_what_our_server_accepts_in_proxy_mode(rendered) -> None:
    # The server's own parser and validation (deployment/server/config.py), not a copy of it.
    from deployment.server import config as server_config

    objects = rendered["prod"]
    proxy = _container(_pod(objects, "Deployment", m.SERVING_DEPLOYMENT), m.PROXY_CONTAINER)
    bucket = one(objects, "ConfigMap", m.SERVING_ENV_CONFIG_MAP)["data"][m.BUCKET_KEY]
    argv = _expand(proxy["command"][3:] + proxy["args"], {m.BUCKET_KEY: bucket})
    assert proxy["command"][:3] == ["python", "-m", "deployment.server"]
    parsed = server_config.build_parser().parse_args(argv)
    assert "--request-log-dir=gs://my-project-clickflow/request_log" in argv
    assert str(parsed.request_log_dir).endswith(f"{bucket}/request_log")
    # models.config as the init container renders it (a gs:// base path) is what both read.
    assert str(parsed.model_config_file) == "/config/models.config"
    parsed.model_config_file = r.BASE / "models.config"
    config = server_config.config_from_args(parsed)
    assert config.proxy.rest_backend == f"http://127.0.0.1:{m.BACKEND_REST_PORT}"
    assert config.proxy.grpc_backend == f"127.0.0.1:{m.BACKEND_GRPC_PORT}"
    assert (config.port, config.grpc_port) == (m.REST_PORT, m.GRPC_PORT)
    assert [model.name for model in config.models] == ["clickflow"]


def test_the_proxy_answers_the_probes_and_forwards_the_scraped_path() -> None:
    # The routes a built proxy app registers (deployment/server/proxy.py), not its source text.
    from deployment.server import config as server_config
    from deployment.server.proxy import Proxy, create_proxy_app

    args = server_config.build_parser().parse_args([
        "--proxy-rest", "http://127.0.0.1:9", "--no-request-log", "--grpc-port", "off"])
    app = create_proxy_app(Proxy(server_config.config_from_args(args)))
    paths = {route.path for route in app.routes}
    assert {"/readyz", "/healthz", "/monitoring/{rest:path}", "/v1/{rest:path}"} <= paths


def test_a_service_port_reaching_tf_serving_is_found(rendered) -> None:
    objects = copy.deepcopy(rendered["dev"])
    service = one(objects, "Service", m.SERVING_DEPLOYMENT)
    service["spec"]["ports"].append({"name": "direct", "port": 8511, "targetPort": "tfs-http"})
    assert cl.proxy_problems(objects) == [
        "Service clickflow-dev/clickflow-serving: port 'direct' targets TF Serving's "
        "'tfs-http': clients must go through the proxy"]


def test_a_service_targeting_tf_serving_by_number_is_found(rendered) -> None:
    objects = copy.deepcopy(rendered["dev"])
    one(objects, "Service", m.SERVING_DEPLOYMENT)["spec"]["ports"][1]["targetPort"] = 8510
    problems = cl.proxy_problems(objects)
    assert problems[0] == ("Service clickflow-dev/clickflow-serving: port 'grpc' targets TF "
                           "Serving's 8510: clients must go through the proxy")
    assert "must target the proxy's 8501 and 8500" in problems[1]


def test_a_proxy_pointing_elsewhere_or_logging_nothing_is_found(rendered) -> None:
    objects = copy.deepcopy(rendered["prod"])
    proxy = _container(_pod(objects, "Deployment", m.SERVING_DEPLOYMENT), m.PROXY_CONTAINER)
    proxy["args"] = [a.replace("8511", "8501") for a in proxy["args"]] + ["--no-request-log"]
    proxy["readinessProbe"]["httpGet"]["path"] = "/healthz"
    where = "Deployment clickflow/clickflow-serving"
    assert cl.proxy_problems(objects) == [
        f"{where}: request-logger needs --proxy-rest=http://127.0.0.1:8511, has "
        "'http://127.0.0.1:8501'",
        f"{where}: request-logger has --no-request-log: nothing would be logged",
        f"{where}: request-logger readinessProbe must GET /readyz on 8501 (the proxy's view of "
        "its backend), is {'path': '/healthz', 'port': 'http'}"]


def test_a_network_policy_opening_tf_serving_is_found(tree: Path) -> None:
    policy = tree / "base" / "network-policy.yaml"
    policy.write_text(policy.read_text().replace(
        "        - port: 8500\n          protocol: TCP\n",
        "        - port: 8500\n          protocol: TCP\n"
        "        - port: 8511\n          protocol: TCP\n", 1))
    assert c.check(tree / "overlays" / "dev") == [
        "NetworkPolicy for Deployment clickflow-dev/clickflow-serving: ingress must open exactly "
        "the proxy's ports [8500, 8501], opens ['8500', '8501', '8511']"]


def test_a_scrape_port_that_skips_the_proxy_is_found(rendered) -> None:
    objects = copy.deepcopy(rendered["dev"])
    annotations = one(objects, "Deployment", m.SERVING_DEPLOYMENT)["spec"]["template"][
        "metadata"]["annotations"]
    annotations["prometheus.io/port"] = "8511"
    [problem] = cl.proxy_problems(objects)
    assert "prometheus.io/port must be the proxy's 8501" in problem


def test_cronjob_fields_are_checked(rendered) -> None:
    objects = copy.deepcopy(rendered["prod"])
    monitor = one(objects, "CronJob", m.MONITOR_CRONJOB)
    monitor["spec"]["concurrencyPolicy"] = "Allow"
    del monitor["spec"]["startingDeadlineSeconds"]
    del monitor["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"]
    pod = _pod(objects, "CronJob", m.MONITOR_CRONJOB)
    pod["automountServiceAccountToken"] = True
    pod["containers"][0]["args"].remove("--no-metadata")
    ingest = _pod(objects, "CronJob", m.INGEST_CRONJOB)
    ingest["serviceAccountName"] = "clickflow-serving"
    where = "CronJob clickflow/clickflow-monitor"
    problems = cl.cronjob_problems(objects)
    assert problems[:5] == [
        f"{where}: concurrencyPolicy must be Forbid (two runs would race on their state), is "
        "'Allow'",
        f"{where}: spec.startingDeadlineSeconds must be set (a number)",
        f"{where}: jobTemplate.spec.activeDeadlineSeconds must be set (a number)",
        f"{where}: automountServiceAccountToken must be false (the job does not call the "
        "Kubernetes API)",
        f"{where}: command must be {' '.join(cl.MONITOR_COMMAND)}, is "
        f"{' '.join(c for c in cl.MONITOR_COMMAND if c != '--no-metadata')}"]
    assert problems[5:] == [
        "CronJob clickflow/clickflow-ingest: needs its own ServiceAccount clickflow-ingest "
        "annotated iam.gke.io/gcp-service-account: NAME@PROJECT.iam.gserviceaccount.com "
        "(Workload Identity)"]


def test_policy_checks_cronjob_pods_but_asks_them_for_no_probes(rendered) -> None:
    objects = copy.deepcopy(rendered["dev"])
    pod = _pod(objects, "CronJob", m.INGEST_CRONJOB)
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
    container = _pod(objects, "CronJob", m.MONITOR_CRONJOB)["containers"][0]
    bucket = one(objects, "ConfigMap", m.SERVING_ENV_CONFIG_MAP)["data"][m.BUCKET_KEY]
    argv = _expand(container["command"] + container["args"], {m.BUCKET_KEY: bucket})
    assert argv[:3] == ["python", "-m", "pipelines.monitoring"]
    args = build_parser().parse_args(argv[3:])
    assert (args.trigger, args.no_metadata) == ("cloud", True)
    assert str(args.cloud_config) == m.CLOUD_CONFIG_FILE
    # It reads the log where the proxy writes it.
    proxy = _container(_pod(objects, "Deployment", m.SERVING_DEPLOYMENT), m.PROXY_CONTAINER)
    written = cl.flags(_expand(proxy["args"], {m.BUCKET_KEY: bucket}))["request-log-dir"]
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

    container = _pod(rendered["prod"], "CronJob", m.INGEST_CRONJOB)["containers"][0]
    [script] = _expand(container["args"], {})
    assert container["command"] == ["/bin/sh", "-c"] and script.startswith("exec python ")
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
