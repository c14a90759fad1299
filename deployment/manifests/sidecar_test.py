"""The checks of the request-logging proxy sidecar: the overlays pass them, each finds a real
problem (in kustomize's output of a broken copy, or a changed copy of the rendered objects), and
what the manifests tell the proxy is accepted by our server's own command line."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from deployment import manifests as m
from deployment.manifests import check as c
from deployment.manifests import render as r
from deployment.manifests import sidecar as sc
from deployment.manifests.conftest import container, expand, one, pod_of


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_overlays_pass_the_proxy_checks(rendered, overlay: str) -> None:
    assert sc.proxy_problems(rendered[overlay]) == []


def test_the_proxy_arguments_are_what_our_server_accepts_in_proxy_mode(rendered,
                                                                       tmp_path: Path) -> None:
    # The server's own parser and validation (deployment/server/config.py), not a copy of it.
    from deployment.server import config as server_config

    objects = rendered["prod"]
    proxy = container(pod_of(objects, "Deployment", m.SERVING_DEPLOYMENT), m.PROXY_CONTAINER)
    bucket = one(objects, "ConfigMap", m.SERVING_ENV_CONFIG_MAP)["data"][m.BUCKET_KEY]
    argv = expand(proxy["command"][3:] + proxy["args"], {m.BUCKET_KEY: bucket})
    assert proxy["command"][:3] == ["python", "-m", "deployment.server"]
    parsed = server_config.build_parser().parse_args(argv)
    assert "--request-log-dir=gs://my-project-clickflow/request_log" in argv
    assert str(parsed.request_log_dir).endswith(f"{bucket}/request_log")
    # models.config as the init container renders it (a gs:// base path) is what both read.
    assert str(parsed.model_config_file) == "/config/models.config"
    # The files themselves are the pod's: the base's models.config, and a local folder for the
    # bucket (this test reaches no Cloud Storage).
    parsed.model_config_file = r.BASE / "models.config"
    parsed.request_log_dir = tmp_path / "request_log"
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
    assert sc.proxy_problems(objects) == [
        "Service clickflow-dev/clickflow-serving: port 'direct' targets TF Serving's "
        "'tfs-http': clients must go through the proxy"]


def test_a_service_targeting_tf_serving_by_number_is_found(rendered) -> None:
    objects = copy.deepcopy(rendered["dev"])
    one(objects, "Service", m.SERVING_DEPLOYMENT)["spec"]["ports"][1]["targetPort"] = 8510
    problems = sc.proxy_problems(objects)
    assert problems[0] == ("Service clickflow-dev/clickflow-serving: port 'grpc' targets TF "
                           "Serving's 8510: clients must go through the proxy")
    assert "must target the proxy's 8501 and 8500" in problems[1]


def test_a_proxy_pointing_elsewhere_or_logging_nothing_is_found(rendered) -> None:
    objects = copy.deepcopy(rendered["prod"])
    proxy = container(pod_of(objects, "Deployment", m.SERVING_DEPLOYMENT), m.PROXY_CONTAINER)
    proxy["args"] = [a.replace("8511", "8501") for a in proxy["args"]] + ["--no-request-log"]
    proxy["readinessProbe"]["httpGet"]["path"] = "/healthz"
    where = "Deployment clickflow/clickflow-serving"
    assert sc.proxy_problems(objects) == [
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
    [problem] = sc.proxy_problems(objects)
    assert "prometheus.io/port must be the proxy's 8501" in problem


