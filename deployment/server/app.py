"""The HTTP application: TF Serving's REST API v1, metrics, health, access and request logs.

``Server`` owns the parts (model registry, batcher, metrics, request log writer); ``create_app``
wraps it in a Starlette app whose lifespan starts and stops their threads. Response bodies and
status codes follow TF Serving's REST API: ``{"predictions": ...}`` / ``{"outputs": ...}``,
``{"results": ...}`` for classify, ``{"error": "..."}`` with TF Serving's status: 400 for bad
input, a malformed ``/v1/`` URL or an unknown version label (INVALID_ARGUMENT), 404 for an
unknown model or version (NOT_FOUND); 413 for a body over ``--max-body-bytes``, a limit TF
Serving does not have.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timezone
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deployment.server import api, convert
from deployment.server import servable as servable_lib
from deployment.server.batching import Batcher
from deployment.server.body import parse_json_object, read_body
from deployment.server.config import ServerConfig
from deployment.server.convert import RequestError
from deployment.server.log_writer import RequestLogWriter
from deployment.server.metrics import ServerMetrics
from deployment.server.registry import ModelRegistry

log = logging.getLogger("deployment.server")
access_log = logging.getLogger("deployment.server.access")

# TF Serving matches its routes case-insensitively ("(?i)/v1/models/..." in
# tensorflow_serving/model_servers/http_rest_api_handler.cc); names and labels keep their case.
MODEL_URL = re.compile(
    r"^(?P<name>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
    r"(?P<suffix>/metadata|:predict|:classify|:regress)?$", re.IGNORECASE)
_V1_MODELS = "/v1/models/"
PREDICT_KEYS = {"signature_name", "instances", "inputs"}
CLASSIFY_KEYS = {"signature_name", "examples", "context"}


class Server:
    """The server's parts, wired together; ``start``/``stop`` run in the app's lifespan."""

    def __init__(self, config: ServerConfig, *, watch: bool = True,
                 registry: ModelRegistry | None = None, grpc_reuse_port: bool = False):
        self.config = config
        self.grpc_reuse_port = grpc_reuse_port
        self.grpc_port: int | None = None  # the bound gRPC port once started
        self.watch = watch
        self.metrics = ServerMetrics()
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(4, 2 * config.batching.num_threads), thread_name_prefix="tf-call")
        self.registry = registry or ModelRegistry(
            config.models, on_change=self._on_change, on_load=self._on_load)
        self.batcher = Batcher(config.batching, self.executor, self.metrics)
        self.request_log = request_log_writer(config, self.metrics)
        self._loop: asyncio.AbstractEventLoop | None = None

    def _on_change(self, model: str, served: Mapping[int, Any]) -> None:
        self.metrics.set_loaded(model, sorted(served))
        loop = self._loop
        if loop is not None and not loop.is_closed():
            versions = set(served)
            loop.call_soon_threadsafe(
                self.batcher.forget, lambda key: key[0] != model or key[1] in versions)

    def _on_load(self, model: str, version: int, seconds: float, outcome: str) -> None:
        self.metrics.loads.labels(model, outcome).inc()
        if outcome == "ok":
            self.metrics.load_seconds.labels(model).observe(seconds)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.request_log is not None:
            self.request_log.start()
        if self.watch:
            self.registry.start(self.config.poll_seconds)

    def stop(self) -> None:
        self.registry.stop()
        self.batcher.close()
        if self.request_log is not None:
            self.request_log.close()
        self.executor.shutdown(wait=True, cancel_futures=False)
        self._loop = None


def request_log_writer(config: ServerConfig, metrics: ServerMetrics) -> RequestLogWriter | None:
    """The request log writer of ``config`` (None when logging is off); not started."""
    settings = config.request_log
    if settings.directory is None:
        return None
    return RequestLogWriter(
        settings.directory, roll_seconds=settings.roll_seconds,
        roll_records=settings.roll_records, queue_size=settings.queue_size, metrics=metrics,
        max_bytes=settings.max_bytes, max_age_seconds=settings.max_age_seconds,
        max_record_bytes=settings.max_record_bytes, spool_dir=settings.spool_dir)


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None
                  ) -> Response:
    # allow_nan: TF Serving writes NaN/Infinity for non-finite outputs; clients expect it.
    text = json.dumps(body, allow_nan=True, separators=(",", ":"))
    return Response(text, status_code=status, media_type="application/json", headers=headers)


def error_response(err: RequestError) -> Response:
    # After a timed-out body the connection is mid-request: close it, or the rest of that body
    # would be parsed as the next request.
    headers = {"Connection": "close"} if err.status == 408 else None
    return json_response({"error": err.message}, err.status, headers)


class Handlers:
    """TF Serving's REST API v1 over a ``Server``."""

    def __init__(self, server: Server):
        self.server = server
        self.config = server.config
        self.registry = server.registry
        self.api = api.Api(server)

    async def model_api(self, request: Request) -> Response:
        state = request.state
        state.api = "other"
        match = MODEL_URL.match(request.path_params["rest"])
        if match is None:
            raise RequestError(f"Malformed request: {request.method} {request.url.path}")
        name, suffix = match["name"], (match["suffix"] or "").lower() or None
        if name in self.registry.model_names:
            state.model = name
        version = int(match["version"]) if match["version"] is not None else None
        if version is not None and version >= 2**63:  # TF Serving's versions are int64
            raise RequestError(f"Failed to convert version: {match['version']} to numeric.")
        label = match["label"]
        post = suffix in (":predict", ":classify", ":regress")
        if request.method != ("POST" if post else "GET"):
            raise RequestError(f"Malformed request: {request.method} {request.url.path} "
                               f"(use {'POST' if post else 'GET'})")
        if suffix is None:
            state.api = "status"
            return self.status(name, version, label)
        if suffix == "/metadata":
            state.api = "metadata"
            return self.metadata(name, version, label)
        state.api = suffix[1:]
        request_id = api.request_id(request.headers.get("x-request-id"))
        state.request_id = request_id
        body = await read_body(request, self.config.max_body_bytes,
                               self.config.body_timeout_seconds)
        servable = self.registry.resolve(name, version, label)
        state.version = str(servable.version)
        if suffix == ":predict":
            response = await self.predict(request, servable, body, request_id)
        elif suffix == ":classify":
            response = await self.classify(request, servable, body, request_id)
        else:
            response = await self.regress(request, servable, body, request_id)
        response.headers["X-Request-Id"] = request_id
        return response

    def status(self, name: str, version: int | None, label: str | None) -> Response:
        if name not in self.registry.model_names:
            raise RequestError(f"Could not find any versions of model {name}", 404)
        if label is not None:
            labels = self.registry.model_config(name).version_labels
            if label not in labels:
                raise RequestError(f"Unrecognized servable version label: {label}; model "
                                   f"{name} has labels {sorted(labels)}")
            version = labels[label]
        statuses = self.registry.statuses(name)
        if version is not None:
            statuses = [s for s in statuses if s.version == version]
            if not statuses:
                raise RequestError(f"Could not find version {version} of model {name}", 404)
        if not statuses:
            raise RequestError(f"Could not find any versions of model {name} (none under its "
                               f"base path yet)", 404)
        return json_response({"model_version_status": [s.to_json() for s in statuses]})

    def metadata(self, name: str, version: int | None, label: str | None) -> Response:
        servable = self.registry.resolve(name, version, label)
        return json_response({
            "model_spec": {"name": name, "signature_name": "", "version": str(servable.version)},
            "metadata": servable.signature_def_json,
        })

    async def predict(self, request: Request, servable: servable_lib.Servable, body: bytes,
                      request_id: str) -> Response:
        payload = parse_json_object(body, PREDICT_KEYS)
        name = payload.get("signature_name", "")
        # An empty name is serving_default, as TF Serving's GetInfoMap has it.
        signature = api.signature(servable, servable_lib.DEFAULT_SIGNATURE if name == "" else name)
        if ("instances" in payload) == ("inputs" in payload):
            raise RequestError("the request needs exactly one of 'instances' (row format) or "
                               "'inputs' (columnar format)")
        row_format = "instances" in payload
        convert_fn = convert.instances_to_inputs if row_format else convert.columns_to_inputs
        inputs, count = convert_fn(payload["instances" if row_format else "inputs"],
                                   signature.inputs, signature.name, self.config.max_instances)
        received = time.time()
        outputs = await self.api.call(request.state, servable, signature, inputs, count)
        self.api.log_prediction(request_id, received, servable, signature, inputs, outputs)
        self.api.counted(servable, "predict", count)
        if row_format:
            return json_response({"predictions": convert.outputs_to_rows(outputs, count)})
        return json_response({"outputs": convert.outputs_to_columns(outputs)})

    async def classify(self, request: Request, servable: servable_lib.Servable, body: bytes,
                       request_id: str) -> Response:
        payload = parse_json_object(body, CLASSIFY_KEYS)
        signature = api.method_signature(servable, payload.get("signature_name"),
                                         servable_lib.CLASSIFY_METHOD, "classification")
        received = time.time()
        outputs, serialized, examples = await self._call_examples(
            request, servable, signature, payload, "classify")
        results = convert.classify_results(outputs)
        self.api.log_classification(request_id, received, servable, signature, outputs,
                                    examples=examples)
        self.api.counted(servable, "classify", len(serialized))
        return json_response({"results": results})

    async def _call_examples(self, request: Request, servable: servable_lib.Servable,
                             signature: servable_lib.Signature, payload: dict[str, Any],
                             task: str) -> tuple[dict[str, np.ndarray], list[bytes], list]:
        serialized, examples = convert.examples_to_serialized(
            payload.get("examples"), payload.get("context"), servable.feature_specs(),
            self.config.max_instances, task)
        inputs = {next(iter(signature.inputs)): api.examples_array(serialized)}
        outputs = await self.api.call(request.state, servable, signature, inputs,
                                      len(serialized))
        return outputs, serialized, examples

    async def regress(self, request: Request, servable: servable_lib.Servable, body: bytes,
                      request_id: str) -> Response:
        """TF Serving's ``:regress``: ``{"results": [value, ...]}`` from the regression
        signature's ``outputs`` tensor, one float per example."""
        payload = parse_json_object(body, CLASSIFY_KEYS)
        signature = api.method_signature(servable, payload.get("signature_name"),
                                         servable_lib.REGRESS_METHOD, "regression")
        outputs, serialized, _ = await self._call_examples(request, servable, signature,
                                                           payload, "regress")
        values = api.regression_values(outputs, signature, len(serialized))
        self.api.counted(servable, "regress", len(serialized))
        return json_response({"results": [convert.float_json(v) for v in values]})

    async def malformed(self, request: Request) -> Response:
        request.state.api = "other"
        if request.method == "GET" and request.url.path.lower() == "/v1/models":
            raise RequestError("Missing model name in request.")  # TF Serving's words
        raise RequestError(f"Malformed request: {request.method} {request.url.path}")

    async def metrics(self, request: Request) -> Response:
        request.state.api = "metrics"
        return Response(self.server.metrics.exposition(),
                        media_type=self.server.metrics.content_type)

    async def healthz(self, request: Request) -> Response:
        request.state.api = "health"
        problems = []
        if self.server.watch and not self.registry.alive():
            problems.append("the model watcher thread stopped")
        writer = self.server.request_log
        if writer is not None and not writer.alive():
            problems.append("the request log writer thread stopped")
        if problems:
            return json_response({"status": "failing", "problems": problems}, 503)
        # Dropped records cost monitoring, not predictions: degraded, still 200 (a liveness
        # probe must not restart a server that answers).
        degraded = writer.recent_drops() if writer is not None else None
        if degraded:
            return json_response({"status": "degraded", "problems": [degraded]})
        return json_response({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        request.state.api = "health"
        models = {name: sorted(self.registry.served(name)) for name in self.registry.model_names}
        ready = self.registry.ready()
        return json_response({"ready": ready, "models": models}, 200 if ready else 503)


class CaseInsensitiveRoutes:
    """Pure ASGI middleware: ``/V1/Models/...`` is routed as ``/v1/models/...`` (TF Serving's
    route regexes are case-insensitive); the rest of the path is left as sent."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path[:4].lower() == "/v1/":
            prefix = _V1_MODELS if path[:11].lower() == _V1_MODELS else "/v1/"
            if not path.startswith(prefix):
                scope = {**scope, "path": prefix + path[len(prefix):]}
        await self.app(scope, receive, send)


class AccessLog:
    """Pure ASGI middleware: one JSON access-log line and the request metrics per request."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}
        scope.setdefault("state", {})

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            seconds = time.perf_counter() - started
            state = scope["state"]
            api = state.get("api", "other")
            model, version = state.get("model", ""), state.get("version", "")
            self.metrics.requests.labels(model, version, api, str(status["code"])).inc()
            if api in ("predict", "classify", "status", "metadata"):
                self.metrics.latency.labels(model, api).observe(seconds)
            instances = state.get("instances")
            if api in ("predict", "classify") and instances:
                size = "one-row" if instances == 1 else "batch"
                self.metrics.latency_by_size.labels(model, api, size).observe(seconds)
            client = scope.get("client")
            access_log.info(json.dumps({
                "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                "request_id": state.get("request_id"),
                "client": f"{client[0]}:{client[1]}" if client else None,
                "method": scope["method"],
                "path": scope["path"],
                "status": status["code"],
                "duration_ms": round(seconds * 1000, 3),
                "api": api,
                "model": model or None,
                "version": version or None,
                "signature": state.get("signature"),
                "instances": state.get("instances"),
            }, separators=(",", ":")))


def create_app(server: Server) -> Starlette:
    handlers = Handlers(server)
    grpc_server_class = None
    if server.config.grpc_port is not None:
        # Imported here, before the lifespan starts the model watcher: two threads importing
        # TensorFlow at once deadlock on its module locks (the protos import all of it).
        from deployment.server.grpc_api import GrpcServer as grpc_server_class

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        server.start()
        grpc_server = None
        try:
            if grpc_server_class is not None:
                grpc_server = grpc_server_class(server, server.config.grpc_port,
                                                reuse_port=server.grpc_reuse_port)
                server.grpc_port = await grpc_server.start()
                log.info("gRPC (PredictionService, ModelService) on %s:%d",
                         server.config.host, server.grpc_port)
            yield
        finally:
            if grpc_server is not None:
                await grpc_server.stop()
            await asyncio.get_running_loop().run_in_executor(None, server.stop)

    async def request_error(request: Request, err: Exception) -> Response:
        return error_response(err)

    async def http_error(request: Request, err: Exception) -> Response:
        message = f"Malformed request: {request.method} {request.url.path}"
        return json_response({"error": message}, getattr(err, "status_code", 404))

    async def internal_error(request: Request, err: Exception) -> Response:
        log.exception("internal error answering %s %s", request.method, request.url.path,
                      exc_info=err)
        return json_response({"error": f"internal error: {type(err).__name__}: {err}"}, 500)

    app = Starlette(
        routes=[
            Route("/v1/models/{rest:path}", handlers.model_api, methods=["GET", "POST"]),
            Route("/v1/{rest:path}", handlers.malformed, methods=["GET", "POST"]),
            Route("/metrics", handlers.metrics, methods=["GET"]),
            Route("/monitoring/prometheus/metrics", handlers.metrics, methods=["GET"]),
            Route("/healthz", handlers.healthz, methods=["GET"]),
            Route("/readyz", handlers.readyz, methods=["GET"]),
        ],
        exception_handlers={RequestError: request_error, HTTPException: http_error,
                            Exception: internal_error},
        lifespan=lifespan,
    )
    app.add_middleware(AccessLog, metrics=server.metrics)
    app.add_middleware(CaseInsensitiveRoutes)
    return app
