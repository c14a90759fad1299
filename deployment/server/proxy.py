"""The request-logging proxy: our server's front in front of TF Serving (a GKE sidecar).

Open-source TF Serving has no request logger (tensorflow/serving#408), so on GKE the
monitor would have nothing to read. In proxy mode this server loads no model: it forwards
TF Serving's REST API and gRPC services unchanged to a backend (real TF Serving beside it in the
pod) and logs each answered prediction to the same Parquet request log the local server writes
(``log_writer``), off the response path.

- REST: every ``/v1/...`` request and ``/monitoring/...`` go to ``rest_backend`` as sent (body,
  headers but hop-by-hop ones); the status, headers and body come back as the backend wrote
  them, plus ``X-Request-Id`` (the client's, or a new one, also sent to the backend). A
  ``:predict``/``:classify``/``:regress`` without a version is sent to the version the proxy
  knows as the newest AVAILABLE one (it polls the backend's model status), so the log names the
  version that answered; if that version has just been unloaded (404) the request is re-sent
  as the client wrote it, once.
- gRPC: every method of ``tensorflow.serving.PredictionService`` and ``ModelService`` goes to
  ``grpc_backend`` as bytes (metadata and deadline kept; codes, details and trailing metadata
  come back); Predict and Classify responses name their version themselves.
- A backend that does not answer is 502 (REST) / UNAVAILABLE (gRPC); one slower than
  ``timeout_seconds`` is 504 / DEADLINE_EXCEEDED. Both are counted as failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import grpc
import httpx
import numpy as np
import tensorflow as tf  # imported up front: the log writer's thread parses with it too
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tensorflow_serving.apis import classification_pb2, predict_pb2

from deployment.server import api
from deployment.server.app import (
    MODEL_URL,
    AccessLog,
    CaseInsensitiveRoutes,
    json_response,
    request_log_writer,
)
from deployment.server.body import read_body
from deployment.server.config import ServerConfig
from deployment.server.convert import RequestError
from deployment.server.grpc_api import serialized_examples
from deployment.server.log_writer import LogEntry
from deployment.server.metrics import ServerMetrics

log = logging.getLogger("deployment.server.proxy")

# RFC 9110 7.6.1: connection-specific fields are not forwarded; the length is recomputed.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate",
                        "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade",
                        "host", "content-length", "content-encoding"})
PREDICTION_SUFFIXES = (":predict", ":classify", ":regress")
SERVICES = ("/tensorflow.serving.PredictionService/", "/tensorflow.serving.ModelService/")


class Versions:
    """The newest AVAILABLE version of each model, from the backend's REST model status."""

    def __init__(self, client: httpx.AsyncClient, models: list[str]):
        self.client = client
        self.models = models
        self.latest: dict[str, int] = {}

    async def refresh(self, name: str) -> int | None:
        try:
            response = await self.client.get(f"/v1/models/{name}")
            statuses = response.json().get("model_version_status", []) \
                if response.status_code == 200 else []
        except (httpx.HTTPError, ValueError, AttributeError):
            return self.latest.get(name)
        available = [int(s["version"]) for s in statuses
                     if isinstance(s, dict) and s.get("state") == "AVAILABLE"]
        if available:
            self.latest[name] = max(available)
        else:
            self.latest.pop(name, None)
        return self.latest.get(name)

    async def poll(self, seconds: float) -> None:
        while True:
            for name in self.models:
                await self.refresh(name)
            await asyncio.sleep(seconds)


class Proxy:
    """The proxy's parts: backend clients, the version poller, metrics and the request log."""

    def __init__(self, config: ServerConfig, grpc_reuse_port: bool = False):
        self.grpc_reuse_port = grpc_reuse_port
        if config.proxy is None:
            raise ValueError("Proxy needs a ServerConfig with proxy settings")
        self.config = config
        self.settings = config.proxy
        self.metrics = ServerMetrics()
        self.request_log = request_log_writer(config, self.metrics)
        self.labels = {m.name: dict(m.version_labels) for m in config.models}
        self.client: httpx.AsyncClient | None = None
        self.versions: Versions | None = None
        self.grpc_port: int | None = None
        self._tasks: list[asyncio.Task] = []
        self._grpc_server: grpc.aio.Server | None = None
        self._channel: grpc.aio.Channel | None = None

    async def start(self) -> None:
        timeout = self.settings.timeout_seconds
        self.client = httpx.AsyncClient(
            base_url=self.settings.rest_backend, timeout=httpx.Timeout(timeout, connect=2.0),
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64))
        self.versions = Versions(self.client, [m.name for m in self.config.models])
        if self.request_log is not None:
            self.request_log.start()
        self._tasks.append(asyncio.create_task(self.versions.poll(self.config.poll_seconds)))
        if self.config.grpc_port is not None and self.settings.grpc_backend:
            await self._start_grpc()

    async def stop(self) -> None:
        if self._grpc_server is not None:
            await self._grpc_server.stop(5)
        for task in self._tasks:
            task.cancel()
        if self._channel is not None:
            await self._channel.close()
        if self.client is not None:
            await self.client.aclose()
        if self.request_log is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.request_log.close)

    # --- REST ---------------------------------------------------------------------------

    async def forward(self, request: Request) -> Response:
        state = request.state
        state.api = "other"
        path = request.url.path
        request_id = api.request_id(request.headers.get("x-request-id"))
        state.request_id = request_id
        match = MODEL_URL.match(path[len("/v1/models/"):]) \
            if path.lower().startswith("/v1/models/") else None
        suffix = (match["suffix"] or "").lower() if match else ""
        name = match["name"] if match else ""
        if match:
            state.api = suffix[1:] if suffix.startswith(":") else (
                "metadata" if suffix == "/metadata" else "status")
            state.model = name if name in self.labels else ""
        body = b""
        if request.method in ("POST", "PUT"):
            body = await read_body(request, self.config.max_body_bytes,
                                   self.config.body_timeout_seconds)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["x-request-id"] = request_id
        target, version = path, None
        if match and suffix in PREDICTION_SUFFIXES and name in self.labels:
            if match["version"] is not None:
                version = int(match["version"])
            elif match["label"] is not None:
                version = self.labels[name].get(match["label"])
            else:
                version = self.versions.latest.get(name) or await self.versions.refresh(name)
                if version is not None:
                    target = f"/v1/models/{name}/versions/{version}{suffix}"
        response = await self._send(request.method, target, request.url.query, body, headers)
        if target != path and response.status_code == 404:  # unloaded since the last poll
            response = await self._send(request.method, path, request.url.query, body, headers)
            version = await self.versions.refresh(name)
        if version is not None:
            state.version = str(version)
        out = Response(response.content, status_code=response.status_code, headers={
            k: v for k, v in response.headers.items() if k.lower() not in HOP_BY_HOP})
        out.headers["X-Request-Id"] = request_id
        if response.status_code == 200 and suffix in (":predict", ":classify") \
                and self.request_log is not None:
            out.background = BackgroundTask(
                self._log_rest, suffix, name, version, body, response.content, request_id,
                time.time())
        return out

    async def _send(self, method: str, path: str, query: str, body: bytes,
                    headers: Mapping[str, str]) -> httpx.Response:
        url = f"{path}?{query}" if query else path
        try:
            return await self.client.request(method, url, content=body or None,
                                             headers=headers)
        except httpx.TimeoutException:
            raise RequestError(f"the model server behind this proxy "
                               f"({self.settings.rest_backend}) took over "
                               f"{self.settings.timeout_seconds:g} s (--proxy-timeout-seconds)",
                               504) from None
        except httpx.TransportError as err:
            raise RequestError(f"the model server behind this proxy "
                               f"({self.settings.rest_backend}) did not answer: "
                               f"{type(err).__name__}: {err}", 502) from None

    def _log_rest(self, suffix: str, name: str, version: int | None, body: bytes,
                  answer: bytes, request_id: str, received: float) -> None:
        try:
            payload, result = json.loads(body), json.loads(answer)
            entry = rest_entry(suffix, payload, result)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            entry = None
        if entry is None:
            return
        signature, probability, fields = entry
        self.request_log.submit(LogEntry(
            request_id=request_id, logged_at=received, model_name=name,
            model_version=version or 0, signature=signature, probability=probability,
            **fields))

    # --- gRPC ---------------------------------------------------------------------------

    async def _start_grpc(self) -> None:
        self._channel = grpc.aio.insecure_channel(self.settings.grpc_backend, options=[
            ("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1),
            # A restarted backend is found again within a second, not gRPC's default minutes.
            ("grpc.initial_reconnect_backoff_ms", 100), ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1000)])
        self._grpc_server = grpc.aio.server(options=[
            ("grpc.so_reuseport", 1 if self.grpc_reuse_port else 0),
            ("grpc.max_receive_message_length", self.config.max_body_bytes),
            ("grpc.max_send_message_length", -1)])
        self._grpc_server.add_generic_rpc_handlers((_Forwarder(self),))
        host = self.config.host
        address = f"[{host}]:{self.config.grpc_port}" if ":" in host else \
            f"{host}:{self.config.grpc_port}"
        try:
            self.grpc_port = self._grpc_server.add_insecure_port(address)
        except RuntimeError as err:
            raise OSError(f"cannot listen on {address} for gRPC ({err})") from None
        await self._grpc_server.start()

    async def forward_grpc(self, method: str, request: bytes,
                           context: grpc.aio.ServicerContext) -> bytes:
        started = time.perf_counter()
        received = time.time()
        metadata = [(k, v) for k, v in (context.invocation_metadata() or ())
                    if k != "x-request-id" and not k.startswith(":")]
        code, model, version = "OK", "", ""
        try:
            given = dict(context.invocation_metadata() or ()).get("x-request-id")
            request_id = api.request_id(given, "x-request-id metadata")
        except RequestError as err:
            self._count_grpc(method, "", "", "INVALID_ARGUMENT", started)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, err.message)
        metadata.append(("x-request-id", request_id))
        remaining = context.time_remaining()
        timeout = self.settings.timeout_seconds if remaining is None else min(
            remaining, self.settings.timeout_seconds)
        forward = self._channel.unary_unary(method)
        try:
            try:
                call = forward(request, timeout=timeout, metadata=metadata)
                response = await call
            except grpc.aio.AioRpcError as err:
                if err.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                # Not sent (no connection): once more, waiting up to 2 s for the backend to
                # come back (a restart), instead of failing within the reconnect back-off.
                call = forward(request, timeout=min(timeout, 2.0), metadata=metadata,
                               wait_for_ready=True)
                try:
                    response = await call
                except grpc.aio.AioRpcError as again:
                    if again.code() == grpc.StatusCode.DEADLINE_EXCEEDED and timeout > 2.0:
                        raise err from None  # still down: the first answer, UNAVAILABLE
                    raise
            trailing = await call.trailing_metadata()
        except grpc.aio.AioRpcError as err:
            code = err.code().name
            if code == "DEADLINE_EXCEEDED" and (remaining is None
                                                or remaining > self.settings.timeout_seconds):
                details = (f"the model server behind this proxy ({self.settings.grpc_backend}) "
                           f"took over {self.settings.timeout_seconds:g} s "
                           "(--proxy-timeout-seconds)")
            elif code == "UNAVAILABLE":
                details = (f"the model server behind this proxy ({self.settings.grpc_backend}) "
                           f"did not answer: {err.details()}")
            else:
                details = err.details() or ""
            self._count_grpc(method, model, version, code, started)
            await context.abort(err.code(), details, err.trailing_metadata() or ())
        kept = [(k, v) for k, v in trailing or () if k != "x-request-id"]
        context.set_trailing_metadata((*kept, ("x-request-id", request_id)))
        logged = self._log_grpc(method, request, response, request_id, received)
        if logged is not None:
            model, version = logged
        self._count_grpc(method, model, version, code, started)
        return response

    def _count_grpc(self, method: str, model: str, version: str, code: str,
                    started: float) -> None:
        api_name = _GRPC_APIS.get(method.rsplit("/", 1)[-1], "other")
        model = model if model in self.labels else ""
        self.metrics.requests.labels(model, version, api_name, code).inc()
        self.metrics.latency.labels(model, api_name).observe(time.perf_counter() - started)

    def _log_grpc(self, method: str, request: bytes, response: bytes, request_id: str,
                  received: float) -> tuple[str, str] | None:
        kind = method.rsplit("/", 1)[-1]
        if kind not in ("Predict", "Classify"):
            return None
        try:
            entry = grpc_entry(kind, request, response)
        except Exception as err:  # a record that cannot be read costs the log, not the answer
            log.debug("cannot log a gRPC %s: %s", kind, err)
            return None
        if entry is None:
            return None
        name, version, signature, probability, fields = entry
        if self.request_log is not None and probability is not None:
            self.request_log.submit(LogEntry(
                request_id=request_id, logged_at=received, model_name=name,
                model_version=version, signature=signature, probability=probability, **fields))
        return name, str(version)


_GRPC_APIS = {"Predict": "predict", "Classify": "classify", "Regress": "regress",
              "MultiInference": "multi_inference", "GetModelMetadata": "metadata",
              "GetModelStatus": "status"}


class _Forwarder(grpc.GenericRpcHandler):
    """Every method of TF Serving's two services, as bytes, to the backend."""

    def __init__(self, proxy: Proxy):
        self.proxy = proxy

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = details.method
        if not method.startswith(SERVICES):
            return None  # UNIMPLEMENTED, as TF Serving answers an unknown service

        async def forward(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            return await self.proxy.forward_grpc(method, request, context)

        return grpc.unary_unary_rpc_method_handler(forward)


def rest_entry(suffix: str, payload: dict, result: dict
               ) -> tuple[str, list[float], dict[str, Any]] | None:
    """What the request log keeps of an answered REST predict/classify: the signature, one
    probability per instance and the features; None when the model has no probability."""
    signature = payload.get("signature_name") or "serving_default"
    if suffix == ":classify":
        context = payload.get("context") or {}
        examples = [{**context, **example} for example in payload["examples"]]
        probability = [float(row[-1][1]) for row in result["results"]]
        return signature, probability, {"examples": examples}
    if "instances" in payload:
        predictions = result["predictions"]
        if not all(isinstance(p, dict) and "probability" in p for p in predictions):
            return None
        probability = [_one(p["probability"]) for p in predictions]
        instances = payload["instances"]
        if not all(isinstance(i, dict) for i in instances):
            return None
        return signature, probability, {"examples": instances}
    outputs = result.get("outputs")
    if not isinstance(outputs, dict) or "probability" not in outputs:
        return None
    probability = np.asarray(outputs["probability"], dtype=float).reshape(-1).tolist()
    return signature, probability, {"columns": payload["inputs"]}


def _one(value: Any) -> float:
    while isinstance(value, list):
        value = value[0]
    return float(value)


def grpc_entry(kind: str, request: bytes, response: bytes
               ) -> tuple[str, int, str, Any, dict[str, Any]] | None:
    """The same for a gRPC Predict or Classify (request and response as bytes)."""
    if kind == "Predict":
        req = predict_pb2.PredictRequest.FromString(request)
        res = predict_pb2.PredictResponse.FromString(response)
        spec = res.model_spec
        if api.PROBABILITY_OUTPUT not in res.outputs:
            return spec.name, spec.version.value, spec.signature_name, None, {}
        probability = tf.make_ndarray(res.outputs[api.PROBABILITY_OUTPUT]).reshape(-1)
        columns = {name: tf.make_ndarray(tensor) for name, tensor in req.inputs.items()}
        if len(columns) == 1 and next(iter(columns.values())).dtype == object:
            return (spec.name, spec.version.value, spec.signature_name, probability,
                    {"serialized": next(iter(columns.values())).reshape(-1)})
        return spec.name, spec.version.value, spec.signature_name, probability, {
            "columns": columns}
    req = classification_pb2.ClassificationRequest.FromString(request)
    res = classification_pb2.ClassificationResponse.FromString(response)
    spec = res.model_spec
    probability = [c.classes[-1].score for c in res.result.classifications]
    serialized = serialized_examples(req.input, max_instances=len(probability) or 1)
    return spec.name, spec.version.value, spec.signature_name, probability, {
        "serialized": serialized}


def create_proxy_app(proxy: Proxy) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await proxy.start()
        try:
            yield
        finally:
            await proxy.stop()

    async def request_error(request: Request, err: Exception) -> Response:
        return json_response({"error": err.message}, err.status)

    async def metrics(request: Request) -> Response:
        request.state.api = "metrics"
        return Response(proxy.metrics.exposition(), media_type=proxy.metrics.content_type)

    async def healthz(request: Request) -> Response:
        request.state.api = "health"
        writer = proxy.request_log
        if writer is not None and not writer.alive():
            return json_response({"status": "failing",
                                  "problems": ["the request log writer thread stopped"]}, 503)
        degraded = writer.recent_drops() if writer is not None else None
        if degraded:
            return json_response({"status": "degraded", "problems": [degraded]})
        return json_response({"status": "ok"})

    async def readyz(request: Request) -> Response:
        request.state.api = "health"
        latest = proxy.versions.latest if proxy.versions else {}
        models = {name: [latest[name]] if name in latest else [] for name in proxy.labels}
        ready = all(models.values())
        return json_response({"ready": ready, "models": models, "backend":
                              proxy.settings.rest_backend}, 200 if ready else 503)

    app = Starlette(
        routes=[
            Route("/v1/{rest:path}", proxy.forward, methods=["GET", "POST", "PUT", "DELETE"]),
            Route("/monitoring/{rest:path}", proxy.forward, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
        ],
        exception_handlers={RequestError: request_error},
        lifespan=lifespan,
    )
    app.add_middleware(AccessLog, metrics=proxy.metrics)
    app.add_middleware(CaseInsensitiveRoutes)
    return app
