"""The release overlay the CD workflow applies: the prod overlay with this release's dashboard
image, model bucket and Workload Identity service account, each checked before it is written."""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from deployment.manifests import (
    BASE_PATH_KEY,
    DASHBOARD_DEPLOYMENT,
    SERVING_DEPLOYMENT,
    SERVING_ENV_CONFIG_MAP,
    WORKLOAD_IDENTITY_ANNOTATION,
    ManifestError,
)
from deployment.manifests.render import KUSTOMIZATION_FILES, find, render, split_image

IMAGE_RE = re.compile(r"[a-z0-9][a-z0-9.-]*(:[0-9]+)?(/[a-z0-9._-]+)+(:[A-Za-z0-9_.-]{1,128}|"
                      r"@sha256:[0-9a-f]{64})")
GSA_RE = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]"
                    r"\.iam\.gserviceaccount\.com")


def write_release(overlay: Path, output: Path, *, dashboard_image: str, model_base_path: str,
                  serving_gsa: str) -> Path:
    """Writes OUTPUT/kustomization.yaml: OVERLAY with the dashboard image, the model bucket and
    the Workload Identity service account of this release. Values are checked first."""
    if not IMAGE_RE.fullmatch(dashboard_image):
        raise ManifestError(f"--dashboard-image {dashboard_image!r} must be "
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
    dashboard = find(render(overlay), "Deployment", DASHBOARD_DEPLOYMENT)
    if dashboard is None:
        raise ManifestError(f"--overlay {overlay}: no Deployment {DASHBOARD_DEPLOYMENT}")
    current = split_image(dashboard["spec"]["template"]["spec"]["containers"][0]["image"])[0]
    name, tag, digest = split_image(dashboard_image)
    image: dict[str, str] = {"name": current, "newName": name}
    image.update({"digest": digest} if digest else {"newTag": tag})
    output.mkdir(parents=True, exist_ok=True)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(overlay, output)],
        "configMapGenerator": [{"name": SERVING_ENV_CONFIG_MAP, "behavior": "merge",
                                "literals": [f"{BASE_PATH_KEY}={model_base_path}"]}],
        "images": [image],
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


