"""The release overlay the CD workflow applies: the prod overlay with this release's images
(dashboard, request-logging proxy, monitor/ingestion jobs), model bucket, Workload Identity
service account and cloud settings (the CronJobs' cloud.yaml), each checked before it is
written."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from deployment.manifests import (
    BASE_PATH_KEY,
    BUCKET_KEY,
    CLOUD_CONFIG_MAP,
    DASHBOARD_DEPLOYMENT,
    MONITOR_CRONJOB,
    PROXY_CONTAINER,
    SERVING_DEPLOYMENT,
    SERVING_ENV_CONFIG_MAP,
    WORKLOAD_IDENTITY_ANNOTATION,
    ManifestError,
)
from deployment.manifests.render import (
    KUSTOMIZATION_FILES,
    find,
    pod_specs,
    render,
    split_image,
)

IMAGE_RE = re.compile(r"[a-z0-9][a-z0-9.-]*(:[0-9]+)?(/[a-z0-9._-]+)+(:[A-Za-z0-9_.-]{1,128}|"
                      r"@sha256:[0-9a-f]{64})")
GSA_RE = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]"
                    r"\.iam\.gserviceaccount\.com")


# Where each flag's image runs: (kind, name, container) in the overlay.
IMAGES = {"server_image": ("Deployment", SERVING_DEPLOYMENT, PROXY_CONTAINER),
          "jobs_image": ("CronJob", MONITOR_CRONJOB, None)}


def write_release(overlay: Path, output: Path, *, dashboard_image: str, model_base_path: str,
                  serving_gsa: str, server_image: str | None = None,
                  jobs_image: str | None = None, cloud_config: Path | None = None,
                  environ: Mapping[str, str] | None = None) -> Path:
    """Writes OUTPUT/kustomization.yaml: OVERLAY with the images, the model bucket and the
    Workload Identity service account of this release, and the CronJobs' cloud.yaml resolved
    from CLOUD_CONFIG and the CLICKFLOW_<SETTING> variables of ENVIRON. Values are checked
    first."""
    images = {"dashboard_image": dashboard_image, "server_image": server_image,
              "jobs_image": jobs_image}
    for field, image in images.items():
        if image is not None and not IMAGE_RE.fullmatch(image):
            raise ManifestError(f"--{field.replace('_', '-')} {image!r} must be "
                                "REGISTRY/PATH:TAG or REGISTRY/PATH@sha256:DIGEST")
    if not GSA_RE.fullmatch(serving_gsa):
        raise ManifestError(f"--serving-gsa {serving_gsa!r} must be "
                            "NAME@PROJECT.iam.gserviceaccount.com")
    if not re.fullmatch(r"gs://[a-z0-9][a-z0-9._-]+[a-z0-9](/[A-Za-z0-9._=+@-]+)+",
                        model_base_path):
        raise ManifestError(f"--model-base-path {model_base_path!r} must be gs://BUCKET/PATH")
    overlay, output = overlay.resolve(), output.resolve()
    if not any((overlay / n).is_file() for n in KUSTOMIZATION_FILES):
        raise ManifestError(f"--overlay {overlay}: no kustomization.yaml there")
    # kustomize's images transformer matches the image as the overlay left it.
    objects = render(overlay)
    dashboard = find(objects, "Deployment", DASHBOARD_DEPLOYMENT)
    if dashboard is None:
        raise ManifestError(f"--overlay {overlay}: no Deployment {DASHBOARD_DEPLOYMENT}")
    current = split_image(dashboard["spec"]["template"]["spec"]["containers"][0]["image"])[0]
    replaced = [_image(current, dashboard_image)]
    for field, (kind, name, container) in IMAGES.items():
        if images[field] is not None:
            found = find(objects, kind, name)
            running = [c["image"] for pod in pod_specs(found or {}) for c in pod["containers"]
                       if container in (None, c["name"])]
            if not running:
                raise ManifestError(f"--overlay {overlay}: no {kind} {name} to run "
                                    f"--{field.replace('_', '-')}")
            replaced.append(_image(split_image(running[0])[0], images[field]))
    bucket = model_base_path[len("gs://"):].split("/", 1)[0]
    generators: list[dict[str, Any]] = [{
        "name": SERVING_ENV_CONFIG_MAP, "behavior": "merge",
        "literals": [f"{BASE_PATH_KEY}={model_base_path}", f"{BUCKET_KEY}={bucket}"]}]
    output.mkdir(parents=True, exist_ok=True)
    if cloud_config is not None:
        (output / "cloud.yaml").write_text(_resolved_cloud_config(
            cloud_config, os.environ if environ is None else environ, model_base_path))
        generators.append({"name": CLOUD_CONFIG_MAP, "behavior": "replace",
                           "files": ["cloud.yaml"]})
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(overlay, output)],
        "configMapGenerator": generators,
        "images": replaced,
        "patches": [{"patch": yaml.safe_dump({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": SERVING_DEPLOYMENT,
                         "annotations": {WORKLOAD_IDENTITY_ANNOTATION: serving_gsa}}},
            sort_keys=False)}],
    }
    path = output / "kustomization.yaml"
    path.write_text("# Written by python -m deployment.manifests release; do not edit.\n"
                    + yaml.safe_dump(kustomization, sort_keys=False))
    return path




def _image(name: str, reference: str) -> dict[str, str]:
    new_name, tag, digest = split_image(reference)
    image = {"name": name, "newName": new_name}
    image.update({"digest": digest} if digest else {"newTag": tag})
    return image


def _resolved_cloud_config(path: Path, environ: Mapping[str, str], model_base_path: str) -> str:
    """The settings of PATH with ENVIRON's CLICKFLOW_<SETTING> overrides applied (what
    kubeflow_runner.py would use in CD), as one file the CronJobs read without those variables."""
    from pipelines.cloud.config import ENV_PREFIX, load_cloud_config, read_config_file
    from pipelines.common.errors import ClickflowError

    try:
        config = load_cloud_config(path, environ=environ)
        keys = [*read_config_file(path)]
    except ClickflowError as err:
        raise ManifestError(f"--cloud-config: {err}") from None
    keys += [k for k in (n[len(ENV_PREFIX):].lower() for n in environ if n.startswith(ENV_PREFIX))
             if hasattr(config, k) and k not in keys]
    if config.resolved_serving_model_base_path != model_base_path:
        raise ManifestError(f"--cloud-config {path}: the pipeline pushes to "
                            f"{config.resolved_serving_model_base_path!r}, not --model-base-path "
                            f"{model_base_path!r}")
    return ("# Written by python -m deployment.manifests release from "
            f"{path.name} and CLICKFLOW_* variables.\n"
            + yaml.safe_dump({k: getattr(config, k) for k in keys}, sort_keys=False))
