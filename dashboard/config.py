"""Typed dashboard settings from environment variables, read when a page runs (never at import)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from pipelines.common import names, storage
from pipelines.common.errors import ConfigError
from pipelines.common.names import (
    DEFAULT_MODEL_NAME,
    DEFAULT_MONITORING_DIR,
    DEFAULT_PIPELINE_NAME,
    DEFAULT_PIPELINE_ROOT,
    DEFAULT_REQUEST_LOG_DIR,
)

DEFAULT_SERVING_URL = "http://127.0.0.1:8501"

ENV_SERVING_URL = "CLICKFLOW_SERVING_URL"
ENV_MODEL_NAME = "CLICKFLOW_MODEL_NAME"
ENV_PIPELINE_ROOT = "CLICKFLOW_PIPELINE_ROOT"
ENV_PIPELINE_NAME = "CLICKFLOW_PIPELINE_NAME"
ENV_MONITORING_DIR = "CLICKFLOW_MONITORING_DIR"
ENV_REQUEST_LOG_DIR = "CLICKFLOW_REQUEST_LOG_DIR"


def _location(text: str, variable: str) -> Path | str:
    """A folder (made absolute) or a gs://BUCKET/PREFIX URI (kept as it is)."""
    if not storage.is_gcs(text):
        return Path(text).expanduser().resolve()
    try:
        storage.split(text)
    except ValueError as err:
        raise DashboardConfigError(f"{variable}: {err}") from None
    return text.rstrip("/")


class DashboardConfigError(ConfigError):
    """A setting that cannot be used; the message names the variable and what is expected."""


@dataclasses.dataclass(frozen=True)
class DashboardConfig:
    """Where the dashboard finds the model server, the pipeline's metadata and the monitor's
    reports."""

    serving_url: str = DEFAULT_SERVING_URL
    model_name: str = DEFAULT_MODEL_NAME
    pipeline_root: Path = DEFAULT_PIPELINE_ROOT
    pipeline_name: str = DEFAULT_PIPELINE_NAME
    monitoring_dir: Path | str = DEFAULT_MONITORING_DIR  # the monitor's --out-dir (or gs://)
    request_log_dir: Path | str = DEFAULT_REQUEST_LOG_DIR  # the server's --request-log-dir

    def __post_init__(self) -> None:
        problems = []
        url = urlsplit(self.serving_url)
        if url.scheme not in ("http", "https") or not url.netloc:
            problems.append(
                f"{ENV_SERVING_URL}={self.serving_url!r} must be an http(s) URL with a host, "
                f"such as {DEFAULT_SERVING_URL} (local server) or "
                "http://<GKE service address>:8501")
        elif url.query or url.fragment:
            problems.append(f"{ENV_SERVING_URL}={self.serving_url!r} must not have a query or "
                            "fragment; give the server's base URL")
        if not names.MODEL_NAME_RE.match(self.model_name):
            problems.append(f"{ENV_MODEL_NAME}={self.model_name!r} must be a TF Serving model "
                            "name (letters, digits, '_', '.', '-')")
        if not self.pipeline_name.strip():
            problems.append(f"{ENV_PIPELINE_NAME} must not be empty")
        if problems:
            raise DashboardConfigError("; ".join(problems))
        object.__setattr__(self, "serving_url", self.serving_url.rstrip("/"))

    @property
    def metadata_path(self) -> Path:
        return names.metadata_path(self.pipeline_root)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DashboardConfig:
        env = os.environ if env is None else env
        root = env.get(ENV_PIPELINE_ROOT)
        monitoring = env.get(ENV_MONITORING_DIR)
        request_log = env.get(ENV_REQUEST_LOG_DIR)
        return cls(
            serving_url=env.get(ENV_SERVING_URL) or DEFAULT_SERVING_URL,
            model_name=env.get(ENV_MODEL_NAME) or DEFAULT_MODEL_NAME,
            pipeline_root=Path(root).expanduser().resolve() if root else DEFAULT_PIPELINE_ROOT,
            pipeline_name=env.get(ENV_PIPELINE_NAME) or DEFAULT_PIPELINE_NAME,
            monitoring_dir=(_location(monitoring, ENV_MONITORING_DIR) if monitoring
                            else DEFAULT_MONITORING_DIR),
            request_log_dir=(_location(request_log, ENV_REQUEST_LOG_DIR) if request_log
                             else DEFAULT_REQUEST_LOG_DIR),
        )
