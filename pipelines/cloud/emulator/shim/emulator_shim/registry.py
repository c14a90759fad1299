"""Vertex AI Model Registry (``aiplatform.Model.list`` / ``Model.upload``) recorded, not sent."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from emulator_shim.hooks import settings


def _record(call: str, kwargs: dict[str, Any]) -> None:
    records = Path(settings()["records"])
    records.mkdir(parents=True, exist_ok=True)
    with (records / "model-registry.jsonl").open("a") as f:
        f.write(json.dumps({"call": call, **kwargs}, default=str) + "\n")


def patch(module: ModuleType) -> None:
    model_cls = module.Model

    def list_models(*args: Any, **kwargs: Any) -> list:
        _record("Model.list", kwargs)
        return []

    def upload(*args: Any, **kwargs: Any) -> SimpleNamespace:
        _record("Model.upload", kwargs)
        return SimpleNamespace(resource_name="projects/0/locations/emulated/models/1",
                               version_id="1")

    model_cls.list = staticmethod(list_models)
    model_cls.upload = staticmethod(upload)
