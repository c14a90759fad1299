"""The release overlay the CD workflow applies: kustomize renders it on top of prod with this
release's image, bucket and service account, and bad values never reach a file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deployment import manifests as m
from deployment.manifests import check as c
from deployment.manifests import render as r
from deployment.manifests.conftest import one
from deployment.manifests.release import write_release

REGISTRY = "europe-west4-docker.pkg.dev/acme-ml/clickflow"
DIGEST = "sha256:" + "ab" * 32


def test_release_overlay_pins_image_bucket_and_service_account(tmp_path: Path) -> None:
    image = f"{REGISTRY}/dashboard:0123abcd"
    # CD's settings: the example file with CLICKFLOW_* repository variables over it.
    environ = {"CLICKFLOW_PROJECT": "acme-ml", "CLICKFLOW_BUCKET": "acme-ml-models",
               "CLICKFLOW_BIGQUERY_TABLE": "acme-ml.ads.ad_clicks", "PATH": "/bin",
               "CLICKFLOW_PIPELINE_IMAGE": f"{REGISTRY}/pipeline@{DIGEST}"}
    path = write_release(r.OVERLAYS / "prod", tmp_path / "release", dashboard_image=image,
                         model_base_path="gs://acme-ml-models/serving_model/clickflow",
                         serving_gsa="clickflow-serving@acme-ml.iam.gserviceaccount.com",
                         server_image=f"{REGISTRY}/server@{DIGEST}",
                         jobs_image=f"{REGISTRY}/jobs:0123abcd",
                         cloud_config=r.REPO / "configs" / "cloud.example.yaml", environ=environ)
    assert c.check(path.parent) == []
    objects = r.render(path.parent)
    pod = one(objects, "Deployment", m.DASHBOARD_DEPLOYMENT)["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == image
    env = one(objects, "ConfigMap", m.SERVING_ENV_CONFIG_MAP)["data"]
    assert env == {m.BASE_PATH_KEY: "gs://acme-ml-models/serving_model/clickflow",
                   m.BUCKET_KEY: "acme-ml-models"}
    serving = one(objects, "Deployment", m.SERVING_DEPLOYMENT)["spec"]["template"]["spec"]
    assert {c["name"]: c["image"] for c in serving["containers"]}[m.PROXY_CONTAINER] == \
        f"{REGISTRY}/server@{DIGEST}"
    for name in (m.MONITOR_CRONJOB, m.INGEST_CRONJOB):
        [job] = r.pod_specs(one(objects, "CronJob", name))
        assert job["containers"][0]["image"] == f"{REGISTRY}/jobs:0123abcd"
    cloud = yaml.safe_load(one(objects, "ConfigMap", m.CLOUD_CONFIG_MAP)["data"]["cloud.yaml"])
    assert (cloud["project"], cloud["bucket"], cloud["bigquery_table"]) == \
        ("acme-ml", "acme-ml-models", "acme-ml.ads.ad_clicks")
    # The monitor's retraining runs use this release's pipeline image, not the file's tag.
    assert cloud["pipeline_image"] == f"{REGISTRY}/pipeline@{DIGEST}"
    assert cloud["region"] == "us-central1"  # the file's, where no variable overrides it
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




def test_release_refuses_a_cloud_config_pushing_elsewhere(tmp_path: Path) -> None:
    with pytest.raises(m.ManifestError, match="the pipeline pushes to 'gs://my-clickflow-bucket/"
                       "serving_model/clickflow', not --model-base-path"):
        write_release(r.OVERLAYS / "prod", tmp_path / "release",
                      dashboard_image=f"{REGISTRY}/dashboard:1",
                      model_base_path="gs://other/serving_model/clickflow",
                      serving_gsa="clickflow-serving@acme-ml.iam.gserviceaccount.com",
                      cloud_config=r.REPO / "configs" / "cloud.example.yaml", environ={})
    assert not (tmp_path / "release" / "cloud.yaml").exists()


def test_release_command_line_takes_the_images_and_cloud_config(tmp_path: Path, capsys,
                                                                monkeypatch) -> None:
    from deployment.manifests.__main__ import main

    for name, value in {"CLICKFLOW_PROJECT": "acme-ml", "CLICKFLOW_BUCKET": "acme-ml-models",
                        "CLICKFLOW_BIGQUERY_TABLE": "acme-ml.ads.ad_clicks"}.items():
        monkeypatch.setenv(name, value)
    common = ["release", "--overlay", str(r.OVERLAYS / "prod"), "--output",
              str(tmp_path / "release"), "--dashboard-image", f"{REGISTRY}/dashboard:1",
              "--model-base-path", "gs://acme-ml-models/serving_model/clickflow",
              "--serving-gsa", "clickflow-serving@acme-ml.iam.gserviceaccount.com",
              "--server-image", f"{REGISTRY}/server:1", "--jobs-image", f"{REGISTRY}/jobs:1"]
    assert main([*common, "--cloud-config", str(r.REPO / "configs" / "cloud.example.yaml")]) == 0
    assert capsys.readouterr().out.endswith(": ok\n")
    assert main([*common, "--cloud-config", str(tmp_path / "missing.yaml")]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("error: --cloud-config: config file ") and "does not exist" in line
