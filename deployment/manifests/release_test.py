"""The release overlay the CD workflow applies: kustomize renders it on top of prod with this
release's image, bucket and service account, and bad values never reach a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployment import manifests as m
from deployment.manifests import check as c
from deployment.manifests import render as r
from deployment.manifests.conftest import one
from deployment.manifests.release import write_release


def test_release_overlay_pins_image_bucket_and_service_account(tmp_path: Path) -> None:
    image = "europe-west4-docker.pkg.dev/acme-ml/clickflow/dashboard:0123abcd"
    path = write_release(r.OVERLAYS / "prod", tmp_path / "release", dashboard_image=image,
                           model_base_path="gs://acme-ml-models/cf/serving_model/clickflow",
                           serving_gsa="clickflow-serving@acme-ml.iam.gserviceaccount.com")
    assert c.check(path.parent) == []
    objects = r.render(path.parent)
    pod = one(objects, "Deployment", m.DASHBOARD_DEPLOYMENT)["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == image
    assert one(objects, "ConfigMap", m.SERVING_ENV_CONFIG_MAP)["data"][m.BASE_PATH_KEY] == \
        "gs://acme-ml-models/cf/serving_model/clickflow"
    account = one(objects, "ServiceAccount", "clickflow-serving")
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
        write_release(r.OVERLAYS / "prod", tmp_path / "release", **values)


