"""The images the manifests run agree with them: the proxy image (deployment/server.Dockerfile)
and the jobs image (deployment/jobs.Dockerfile, on top of the pipeline image) copy every project
module their commands import, run as the pods' user, and pin what constraints.txt pins. No image
is built here (no Docker engine): the Dockerfiles are read with the same COPY-line parser the
cloud emulator stages the pipeline image with."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from deployment import manifests as m
from deployment.manifests import render as r
from deployment.manifests.conftest import one
from pipelines.cloud.emulator.image import Image, parse_dockerfile, read_image
from pipelines.local import modules

REPO = r.REPO
SERVER = REPO / "deployment" / "server.Dockerfile"
JOBS = REPO / "deployment" / "jobs.Dockerfile"


def _image(path: Path) -> Image:
    return parse_dockerfile(path.read_text(), str(path))


def _instructions(path: Path, keyword: str) -> list[str]:
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    return [line.split(None, 1)[1] for line in text.splitlines()
            if line.split(None, 1)[:1] == [keyword]]


def _project_imports(files: list[Path]) -> dict[str, Path]:
    """Every models/pipelines module the files import, and what those import in turn."""
    entries = []
    for path in files:
        name = ".".join(path.relative_to(REPO).with_suffix("").parts)
        entries += modules._imported(ast.parse(path.read_text()), name,
                                     path.name == "__init__.py")
    return modules.project_modules(REPO, entries)


def _missing(needed: dict[str, Path], *images: Image) -> list[str]:
    def copied(path: Path) -> bool:
        return any(i.copies(path.relative_to(REPO).as_posix()) for i in images)
    return sorted(name for name, path in needed.items() if not copied(path))


def _ignored(path: Path, image: Image) -> list[str]:
    """COPY sources that the Dockerfile's .dockerignore keeps out of the build context."""
    allowed = [line[1:].rstrip("/") for line in
               Path(f"{path}.dockerignore").read_text().splitlines() if line.startswith("!")]
    return [s for s in image.sources
            if not any(s == a or s.startswith(a + "/") for a in allowed)]


def test_the_proxy_image_has_every_module_the_server_imports(rendered) -> None:
    image = _image(SERVER)
    server = sorted(p for p in (REPO / "deployment" / "server").glob("*.py")
                    if not p.name.endswith("_test.py") and p.name != "conftest.py")
    needed = _project_imports(server)
    assert {"models.bootstrap", "pipelines.common.request_log"} <= set(needed)
    assert not _missing(needed, image), f"server.Dockerfile lacks {_missing(needed, image)}"
    assert all(image.copies(p.relative_to(REPO).as_posix()) for p in server)
    assert image.copies("deployment/__init__.py")
    assert not image.copies("deployment/manifests/check.py")
    assert not image.copies("pipelines/monitoring/monitor.py")
    assert not _ignored(SERVER, image)


def test_the_proxy_image_runs_as_the_pod_and_on_its_ports(rendered) -> None:
    pod = one(rendered["prod"], "Deployment", m.SERVING_DEPLOYMENT)["spec"]["template"]["spec"]
    [proxy] = [c for c in pod["containers"] if c["name"] == m.PROXY_CONTAINER]
    [user] = _instructions(SERVER, "USER")
    assert user == f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}"
    assert sorted(_instructions(SERVER, "EXPOSE")[0].split()) == sorted(
        str(p["containerPort"]) for p in proxy["ports"])
    [entrypoint] = _instructions(SERVER, "ENTRYPOINT")
    assert entrypoint == '["python", "-m", "deployment.server"]'
    assert proxy["command"] == ["python", "-m", "deployment.server"]


def test_the_jobs_image_with_the_pipeline_image_has_every_module_the_jobs_import(rendered):
    jobs, pipeline = _image(JOBS), read_image(REPO)
    needed = modules.project_modules(REPO, ["pipelines.monitoring.__main__",
                                            "pipelines.cloud.ingest_cli", "kubeflow_runner"])
    assert {"pipelines.monitoring.trigger", "pipelines.cloud.ingest", "pipelines.pipeline",
            "models.model"} <= set(needed)
    missing = _missing(needed, jobs, pipeline)
    assert not missing, f"jobs.Dockerfile (with the pipeline image) lacks {missing}"
    assert jobs.workdir == pipeline.workdir  # kubeflow_runner.py beside the pipeline's code
    assert _instructions(JOBS, "FROM") == ["${PIPELINE_IMAGE}"]
    assert not _ignored(JOBS, jobs)
    for name in (m.MONITOR_CRONJOB, m.INGEST_CRONJOB):
        [pod] = r.pod_specs(one(rendered["prod"], "CronJob", name))
        [user] = _instructions(JOBS, "USER")
        assert user == f"{pod['securityContext']['runAsUser']}:" \
                       f"{pod['securityContext']['runAsGroup']}"
        # kubeflow_runner.py submit writes build/ under the image's WORKDIR (read-only root).
        mounts = {v["mountPath"] for v in pod["containers"][0]["volumeMounts"]}
        if name == m.MONITOR_CRONJOB:
            assert f"{jobs.workdir}/build" in mounts


@pytest.mark.parametrize("requirements", ["deployment/server.requirements.txt"])
def test_image_requirements_pin_what_constraints_pin(requirements: str) -> None:
    def pins(path: Path) -> dict[str, str]:
        out = {}
        for line in path.read_text().splitlines():
            if match := re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", line.strip()):
                out[match[1].lower().replace("_", "-")] = match[2]
        return out

    constraints = pins(REPO / "constraints.txt")
    wanted = pins(REPO / requirements)
    assert wanted and {k: constraints.get(k) for k in wanted} == wanted
