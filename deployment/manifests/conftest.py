"""Fixtures for the manifest tests: the pinned kubectl (kustomize) they render with, every overlay
rendered once, and a scratch copy of deployment/ to break."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from deployment.manifests import render as r


@pytest.fixture(autouse=True, scope="session")
def kubectl() -> Path:
    """Every test here renders with the real kustomize; without it they cannot mean anything."""
    if not r.KUBECTL.is_file():
        message = f"kubectl (kustomize) not found at {r.KUBECTL}; {r.INSTALL_HINT}"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI's make setup installs it: a skip there would hide a gap
        pytest.skip(message)
    return r.KUBECTL


@pytest.fixture(scope="session")
def rendered(kubectl: Path) -> dict[str, list[dict[str, Any]]]:
    return {p.name: r.render(p) for p in sorted(r.OVERLAYS.iterdir()) if p.is_dir()}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of deployment/base and deployment/overlays under tmp_path, to break."""
    root = tmp_path / "deployment"
    shutil.copytree(r.BASE, root / "base")
    shutil.copytree(r.OVERLAYS, root / "overlays")
    return root


def one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = r.find(objects, kind, name)
    assert found is not None, f"no single {kind} {name}"
    return found


def pod_of(objects, kind: str, name: str) -> dict:
    [pod] = r.pod_specs(one(objects, kind, name))
    return pod


def container(pod: dict, name: str) -> dict:
    [container] = [c for c in pod["containers"] if c["name"] == name]
    return container


def expand(args: list[str], env: dict[str, str]) -> list[str]:
    """Kubernetes' expansion of command and args: $(VAR) from the container's env, $$ -> $
    (Kubernetes API, Container.args: "Double $$ are reduced to a single $")."""
    def one_arg(arg: str) -> str:
        return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                      lambda x: "$" if x[0] == "$$" else env.get(x[1], x[0]), arg)
    return [one_arg(a) for a in args]
