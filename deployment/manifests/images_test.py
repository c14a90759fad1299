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


def _module_candidates(tree: ast.AST) -> set[str]:
    """Every absolute module a file imports, at module level or inside a function (the storage
    client is imported lazily): ``from a.b import c`` gives a.b.c (c may be a submodule)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            out |= {f"{node.module}.{alias.name}" for alias in node.names}
    return out


def _distribution_of(module: str, files: dict[str, str]) -> str | None:
    """The installed distribution that holds ``module`` (its longest prefix that is a file of
    one: google.cloud.storage is google-cloud-storage's, though google/ is shared by many)."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        path = "/".join(parts[:end])
        for candidate in (f"{path}/__init__.py", f"{path}.py", f"{path}.so"):
            if candidate in files:
                return files[candidate]
    return None


def _third_party_distributions(files: list[Path]) -> dict[str, set[str]]:
    """Distribution -> the modules of ``files`` (and the project modules they reach) that
    import something of it. Standard library and project modules are left out."""
    import importlib.metadata
    import sys

    installed: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        for file in dist.files or []:
            name = str(file)
            if name.endswith(("__init__.py", ".py", ".so")) and "site-packages" not in name:
                installed.setdefault(name, dist.metadata["Name"].lower().replace("_", "-"))
    sources = {".".join(p.relative_to(REPO).with_suffix("").parts): p for p in files}
    sources.update(_project_imports(files))
    out: dict[str, set[str]] = {}
    for name, path in sources.items():
        for module in _module_candidates(ast.parse(path.read_text())):
            top = module.split(".")[0]
            if top in sys.stdlib_module_names or top in modules.PROJECT_PACKAGES or \
                    top in ("__future__", "deployment", "dashboard"):
                continue
            dist = _distribution_of(module, installed)
            assert dist, f"{name} imports {module}, which no installed distribution holds"
            out.setdefault(dist, set()).add(name)
    return out


def _requirement_closure(path: Path) -> set[str]:
    """The distributions pip installs for a requirements file: its pins and, transitively,
    what each requires (Requires-Dist, markers evaluated here, no extras)."""
    import importlib.metadata

    from packaging.requirements import Requirement

    def norm(name: str) -> str:
        return name.lower().replace("_", "-").replace(".", "-")

    todo = [(norm(r.name), frozenset(r.extras)) for line in path.read_text().splitlines()
             if re.fullmatch(r"[A-Za-z0-9_.\[\],-]+==\S+", line.strip())
             for r in [Requirement(line.strip())]]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        item = todo.pop()
        if item in seen:
            continue
        seen.add(item)
        name, extras = item
        for text in importlib.metadata.requires(name) or []:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in {"", *extras}):
                todo.append((norm(requirement.name), frozenset(requirement.extras)))
    return {name for name, _ in seen}


def test_the_proxy_image_installs_every_package_the_server_imports() -> None:
    """Each third-party module the server's files (and the project modules they reach, such as
    pipelines/common/storage.py for a gs:// --request-log-dir) import, lazily or not, belongs
    to a distribution that deployment/server.requirements.txt installs, directly or as a
    dependency: the image's `pip install -r` is all it has."""
    server = sorted(p for p in (REPO / "deployment" / "server").glob("*.py")
                    if not p.name.endswith("_test.py") and p.name != "conftest.py")
    imported = _third_party_distributions(server)
    assert {"google-cloud-storage", "pyarrow", "tensorflow"} <= set(imported)
    assert "pipelines.common.storage" in imported["google-cloud-storage"]
    installed = _requirement_closure(REPO / "deployment" / "server.requirements.txt")
    missing = {d: sorted(users) for d, users in imported.items()
               if d.replace(".", "-") not in installed}
    assert not missing, f"server.requirements.txt installs none of {missing}"
    # The build's import check loads the lazily imported client too, so a missing one fails
    # the build rather than the first upload.
    [smoke] = [r for r in _instructions(SERVER, "RUN") if r.startswith("python -c")]
    assert "google.cloud.storage" in smoke


def test_the_dashboard_image_installs_every_package_the_dashboard_imports() -> None:
    """The same for the dashboard, which reads CLICKFLOW_MONITORING_DIR and
    CLICKFLOW_REQUEST_LOG_DIR from gs:// on GKE: dashboard/requirements.txt must bring the
    storage client (here through tensorflow-model-analysis' apache-beam[gcp]). Only the
    packages pipelines/common/storage.py imports are held to it: the static import graph also
    reaches modules (models.model, pipelines.monitoring.statistics, ...) whose TFX, TFT and TFDV
    imports sit in functions the dashboard does not call."""
    files = sorted(p for p in (REPO / "dashboard").glob("*.py")
                   if not p.name.endswith("_test.py") and p.name != "conftest.py")
    imported = _third_party_distributions(files)
    storage_packages = {d for d, users in imported.items() if "pipelines.common.storage" in users}
    assert {"google-cloud-storage", "google-auth", "google-api-core"} <= storage_packages
    installed = _requirement_closure(REPO / "dashboard" / "requirements.txt")
    missing = sorted(storage_packages - installed)
    assert not missing, f"dashboard/requirements.txt installs none of {missing}"


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
