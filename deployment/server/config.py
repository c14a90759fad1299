"""Typed server configuration: command-line flags and TF Serving's ``model_config_list`` file.

The model config file is the very text proto that TF Serving reads on GKE
(``deployment/base/models.config``), so one file describes which versions are served in both
places. Everything here is pure (no TensorFlow, no clock, no network); bad input raises
``ConfigError`` with a message that names the flag, file or field.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from pipelines.common import names, storage
from pipelines.common.argtypes import at_least
from pipelines.common.errors import ConfigError
from pipelines.common.names import DEFAULT_MODEL_NAME, MODEL_NAME_RE

DEFAULT_BASE_PATH = names.DEFAULT_SERVING_DIR / DEFAULT_MODEL_NAME
DEFAULT_REQUEST_LOG_DIR = names.DEFAULT_REQUEST_LOG_DIR
DEFAULT_GRPC_PORT = 8500


@dataclasses.dataclass(frozen=True)
class VersionPolicy:
    """Which version directories are served, as TF Serving's ``model_version_policy``.

    ``latest``: the ``num_versions`` highest loadable versions; ``specific``: exactly
    ``versions`` (those present); ``all``: every version found.
    """

    kind: Literal["latest", "specific", "all"] = "latest"
    num_versions: int = 1
    versions: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("latest", "specific", "all"):
            raise ConfigError(f"version policy must be latest, specific or all, got {self.kind!r}")
        if self.kind == "latest" and self.num_versions < 1:
            raise ConfigError(f"latest.num_versions must be >= 1, got {self.num_versions}")
        if self.kind == "specific" and not self.versions:
            raise ConfigError("specific.versions must list at least one version")
        if any(v < 0 for v in self.versions):
            raise ConfigError(f"versions must be non-negative integers, got {list(self.versions)}")

    def select(self, available: Sequence[int]) -> list[int]:
        """The versions to serve among ``available`` (loadable version numbers)."""
        ordered = sorted(set(available))
        if self.kind == "latest":
            return ordered[-self.num_versions:]
        if self.kind == "specific":
            return [v for v in ordered if v in self.versions]
        return ordered

    def describe(self) -> str:
        if self.kind == "latest":
            return f"latest {self.num_versions}"
        if self.kind == "specific":
            return f"specific {list(self.versions)}"
        return "all"


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """One served model: a name, a base path of integer version folders, a policy, labels."""

    name: str
    base_path: Path
    policy: VersionPolicy = VersionPolicy()
    version_labels: Mapping[str, int] = dataclasses.field(default_factory=dict)
    # A base_path URI from a config file (gs://...), kept verbatim for the error message.
    remote_base_path: str = ""

    def __post_init__(self) -> None:
        if not MODEL_NAME_RE.match(self.name):
            raise ConfigError(f"model name {self.name!r} must be letters, digits, '_', '.', '-'")
        for label in self.version_labels:
            if not MODEL_NAME_RE.match(label) or label.isdigit():
                raise ConfigError(f"model {self.name!r}: version label {label!r} must be a word "
                                  "(letters, digits, '_', '.', '-'), not a number")


@dataclasses.dataclass(frozen=True)
class BatchingConfig:
    """Groups concurrent requests for the same version and signature into one TF call.

    With ``timeout_ms`` 0 a batch is whatever queued while the previous call ran (no added
    latency when idle); a positive timeout waits that long for more, as TF Serving's
    ``batch_timeout_micros`` does.
    """

    enabled: bool = True
    max_batch_size: int = 256
    timeout_ms: float = 0.0
    num_threads: int = 2


@dataclasses.dataclass(frozen=True)
class RequestLogConfig:
    """Where and how predictions are logged for monitoring (``None`` dir: not logged)."""

    directory: Path | str | None = DEFAULT_REQUEST_LOG_DIR  # a folder or a gs:// URI
    roll_seconds: float = 60.0
    roll_records: int = 10_000
    queue_size: int = 100_000
    # Bounds: the oldest files go first past either; a larger record is dropped and counted.
    max_bytes: int | None = 1024 ** 3
    max_age_seconds: float | None = 14 * 86400.0
    max_record_bytes: int = 64 * 1024
    # gs:// only: where finished files wait for their upload (None: a fresh temporary folder).
    # A folder that outlives the process (a pod's emptyDir) keeps them across a crash.
    spool_dir: Path | None = None


@dataclasses.dataclass(frozen=True)
class ProxyConfig:
    """Proxy mode (``deployment.server.proxy``): no model is loaded; requests go to TF Serving
    at ``rest_backend`` (``http://host:port``) and ``grpc_backend`` (``host:port``) and answered
    predictions are logged."""

    rest_backend: str
    grpc_backend: str | None = None
    timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        if not re.match(r"^https?://[^/\s]+$", self.rest_backend):
            raise ConfigError(f"--proxy-rest must be a URL like http://127.0.0.1:8511 (scheme, "
                              f"host and port, no path), got {self.rest_backend!r}")
        if self.grpc_backend is not None and not re.match(r"^[^/\s:]+:\d+$|^\[[0-9a-fA-F:]+\]:\d+$",
                                                          self.grpc_backend):
            raise ConfigError(f"--proxy-grpc must be host:port like 127.0.0.1:8510, got "
                              f"{self.grpc_backend!r}")


@dataclasses.dataclass(frozen=True)
class ServerConfig:
    """Everything the server needs, resolved from flags (and a model config file)."""

    models: tuple[ModelConfig, ...]
    host: str = "127.0.0.1"
    port: int = 8501
    # gRPC (TF Serving's PredictionService and ModelService): None is off; 0 picks a free port.
    # The flag's default is TF Serving's 8500; a ServerConfig built in code has it off.
    grpc_port: int | None = None
    poll_seconds: float = 2.0
    max_body_bytes: int = 10 * 1024 * 1024
    header_timeout_seconds: float = 10.0  # slow clients: see deployment/server/timeouts.py
    body_timeout_seconds: float = 30.0
    max_instances: int = 1000
    batching: BatchingConfig = BatchingConfig()
    request_log: RequestLogConfig = RequestLogConfig()
    log_level: str = "info"
    proxy: ProxyConfig | None = None
    # Server processes sharing the port (deployment/server/supervisor.py); 1: this process.
    workers: int = 1

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {self.workers}")
        names = [m.name for m in self.models]
        if not names:
            raise ConfigError("no model to serve")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(f"model names must be unique, {duplicates} repeat")
        if self.grpc_port and self.grpc_port == self.port:
            raise ConfigError(f"--grpc-port {self.grpc_port} is also the REST --port: give "
                              "them different ports")

    def model(self, name: str) -> ModelConfig | None:
        return next((m for m in self.models if m.name == name), None)


def parse_model_config_text(text: str, source: str = "model config") -> list[ModelConfig]:
    """Parses TF Serving's ``ModelServerConfig`` text proto (a ``model_config_list``)."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    proto = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, proto)
    except text_format.ParseError as err:
        raise ConfigError(f"{source} is not a valid TF Serving ModelServerConfig text proto: "
                          f"{err}") from None
    if proto.WhichOneof("config") != "model_config_list":
        raise ConfigError(f"{source} must contain a model_config_list {{ config {{ ... }} }}")
    models = []
    for index, entry in enumerate(proto.model_config_list.config):
        where = f"{source}, config #{index + 1} ({entry.name or 'no name'})"
        if not entry.name:
            raise ConfigError(f"{where}: name is required")
        if not entry.base_path:
            raise ConfigError(f"{where}: base_path is required")
        if entry.model_platform not in ("", "tensorflow"):
            raise ConfigError(f"{where}: model_platform must be 'tensorflow', "
                              f"got {entry.model_platform!r}")
        policy = _policy_from_proto(entry.model_version_policy, where)
        try:
            models.append(ModelConfig(
                name=entry.name, base_path=Path(entry.base_path), policy=policy,
                version_labels=dict(entry.version_labels),
                remote_base_path=entry.base_path if "://" in entry.base_path else ""))
        except ConfigError as err:
            raise ConfigError(f"{where}: {err}") from None
    if not models:
        raise ConfigError(f"{source}: model_config_list has no config entries")
    return models


def _policy_from_proto(policy, where: str) -> VersionPolicy:
    kind = policy.WhichOneof("policy_choice")
    try:
        if kind == "specific":
            return VersionPolicy("specific", versions=tuple(policy.specific.versions))
        if kind == "all":
            return VersionPolicy("all")
        if kind == "latest":
            return VersionPolicy("latest", num_versions=policy.latest.num_versions or 1)
        return VersionPolicy()
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None


def _versions(text: str) -> tuple[int, ...]:
    try:
        versions = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integer versions like 3,5, got {text!r}") from None
    if not versions or any(v < 0 for v in versions):
        raise argparse.ArgumentTypeError(f"expected non-negative integer versions, got {text!r}")
    return versions


def _grpc_port(text: str) -> int | None:
    if text.strip().lower() == "off":
        return None
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port 0-65535 or 'off', got {text!r}")
    return port


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m deployment.server",
        description="Serve pushed SavedModels over TF Serving's REST API v1 on this machine, "
                    "with hot reload of new versions, batching, Prometheus metrics and a "
                    "request log for monitoring.",
        epilog="Endpoints: GET /v1/models/NAME[/versions/V|/labels/L][/metadata], POST "
               "/v1/models/NAME[/versions/V|/labels/L]:predict|:classify|:regress, /metrics, "
               "/healthz, /readyz.",
    )
    model = parser.add_argument_group("models")
    model.add_argument("--model-base-path", type=Path, default=None,
                       help=f"folder of integer version folders, as the Pusher writes them "
                            f"(default {DEFAULT_BASE_PATH}; with --model-config-file it "
                            f"replaces that file's base_path)")
    model.add_argument("--model-name", default=None,
                       help=f"name in the URLs (default {DEFAULT_MODEL_NAME})")
    model.add_argument("--model-config-file", type=Path, default=None,
                       help="TF Serving model_config_list text proto (e.g. "
                            "deployment/base/models.config): names, base paths, version policy "
                            "and labels")
    policy = model.add_mutually_exclusive_group()
    policy.add_argument("--num-versions", type=at_least(int, 1), default=None,
                        help="serve the N newest versions (default 1; TF Serving's latest policy)")
    policy.add_argument("--versions", type=_versions, default=None,
                        help="serve exactly these versions, e.g. 3,5 (specific policy)")
    policy.add_argument("--all-versions", action="store_true",
                        help="serve every version found (all policy)")
    model.add_argument("--poll-seconds", type=at_least(float, 0.05), default=2.0,
                       help="how often the base path is checked for new versions (default 2)")

    http = parser.add_argument_group("HTTP")
    http.add_argument("--host", default="127.0.0.1",
                      help="address to bind (default 127.0.0.1: this machine only)")
    http.add_argument("--port", type=at_least(int, 0), default=8501,
                      help="port (default 8501, TF Serving's REST port; 0 picks a free one)")
    http.add_argument("--grpc-port", type=_grpc_port, default=DEFAULT_GRPC_PORT,
                      help=f"gRPC port of TF Serving's PredictionService and ModelService "
                           f"(default {DEFAULT_GRPC_PORT}, TF Serving's; on --host too; 0 picks a "
                           "free one; 'off' serves REST only)")
    http.add_argument("--max-body-bytes", type=at_least(int, 1), default=10 * 1024 * 1024,
                      help="larger request bodies get 413, larger gRPC messages "
                           "RESOURCE_EXHAUSTED (default 10 MiB)")
    http.add_argument("--header-timeout-seconds", type=at_least(float, 0.01), default=10.0,
                      help="a request's headers must arrive within this; else 408 and the "
                           "connection is closed (default 10)")
    http.add_argument("--body-timeout-seconds", type=at_least(float, 0.01), default=30.0,
                      help="a request's body must arrive within this; else 408 (default 30)")
    http.add_argument("--max-instances", type=at_least(int, 1), default=1000,
                      help="more instances in one request get 400 (default 1000)")
    http.add_argument("--workers", default="1", metavar="N|auto",
                      help="server processes sharing the port, each with its own copy of the "
                           "models (memory grows per worker); auto: the CPUs this process may "
                           "use (affinity and cgroup quota). Default 1: this process serves")
    # Set by the supervisor on the processes it starts: serve the inherited listening socket.
    http.add_argument("--worker-fd", type=int, default=None, help=argparse.SUPPRESS)
    http.add_argument("--log-level", default="info",
                      choices=["debug", "info", "warning", "error"], help="default info")

    batching = parser.add_argument_group("batching")
    batching.add_argument("--batching", action=argparse.BooleanOptionalAction, default=True,
                          help="group concurrent requests into one TF call (default on)")
    batching.add_argument("--max-batch-size", type=at_least(int, 1), default=256,
                          help="most instances in one TF call (default 256)")
    batching.add_argument("--batch-timeout-ms", type=at_least(float, 0), default=0.0,
                          help="wait this long for more requests before a call (default 0: "
                               "batch only what queued while the last call ran)")
    batching.add_argument("--num-batch-threads", type=at_least(int, 1), default=2,
                          help="TF calls run in parallel per signature (default 2)")

    proxy = parser.add_argument_group(
        "proxy", "a request-logging front of TF Serving (a GKE sidecar): load no model, "
        "forward REST and gRPC to TF Serving and log its answered predictions")
    proxy.add_argument("--proxy-rest", default=None, metavar="URL",
                       help="TF Serving's REST address, e.g. http://127.0.0.1:8511 (turns "
                            "proxy mode on; model names and labels come from --model-name or "
                            "--model-config-file, whose base paths are not read)")
    proxy.add_argument("--proxy-grpc", default=None, metavar="HOST:PORT",
                       help="TF Serving's gRPC address, e.g. 127.0.0.1:8510, served on "
                            "--grpc-port")
    proxy.add_argument("--proxy-timeout-seconds", type=at_least(float, 0.01), default=30.0,
                       help="a backend slower than this answers 504 / DEADLINE_EXCEEDED "
                            "(default 30)")

    log = parser.add_argument_group("request log")
    log.add_argument("--request-log-dir", type=storage.location,
                     default=DEFAULT_REQUEST_LOG_DIR,
                     help=f"Parquet log of every prediction, for monitoring: a folder or "
                          f"gs://BUCKET/PREFIX (files spooled locally, then uploaded; "
                          f"STORAGE_EMULATOR_HOST points gs:// at an emulator) "
                          f"(default {DEFAULT_REQUEST_LOG_DIR})")
    log.add_argument("--no-request-log", action="store_true", help="do not log predictions")
    log.add_argument("--request-log-roll-seconds", type=at_least(float, 0.01), default=60.0,
                     help="a new file at least this often while requests come (default 60)")
    log.add_argument("--request-log-roll-records", type=at_least(int, 1), default=10_000,
                     help="a new file after this many records (default 10000)")
    log.add_argument("--request-log-queue", type=at_least(int, 1), default=100_000,
                     help="records waiting to be written; beyond it records are dropped and "
                          "counted, never slowing a response (default 100000)")
    log.add_argument("--request-log-max-mb", type=at_least(float, 0.001), default=1024.0,
                     help="disk quota of the log; the oldest files are deleted past it "
                          "(default 1024; 0 is refused: use --no-request-log)")
    log.add_argument("--request-log-max-days", type=at_least(float, 0.0001), default=14.0,
                     help="files older than this many days are deleted (default 14: the "
                          "monitor's windows and label delays must fit)")
    log.add_argument("--request-log-max-record-kb", type=at_least(float, 0.1), default=64.0,
                     help="a record (one prediction's features) larger than this is dropped "
                          "and counted, not written (default 64)")
    log.add_argument("--request-log-spool-dir", type=Path,
                     help="with a gs:// --request-log-dir: the local folder where finished "
                          "files wait for their upload; files a crashed process left there are "
                          "uploaded at start (default: a new temporary folder)")
    return parser


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """Resolves parsed flags (and the model config file they name) into a ``ServerConfig``."""
    cli_policy = None
    if args.num_versions is not None:
        cli_policy = VersionPolicy("latest", num_versions=args.num_versions)
    elif args.versions is not None:
        cli_policy = VersionPolicy("specific", versions=args.versions)
    elif args.all_versions:
        cli_policy = VersionPolicy("all")

    proxy = _proxy(args)
    if args.model_config_file is not None:
        models = _models_from_file(args, cli_policy)
    else:
        models = [ModelConfig(
            name=args.model_name or DEFAULT_MODEL_NAME,
            base_path=args.model_base_path or DEFAULT_BASE_PATH,
            policy=cli_policy or VersionPolicy(),
        )]
    for m in models if proxy is None else ():  # a proxy reads no model
        _check_base_path(m, from_file=args.model_config_file is not None
                         and args.model_base_path is None)
    return ServerConfig(
        models=tuple(models),
        host=args.host,
        port=args.port,
        grpc_port=args.grpc_port,
        poll_seconds=args.poll_seconds,
        max_body_bytes=args.max_body_bytes,
        header_timeout_seconds=args.header_timeout_seconds,
        body_timeout_seconds=args.body_timeout_seconds,
        max_instances=args.max_instances,
        batching=BatchingConfig(enabled=args.batching, max_batch_size=args.max_batch_size,
                                timeout_ms=args.batch_timeout_ms,
                                num_threads=args.num_batch_threads),
        request_log=RequestLogConfig(
            directory=None if args.no_request_log else args.request_log_dir,
            roll_seconds=args.request_log_roll_seconds,
            roll_records=args.request_log_roll_records,
            queue_size=args.request_log_queue,
            max_bytes=int(args.request_log_max_mb * 1024 * 1024),
            max_age_seconds=args.request_log_max_days * 86400.0,
            max_record_bytes=int(args.request_log_max_record_kb * 1024),
            spool_dir=args.request_log_spool_dir,
        ),
        log_level=args.log_level,
        proxy=proxy,
        workers=parse_workers(args.workers),
    )


def _proxy(args: argparse.Namespace) -> ProxyConfig | None:
    if args.proxy_rest is None:
        if args.proxy_grpc is not None:
            raise ConfigError("--proxy-grpc needs --proxy-rest (the proxy polls TF Serving's "
                              "REST model status for the versions it logs)")
        return None
    if args.proxy_grpc is not None and args.grpc_port is None:
        raise ConfigError("--proxy-grpc needs a --grpc-port to serve on, not off")
    return ProxyConfig(rest_backend=args.proxy_rest.rstrip("/"), grpc_backend=args.proxy_grpc,
                       timeout_seconds=args.proxy_timeout_seconds)


def parse_workers(text: str) -> int:
    """``--workers``: a whole number >= 1, or ``auto`` (the CPUs this process may use)."""
    if text.strip().lower() == "auto":
        from deployment.server.cpus import available_cpus

        return available_cpus()
    try:
        workers = int(text)
    except ValueError:
        raise ConfigError(f"--workers must be a whole number >= 1 or 'auto', got "
                          f"{text!r}") from None
    if workers < 1:
        raise ConfigError(f"--workers must be a whole number >= 1 or 'auto', got {workers}")
    return workers


def _models_from_file(args: argparse.Namespace, cli_policy: VersionPolicy | None
                      ) -> list[ModelConfig]:
    path: Path = args.model_config_file
    if cli_policy is not None:
        raise ConfigError("--num-versions/--versions/--all-versions cannot be combined with "
                          f"--model-config-file {path}: set model_version_policy in the file")
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"--model-config-file {path} cannot be read: {err.strerror}") from None
    models = parse_model_config_text(text, source=f"--model-config-file {path}")
    overrides = {}
    if args.model_name is not None:
        overrides["name"] = args.model_name
    if args.model_base_path is not None:
        overrides["base_path"] = args.model_base_path
        overrides["remote_base_path"] = ""
    if overrides:
        if len(models) != 1:
            raise ConfigError(f"--model-name/--model-base-path replace the name/base_path of a "
                              f"config file with one model, but {path} has {len(models)}")
        models = [dataclasses.replace(models[0], **overrides)]
    return models


def _check_base_path(model: ModelConfig, from_file: bool) -> None:
    text = model.remote_base_path or str(model.base_path)
    origin = (f"base_path of model {model.name!r} in the model config file" if from_file
              else "--model-base-path")
    if model.remote_base_path:
        raise ConfigError(f"{origin} is {text}, which is not a local folder; this server reads "
                          "local folders only: pass --model-base-path workspace/serving_model/"
                          f"{model.name} (or wherever the Pusher writes)")
    if not model.base_path.is_dir():
        what = "is not a folder" if model.base_path.exists() else "does not exist"
        raise ConfigError(f"{origin} {text} {what}. It should hold one folder per model version "
                          "(e.g. 1795425462/saved_model.pb) as the Pusher writes them: run "
                          "`make run` to train and push a model, or point --model-base-path at "
                          "an existing one")
