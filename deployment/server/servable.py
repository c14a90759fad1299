"""One loaded model version: its signatures, their tensor specs, and TF Serving's metadata.

A ``Servable`` is immutable once built, so request threads and the loader never race on it;
replacing a version means building a new one and swapping a reference (``registry``).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from deployment.server import convert

log = logging.getLogger(__name__)

PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
DEFAULT_SIGNATURE = "serving_default"
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_WARMUP_RECORDS = 1000


@dataclasses.dataclass(frozen=True)
class Signature:
    """A callable signature with the specs that requests are validated against.

    ``flat_call`` is set by ``enable_flat_call`` once it has given the same outputs as the
    public call (during warm-up, before the version is published); until then, and for good if
    it ever differs, calls go through ``function(**tensors)``.
    """

    name: str
    method_name: str
    inputs: Mapping[str, convert.TensorSpec]
    outputs: Mapping[str, convert.TensorSpec]
    function: Callable[..., Any] = dataclasses.field(repr=False, compare=False)
    flat_call: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = dataclasses.field(
        default=None, repr=False, compare=False)

    @functools.cached_property
    def batchable(self) -> bool:
        """Every input and output has a leading batch dimension, so requests can be merged
        (an input of unknown rank may differ in shape from one request to the next)."""
        return all(spec.shape and spec.shape[0] is None and not spec.unknown_rank
                   for spec in (*self.inputs.values(), *self.outputs.values()))

    @functools.cached_property
    def _tf_dtypes(self) -> tuple[tuple[str, Any], ...]:
        return tuple((name, spec.tf_dtype) for name, spec in self.inputs.items())

    def _tensors(self, inputs: Mapping[str, np.ndarray]) -> dict[str, Any]:
        import tensorflow as tf

        return {name: tf.constant(inputs[name], dtype=dtype) for name, dtype in self._tf_dtypes}

    def __call__(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        call = self.flat_call
        if call is None and not self.__dict__.get("_flat_tried"):
            # The first call (a warm-up record or, without one, the first request) checks the
            # flat call against the public one; a race only repeats the check.
            self.enable_flat_call(inputs)  # bad inputs raise here as the call would: retried
            object.__setattr__(self, "_flat_tried", True)
            call = self.flat_call
        outputs = call(inputs) if call is not None else self.function(**self._tensors(inputs))
        return {name: value.numpy() for name, value in outputs.items()}

    def enable_flat_call(self, inputs: Mapping[str, np.ndarray]) -> bool:
        """Switches to the flat call if it answers ``inputs`` exactly as the public call does.

        ``ConcreteFunction.__call__`` binds its keyword arguments to the function's signature
        on every call: about 0.4 ms of Python for nine inputs, a third of a one-instance
        prediction here. ``_call_flat``, where that call ends, skips it; and the flat call
        builds its input tensors with ``EagerTensor`` directly, which ``tf.constant`` ends in
        after checks that cost about 13 us per input. Both are private API, so they are used
        only when present and checked against the public call on real inputs; a TensorFlow
        version that changes them falls back to the public call.
        """
        candidate = _flat_caller(self.function, self.inputs)
        if candidate is None:
            return False
        expected = {k: v.numpy() for k, v in self.function(**self._tensors(inputs)).items()}
        try:
            got = {k: v.numpy() for k, v in candidate(inputs).items()}
        except Exception as err:
            log.warning("signature %s: flat call failed (%s); using the public call", self.name,
                        err)
            return False
        if got.keys() != expected.keys() or not all(
                got[k].shape == expected[k].shape and got[k].dtype == expected[k].dtype
                and np.array_equal(got[k], expected[k]) for k in expected):
            log.warning("signature %s: flat call answered differently; using the public call",
                        self.name)
            return False
        object.__setattr__(self, "flat_call", candidate)
        return True


def _flat_caller(function: Any, inputs: Mapping[str, convert.TensorSpec]
                 ) -> Callable[[Mapping[str, np.ndarray]], Mapping[str, Any]] | None:
    from tensorflow.python.eager import context
    from tensorflow.python.framework import ops

    call_flat = getattr(function, "_call_flat", None)
    keywords = getattr(function, "_arg_keywords", None)
    eager_tensor = getattr(ops, "EagerTensor", None)
    if (call_flat is None or keywords is None or eager_tensor is None
            or getattr(function, "_num_positional_args", 0)
            or sorted(keywords) != sorted(inputs)):
        return None
    order = tuple((name, inputs[name].tf_dtype.as_datatype_enum) for name in keywords)
    tf_context = context.context()

    def call(arrays: Mapping[str, np.ndarray]) -> Mapping[str, Any]:
        device = tf_context.device_name
        return call_flat([eager_tensor(arrays[name], device, dtype) for name, dtype in order],
                         function.captured_inputs)

    return call


@dataclasses.dataclass(frozen=True)
class Servable:
    model_name: str
    version: int
    path: Path
    signatures: Mapping[str, Signature]
    signature_def_json: Mapping[str, Any]
    loaded: Any = dataclasses.field(repr=False, compare=False)

    def feature_specs(self) -> dict[str, convert.TensorSpec]:
        """Raw feature name -> spec, from the default signature when it takes named features.

        Used to type ``:classify`` examples (an integer 55000 for a float feature is sent as a
        float) and to name the field when one has the wrong type.
        """
        default = self.signatures.get(DEFAULT_SIGNATURE)
        if default is None or len(default.inputs) < 2:
            return {}
        return dict(default.inputs)


def load(model_name: str, version: int, path: Path) -> Servable:
    """Loads a SavedModel version directory; raises on anything that makes it unservable.

    A TF1 (session-based) SavedModel goes to ``tf1_servable``, which runs it as TF Serving
    does; a TF2 one is loaded here, with its signatures as concrete functions.
    """
    import tensorflow as tf

    if not (path / "saved_model.pb").is_file():
        raise FileNotFoundError(
            f"no saved_model.pb in {path} (an incomplete or foreign version folder)")
    saved_model = _read_saved_model(path)
    from deployment.server import tf1_servable  # it builds on this module's classes

    if tf1_servable.is_tf1(saved_model):
        return tf1_servable.load(model_name, version, path, saved_model)
    loaded = tf.saved_model.load(str(path))
    signature_defs = dict(saved_model.meta_graphs[0].signature_def)
    signatures = {}
    for name, function in loaded.signatures.items():
        _, kwargs = function.structured_input_signature
        signatures[name] = Signature(
            name=name,
            method_name=signature_defs[name].method_name if name in signature_defs
            else PREDICT_METHOD,
            inputs={k: convert.TensorSpec.from_tf(s) for k, s in sorted(kwargs.items())},
            outputs={k: convert.TensorSpec.from_tf(s)
                     for k, s in sorted(function.structured_outputs.items())},
            function=function,
        )
    if not signatures:
        raise ValueError(f"the SavedModel in {path} has no signatures to serve")
    return Servable(model_name=model_name, version=version, path=path, signatures=signatures,
                    signature_def_json=signature_def_json(signature_defs), loaded=loaded)


def _read_saved_model(path: Path) -> Any:
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    try:
        proto.ParseFromString((path / "saved_model.pb").read_bytes())
    except DecodeError as err:
        raise ValueError(f"{path / 'saved_model.pb'} is not a SavedModel ({err})") from None
    if not proto.meta_graphs:
        raise ValueError(f"{path / 'saved_model.pb'} has no meta graph (not a SavedModel, "
                         "or a truncated one)")
    return proto


def signature_def_json(signature_defs: Mapping[str, Any]) -> dict[str, Any]:
    """The ``metadata`` member of TF Serving's GetModelMetadata REST response."""
    from google.protobuf import json_format
    from tensorflow_serving.apis import get_model_metadata_pb2

    # Every signature_def of the MetaGraphDef, as TF Serving's GetModelMetadata returns it,
    # TF2's "__saved_model_init_op" included (clients written against TF Serving expect it).
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    for name, signature_def in signature_defs.items():
        signature_map.signature_def[name].CopyFrom(signature_def)
    return {"signature_def": json_format.MessageToDict(
        signature_map, including_default_value_fields=True, preserving_proto_field_name=True)}


def warm_up(servable: Servable) -> None:
    """Warms a version exactly as TF Serving does: replays its
    ``assets.extra/tf_serving_warmup_requests`` when it has one, and does nothing otherwise
    (tensorflow_serving/servables/tensorflow/saved_model_warmup_util.cc; no request is ever
    invented, so a model whose inputs we cannot guess loads as it is). A record that fails
    fails the load, as there. Signatures left cold switch to the flat call on their first
    request (``Signature.__call__``).
    """
    warmup_file = servable.path / WARMUP_FILE
    if warmup_file.is_file():
        _replay_warmup_file(servable, warmup_file)


def _replay_warmup_file(servable: Servable, path: Path) -> None:
    """Each PredictionLog record: predict, classify, regress or multi-inference requests,
    at most ``MAX_WARMUP_RECORDS`` (TF Serving's kMaxNumRecords)."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    for index, record in enumerate(tf.data.TFRecordDataset(str(path))):
        if index >= MAX_WARMUP_RECORDS:
            raise RuntimeError(f"{path}: more than {MAX_WARMUP_RECORDS} warm-up records "
                               "(TF Serving's limit)")
        entry = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        kind = entry.WhichOneof("log_type")
        try:
            for name, inputs in _warmup_calls(entry, kind):
                signature = servable.signatures.get(name or DEFAULT_SIGNATURE)
                if signature is None:
                    raise ValueError(f"no signature {name or DEFAULT_SIGNATURE!r}")
                if isinstance(inputs, np.ndarray):  # serialized tf.Examples: its one input
                    if len(signature.inputs) != 1:
                        raise ValueError(f"signature {signature.name!r} does not take one "
                                         "tensor of serialized tf.Examples")
                    inputs = {next(iter(signature.inputs)): inputs}
                signature(inputs)
        except Exception as err:
            raise RuntimeError(f"warm-up record {index} ({kind}) of {WARMUP_FILE} failed: "
                               f"{convert.tf_error_message(err)}") from err


def _warmup_calls(entry: Any, kind: str | None
                  ) -> list[tuple[str, dict[str, np.ndarray] | np.ndarray]]:
    import tensorflow as tf

    if kind == "predict_log":
        request = entry.predict_log.request
        return [(request.model_spec.signature_name,
                 {k: tf.make_ndarray(v) for k, v in request.inputs.items()})]
    requests = {"classify_log": lambda: [entry.classify_log.request],
                "regress_log": lambda: [entry.regress_log.request],
                "multi_inference_log": lambda: [
                    _task_request(entry.multi_inference_log.request, task)
                    for task in entry.multi_inference_log.request.tasks]}
    if kind not in requests:
        raise ValueError(f"log type {kind!r} cannot warm a model (TF Serving replays "
                         "predict, classify, regress and multi-inference logs)")
    return [(request.model_spec.signature_name if not isinstance(request, tuple) else
             request[0], _examples(request.input if not isinstance(request, tuple) else
                                   request[1])) for request in requests[kind]()]


def _task_request(request: Any, task: Any) -> tuple[str, Any]:
    return task.model_spec.signature_name, request.input


def _examples(input_: Any) -> np.ndarray:
    which = input_.WhichOneof("kind")
    if which == "example_list":
        return np.array([e.SerializeToString() for e in input_.example_list.examples],
                        dtype=object)
    if which == "example_list_with_context":
        with_context = input_.example_list_with_context
        merged = []
        for example in with_context.examples:
            full = type(example)()
            full.CopyFrom(with_context.context)
            full.MergeFrom(example)
            merged.append(full.SerializeToString())
        return np.array(merged, dtype=object)
    raise ValueError("the request has no examples")
