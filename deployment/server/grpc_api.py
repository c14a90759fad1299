"""TF Serving's gRPC API: PredictionService and ModelService from tensorflow-serving-api's protos.

The services run in a ``grpc.aio`` server on the REST server's event loop (started and stopped
in ``create_app``'s lifespan) and share its parts through ``api.Api``: servables, version
policy and labels, the batcher, metrics and the request log. Each method follows TF Serving's
implementation and answers its status codes:

- Predict: ``predict_impl.cc`` / ``predict_util.cc`` (Missing ModelSpec; an unknown signature
  is FAILED_PRECONDITION; input aliases must match the signature's exactly; ``output_filter``).
- Classify / Regress: ``classifier.cc`` / ``regressor.cc`` (the signature's method name) and
  ``util.cc``'s ``InputToSerializedExampleTensor`` ("Input is empty."; a context is prepended to
  each serialized example).
- MultiInference: ``multi_inference.cc`` (one model, distinct signatures, one input tensor).
- GetModelMetadata: ``get_model_metadata_impl.cc`` (``metadata_field`` must be signature_def).
- GetModelStatus: ``get_model_status_impl.cc``; HandleReloadConfigRequest is UNIMPLEMENTED:
  this server reads its model config once, at start.

A request id comes from the ``x-request-id`` metadata (or is made) and goes back in the
trailing metadata, as REST's ``X-Request-Id`` header. Requests are counted in
``clickflow_serving_requests`` with the gRPC code's name as ``status`` (OK, NOT_FOUND, ...).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import grpc
import numpy as np
from google.protobuf import json_format
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from deployment.server import api, tensor_proto
from deployment.server import servable as servable_lib
from deployment.server.convert import RequestError, check_max_instances

if TYPE_CHECKING:
    from deployment.server.app import Server

log = logging.getLogger("deployment.server")
access_log = logging.getLogger("deployment.server.access")

LATENCY_APIS = ("predict", "classify", "regress", "multi_inference", "status", "metadata")
SIGNATURE_DEF_FIELD = "signature_def"


def _model_spec(spec: Any, servable: servable_lib.Servable, signature_name: str | None,
                into: Any) -> None:
    """TF Serving's ``MakeModelSpec``: name, the version served and the signature used."""
    into.name = spec.name
    into.version.value = servable.version
    if signature_name is not None:
        into.signature_name = signature_name


def _requested_version(spec: Any) -> tuple[int | None, str | None]:
    choice = spec.WhichOneof("version_choice")
    if choice == "version":
        return spec.version.value, None
    if choice == "version_label":
        return None, spec.version_label
    return None, None


def serialized_examples(input_: Any, max_instances: int) -> np.ndarray:
    """``tensorflow.serving.Input`` -> serialized tf.Examples, as ``InputToSerializedExample
    Tensor`` (tensorflow_serving/servables/tensorflow/util.cc)."""
    kind = input_.WhichOneof("kind")
    if kind == "example_list":
        serialized = [e.SerializeToString() for e in input_.example_list.examples]
    elif kind == "example_list_with_context":
        # TF Serving appends each example's serialization to the context's: fields of the
        # example override the context's (a proto merge of the two).
        with_context = input_.example_list_with_context
        context = with_context.context.SerializeToString()
        serialized = [context + e.SerializeToString() for e in with_context.examples]
    else:
        serialized = []
    if not serialized:
        raise RequestError("Input is empty.")
    check_max_instances(len(serialized), max_instances)
    return api.examples_array(serialized)


class _Calls:
    """Runs one RPC: its request id, error mapping, access log line and metrics."""

    def __init__(self, server: Server):
        self.server = server
        self.metrics = server.metrics

    async def run(self, name: str, api_name: str, context: grpc.aio.ServicerContext,
                  handler: Callable[[api.RequestState], Awaitable[Any]]) -> Any:
        started = time.perf_counter()
        state = api.RequestState(api=api_name)
        code = "OK"
        try:
            given = dict(context.invocation_metadata() or ()).get("x-request-id")
            state.request_id = api.request_id(given, "x-request-id metadata")
            response = await handler(state)
            context.set_trailing_metadata((("x-request-id", state.request_id),))
            return response
        except RequestError as err:
            code = err.grpc_code
            await context.abort(grpc.StatusCode[code], err.message)
        except asyncio.CancelledError:
            code = "CANCELLED"
            raise
        except Exception as err:
            if isinstance(err, grpc.aio.AbortError):
                raise
            code = "INTERNAL"
            log.exception("internal error answering gRPC %s", name, exc_info=err)
            await context.abort(grpc.StatusCode.INTERNAL,
                                f"internal error: {type(err).__name__}: {err}")
        finally:
            self._account(name, state, code, time.perf_counter() - started, context)

    def _account(self, name: str, state: api.RequestState, code: str, seconds: float,
                 context: grpc.aio.ServicerContext) -> None:
        api_name, model, version = state.api, state.model, state.version
        self.metrics.requests.labels(model, version, api_name, code).inc()
        if api_name in LATENCY_APIS:
            self.metrics.latency.labels(model, api_name).observe(seconds)
        if api_name in ("predict", "classify") and state.instances:
            size = "one-row" if state.instances == 1 else "batch"
            self.metrics.latency_by_size.labels(model, api_name, size).observe(seconds)
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(json.dumps({
                "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                "request_id": state.request_id,
                "client": context.peer(),
                "method": "gRPC",
                "path": name,
                "status": code,
                "duration_ms": round(seconds * 1000, 3),
                "api": api_name,
                "model": model or None,
                "version": version or None,
                "signature": state.signature,
                "instances": state.instances,
            }, separators=(",", ":")))


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """tensorflow.serving.PredictionService over the shared ``api.Api``."""

    def __init__(self, server: Server, calls: _Calls):
        self.server = server
        self.api = api.Api(server)
        self.registry = server.registry
        self.config = server.config
        self.calls = calls

    def _servable(self, request: Any, state: api.RequestState, spec: Any | None = None
                  ) -> servable_lib.Servable:
        if spec is None:
            if not request.HasField("model_spec"):
                raise RequestError("Missing ModelSpec")
            spec = request.model_spec
        if spec.name in self.registry.model_names:
            state.model = spec.name
        version, label = _requested_version(spec)
        servable = self.registry.resolve(spec.name, version, label)
        state.version = str(servable.version)
        return servable

    async def Predict(self, request: predict_pb2.PredictRequest,
                      context: grpc.aio.ServicerContext) -> predict_pb2.PredictResponse:
        return await self.calls.run("/tensorflow.serving.PredictionService/Predict", "predict",
                                    context, lambda state: self._predict(request, state))

    async def _predict(self, request: predict_pb2.PredictRequest, state: api.RequestState
                       ) -> predict_pb2.PredictResponse:
        servable = self._servable(request, state)
        name = request.model_spec.signature_name or servable_lib.DEFAULT_SIGNATURE
        signature = api.signature(servable, name, grpc_code="FAILED_PRECONDITION")
        given, expected = set(request.inputs), set(signature.inputs)
        if given != expected:
            # TF Serving's VerifyRequestInputsSize message (predict_util.cc).
            raise RequestError(
                f"input size does not match signature: {len(given)}!={len(expected)} "
                f"len({{{','.join(sorted(given))}}}) != len({{{','.join(sorted(expected))}}})."
                f" Sent extra: {{{','.join(sorted(given - expected))}}}. Missing but required: "
                f"{{{','.join(sorted(expected - given))}}}.")
        outputs_wanted = list(request.output_filter) or list(signature.outputs)
        for alias in request.output_filter:
            if alias not in signature.outputs:
                raise RequestError(f"output tensor alias not found in signature: {alias} "
                                   f"Outputs expected to be in the set "
                                   f"{{{','.join(sorted(signature.outputs))}}}.")
        if len(set(outputs_wanted)) != len(outputs_wanted):
            duplicate = next(a for a in outputs_wanted if outputs_wanted.count(a) > 1)
            raise RequestError(f"duplicate output tensor alias: {duplicate}")
        max_elements = self.config.max_body_bytes
        inputs = {alias: tensor_proto.to_array(request.inputs[alias], spec, alias, max_elements)
                  for alias, spec in signature.inputs.items()}
        count = self._count(inputs, signature)
        received = time.time()
        outputs = await self.api.call(state, servable, signature, inputs, count)
        self.api.log_prediction(state.request_id, received, servable, signature, inputs,
                                outputs)
        self.api.counted(servable, "predict", count)
        response = predict_pb2.PredictResponse()
        _model_spec(request.model_spec, servable, name, response.model_spec)
        for alias in outputs_wanted:
            response.outputs[alias].CopyFrom(tensor_proto.from_array(outputs[alias]))
        return response

    def _count(self, inputs: dict[str, np.ndarray], signature: servable_lib.Signature) -> int:
        if not signature.batchable:
            return 1
        sizes = {alias: array.shape[0] for alias, array in inputs.items()}
        if len(set(sizes.values())) > 1:
            raise RequestError(f"input tensors must have the same batch size (first "
                               f"dimension), got {sizes}")
        count = next(iter(sizes.values()), 0)
        if count == 0:
            raise RequestError("the request has no instances (batch size 0); send at least one")
        check_max_instances(count, self.config.max_instances)
        return count

    async def Classify(self, request: classification_pb2.ClassificationRequest,
                       context: grpc.aio.ServicerContext
                       ) -> classification_pb2.ClassificationResponse:
        return await self.calls.run("/tensorflow.serving.PredictionService/Classify",
                                    "classify", context,
                                    lambda state: self._classify(request, state))

    async def _classify(self, request: Any, state: api.RequestState) -> Any:
        servable = self._servable(request, state)
        signature = api.method_signature(servable, request.model_spec.signature_name,
                                         servable_lib.CLASSIFY_METHOD, "classification")
        serialized = serialized_examples(request.input, self.config.max_instances)
        received = time.time()
        outputs = await self._examples_call(state, servable, signature, serialized)
        self.api.log_classification(state.request_id, received, servable, signature, outputs,
                                    serialized=serialized)
        self.api.counted(servable, "classify", len(serialized))
        response = classification_pb2.ClassificationResponse()
        _model_spec(request.model_spec, servable, signature.name, response.model_spec)
        _classifications(outputs, len(serialized), response.result)
        return response

    async def _examples_call(self, state: api.RequestState, servable: servable_lib.Servable,
                             signature: servable_lib.Signature, serialized: np.ndarray
                             ) -> dict[str, np.ndarray]:
        inputs = {next(iter(signature.inputs)): serialized}
        return await self.api.call(state, servable, signature, inputs, len(serialized))

    async def Regress(self, request: regression_pb2.RegressionRequest,
                      context: grpc.aio.ServicerContext) -> regression_pb2.RegressionResponse:
        return await self.calls.run("/tensorflow.serving.PredictionService/Regress", "regress",
                                    context, lambda state: self._regress(request, state))

    async def _regress(self, request: Any, state: api.RequestState) -> Any:
        servable = self._servable(request, state)
        signature = api.method_signature(servable, request.model_spec.signature_name,
                                         servable_lib.REGRESS_METHOD, "regression")
        serialized = serialized_examples(request.input, self.config.max_instances)
        outputs = await self._examples_call(state, servable, signature, serialized)
        values = api.regression_values(outputs, signature, len(serialized))
        self.api.counted(servable, "regress", len(serialized))
        response = regression_pb2.RegressionResponse()
        _model_spec(request.model_spec, servable, signature.name, response.model_spec)
        response.result.regressions.extend(
            regression_pb2.Regression(value=float(v)) for v in values)
        return response

    async def MultiInference(self, request: inference_pb2.MultiInferenceRequest,
                             context: grpc.aio.ServicerContext
                             ) -> inference_pb2.MultiInferenceResponse:
        return await self.calls.run("/tensorflow.serving.PredictionService/MultiInference",
                                    "multi_inference", context,
                                    lambda state: self._multi_inference(request, state))

    async def _multi_inference(self, request: Any, state: api.RequestState) -> Any:
        # GetModelSpecFromRequest: the first task's spec names the servable (an empty one is
        # not found).
        first = request.tasks[0].model_spec if request.tasks else None
        servable = self._servable(request, state,
                                  spec=first if first is not None else model_pb2.ModelSpec())
        tasks = []
        seen: set[str] = set()
        input_name = None
        for task in request.tasks:
            spec = task.model_spec
            if not spec.name:
                raise RequestError("Found ModelSpec with an empty model name.")
            if spec.name != first.name:
                raise RequestError("All ModelSpecs in a MultiInferenceRequest must access the "
                                   "same model name.")
            name = spec.signature_name or servable_lib.DEFAULT_SIGNATURE
            if name in seen:
                raise RequestError(f"Duplicate evaluation of signature: {name}")
            seen.add(name)
            if name not in servable.signatures:
                raise RequestError(f"Requested signature not found in model graph: {name}")
            if task.method_name == servable_lib.CLASSIFY_METHOD:
                signature = api.method_signature(servable, name, task.method_name,
                                                 "classification")
            elif task.method_name == servable_lib.REGRESS_METHOD:
                signature = api.method_signature(servable, name, task.method_name, "regression")
            else:
                raise RequestError(f"Unsupported signature method_name: {task.method_name}",
                                   501)
            this_input = next(iter(signature.inputs))
            if input_name is not None and this_input != input_name:
                raise RequestError("Input tensor must be the same for all Signatures.")
            input_name = this_input
            tasks.append((task, signature))
        serialized = serialized_examples(request.input, self.config.max_instances)
        received = time.time()
        response = inference_pb2.MultiInferenceResponse()
        for task, signature in tasks:
            outputs = await self._examples_call(state, servable, signature, serialized)
            result = response.results.add()
            _model_spec(task.model_spec, servable, signature.name, result.model_spec)
            if task.method_name == servable_lib.CLASSIFY_METHOD:
                _classifications(outputs, len(serialized), result.classification_result)
                self.api.log_classification(state.request_id, received, servable, signature,
                                            outputs, serialized=serialized)
            else:
                values = api.regression_values(outputs, signature, len(serialized))
                result.regression_result.regressions.extend(
                    regression_pb2.Regression(value=float(v)) for v in values)
        self.api.counted(servable, "multi_inference", len(serialized))
        return response

    async def GetModelMetadata(self,
                               request: get_model_metadata_pb2.GetModelMetadataRequest,
                               context: grpc.aio.ServicerContext
                               ) -> get_model_metadata_pb2.GetModelMetadataResponse:
        return await self.calls.run("/tensorflow.serving.PredictionService/GetModelMetadata",
                                    "metadata", context,
                                    lambda state: self._metadata(request, state))

    async def _metadata(self, request: Any, state: api.RequestState) -> Any:
        if not request.HasField("model_spec"):
            raise RequestError("Missing ModelSpec")
        if not request.metadata_field:
            raise RequestError("GetModelMetadataRequest must specify at least one "
                               "metadata_field")
        for field in request.metadata_field:
            if field != SIGNATURE_DEF_FIELD:
                raise RequestError(f"Metadata field {field} is not supported")
        servable = self._servable(request, state)
        signature_map = json_format.ParseDict(
            servable.signature_def_json[SIGNATURE_DEF_FIELD],
            get_model_metadata_pb2.SignatureDefMap())
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        _model_spec(request.model_spec, servable, None, response.model_spec)
        response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_map)
        return response


def _classifications(outputs: dict[str, np.ndarray], count: int, result: Any) -> None:
    """TF Serving's ``PostProcessClassificationResult``: a label from ``classes`` and a score
    from ``scores``, whichever the signature has."""
    classes, scores = outputs.get("classes"), outputs.get("scores")
    if classes is None and scores is None:
        raise RequestError("the classification signature returned neither 'classes' nor "
                           "'scores'", 500)
    for name, tensor in (("classes", classes), ("scores", scores)):
        if tensor is not None and (tensor.ndim != 2 or tensor.shape[0] != count):
            raise RequestError(f"Expected {name} Tensor shape: [batch_size num_classes] with "
                               f"batch size {count}, got {list(tensor.shape)}", 500)
    width = (classes if classes is not None else scores).shape[1]
    for i in range(count):
        entry = result.classifications.add()
        for c in range(width):
            item = entry.classes.add()
            if classes is not None:
                label = classes[i, c]
                item.label = label.decode() if isinstance(label, bytes) else str(label)
            if scores is not None:
                item.score = float(scores[i, c])


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """tensorflow.serving.ModelService: GetModelStatus; config reloads are not supported."""

    def __init__(self, server: Server, calls: _Calls):
        self.registry = server.registry
        self.calls = calls

    async def GetModelStatus(self,
                             request: get_model_status_pb2.GetModelStatusRequest,
                             context: grpc.aio.ServicerContext
                             ) -> get_model_status_pb2.GetModelStatusResponse:
        return await self.calls.run("/tensorflow.serving.ModelService/GetModelStatus",
                                    "status", context,
                                    lambda state: self._status(request, state))

    async def _status(self, request: Any, state: api.RequestState) -> Any:
        if not request.HasField("model_spec"):
            raise RequestError("Missing ModelSpec")
        spec = request.model_spec
        name = spec.name
        if name in self.registry.model_names:
            state.model = name
        statuses = self.registry.statuses(name) if name in self.registry.model_names else []
        if spec.WhichOneof("version_choice") == "version":
            version = spec.version.value
            statuses = [s for s in statuses if s.version == version]
            if not statuses:
                raise RequestError(f"Could not find version {version} of model {name}", 404)
        elif not statuses:
            raise RequestError(f"Could not find any versions of model {name}", 404)
        response = get_model_status_pb2.GetModelStatusResponse()
        for status in statuses:
            entry = response.model_version_status.add()
            entry.version = status.version
            entry.state = get_model_status_pb2.ModelVersionStatus.State.Value(status.state)
            entry.status.error_code = _ERROR_CODES.get(status.error_code, _UNKNOWN)
            entry.status.error_message = status.error_message
        return response

    async def HandleReloadConfigRequest(self, request: Any,
                                        context: grpc.aio.ServicerContext) -> Any:
        async def refuse(state: api.RequestState) -> Any:
            raise RequestError("this server reads its model config once, at start: restart it "
                               "with the new --model-config-file", 501)

        return await self.calls.run("/tensorflow.serving.ModelService/HandleReloadConfigRequest",
                                    "other", context, refuse)


_CODE_ENUM = get_model_status_pb2.ModelVersionStatus().status.DESCRIPTOR.fields_by_name[
    "error_code"].enum_type
_ERROR_CODES = {value.name: value.number for value in _CODE_ENUM.values}
_UNKNOWN = _ERROR_CODES["UNKNOWN"]


class GrpcServer:
    """The ``grpc.aio`` server of one ``Server``: ``start`` binds and serves, ``stop`` drains."""

    def __init__(self, server: Server, port: int, reuse_port: bool = False):
        self.server = server
        self.requested_port = port
        self.reuse_port = reuse_port
        self.port: int | None = None
        self._grpc: grpc.aio.Server | None = None

    async def start(self) -> int:
        config = self.server.config
        self._grpc = grpc.aio.server(options=[
            # Several workers may bind the same port only when asked (a supervisor's
            # workers): otherwise a second server on the port is an error, not a silent split.
            ("grpc.so_reuseport", 1 if self.reuse_port else 0),
            # The REST body limit (413 there) is gRPC's receive limit (RESOURCE_EXHAUSTED).
            ("grpc.max_receive_message_length", config.max_body_bytes),
            ("grpc.max_send_message_length", -1),
        ])
        calls = _Calls(self.server)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionService(self.server, calls), self._grpc)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(
            ModelService(self.server, calls), self._grpc)
        host = config.host
        address = f"[{host}]:{self.requested_port}" if ":" in host else \
            f"{host}:{self.requested_port}"
        try:
            self.port = self._grpc.add_insecure_port(address)
        except RuntimeError as err:
            raise OSError(f"cannot listen on {address} for gRPC ({err}): is another server "
                          "using the port? Pick another with --grpc-port, or --grpc-port off")\
                from None
        await self._grpc.start()
        return self.port

    async def stop(self, grace: float = 5.0) -> None:
        if self._grpc is not None:
            await self._grpc.stop(grace)
            self._grpc = None
