"""The checks of kustomize's output: the overlays pass them, and each finds a real problem and
names it, both in kustomize's output of a broken overlay (a copy in tmp_path) and in a changed
copy of the rendered objects. agreement_test.py holds the checks against the pipeline's side."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from deployment import manifests as m
from deployment.manifests import check as c
from deployment.manifests import render as r
from deployment.manifests.__main__ import main
from deployment.manifests.conftest import one
from pipelines.common.names import DEFAULT_MODEL_NAME

OVERLAY_NAMES = sorted(p.name for p in r.OVERLAYS.iterdir() if p.is_dir())


@pytest.mark.parametrize("overlay", OVERLAY_NAMES)
def test_overlay_passes_every_check(overlay: str) -> None:
    assert c.check(r.OVERLAYS / overlay) == []


def _add_patch(overlay: Path, patch: str) -> None:
    kustomization = overlay / "kustomization.yaml"
    spec = yaml.safe_load(kustomization.read_text())
    spec["patches"].append({"patch": patch})
    kustomization.write_text(yaml.safe_dump(spec, sort_keys=False))


def test_a_patch_dropping_the_probe_is_found(tree: Path) -> None:
    # A strategic-merge null deletes the field (kustomize, like kubectl patch).
    _add_patch(tree / "overlays" / "dev", """
apiVersion: apps/v1
kind: Deployment
metadata: {name: clickflow-serving}
spec:
  template:
    spec:
      containers:
        - name: tf-serving
          readinessProbe: null
""")
    where = "Deployment clickflow-dev/clickflow-serving"
    assert c.check(tree / "overlays" / "dev") == [
        f"{where} container 'tf-serving': no readinessProbe",
        f"{where}: readinessProbe must GET /v1/models/clickflow on port 8511, is {{}}"]


def test_an_unpinned_overlay_image_is_found(tree: Path) -> None:
    kustomization = tree / "overlays" / "prod" / "kustomization.yaml"
    # The first images entry is the dashboard's.
    kustomization.write_text(kustomization.read_text().replace('newTag: "0.1.0"', "newTag: latest",
                                                               1))
    assert c.check(tree / "overlays" / "prod") == [
        "Deployment clickflow/clickflow-dashboard container 'dashboard': image "
        "'europe-west4-docker.pkg.dev/my-project/clickflow/dashboard:latest' is not pinned; use a "
        "version tag or a digest, not latest"]


def test_a_service_targeting_another_port_is_found(tree: Path) -> None:
    # Service ports merge on their key `port` (Kubernetes API patchMergeKey).
    _add_patch(tree / "overlays" / "dev", """
apiVersion: v1
kind: Service
metadata: {name: clickflow-serving}
spec:
  ports:
    - port: 8501
      targetPort: 9000
""")
    assert c.check(tree / "overlays" / "dev") == [
        "Service clickflow-dev/clickflow-serving: ports 'http' and 'grpc' must target the "
        "proxy's 8501 and 8500, target {'http': 9000, 'grpc': 8500}"]


def test_a_renamed_model_is_found(tree: Path) -> None:
    models = tree / "base" / "models.config"
    models.write_text(models.read_text().replace('name: "clickflow"', 'name: "clickflw"'))
    [problem] = c.check(tree / "overlays" / "prod")
    assert problem.startswith("ConfigMap clickflow/clickflow-serving-config-")
    assert problem.endswith(": models.config serves ['clickflw'], expected exactly ['clickflow'] "
                            "(pipelines.common.names.DEFAULT_MODEL_NAME)")


def test_a_broken_patch_fails_the_check_naming_kustomizes_error(tree: Path) -> None:
    patch = tree / "overlays" / "dev" / "hpa-patch.yaml"
    patch.write_text(patch.read_text().replace("kind: HorizontalPodAutoscaler", "kind: Hpa"))
    [problem] = c.check(tree / "overlays" / "dev")
    assert problem.startswith(f"{tree / 'overlays' / 'dev'}: kustomize failed: ")
    assert "Hpa" in problem


def test_missing_container_image_is_rejected_with_a_readable_message(tree: Path) -> None:
    root = tree
    path = root / "base" / "dashboard-deployment.yaml"
    doc = yaml.safe_load(path.read_text())
    del doc["spec"]["template"]["spec"]["containers"][0]["image"]
    path.write_text(yaml.safe_dump(doc))
    problems = c.check(root / "overlays" / "dev")
    assert problems == ["Deployment clickflow-dev/clickflow-dashboard container 'dashboard': no "
                        "image (set the container's image, pinned by tag or digest)"]


def test_schema_rejects_misspelt_fields_and_wrong_types(rendered) -> None:
    objects = copy.deepcopy(rendered["dev"])
    serving = one(objects, "Deployment", m.SERVING_DEPLOYMENT)
    container = serving["spec"]["template"]["spec"]["containers"][0]
    container["imagePullPolicyy"] = "Always"
    hpa = one(objects, "HorizontalPodAutoscaler", m.SERVING_DEPLOYMENT)
    hpa["spec"]["maxReplicas"] = "10"
    problems = c.schema_problems(objects)
    assert len(problems) == 2
    assert problems[0].startswith("Deployment clickflow-dev/clickflow-serving: "
                                  "spec.template.spec.containers[0]: ")
    assert "imagePullPolicyy" in problems[0]
    assert problems[1].startswith("HorizontalPodAutoscaler clickflow-dev/clickflow-serving: "
                                  "spec.maxReplicas: '10' is not of type 'integer'")


def test_policy_catches_root_unpinned_images_and_missing_probes(rendered) -> None:
    objects = copy.deepcopy(rendered["prod"])
    pod = one(objects, "Deployment", m.DASHBOARD_DEPLOYMENT)["spec"]["template"]["spec"]
    pod["securityContext"]["runAsNonRoot"] = False
    pod["containers"][0]["image"] = "registry.example:5000/dashboard:latest"
    del pod["containers"][0]["livenessProbe"]
    del pod["containers"][0]["resources"]["limits"]["memory"]
    pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False
    where = "Deployment clickflow/clickflow-dashboard"
    assert c.policy_problems(objects) == [
        f"{where}: spec.template.spec.securityContext.runAsNonRoot must be true",
        f"{where} container 'dashboard': image 'registry.example:5000/dashboard:latest' is not "
        "pinned; use a version tag or a digest, not latest",
        f"{where} container 'dashboard': resources.limits.memory is not set",
        f"{where} container 'dashboard': no livenessProbe",
        f"{where} container 'dashboard': securityContext.readOnlyRootFilesystem must be true",
    ]


def test_consistency_catches_a_renamed_model_and_a_wrong_layout(rendered) -> None:
    objects = copy.deepcopy(rendered["prod"])
    assert c.consistency_problems(objects, "other-model") != []
    env_map = one(objects, "ConfigMap", m.SERVING_ENV_CONFIG_MAP)
    env_map["data"][m.BASE_PATH_KEY] = "gs://bucket/models/clickflow"
    probe = one(objects, "Deployment", m.SERVING_DEPLOYMENT)["spec"]["template"]["spec"][
        "containers"][0]["readinessProbe"]["httpGet"]
    probe["path"] = "/v1/models/clickflw"
    problems = c.consistency_problems(objects, DEFAULT_MODEL_NAME)
    assert len(problems) == 2
    assert "SERVING_MODEL_BASE_PATH='gs://bucket/models/clickflow' must be" in problems[0]
    assert "readinessProbe must GET /v1/models/clickflow on port 8511" in problems[1]


def test_consistency_catches_a_dashboard_pointing_elsewhere(rendered) -> None:
    objects = copy.deepcopy(rendered["dev"])
    dashboard = one(objects, "Deployment", m.DASHBOARD_DEPLOYMENT)
    dashboard["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = \
        "http://serving:8501"
    account = one(objects, "ServiceAccount", "clickflow-serving")
    account["metadata"]["annotations"][m.WORKLOAD_IDENTITY_ANNOTATION] = "not-an-email"
    problems = c.consistency_problems(objects, DEFAULT_MODEL_NAME)
    assert len(problems) == 2
    assert "iam.gke.io/gcp-service-account" in problems[0] and "'not-an-email'" in problems[0]
    assert "CLICKFLOW_SERVING_URL is 'http://serving:8501'" in problems[1]



def test_cli_reports_problems_and_exit_codes(tree: Path, capsys) -> None:
    assert main(["check"]) == 0
    assert capsys.readouterr().out.count(": ok") == len(OVERLAY_NAMES)
    root = tree
    hpa = root / "overlays" / "dev" / "hpa-patch.yaml"
    hpa.write_text(hpa.read_text().replace("maxReplicas: 2", "maxReplicas: two"))
    assert main(["check", str(root / "overlays" / "dev")]) == 1
    err = capsys.readouterr().err
    assert "spec.maxReplicas: 'two' is not of type 'integer'" in err
    assert main(["render", str(tree / "nowhere")]) == 2
    assert "no kustomization.yaml" in capsys.readouterr().err


def test_consistency_rejects_replicas_next_to_the_autoscaler(rendered) -> None:
    objects = copy.deepcopy(rendered["prod"])
    one(objects, "Deployment", m.SERVING_DEPLOYMENT)["spec"]["replicas"] = 3
    assert c.consistency_problems(objects, DEFAULT_MODEL_NAME) == [
        "Deployment clickflow/clickflow-serving: has spec.replicas although "
        "HorizontalPodAutoscaler clickflow/clickflow-serving scales it; every kubectl apply "
        "would reset the count"]
