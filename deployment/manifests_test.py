"""The GKE manifests, checked offline: rendered like kustomize, validated against the Kubernetes
schema, held to the pod policy, and consistent with the pipeline (model name, Pusher layout)."""

from __future__ import annotations

import copy
import importlib.metadata
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from deployment import manifests as m
from pipelines.common.names import DEFAULT_MODEL_NAME

OVERLAY_NAMES = sorted(p.name for p in m.OVERLAYS.iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {name: m.render(m.OVERLAYS / name) for name in OVERLAY_NAMES}


def _one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = m._find(objects, kind, name)
    assert found is not None, f"no single {kind} {name}"
    return found


def _copy_tree(tmp_path: Path) -> Path:
    root = tmp_path / "deployment"
    shutil.copytree(m.BASE, root / "base")
    shutil.copytree(m.OVERLAYS, root / "overlays")
    return root


def test_both_environments_exist() -> None:
    assert {"dev", "prod"} <= set(OVERLAY_NAMES)


@pytest.mark.parametrize("overlay", OVERLAY_NAMES)
def test_overlay_passes_every_check(overlay: str) -> None:
    assert m.check(m.OVERLAYS / overlay) == []


@pytest.mark.parametrize("overlay", OVERLAY_NAMES)
def test_overlay_renders_the_expected_objects(rendered, overlay: str) -> None:
    objects = rendered[overlay]
    kinds = sorted((o["kind"], o["metadata"]["name"].rsplit("-", 1)[0]
                    if o["kind"] == "ConfigMap" else o["metadata"]["name"]) for o in objects)
    assert kinds == sorted([
        ("Namespace", objects[0]["metadata"]["name"]),
        ("ServiceAccount", "clickflow-serving"), ("ServiceAccount", "clickflow-dashboard"),
        ("Deployment", "clickflow-serving"), ("Deployment", "clickflow-dashboard"),
        ("Service", "clickflow-serving"), ("Service", "clickflow-dashboard"),
        ("HorizontalPodAutoscaler", "clickflow-serving"),
        ("PodDisruptionBudget", "clickflow-serving"),
        ("ConfigMap", "clickflow-serving-config"), ("ConfigMap", "clickflow-serving-env"),
    ])
    namespace = objects[0]["metadata"]["name"]
    assert all(o["metadata"].get("namespace") == namespace for o in objects[1:])
    for obj in objects[1:]:
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "clickflow"


def test_overlays_size_dev_small_and_prod_large(rendered) -> None:
    def hpa(env: str) -> tuple[int, int]:
        spec = _one(rendered[env], "HorizontalPodAutoscaler", m.SERVING_DEPLOYMENT)["spec"]
        return spec["minReplicas"], spec["maxReplicas"]

    def cpu_request(env: str) -> str:
        pod = _one(rendered[env], "Deployment", m.SERVING_DEPLOYMENT)["spec"]["template"]["spec"]
        return pod["containers"][0]["resources"]["requests"]["cpu"]

    assert hpa("dev") == (1, 2) and hpa("prod") == (3, 10)
    assert (cpu_request("dev"), cpu_request("prod")) == ("250m", "1")
    base_paths = {env: _one(rendered[env], "ConfigMap", m.SERVING_ENV_CONFIG_MAP)["data"][
        m.BASE_PATH_KEY] for env in ("dev", "prod")}
    assert base_paths["dev"] != base_paths["prod"]


def test_model_name_and_paths_agree_with_the_pipeline(rendered) -> None:
    import local_runner

    defaults = local_runner.build_parser().parse_args([])
    # The Pusher writes <serving dir>/<model name>/<version>/ (local_runner; the cloud run keeps
    # the same layout under its GCS root).
    assert defaults.model_name == DEFAULT_MODEL_NAME == "clickflow"
    assert defaults.serving_dir.name == "serving_model"
    layout = f"/{defaults.serving_dir.name}/{defaults.model_name}"
    config = m.parse_model_config((m.BASE / "models.config").read_text(), "models.config")
    [model] = config.model_config_list.config
    assert model.name == DEFAULT_MODEL_NAME
    assert model.base_path.endswith(layout)
    assert model.model_version_policy.latest.num_versions == 2
    for objects in rendered.values():
        base_path = _one(objects, "ConfigMap", m.SERVING_ENV_CONFIG_MAP)["data"][m.BASE_PATH_KEY]
        assert base_path.startswith("gs://") and base_path.endswith(layout)
        serving = _one(objects, "Deployment", m.SERVING_DEPLOYMENT)["spec"]["template"]["spec"]
        probe = serving["containers"][0]["readinessProbe"]["httpGet"]
        assert probe["path"] == f"/v1/models/{DEFAULT_MODEL_NAME}"
        dashboard = _one(objects, "Deployment", m.DASHBOARD_DEPLOYMENT)
        env = {e["name"]: e["value"] for e in
               dashboard["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["CLICKFLOW_MODEL_NAME"] == DEFAULT_MODEL_NAME
        assert env["CLICKFLOW_SERVING_URL"] == "http://clickflow-serving:8501"


def test_serving_image_matches_the_training_tensorflow(rendered) -> None:
    trained_with = importlib.metadata.version("tensorflow").split(".")[:2]
    for objects in rendered.values():
        pod = _one(objects, "Deployment", m.SERVING_DEPLOYMENT)["spec"]["template"]["spec"]
        images = {c["image"] for c in pod["initContainers"] + pod["containers"]}
        assert images == {"tensorflow/serving:2.16.1"}
        _, tag, _ = m._split_image(images.pop())
        assert tag.split(".")[:2] == trained_with


def _run_renderer(objects: list[dict[str, Any]], tmp_path: Path,
                  base_path: str | None) -> subprocess.CompletedProcess[str]:
    data = _one(objects, "ConfigMap", m.SERVING_CONFIG_MAP)["data"]
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
    base_path = _one(objects, "ConfigMap", m.SERVING_ENV_CONFIG_MAP)["data"][m.BASE_PATH_KEY]
    done = _run_renderer(objects, tmp_path, base_path)
    assert done.returncode == 0, done.stderr
    written = m.parse_model_config((tmp_path / "out" / "models.config").read_text(), "out")
    template = m.parse_model_config((tmp_path / "models.config").read_text(), "template")
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
    text = _one(objects, "ConfigMap", m.SERVING_CONFIG_MAP)["data"]["monitoring.config"]
    config = text_format.Parse(text, message())
    annotations = _one(objects, "Deployment", m.SERVING_DEPLOYMENT)["spec"]["template"][
        "metadata"]["annotations"]
    assert config.prometheus_config.enable
    assert config.prometheus_config.path == annotations["prometheus.io/path"]
    assert annotations["prometheus.io/port"] == str(m.REST_PORT)


def test_config_change_renames_the_config_map_and_its_references(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    before = m.render(root / "overlays" / "prod")
    models = root / "base" / "models.config"
    models.write_text(models.read_text().replace("num_versions: 2", "num_versions: 3"))
    after = m.render(root / "overlays" / "prod")
    old = _one(before, "ConfigMap", m.SERVING_CONFIG_MAP)["metadata"]["name"]
    new = _one(after, "ConfigMap", m.SERVING_CONFIG_MAP)["metadata"]["name"]
    assert old != new and new.startswith(f"{m.SERVING_CONFIG_MAP}-")
    pod = _one(after, "Deployment", m.SERVING_DEPLOYMENT)["spec"]["template"]["spec"]
    assert {v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v} == {new}
    assert m.check(root / "overlays" / "prod") == []


def test_config_map_hash_is_kustomizes_encoding() -> None:
    config_map = {"metadata": {"name": "cm"}, "data": {"a": "x<y"}}
    name = m.config_map_hash(config_map)
    assert len(name) == 10 and not set(name) & set("013ae")
    assert name != m.config_map_hash({"metadata": {"name": "cm"}, "data": {"a": "x>y"}})
    assert name != m.config_map_hash({"metadata": {"name": "cm2"}, "data": {"a": "x<y"}})


def test_missing_container_image_is_rejected_with_a_readable_message(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    path = root / "base" / "dashboard-deployment.yaml"
    doc = yaml.safe_load(path.read_text())
    del doc["spec"]["template"]["spec"]["containers"][0]["image"]
    path.write_text(yaml.safe_dump(doc))
    problems = m.check(root / "overlays" / "dev")
    assert problems == ["Deployment clickflow-dev/clickflow-dashboard container 'dashboard': no "
                        "image (set the container's image, pinned by tag or digest)"]


def test_schema_rejects_misspelt_fields_and_wrong_types(rendered) -> None:
    objects = copy.deepcopy(rendered["dev"])
    serving = _one(objects, "Deployment", m.SERVING_DEPLOYMENT)
    container = serving["spec"]["template"]["spec"]["containers"][0]
    container["imagePullPolicyy"] = "Always"
    hpa = _one(objects, "HorizontalPodAutoscaler", m.SERVING_DEPLOYMENT)
    hpa["spec"]["maxReplicas"] = "10"
    problems = m.schema_problems(objects)
    assert len(problems) == 2
    assert problems[0].startswith("Deployment clickflow-dev/clickflow-serving: "
                                  "spec.template.spec.containers[0]: ")
    assert "imagePullPolicyy" in problems[0]
    assert problems[1].startswith("HorizontalPodAutoscaler clickflow-dev/clickflow-serving: "
                                  "spec.maxReplicas: '10' is not of type 'integer'")


def test_policy_catches_root_unpinned_images_and_missing_probes(rendered) -> None:
    objects = copy.deepcopy(rendered["prod"])
    pod = _one(objects, "Deployment", m.DASHBOARD_DEPLOYMENT)["spec"]["template"]["spec"]
    pod["securityContext"]["runAsNonRoot"] = False
    pod["containers"][0]["image"] = "registry.example:5000/dashboard:latest"
    del pod["containers"][0]["livenessProbe"]
    del pod["containers"][0]["resources"]["limits"]["memory"]
    pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False
    where = "Deployment clickflow/clickflow-dashboard"
    assert m.policy_problems(objects) == [
        f"{where}: spec.template.spec.securityContext.runAsNonRoot must be true",
        f"{where} container 'dashboard': image 'registry.example:5000/dashboard:latest' is not "
        "pinned; use a version tag or a digest, not latest",
        f"{where} container 'dashboard': resources.limits.memory is not set",
        f"{where} container 'dashboard': no livenessProbe",
        f"{where} container 'dashboard': securityContext.readOnlyRootFilesystem must be true",
    ]


def test_consistency_catches_a_renamed_model_and_a_wrong_layout(rendered) -> None:
    objects = copy.deepcopy(rendered["prod"])
    assert m.consistency_problems(objects, "other-model") != []
    env_map = _one(objects, "ConfigMap", m.SERVING_ENV_CONFIG_MAP)
    env_map["data"][m.BASE_PATH_KEY] = "gs://bucket/models/clickflow"
    probe = _one(objects, "Deployment", m.SERVING_DEPLOYMENT)["spec"]["template"]["spec"][
        "containers"][0]["readinessProbe"]["httpGet"]
    probe["path"] = "/v1/models/clickflw"
    problems = m.consistency_problems(objects, DEFAULT_MODEL_NAME)
    assert len(problems) == 2
    assert "SERVING_MODEL_BASE_PATH='gs://bucket/models/clickflow' must be" in problems[0]
    assert "readinessProbe must GET /v1/models/clickflow on port 8501" in problems[1]


def test_consistency_catches_a_dashboard_pointing_elsewhere(rendered) -> None:
    objects = copy.deepcopy(rendered["dev"])
    dashboard = _one(objects, "Deployment", m.DASHBOARD_DEPLOYMENT)
    dashboard["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = \
        "http://serving:8501"
    account = _one(objects, "ServiceAccount", "clickflow-serving")
    account["metadata"]["annotations"][m.WORKLOAD_IDENTITY_ANNOTATION] = "not-an-email"
    problems = m.consistency_problems(objects, DEFAULT_MODEL_NAME)
    assert len(problems) == 2
    assert "iam.gke.io/gcp-service-account" in problems[0] and "'not-an-email'" in problems[0]
    assert "CLICKFLOW_SERVING_URL is 'http://serving:8501'" in problems[1]


@pytest.mark.parametrize("field, message", [
    ("namePrefix: x-\n", "unsupported kustomization field(s) ['namePrefix']"),
    ("patches:\n  - path: p.yaml\n    target: {kind: Deployment}\n", "exactly one of path or"),
    ("resources:\n  - missing.yaml\n", "'missing.yaml' is neither a file nor a folder"),
    ("resources:\n  - ../outside.yaml\n", "outside"),
])
def test_renderer_rejects_what_it_cannot_render_faithfully(tmp_path: Path, field: str,
                                                           message: str) -> None:
    (tmp_path / "outside.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n")
    (tmp_path / "k").mkdir()
    (tmp_path / "k" / "kustomization.yaml").write_text(field)
    with pytest.raises(m.ManifestError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        m.render(tmp_path / "k")


def test_strategic_merge_merges_named_lists_and_deletes_nulls() -> None:
    original = {"spec": {"replicas": 2, "paused": False, "containers": [
        {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
        {"name": "b", "image": "b:1"}], "args": ["--x"]}}
    patch = {"spec": {"paused": None, "containers": [
        {"name": "a", "env": [{"name": "Y", "value": "2"}]}, {"name": "c", "image": "c:1"}],
        "args": ["--y"]}}
    assert m.strategic_merge(original, patch) == {"spec": {"replicas": 2, "containers": [
        {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"},
                                              {"name": "Y", "value": "2"}]},
        {"name": "b", "image": "b:1"}, {"name": "c", "image": "c:1"}], "args": ["--y"]}}


def test_release_overlay_pins_image_bucket_and_service_account(tmp_path: Path) -> None:
    image = "europe-west4-docker.pkg.dev/acme-ml/clickflow/dashboard:0123abcd"
    path = m.write_release(m.OVERLAYS / "prod", tmp_path / "release", dashboard_image=image,
                           model_base_path="gs://acme-ml-models/cf/serving_model/clickflow",
                           serving_gsa="clickflow-serving@acme-ml.iam.gserviceaccount.com")
    assert m.check(path.parent) == []
    objects = m.render(path.parent)
    pod = _one(objects, "Deployment", m.DASHBOARD_DEPLOYMENT)["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == image
    assert _one(objects, "ConfigMap", m.SERVING_ENV_CONFIG_MAP)["data"][m.BASE_PATH_KEY] == \
        "gs://acme-ml-models/cf/serving_model/clickflow"
    account = _one(objects, "ServiceAccount", "clickflow-serving")
    assert account["metadata"]["annotations"][m.WORKLOAD_IDENTITY_ANNOTATION] == \
        "clickflow-serving@acme-ml.iam.gserviceaccount.com"
    assert account["metadata"]["namespace"] == "clickflow"


@pytest.mark.parametrize("field, value", [
    ("dashboard_image", "dashboard:latest"),
    ("model_base_path", "s3://bucket/serving_model/clickflow"),
    ("serving_gsa", "clickflow@example.com"),
])
def test_release_rejects_bad_values(tmp_path: Path, field: str, value: str) -> None:
    values = {"dashboard_image": "europe-docker.pkg.dev/p/r/dashboard:abc",
              "model_base_path": "gs://bucket/serving_model/clickflow",
              "serving_gsa": "clickflow-serving@acme-ml.iam.gserviceaccount.com", field: value}
    flag = "--" + field.replace("_", "-")
    with pytest.raises(m.ManifestError, match=f"{flag} {value!r} must be"):
        m.write_release(m.OVERLAYS / "prod", tmp_path / "release", **values)


def test_cli_reports_problems_and_exit_codes(tmp_path: Path, capsys) -> None:
    assert m.main(["check"]) == 0
    assert capsys.readouterr().out.count(": ok") == len(OVERLAY_NAMES)
    root = _copy_tree(tmp_path)
    hpa = root / "overlays" / "dev" / "hpa-patch.yaml"
    hpa.write_text(hpa.read_text().replace("maxReplicas: 2", "maxReplicas: two"))
    assert m.main(["check", str(root / "overlays" / "dev")]) == 1
    err = capsys.readouterr().err
    assert "spec.maxReplicas: 'two' is not of type 'integer'" in err
    assert m.main(["render", str(tmp_path / "nowhere")]) == 2
    assert "no kustomization.yaml" in capsys.readouterr().err


def test_cloud_pipeline_pushes_where_the_overlays_read(rendered) -> None:
    from pipelines.cloud.config import load_cloud_config

    example = m.REPO / "configs" / "cloud.example.yaml"
    config = load_cloud_config(example, environ={})
    pushed_to = config.resolved_serving_model_base_path
    assert config.model_name == DEFAULT_MODEL_NAME
    assert pushed_to == f"gs://{config.bucket}/serving_model/{DEFAULT_MODEL_NAME}"
    for objects in rendered.values():
        base_path = _one(objects, "ConfigMap", m.SERVING_ENV_CONFIG_MAP)["data"][m.BASE_PATH_KEY]
        assert base_path.rsplit("/", 2)[1:] == pushed_to.rsplit("/", 2)[1:]


def test_dashboard_accepts_the_deployment_environment(rendered) -> None:
    from dashboard.config import ENV_MODEL_NAME, ENV_SERVING_URL, DashboardConfig

    for objects in rendered.values():
        container = _one(objects, "Deployment", m.DASHBOARD_DEPLOYMENT)["spec"]["template"][
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
        "--model-config-file", str(m.BASE / "models.config"), "--model-base-path", str(pushed)])
    [model] = server_config.config_from_args(args).models
    assert model.name == DEFAULT_MODEL_NAME
    assert Path(model.base_path) == pushed
    assert model.policy == server_config.VersionPolicy("latest", num_versions=2)
    assert server_config.DEFAULT_BASE_PATH.parts[-2:] == ("serving_model", DEFAULT_MODEL_NAME)


def test_dashboard_image_matches_its_deployment(rendered) -> None:
    dockerfile = m.REPO / "deployment" / "dashboard.Dockerfile"
    lines = [line.strip() for line in dockerfile.read_text().splitlines()]
    instructions: dict[str, list[str]] = {}
    for line in lines:
        if line and not line.startswith("#") and line.split()[0].isupper():
            instructions.setdefault(line.split()[0], []).append(line.split(None, 1)[1])
    pod = _one(rendered["prod"], "Deployment", m.DASHBOARD_DEPLOYMENT)["spec"]["template"]["spec"]
    [user] = instructions["USER"]
    assert user == f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}"
    assert instructions["EXPOSE"] == [str(pod["containers"][0]["ports"][0]["containerPort"])]
    assert instructions["FROM"][0].startswith("python:3.10")
    for copy_line in instructions["COPY"]:
        *sources, _ = copy_line.split()
        for source in sources:
            assert (m.REPO / source).exists(), f"dashboard.Dockerfile copies missing {source}"
    command = " ".join(dockerfile.read_text().split("CMD", 1)[1].split())
    for part in ('"streamlit", "run", "dashboard/app.py"', '"--server.port", "8501"',
                 '"--server.address", "0.0.0.0"'):
        assert part in command
    assert (m.REPO / "dashboard" / "app.py").is_file()


def test_consistency_rejects_replicas_next_to_the_autoscaler(rendered) -> None:
    objects = copy.deepcopy(rendered["prod"])
    _one(objects, "Deployment", m.SERVING_DEPLOYMENT)["spec"]["replicas"] = 3
    assert m.consistency_problems(objects, DEFAULT_MODEL_NAME) == [
        "Deployment clickflow/clickflow-serving: has spec.replicas although "
        "HorizontalPodAutoscaler clickflow/clickflow-serving scales it; every kubectl apply "
        "would reset the count"]
