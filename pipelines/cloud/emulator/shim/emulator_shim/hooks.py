"""Applies each named patch when its module is first imported, and says so on stderr."""

from __future__ import annotations

import importlib.abc
import importlib.util
import json
import os
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

SETTINGS_ENV = "CLICKFLOW_EMULATOR_SHIM"
PATCHES_ENV = "CLICKFLOW_EMULATOR_PATCHES"


def settings() -> dict[str, Any]:
    """The emulator's settings for this task (tables, records folder, ...)."""
    with open(os.environ[SETTINGS_ENV]) as f:
        return json.load(f)


def _bigquery(module: ModuleType) -> None:
    from emulator_shim import bigquery

    bigquery.patch_utils(module)


def _bigquery_executor(module: ModuleType) -> None:
    from emulator_shim import bigquery

    bigquery.patch_executor(module)


def _vertex_jobs(module: ModuleType) -> None:
    from emulator_shim import vertex_jobs

    vertex_jobs.patch(module)


def _model_registry(module: ModuleType) -> None:
    from emulator_shim import registry

    registry.patch(module)


# patch name -> (module it changes, what it does)
PATCHES: dict[str, tuple[str, Callable[[ModuleType], None]]] = {
    "bigquery-read": ("tfx.extensions.google_cloud_big_query.utils", _bigquery),
    "bigquery-client": ("tfx.extensions.google_cloud_big_query.example_gen.executor",
                        _bigquery_executor),
    "vertex-job-client": ("tfx.extensions.google_cloud_ai_platform.training_clients",
                          _vertex_jobs),
    "model-registry": ("google.cloud.aiplatform", _model_registry),
}


def enabled() -> dict[str, tuple[str, Callable[[ModuleType], None]]]:
    chosen = os.environ.get(PATCHES_ENV, "all").strip().lower()
    if chosen == "all":
        return dict(PATCHES)
    if chosen in ("", "none"):
        return {}
    names = {n.strip() for n in chosen.split(",")}
    unknown = names - set(PATCHES)
    if unknown:
        raise SystemExit(f"{PATCHES_ENV}: unknown patch {sorted(unknown)}; known: "
                         f"{', '.join(PATCHES)}")
    return {n: PATCHES[n] for n in names}


class _Loader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader, name: str,
                 patch: Callable[[ModuleType], None]) -> None:
        self._loader, self._name, self._patch = loader, name, patch

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        self._patch(module)
        print(f"clickflow-emulator: patch {self._name} applied to {module.__name__}",
              file=sys.stderr, flush=True)


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, patches: dict[str, tuple[str, Callable[[ModuleType], None]]]) -> None:
        self._by_module = {module: (name, fn) for name, (module, fn) in patches.items()}

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self._by_module:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return None
        name, fn = self._by_module[fullname]
        spec.loader = _Loader(spec.loader, name, fn)
        return spec


def install() -> None:
    patches = enabled()
    if patches:
        sys.meta_path.insert(0, _Finder(patches))
