"""What the REST and gRPC APIs share: TF Serving's signature rules, the batched TensorFlow
call, the request log and the instance counts.

Transport-neutral: it takes a resolved servable and numpy inputs, and raises ``RequestError``
with TF Serving's status (an HTTP status for REST; ``RequestError.grpc_code`` for gRPC). The
per-request facts that the access log and metrics report (signature, instance count) go on a
``state`` object: Starlette's ``request.state`` for REST, a ``RequestState`` for gRPC.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from deployment.server import convert
from deployment.server import servable as servable_lib
from deployment.server.convert import RequestError
from deployment.server.log_writer import LogEntry

if TYPE_CHECKING:  # the app module builds on this one
    from deployment.server.app import Server

REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
PROBABILITY_OUTPUT = "probability"


@dataclasses.dataclass
class RequestState:
    """What one gRPC call reports to the access log and metrics (REST uses request.state)."""

    api: str = "other"
    model: str = ""
    version: str = ""
    request_id: str | None = None
    signature: str | None = None
    instances: int | None = None


def request_id(given: str | None, where: str = "X-Request-Id header") -> str:
    """The client's request id if it is a sane token, a fresh one if none was sent."""
    if given is None:
        return uuid.uuid4().hex
    if not REQUEST_ID.match(given):
        raise RequestError(f"{where} must be 1-128 characters of letters, digits, '.', '_', "
                           f"':', '-', got {given[:40]!r}")
    return given


def signature(servable: servable_lib.Servable, name: Any,
              grpc_code: str | None = None) -> servable_lib.Signature:
    """The named signature. TF Serving's predict answers an unknown one FAILED_PRECONDITION
    over gRPC (``RunPredict``, tensorflow_serving/servables/tensorflow/predict_util.cc)."""
    if not isinstance(name, str):
        raise RequestError(f"'signature_name' must be a string, got {name!r}")
    found = servable.signatures.get(name)
    if found is None:
        raise RequestError(f'Serving signature name: "{name}" not found in signature def; '
                           f"model {servable.model_name} version {servable.version} has "
                           f"{sorted(servable.signatures)}", grpc_code=grpc_code)
    return found


def method_signature(servable: servable_lib.Servable, name: Any, method: str,
                     task: str) -> servable_lib.Signature:
    """As TF Serving's GetClassificationSignatureDef / GetRegressionSignatureDef
    (tensorflow_serving/servables/tensorflow/classifier.cc, regressor.cc): no signature name
    means serving_default, and it must have the API's method name; another signature is never
    picked instead."""
    found = signature(servable, servable_lib.DEFAULT_SIGNATURE if name in (None, "") else name)
    if found.method_name != method:
        raise RequestError(f"Expected {task} signature method_name to be {method}. "
                           f"Was: {found.method_name} (signature '{found.name}')")
    if len(found.inputs) != 1 or next(iter(found.inputs.values())).kind != "string":
        raise RequestError(f"{task} signature '{found.name}' must take one string tensor "
                           "of serialized tf.Examples")
    return found


def examples_array(serialized: list[bytes]) -> np.ndarray:
    array = np.empty(len(serialized), dtype=object)
    array[:] = serialized
    return array


def regression_values(outputs: Mapping[str, np.ndarray], signature: servable_lib.Signature,
                      count: int) -> np.ndarray:
    """One float per example from a regression signature's ``outputs`` tensor."""
    values = outputs.get("outputs")
    if values is None or values.reshape(count, -1).shape[1] != 1:
        raise RequestError(f"regression signature '{signature.name}' must return one "
                           "'outputs' value per example", 500)
    return values.reshape(-1)


class Api:
    """The shared half of every prediction API call, over a ``Server``'s parts."""

    def __init__(self, server: Server):
        self.server = server
        self.config = server.config
        self.registry = server.registry
        self.metrics = server.metrics

    async def call(self, state: Any, servable: servable_lib.Servable,
                   signature: servable_lib.Signature, inputs: dict[str, np.ndarray],
                   count: int) -> dict[str, np.ndarray]:
        """The signature on ``inputs`` through the batcher; bad values are a RequestError."""
        state.signature = signature.name
        state.instances = count
        key = (servable.model_name, servable.version, signature.name)
        try:
            return await self.server.batcher.run(
                key, (servable.model_name, signature.name), signature, inputs, count,
                batchable=signature.batchable)
        except RequestError:
            raise
        except Exception as err:
            import tensorflow as tf

            if isinstance(err, tf.errors.InvalidArgumentError | ValueError | TypeError):
                raise RequestError("the model could not compute a prediction from these input "
                                   f"values: {convert.tf_error_message(err)}") from None
            raise

    def counted(self, servable: servable_lib.Servable, api: str, count: int) -> None:
        self.metrics.instances.labels(servable.model_name, str(servable.version), api).inc(count)

    def log_prediction(self, request_id: str, received: float,
                       servable: servable_lib.Servable, signature: servable_lib.Signature,
                       inputs: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray]
                       ) -> None:
        """A predict call's features and probability, when the signature has one."""
        writer = self.server.request_log
        probability = outputs.get(PROBABILITY_OUTPUT)
        if writer is None or probability is None:
            return
        entry = dict(request_id=request_id, logged_at=received, model_name=servable.model_name,
                     model_version=servable.version, signature=signature.name,
                     probability=np.asarray(probability).reshape(-1))
        if len(signature.inputs) == 1 and next(iter(signature.inputs.values())).kind == "string":
            writer.submit(LogEntry(**entry, serialized=next(iter(inputs.values()))))
        else:
            writer.submit(LogEntry(**entry, columns=inputs))

    def log_classification(self, request_id: str, received: float,
                           servable: servable_lib.Servable, signature: servable_lib.Signature,
                           outputs: Mapping[str, np.ndarray], *,
                           examples: list[dict[str, Any]] | None = None,
                           serialized: np.ndarray | None = None) -> None:
        """A classify call's examples and the positive class's score."""
        scores = outputs.get("scores")
        writer = self.server.request_log
        if scores is None or writer is None:
            return
        writer.submit(LogEntry(
            request_id=request_id, logged_at=received, model_name=servable.model_name,
            model_version=servable.version, signature=signature.name,
            probability=scores[:, -1], examples=examples, serialized=serialized))
