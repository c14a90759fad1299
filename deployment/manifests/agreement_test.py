"""The manifests agree with the other side of each contract they share: the Pusher's layout and
the model name, the local server's model config, the cloud pipeline's serving path, the
dashboard's environment and image, the TensorFlow the model was trained with, and the init
container's script (run for real)."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from deployment import manifests as m
from deployment.manifests import check as c
from deployment.manifests import render as r
from deployment.manifests.conftest import one
from pipelines.common.names import DEFAULT_MODEL_NAME

OVERLAY_NAMES = sorted(p.name for p in r.OVERLAYS.iterdir() if p.is_dir())


def test_model_name_and_paths_agree_with_the_pipeline(rendered) -> None:
    import local_runner

    defaults = local_runner.build_parser().parse_args([])
    # The Pusher writes <serving dir>/<model name>/<version>/ (local_runner; the cloud run keeps
    # the same layout under its GCS root).
    assert defaults.model_name == DEFAULT_MODEL_NAME == "clickflow"
    assert defaults.serving_dir.name == "serving_model"
    layout = f"/{defaults.serving_dir.name}/{defaults.model_name}"
    config = c.parse_model_config((r.BASE / "models.config").read_text(), "models.config")
    [model] = config.model_config_list.config
    assert model.name == DEFAULT_MODEL_NAME
    assert model.base_path.endswith(layout)
    assert model.model_version_policy.latest.num_versions == 2
    for objects in rendered.values():
        base_path = one(objects, "ConfigMap", m.SERVING_ENV_CONFIG_MAP)["data"][m.BASE_PATH_KEY]
        assert base_path.startswith("gs://") and base_path.endswith(layout)
        serving = one(objects, "Deployment", m.SERVING_DEPLOYMENT)["spec"]["template"]["spec"]
        probe = serving["containers"][0]["readinessProbe"]["httpGet"]
        assert probe["path"] == f"/v1/models/{DEFAULT_MODEL_NAME}"
        dashboard = one(objects, "Deployment", m.DASHBOARD_DEPLOYMENT)
        env = {e["name"]: e["value"] for e in
               dashboard["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["CLICKFLOW_MODEL_NAME"] == DEFAULT_MODEL_NAME
        assert env["CLICKFLOW_SERVING_URL"] == "http://clickflow-serving:8501"


def test_serving_image_matches_the_training_tensorflow(rendered) -> None:
    trained_with = importlib.metadata.version("tensorflow").split(".")[:2]
    for objects in rendered.values():
        pod = one(objects, "Deployment", m.SERVING_DEPLOYMENT)["spec"]["template"]["spec"]
        images = {c["image"] for c in pod["initContainers"] + pod["containers"]
                  if c["name"] != m.PROXY_CONTAINER}
        assert images == {"tensorflow/serving:2.16.1"}
        _, tag, _ = r.split_image(images.pop())
        assert tag.split(".")[:2] == trained_with


def _run_renderer(objects: list[dict[str, Any]], tmp_path: Path,
                  base_path: str | None) -> subprocess.CompletedProcess[str]:
    data = one(objects, "ConfigMap", m.SERVING_CONFIG_MAP)["data"]
    (tmp_path / "models.config").write_text(data["models.config"])
    (tmp_path / "render.sh").write_text(data["render-model-config.sh"])
    env = {"PATH": os.environ["PATH"], "MODEL_CONFIG_TEMPLATE": str(tmp_path / "models.config"),
           "MODEL_CONFIG_FILE": str(tmp_path / "out" / "models.config")}
    if base_path is not None:
        env[m.BASE_PATH_KEY] = base_path
    (tmp_path / "out").mkdir(exist_ok=True)
    return subprocess.run(["/bin/sh", str(tmp_path / "render.sh")], env=env, text=True,
                          capture_output=True, timeout=30, check=False)


@pytest.mark.parametrize("overlay", OVERLAY_NAMES)
def test_init_container_script_writes_the_overlay_base_path(rendered, overlay: str,
                                                            tmp_path: Path) -> None:
    objects = rendered[overlay]
    base_path = one(objects, "ConfigMap", m.SERVING_ENV_CONFIG_MAP)["data"][m.BASE_PATH_KEY]
    done = _run_renderer(objects, tmp_path, base_path)
    assert done.returncode == 0, done.stderr
    written = c.parse_model_config((tmp_path / "out" / "models.config").read_text(), "out")
    template = c.parse_model_config((tmp_path / "models.config").read_text(), "template")
    template.model_config_list.config[0].base_path = base_path
    assert written == template


@pytest.mark.parametrize("bad, message", [
    (None, "SERVING_MODEL_BASE_PATH is empty"),
    ('gs://bucket/a"; rm -rf /', "has characters outside"),
    ("bucket/serving_model/clickflow", "must be gs://BUCKET/PATH"),
])
def test_init_container_script_rejects_a_bad_base_path(rendered, tmp_path: Path, bad: str | None,
                                                       message: str) -> None:
    done = _run_renderer(rendered["prod"], tmp_path, bad)
    assert done.returncode == 1 and message in done.stderr
    assert not (tmp_path / "out" / "models.config").exists()


def test_monitoring_config_enables_prometheus_at_the_scraped_path(rendered) -> None:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

    # tensorflow-serving-api ships no monitoring_config_pb2; these are the two messages of
    # tensorflow_serving/config/monitoring_config.proto.
    proto = descriptor_pb2.FileDescriptorProto(name="monitoring_config.proto",
                                               package="tensorflow.serving", syntax="proto3")
    prometheus = proto.message_type.add(name="PrometheusConfig")
    prometheus.field.add(name="enable", number=1, type=8, label=1)  # bool
    prometheus.field.add(name="path", number=2, type=9, label=1)  # string
    monitoring = proto.message_type.add(name="MonitoringConfig")
    monitoring.field.add(name="prometheus_config", number=1, type=11, label=1,
                         type_name=".tensorflow.serving.PrometheusConfig")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    message = message_factory.MessageFactory(pool).GetPrototype(
        pool.FindMessageTypeByName("tensorflow.serving.MonitoringConfig"))
    objects = rendered["prod"]
    text = one(objects, "ConfigMap", m.SERVING_CONFIG_MAP)["data"]["monitoring.config"]
    config = text_format.Parse(text, message())
    annotations = one(objects, "Deployment", m.SERVING_DEPLOYMENT)["spec"]["template"][
        "metadata"]["annotations"]
    assert config.prometheus_config.enable
    assert config.prometheus_config.path == annotations["prometheus.io/path"]
    assert annotations["prometheus.io/port"] == str(m.REST_PORT)


def test_cloud_pipeline_pushes_where_the_overlays_read(rendered) -> None:
    from pipelines.cloud.config import load_cloud_config

    example = r.REPO / "configs" / "cloud.example.yaml"
    config = load_cloud_config(example, environ={})
    pushed_to = config.resolved_serving_model_base_path
    assert config.model_name == DEFAULT_MODEL_NAME
    assert pushed_to == f"gs://{config.bucket}/serving_model/{DEFAULT_MODEL_NAME}"
    for objects in rendered.values():
        base_path = one(objects, "ConfigMap", m.SERVING_ENV_CONFIG_MAP)["data"][m.BASE_PATH_KEY]
        assert base_path.rsplit("/", 2)[1:] == pushed_to.rsplit("/", 2)[1:]


def test_dashboard_accepts_the_deployment_environment(rendered) -> None:
    from dashboard.config import ENV_MODEL_NAME, ENV_SERVING_URL, DashboardConfig

    for objects in rendered.values():
        container = one(objects, "Deployment", m.DASHBOARD_DEPLOYMENT)["spec"]["template"][
            "spec"]["containers"][0]
        env = {e["name"]: e["value"] for e in container["env"]}
        assert {ENV_MODEL_NAME, ENV_SERVING_URL} <= set(env)
        config = DashboardConfig.from_env(env)
        assert config.model_name == DEFAULT_MODEL_NAME
        assert config.serving_url == "http://clickflow-serving:8501"


def test_local_server_reads_the_same_model_config(tmp_path: Path) -> None:
    from deployment.server import config as server_config

    pushed = tmp_path / "serving_model" / DEFAULT_MODEL_NAME
    pushed.mkdir(parents=True)
    args = server_config.build_parser().parse_args([
        "--model-config-file", str(r.BASE / "models.config"), "--model-base-path", str(pushed)])
    [model] = server_config.config_from_args(args).models
    assert model.name == DEFAULT_MODEL_NAME
    assert Path(model.base_path) == pushed
    assert model.policy == server_config.VersionPolicy("latest", num_versions=2)
    assert server_config.DEFAULT_BASE_PATH.parts[-2:] == ("serving_model", DEFAULT_MODEL_NAME)


def test_dashboard_image_matches_its_deployment(rendered) -> None:
    dockerfile = r.REPO / "deployment" / "dashboard.Dockerfile"
    lines = [line.strip() for line in dockerfile.read_text().splitlines()]
    instructions: dict[str, list[str]] = {}
    for line in lines:
        if line and not line.startswith("#") and line.split()[0].isupper():
            instructions.setdefault(line.split()[0], []).append(line.split(None, 1)[1])
    pod = one(rendered["prod"], "Deployment", m.DASHBOARD_DEPLOYMENT)["spec"]["template"]["spec"]
    [user] = instructions["USER"]
    assert user == f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}"
    assert instructions["EXPOSE"] == [str(pod["containers"][0]["ports"][0]["containerPort"])]
    assert instructions["FROM"][0].startswith("python:3.10")
    for copy_line in instructions["COPY"]:
        *sources, _ = copy_line.split()
        for source in sources:
            assert (r.REPO / source).exists(), f"dashboard.Dockerfile copies missing {source}"
    command = " ".join(dockerfile.read_text().split("CMD", 1)[1].split())
    for part in ('"streamlit", "run", "dashboard/app.py"', '"--server.port", "8501"',
                 '"--server.address", "0.0.0.0"'):
        assert part in command
    assert (r.REPO / "dashboard" / "app.py").is_file()
