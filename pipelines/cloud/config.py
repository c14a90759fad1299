"""Typed configuration of the cloud runs: one YAML file plus ``CLICKFLOW_<KEY>`` overrides.

Nothing here reads credentials or the clock: ``load_cloud_config`` parses and validates text,
and every error names the setting, where it came from and what is expected.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from pipelines.common.errors import ConfigError
from pipelines.common.names import DEFAULT_MODEL_NAME, DEFAULT_PIPELINE_NAME
from pipelines.config import DEFAULT_TRAIN_STEPS, PipelineConfig

ENV_PREFIX = "CLICKFLOW_"
TARGETS = ("vertex", "kfp")

_PROJECT_RE = re.compile(r"^(?:[a-z][a-z0-9.-]*:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_REGION_RE = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
_TABLE_RE = re.compile(
    r"^(?:[a-z][a-z0-9.-]*:)?[a-z][a-z0-9-]{4,28}[a-z0-9]\.[A-Za-z0-9_]{1,1024}\.[\w$-]{1,1024}$")
_IMAGE_RE = re.compile(
    r"^[a-z0-9.-]+(?::[0-9]+)?(?:/[a-z0-9._-]+)+(?::[\w.-]{1,128}|@sha256:[0-9a-f]{64})$")
_ACCELERATOR_RE = re.compile(r"^[A-Z][A-Z0-9_]+$")
_MACHINE_RE = re.compile(r"^[a-z][a-z0-9]*-[a-z0-9-]+$")
_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_CRON_FIELD_RE = re.compile(r"^[0-9A-Za-z*?/,-]+$")


def _gs_path(value: str) -> bool:
    return value.startswith("gs://") and len(value) > len("gs://") and " " not in value


@dataclasses.dataclass(frozen=True)
class Schedule:
    """One recurring run: a 5-field cron expression in an IANA time zone."""

    name: str
    cron: str
    time_zone: str
    tune: bool


@dataclasses.dataclass(frozen=True)
class CloudConfig:
    """Where and how the pipeline runs in Google Cloud (Vertex AI Pipelines or KFP 2.x)."""

    project: str = ""
    region: str = ""
    bucket: str = ""
    bigquery_table: str = ""
    pipeline_image: str = ""
    target: str = "vertex"
    pipeline_name: str = DEFAULT_PIPELINE_NAME
    model_name: str = DEFAULT_MODEL_NAME
    pipeline_root: str = ""
    serving_model_base_path: str = ""
    service_account: str = ""
    # Dataflow, for ExampleGen, StatisticsGen, Transform and Evaluator.
    dataflow_region: str = ""
    dataflow_machine_type: str = "n1-standard-4"
    dataflow_max_workers: int = 4
    dataflow_disk_size_gb: int = 50
    dataflow_temp_location: str = ""
    dataflow_service_account: str = ""
    dataflow_subnetwork: str = ""
    dataflow_use_public_ips: bool = True
    # Trainer and Tuner. accelerator_count 0 trains on CPU.
    trainer_machine_type: str = "n1-standard-8"
    # The identity the Trainer/Tuner Vertex custom jobs run as (empty: Vertex's default
    # custom-code service agent, which has far more access than training needs).
    trainer_service_account: str = ""
    accelerator_type: str = "NVIDIA_TESLA_T4"
    accelerator_count: int = 1
    kfp_gpu_resource: str = "nvidia.com/gpu"
    # What the graph does (see pipelines.config.PipelineConfig).
    train_steps: int = DEFAULT_TRAIN_STEPS  # a ceiling (models.budget)
    eval_steps: int = 100
    max_trials: int = 10
    min_auc: float = 0.75
    max_auc_drop: float = 0.01
    # The simple-baseline gate (PipelineConfig.simple_model_gate / simple_model_margin).
    simple_model_gate: bool = True
    simple_model_margin: float = 0.01
    # Recurring runs.
    daily_cron: str = "0 3 * * *"
    daily_time_zone: str = "UTC"
    weekly_cron: str = "0 4 * * 0"
    weekly_time_zone: str = "UTC"
    # Optional registration of each pushed model in Vertex AI Model Registry.
    register_model: bool = False
    registry_serving_image: str = (
        "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest")
    # Kubeflow Pipelines 2.x.
    kfp_host: str = ""
    kfp_namespace: str = ""
    kfp_experiment: str = "clickflow"
    kfp_scheduler_time_zone: str = "UTC"

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ConfigError("invalid cloud configuration:\n  " + "\n  ".join(problems))

    @property
    def resolved_pipeline_root(self) -> str:
        return self.pipeline_root or f"gs://{self.bucket}/pipeline_root"

    @property
    def resolved_serving_model_base_path(self) -> str:
        return self.serving_model_base_path or f"gs://{self.bucket}/serving_model/{self.model_name}"

    @property
    def resolved_temp_location(self) -> str:
        return self.dataflow_temp_location or f"gs://{self.bucket}/dataflow/tmp"

    @property
    def schedules(self) -> tuple[Schedule, Schedule]:
        return (
            Schedule(f"{self.pipeline_name}-daily", self.daily_cron, self.daily_time_zone, False),
            Schedule(f"{self.pipeline_name}-weekly-tuning", self.weekly_cron,
                     self.weekly_time_zone, True),
        )

    def pipeline_config(self, *, tune: bool) -> PipelineConfig:
        return PipelineConfig(train_steps=self.train_steps, eval_steps=self.eval_steps, tune=tune,
                              max_trials=self.max_trials, min_auc=self.min_auc,
                              max_auc_drop=self.max_auc_drop,
                              simple_model_gate=self.simple_model_gate,
                              simple_model_margin=self.simple_model_margin)

    def require_kfp_host(self) -> None:
        if not self.kfp_host:
            raise ConfigError(
                f"kfp_host is not set (env {ENV_PREFIX}KFP_HOST): expected the Kubeflow "
                "Pipelines API address, e.g. http://localhost:8080 after "
                "'kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80'")


_REQUIRED = {
    "project": "a Google Cloud project id, e.g. my-project",
    "region": "a Google Cloud region, e.g. us-central1",
    "bucket": "a Cloud Storage bucket name (or gs://name) for the pipeline root",
    "bigquery_table": "the training table as project.dataset.table",
    "pipeline_image": "the pipeline image with a pinned tag or digest, e.g. "
                      "us-central1-docker.pkg.dev/my-project/clickflow/pipeline:1.0.0",
}


def _problems(c: CloudConfig) -> list[str]:
    out = [f"{key} is not set: expected {what}" for key, what in _REQUIRED.items()
           if not getattr(c, key)]

    def check(key: str, ok: bool, expected: str) -> None:
        value = getattr(c, key)
        if value not in ("", None) and not ok:
            out.append(f"{key}={value!r} is invalid: expected {expected}")

    check("project", bool(_PROJECT_RE.match(c.project)),
          "6-30 lowercase letters, digits or hyphens, starting with a letter")
    check("region", bool(_REGION_RE.match(c.region)), "a region such as us-central1")
    check("bucket", bool(_BUCKET_RE.match(c.bucket)), "a bucket name (no 'gs://', no folder)")
    check("bigquery_table", bool(_TABLE_RE.match(c.bigquery_table)),
          "project.dataset.table, e.g. my-project.ads.clicks")
    check("pipeline_image",
          bool(_IMAGE_RE.match(c.pipeline_image)) and not c.pipeline_image.endswith(":latest"),
          "registry/path/name with a pinned version tag (not 'latest') or @sha256 digest")
    if c.target not in TARGETS:
        out.append(f"target={c.target!r} is invalid: expected one of {', '.join(TARGETS)}")
    for key in ("pipeline_name", "model_name"):
        check(key, bool(_NAME_RE.match(getattr(c, key))),
              "lowercase letters, digits and hyphens, starting with a letter (max 63)")
    for key in ("pipeline_root", "serving_model_base_path", "dataflow_temp_location"):
        check(key, _gs_path(getattr(c, key)), "a gs://bucket/path location")
    check("dataflow_region", bool(_REGION_RE.match(c.dataflow_region)),
          "a region such as us-central1 (empty: the same as region)")
    for key in ("dataflow_machine_type", "trainer_machine_type"):
        check(key, bool(_MACHINE_RE.match(getattr(c, key))),
              "a Compute Engine machine type such as n1-standard-8")
    for key in ("service_account", "dataflow_service_account", "trainer_service_account"):
        check(key, "@" in getattr(c, key), "a service account e-mail")
    for key, low in (("dataflow_max_workers", 1), ("dataflow_disk_size_gb", 10),
                     ("accelerator_count", 0)):
        check(key, getattr(c, key) >= low, f"a whole number >= {low}")
    if c.accelerator_count > 0:
        check("accelerator_type", bool(_ACCELERATOR_RE.match(c.accelerator_type)),
              "a Vertex AI accelerator type such as NVIDIA_TESLA_T4 or NVIDIA_L4")
        if not c.accelerator_type:
            out.append("accelerator_type is not set but accelerator_count is "
                       f"{c.accelerator_count}: expected e.g. NVIDIA_TESLA_T4 (or count 0 = CPU)")
    check("kfp_gpu_resource", "/" in c.kfp_gpu_resource,
          "a Kubernetes extended resource such as nvidia.com/gpu")
    check("registry_serving_image", bool(_IMAGE_RE.match(c.registry_serving_image)),
          "a serving container image with a tag or digest")
    check("kfp_host", c.kfp_host.startswith(("http://", "https://")),
          "an http(s):// address of the Kubeflow Pipelines API")
    check("kfp_experiment", bool(c.kfp_experiment.strip()), "a non-empty experiment name")
    for key in ("daily_cron", "weekly_cron"):
        problem = _cron_problem(getattr(c, key))
        if problem:
            out.append(f"{key}={getattr(c, key)!r} is invalid: {problem}")
    for key in ("daily_time_zone", "weekly_time_zone", "kfp_scheduler_time_zone"):
        if not _valid_time_zone(getattr(c, key)):
            out.append(f"{key}={getattr(c, key)!r} is invalid: expected an IANA time zone such "
                       "as UTC or Europe/Berlin")
    try:
        c.pipeline_config(tune=False)
    except ConfigError as err:
        out.append(str(err))
    return out


def _cron_problem(cron: str) -> str | None:
    fields = cron.split()
    if len(fields) != 5:
        return (f"expected 5 fields (minute hour day-of-month month day-of-week), got "
                f"{len(fields)}; put the time zone in the *_time_zone setting, not in the cron")
    bad = [f for f in fields if not _CRON_FIELD_RE.match(f)]
    if bad:
        return f"field {bad[0]!r} has characters cron does not accept"
    return None


def _valid_time_zone(name: str) -> bool:
    if not name or name.startswith("/") or ".." in name:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


_FIELDS = {f.name: f for f in dataclasses.fields(CloudConfig)}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _coerce(key: str, value: Any, source: str) -> Any:
    kind = _FIELDS[key].type
    where = f"{key} (from {source})"
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ConfigError(f"{where}: expected a whole number, got {value!r}")
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{where}: expected a whole number, got {value!r}") from None
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if value is None:
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ConfigError(f"{where}: expected text, got {value!r}")
    return str(value).strip()


def _unknown(key: str, source: str) -> ConfigError:
    close = difflib.get_close_matches(key, _FIELDS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"unknown setting {key!r} in {source}{hint}; known settings: "
                       f"{', '.join(_FIELDS)}")


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """The settings in a YAML file: a flat mapping of known keys."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist; expected a YAML file such as "
                          "configs/cloud.example.yaml") from None
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings (key: value), "
                          f"got {type(data).__name__}")
    return data


def load_cloud_config(path: str | os.PathLike | None = None,
                      environ: Mapping[str, str] | None = None,
                      **overrides: Any) -> CloudConfig:
    """File settings, then ``CLICKFLOW_<KEY>`` environment variables, then ``overrides``."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    if path is not None:
        for key, value in read_config_file(path).items():
            if key not in _FIELDS:
                raise _unknown(str(key), str(path))
            values[key] = _coerce(key, value, str(path))
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        key = name[len(ENV_PREFIX):].lower()
        if key not in _FIELDS:
            # Other clickflow tools may use the prefix too; only a near-miss is a typo.
            if difflib.get_close_matches(key, _FIELDS, n=1, cutoff=0.85):
                raise _unknown(key, f"environment variable {name}")
            continue
        values[key] = _coerce(key, value, f"environment variable {name}")
    for key, value in overrides.items():
        if value is not None:
            values[key] = _coerce(key, value, "command line")
    if isinstance(values.get("bucket"), str) and values["bucket"].startswith("gs://"):
        values["bucket"] = values["bucket"][len("gs://"):].rstrip("/")
    return CloudConfig(**values)
