"""JSON <-> tensors in TF Serving's REST formats, validated against a signature.

Row format (``instances``) and columnar format (``inputs``) requests become one numpy array per
input with the signature's dtype and shape; every rejection is a ``RequestError`` whose message
names the instance and the input. Outputs become TF Serving's ``predictions`` / ``outputs``.

One deliberate difference from TF Serving: it parses ``NaN`` and ``Infinity`` for float inputs
and passes them to the model; here they are a 400 naming the field, as is a number beyond the
input's float range (which TF Serving would turn into Infinity). The curated schema gives every
float feature a finite range, so a client sending one has a bug that a prediction computed from
it would only hide.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

_KINDS = {
    "float16": "float", "float32": "float", "float64": "float", "bfloat16": "float",
    "int8": "int", "int16": "int", "int32": "int", "int64": "int",
    "uint8": "int", "uint16": "int", "uint32": "int", "uint64": "int",
    "string": "string", "bool": "bool",
}
_FLOAT_MAX = {"float16": float(np.finfo(np.float16).max),
              "float32": float(np.finfo(np.float32).max)}
# The largest integer a float type holds with every smaller one, as TF Serving's
# IsLosslessDecimal bounds JSON integers for DT_FLOAT/DT_DOUBLE ((1 << digits) - 1,
# tensorflow_serving/util/json_tensor.cc): 16777217 is not silently made 16777216.
_FLOAT_EXACT_INT = {"float16": 2**11 - 1, "bfloat16": 2**8 - 1, "float32": 2**24 - 1,
                    "float64": 2**53 - 1}
_INT64_RANGE = range(-2**63, 2**63)
_INT_RANGE = {name: (int(np.iinfo(name).min), int(np.iinfo(name).max))
              for name, kind in _KINDS.items() if kind == "int"}
_NON_FINITE_TOKENS = frozenset(("NaN", "Infinity", "-Infinity", "inf", "-inf", "nan"))
_EXPECTED = {"float": "a number", "int": "an integer", "string": 'a string (or {"b64": ...})',
             "bool": "true or false"}


# The gRPC status code of each HTTP status a RequestError carries, as TF Serving pairs them
# (tensorflow_serving/model_servers/http_rest_api_handler.cc answers a tensorflow::Status with
# ToHTTPStatusCode; the gRPC server sends the Status' own code).
_GRPC_CODES = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 408: "DEADLINE_EXCEEDED",
               413: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 501: "UNIMPLEMENTED",
               503: "UNAVAILABLE"}


class RequestError(Exception):
    """A client error: becomes ``{"error": message}`` with ``status`` (400 unless told).

    Over gRPC it is ``grpc_code`` (a ``grpc.StatusCode`` name): the one the HTTP status implies
    unless TF Serving's gRPC API answers that case with another (e.g. FAILED_PRECONDITION).
    """

    def __init__(self, message: str, status: int = 400, grpc_code: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.grpc_code = grpc_code or _GRPC_CODES.get(status, "UNKNOWN")


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """dtype name (TF's, e.g. ``int64``) and shape (``None`` = any size) of a signature tensor.

    ``unknown_rank``: the signature gives no shape (a TF1 placeholder without one), so, as in
    TF Serving, an instance may be any regular nesting of lists, the same for every instance
    (``shape`` is then ``(None,)``: only the batch dimension is known).
    """

    dtype: str
    shape: tuple[int | None, ...]
    unknown_rank: bool = False

    @classmethod
    def from_tf(cls, spec: Any) -> TensorSpec:
        if spec.shape.rank is None:
            return cls(dtype=spec.dtype.name, shape=(None,), unknown_rank=True)
        return cls(dtype=spec.dtype.name, shape=tuple(spec.shape.as_list()))

    @property
    def kind(self) -> str:
        return _KINDS.get(self.dtype, "other")

    @property
    def np_dtype(self) -> Any:
        return object if self.kind == "string" else np.dtype(self.dtype)

    @property
    def tf_dtype(self) -> Any:
        import tensorflow as tf

        return tf.as_dtype(self.dtype)

    def describe(self) -> str:
        if self.unknown_rank:
            return f"{_EXPECTED.get(self.kind, self.dtype)} ({self.dtype}, any shape)"
        dims = ", ".join("?" if d is None else str(d) for d in self.shape[1:])
        shape = f", [{dims}]" if dims else ""
        return f"{_EXPECTED.get(self.kind, self.dtype)} ({self.dtype}{shape})"


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 40 else text[:37] + "..."


def scalar(value: Any, spec: TensorSpec, where: str) -> Any:
    """One JSON scalar as the spec's element type, or ``RequestError`` naming ``where``."""
    kind = spec.kind
    if kind == "string":
        if isinstance(value, str):
            return value.encode()
        if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
            try:
                return base64.b64decode(value["b64"], validate=True)
            except (binascii.Error, ValueError):
                raise RequestError(f"{where}: b64 value is not valid base64") from None
    elif kind == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if isinstance(value, float) and not math.isfinite(value):
                raise RequestError(f"{where} is {_show(value)}; expects a finite number "
                                   f"({spec.dtype}): NaN and Infinity are not accepted")
            limit = _FLOAT_MAX.get(spec.dtype)
            if limit is not None and abs(value) > limit:
                raise RequestError(f"{where} is {_show(value)}, out of range for "
                                   f"{spec.dtype} (largest {limit:.4g}): it cannot be "
                                   "converted without loss of precision")
            exact = _FLOAT_EXACT_INT.get(spec.dtype)
            if isinstance(value, int) and exact is not None and abs(value) > exact:
                raise RequestError(f"{where} is {_show(value)}: an integer that cannot be "
                                   f"converted to {spec.dtype} without loss of precision "
                                   f"(at most {exact} in magnitude; send it as a decimal, "
                                   f"e.g. {value}.0, to accept rounding)")
            return value
        if isinstance(value, str) and value in _NON_FINITE_TOKENS:
            raise RequestError(f"{where} is {_show(value)}; expects a finite number "
                               f"({spec.dtype}): NaN and Infinity are not accepted")
    elif kind == "int":
        number = value if isinstance(value, int) and not isinstance(value, bool) else \
            int(value) if isinstance(value, float) and value.is_integer() else None
        if number is not None:
            low, high = _INT_RANGE[spec.dtype]
            if not low <= number <= high:  # numpy would wrap it around (2**31 -> -2**31)
                raise RequestError(f"{where} has a value out of range for {spec.dtype}: "
                                   f"{_show(value)} (the range is {low} to {high})")
            return number
    elif kind == "bool" and isinstance(value, bool):
        return value
    raise RequestError(f"{where} expects {spec.describe()}, got {_show(value)}")


def _element(value: Any, spec: TensorSpec, dims: tuple[int | None, ...], where: str) -> Any:
    """One instance's value of an input with per-instance shape ``dims`` (nested lists)."""
    if spec.unknown_rank:
        return _any_shape(value, spec, where)
    if not dims:
        if isinstance(value, list):
            raise RequestError(f"{where} expects one value per instance, {spec.describe()}, "
                               f"got a list of {len(value)}")
        return scalar(value, spec, where)
    if not isinstance(value, list):
        raise RequestError(f"{where} expects a list of {dims[0] or 'any number of'} values, "
                           f"{spec.describe()}, got {_show(value)}")
    if dims[0] is not None and len(value) != dims[0]:
        raise RequestError(f"{where} expects a list of {dims[0]} values, got {len(value)}")
    return [_element(v, spec, dims[1:], f"{where}[{i}]") for i, v in enumerate(value)]


def _any_shape(value: Any, spec: TensorSpec, where: str) -> Any:
    if isinstance(value, list):
        return [_any_shape(v, spec, f"{where}[{i}]") for i, v in enumerate(value)]
    return scalar(value, spec, where)


def _nested_shape(value: Any, where: str) -> tuple[int, ...]:
    """The shape of regular nested lists, or ``RequestError`` where they are ragged (TF
    Serving's FillTensorProto: "Encountered list at unexpected size/level")."""
    if not isinstance(value, list):
        return ()
    shapes = [_nested_shape(v, f"{where}[{i}]") for i, v in enumerate(value)]
    for i, shape in enumerate(shapes[1:], 1):
        if shape != shapes[0]:
            raise RequestError(f"{where}[{i}] has shape {list(shape)} where {where}[0] has "
                               f"{list(shapes[0])}: lists must be regular (a dense tensor)")
    return (len(value), *(shapes[0] if shapes else ()))


def _same_shapes(values: list[Any], name: str) -> None:
    """Every instance of an input of unknown rank has the first one's shape (TF Serving's
    AddInstanceItem: "Expecting shape ... but got ...")."""
    first = _nested_shape(values[0], f"input '{name}' of instance 0")
    for i, value in enumerate(values[1:], 1):
        shape = _nested_shape(value, f"input '{name}' of instance {i}")
        if shape != first:
            raise RequestError(f"input '{name}': Expecting shape {list(first)} but got "
                               f"{list(shape)} (instance {i}); every instance needs the same "
                               "shape")


def _array(values: list[Any], spec: TensorSpec, name: str) -> np.ndarray:
    if spec.unknown_rank:
        _same_shapes(values, name)
        try:
            return np.array(values, dtype=spec.np_dtype)
        except OverflowError:
            raise RequestError(
                f"input '{name}' has a value out of range for {spec.dtype}") from None
    if spec.kind == "string":
        array = np.empty(len(values), dtype=object)
        array[:] = values
        if len(spec.shape) > 1:
            array = np.array(values, dtype=object)
    else:
        try:
            array = np.array(values, dtype=spec.np_dtype)
        except OverflowError:
            raise RequestError(
                f"input '{name}' has a value out of range for {spec.dtype}") from None
    if array.ndim != len(spec.shape):
        raise RequestError(f"input '{name}': instances have different shapes; every instance "
                           f"needs {spec.describe()}")
    return array


def _single_input(signature_inputs: Mapping[str, TensorSpec]) -> str | None:
    return next(iter(signature_inputs)) if len(signature_inputs) == 1 else None


def _fast_column(values: list[Any], spec: TensorSpec) -> np.ndarray | None:
    """A column of one scalar per instance as the spec's array, checked in numpy: the same
    array and the same acceptance as ``scalar`` on each value, or None where a value needs the
    per-value path (to be refused with its instance named, or a rare accepted form: an
    integral float for an int input, ``{"b64": ...}``, bool)."""
    types = set(map(type, values))
    kind = spec.kind
    try:
        if kind == "float" and types <= {float, int}:
            wide = np.array(values, dtype=np.float64)
            if not np.isfinite(wide).all():
                return None
            magnitude = np.abs(wide)
            limit = _FLOAT_MAX.get(spec.dtype)
            if limit is not None and (magnitude > limit).any():
                return None
            exact = _FLOAT_EXACT_INT.get(spec.dtype)
            if int in types and exact is not None and any(
                    abs(v) > exact for v in values if type(v) is int):
                return None
            return wide if spec.dtype == "float64" else np.array(values, dtype=spec.np_dtype)
        if kind == "int" and types == {int}:
            wide = np.array(values, dtype=np.int64)  # OverflowError beyond int64
            low, high = _INT_RANGE[spec.dtype]
            if wide.size and (wide.min() < low or wide.max() > high):
                return None
            return wide.astype(spec.np_dtype)
        if kind == "string" and types == {str}:
            array = np.empty(len(values), dtype=object)
            array[:] = [v.encode() for v in values]
            return array
    except (OverflowError, ValueError, TypeError):
        return None
    return None


def _fast_instances(instances: list[Any], inputs: Mapping[str, TensorSpec]
                    ) -> dict[str, np.ndarray] | None:
    """The row format when every instance is an object of exactly the signature's inputs, each
    one scalar per instance, and every value passes ``_fast_column``; None otherwise, and the
    per-value path then converts or refuses the request, naming the first bad value."""
    names = set(inputs)
    if not instances or any(type(i) is not dict or i.keys() != names for i in instances):
        return None
    if len(inputs) == 1 and instances[0].keys() == {"b64"}:
        return None
    arrays = {}
    for name, spec in inputs.items():
        if spec.unknown_rank or len(spec.shape) != 1:
            return None
        array = _fast_column([instance[name] for instance in instances], spec)
        if array is None:
            return None
        arrays[name] = array
    return arrays


def instances_to_inputs(instances: Any, inputs: Mapping[str, TensorSpec], signature_name: str,
                        max_instances: int) -> tuple[dict[str, np.ndarray], int]:
    """Row format: ``[{"Age": 35, ...}, ...]`` (or bare values for a one-input signature)."""
    if not isinstance(instances, list):
        raise RequestError(f"'instances' must be a list of instances, got {_show(instances)}")
    count = len(instances)
    _check_count(count, max_instances, "instances")
    fast = _fast_instances(instances, inputs)
    if fast is not None:
        return fast, count
    single = _single_input(inputs)
    expected = sorted(inputs)
    columns: dict[str, list[Any]] = {name: [] for name in inputs}
    objects = None
    for i, instance in enumerate(instances):
        where = f"instances[{i}]"
        named = isinstance(instance, dict) and not (single and set(instance) == {"b64"})
        if objects is None:
            objects = named
        elif named != objects:  # as TF Serving's FillTensorMapFromInstancesList
            got, want = ("object", "value/list") if named else ("list", "object")
            raise RequestError(f"{where}: Expecting {want} but got {got} at item {i} of input "
                               f"list: the first instance decides whether every instance is "
                               f"an object of named inputs or a bare value")
        if not named:
            if single is None:
                raise RequestError(f"{where} must be an object of named inputs {expected} "
                                   f"(signature '{signature_name}'), got {_show(instance)}")
            instance = {single: instance}
        _check_names(where, instance, expected, f"signature '{signature_name}'")
        for name, spec in inputs.items():
            columns[name].append(
                _element(instance[name], spec, spec.shape[1:], f"{where}: input '{name}'"))
    return {name: _array(columns[name], inputs[name], name) for name in inputs}, count


def _check_names(where: str, given: Mapping[str, Any], expected: list[str], owner: str,
                 noun: str = "input") -> None:
    """The first missing, then the first unknown name, each named in the error; ``owner`` is
    what needs the names ("signature 'serving_default'", "the model")."""
    missing = [n for n in expected if n not in given]
    if missing:
        raise RequestError(f"{where} is missing {noun} '{missing[0]}'; {owner} needs "
                           f"{expected}")
    unknown = sorted(set(given) - set(expected))
    if unknown:
        raise RequestError(f"{where} has unknown {noun} '{unknown[0]}'; {owner} takes "
                           f"{expected}")


def columns_to_inputs(columns: Any, inputs: Mapping[str, TensorSpec], signature_name: str,
                      max_instances: int) -> tuple[dict[str, np.ndarray], int]:
    """Columnar format: ``{"Age": [35, 41], ...}`` (or a bare list for a one-input signature)."""
    single = _single_input(inputs)
    expected = sorted(inputs)
    if not isinstance(columns, dict) or (single and set(columns) == {"b64"}):
        if single is None:
            raise RequestError(f"'inputs' must be an object of named inputs {expected} "
                               f"(signature '{signature_name}'), got {_show(columns)}")
        columns = {single: columns}
    _check_names("'inputs'", columns, expected, f"signature '{signature_name}'")
    counts = {}
    for name in expected:
        values = columns[name]
        if not isinstance(values, list):
            raise RequestError(f"inputs: '{name}' must be a list with one value per instance, "
                               f"got {_show(values)}")
        counts[name] = len(values)
    first = expected[0]
    for name in expected[1:]:
        if counts[name] != counts[first]:
            raise RequestError(f"inputs: '{name}' has {counts[name]} values but '{first}' has "
                               f"{counts[first]}; every input needs one value per instance")
    count = counts[first]
    _check_count(count, max_instances, "inputs")
    arrays = {}
    for name, spec in inputs.items():
        fast = None if spec.unknown_rank or len(spec.shape) != 1 else \
            _fast_column(columns[name], spec)
        if fast is not None:
            arrays[name] = fast
            continue
        values = [_element(v, spec, spec.shape[1:], f"inputs: '{name}'[{i}]")
                  for i, v in enumerate(columns[name])]
        arrays[name] = _array(values, spec, name)
    return arrays, count


def _check_count(count: int, max_instances: int, key: str) -> None:
    if count == 0:
        raise RequestError(f"No values in '{key}': the request has no instances; send at "
                           "least one")
    check_max_instances(count, max_instances)


def check_max_instances(count: int, max_instances: int) -> None:
    """``--max-instances``, for every API (REST and gRPC)."""
    if count > max_instances:
        raise RequestError(f"the request has {count} instances; at most {max_instances} are "
                           "allowed per request (--max-instances): split it into smaller ones")


def make_example(features: Mapping[str, Any], specs: Mapping[str, TensorSpec],
                 where: str = "example") -> bytes:
    """A serialized tf.Example from one JSON feature dict, typed by ``specs`` where known."""
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    for name, raw in features.items():
        values = raw if isinstance(raw, list) else [raw]
        spec = specs.get(name)
        feature = example.features.feature[name]
        field = f"{where}: feature '{name}'"
        _check_feature_values(values, field)
        kind = spec.kind if spec is not None else _json_kind(values, field)
        if kind == "string":
            string_spec = TensorSpec("string", (None,))
            feature.bytes_list.value.extend(scalar(v, string_spec, field) for v in values)
        elif kind == "float":
            float_spec = TensorSpec("float32", (None,))
            feature.float_list.value.extend(scalar(v, float_spec, field) for v in values)
        elif kind in ("int", "bool"):
            int_spec = TensorSpec("int64", (None,))
            ints = [int(v) if isinstance(v, bool) else v for v in values]
            beyond = next((v for v in ints if isinstance(v, int) and v not in _INT64_RANGE),
                          None)
            if beyond is not None:  # TF Serving's words (json_tensor.cc AddValueToFeature)
                raise RequestError(f"{field} has element {_show(beyond)} beyond int64. "
                                   "Only int64 is supported")
            feature.int64_list.value.extend(scalar(v, int_spec, field) for v in ints)
        else:
            raise RequestError(f"{field} has a type a tf.Example cannot hold ({spec.dtype})")
    return example.SerializeToString()


def _check_feature_values(values: Sequence[Any], where: str) -> None:
    """What a tf.Example feature cannot hold, in TF Serving's words (json_tensor.cc
    AddValueToFeature): null, a nested list, an object other than ``{"b64": ...}``."""
    for value in values:
        json_type = ("null" if value is None else "array" if isinstance(value, list) else
                     "object" if isinstance(value, dict) and set(value) != {"b64"} else None)
        if json_type is not None:
            raise RequestError(f"{where} has element with unexpected JSON type: {json_type}; "
                               "a feature is a string, number or boolean, or a list of them")


def _json_kind(values: Sequence[Any], where: str) -> str:
    if all(isinstance(v, (str, dict)) for v in values):
        return "string"
    if all(isinstance(v, int) for v in values):
        return "int"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "float"
    raise RequestError(f"{where} mixes value types {sorted({type(v).__name__ for v in values})}")


def examples_to_serialized(examples: Any, context: Any, specs: Mapping[str, TensorSpec],
                           max_instances: int, task: str = "classify"
                           ) -> tuple[list[bytes], list[dict[str, Any]]]:
    """``:classify`` ``examples`` (+ ``context``) -> serialized tf.Examples and merged dicts;
    ``examples`` None means the request has none."""
    if context is not None and not isinstance(context, dict):
        raise RequestError(f"'context' must be an object of features, got {_show(context)}")
    if examples is None:
        raise RequestError(f"the {task} request needs 'examples': a list of feature objects")
    if not isinstance(examples, list):
        raise RequestError(f"'examples' must be a list of feature objects, got {_show(examples)}")
    _check_count(len(examples), max_instances, "examples")
    serialized, merged = [], []
    for i, example in enumerate(examples):
        if not isinstance(example, dict):
            raise RequestError(f"examples[{i}] must be an object of features, got "
                               f"{_show(example)}")
        features = {**(context or {}), **example}
        if specs:
            _check_names(f"examples[{i}]", features, sorted(specs), "the model",
                         noun="feature")
        serialized.append(make_example(features, specs, f"examples[{i}]"))
        merged.append(features)
    return serialized, merged


_FLOAT_KINDS = ("float16", "float32", "bfloat16")


def _json_array(name: str, value: np.ndarray) -> Any:
    if value.dtype == object or value.dtype.kind == "S":
        as_b64 = name.endswith("_bytes")

        def text(item: Any) -> Any:
            if isinstance(item, bytes):
                if not as_b64:
                    try:
                        return item.decode()
                    except UnicodeDecodeError:
                        pass
                return {"b64": base64.b64encode(item).decode()}
            return item

        return np.vectorize(text, otypes=[object])(value).tolist() if value.size else \
            value.tolist()
    if value.dtype.name in _FLOAT_KINDS:
        return _decimals(value).tolist()
    return value.tolist()


def _decimals(value: np.ndarray) -> np.ndarray:
    """float32 values as the decimals TF Serving writes (json_tensor.cc WriteDecimal): six
    significant digits ("%g") when they read back as the same float32, else nine
    (max_digits10): 0.3, not 0.30000001192092896; 1/3 as 0.333333343. Float16 goes through
    float32 there too. Returned as float64, which ``json`` writes back as the same decimal."""
    wide = value.astype(np.float64)
    six = np.array([float(f"{x:g}") for x in wide.reshape(-1).tolist()],
                   dtype=np.float64).reshape(wide.shape)
    lossy = six.astype(np.float32) != value.astype(np.float32)  # NaN too: it stays NaN
    if lossy.any():
        six[lossy] = [float(f"{x:.9g}") for x in wide[lossy].tolist()]
    return six


def outputs_to_rows(outputs: Mapping[str, np.ndarray], count: int) -> list[Any]:
    """``predictions``: one entry per row of the outputs (a dict of outputs, or the bare single
    output). As TF Serving's MakeRowFormatJsonFromTensors (json_tensor.cc), the rows are the
    outputs' common first dimension, normally ``count``, the number of instances; an output
    without one, or with another, is INVALID_ARGUMENT (400) in its words."""
    converted, rows = {}, None
    for name, value in outputs.items():
        if value.ndim == 0:
            raise RequestError(f"Tensor name: {name} has no shape information (a scalar "
                               "output has no rows); use the columnar format ('inputs') for "
                               "this signature")
        if rows is not None and value.shape[0] != rows:
            raise RequestError(f"Tensor name: {name} has inconsistent batch size: "
                               f"{value.shape[0]} expecting: {rows} ({count} instances); use "
                               "the columnar format ('inputs') for this signature")
        rows = value.shape[0]
        converted[name] = _json_array(name, value)
    if len(converted) == 1:
        return next(iter(converted.values()))
    names = list(converted)
    return [{name: converted[name][i] for name in names} for i in range(rows or 0)]


def outputs_to_columns(outputs: Mapping[str, np.ndarray]) -> Any:
    """``outputs``: the bare single output, or an object of outputs."""
    converted = {name: _json_array(name, value) for name, value in outputs.items()}
    return next(iter(converted.values())) if len(converted) == 1 else converted


def float_json(value: Any) -> float:
    """A float32 as TF Serving writes it (``_decimals``), not float64's expansion."""
    return float(_decimals(np.asarray([value], dtype=np.float32))[0])


def classify_results(outputs: Mapping[str, np.ndarray]) -> list[list[list[Any]]]:
    """TF Serving's classify ``results``: per example, ``[[class, score], ...]``; a signature
    with scores but no classes (TF Serving's half_plus_two ``classify_x_to_y``) gets empty
    labels, as tensorflow_serving/util/json_tensor.h documents ("<label> can be missing ...
    these would appear as empty strings"), and one with classes but no scores gets 0.0."""
    scores = outputs.get("scores")
    classes = outputs.get("classes")
    if scores is None and classes is None:
        raise RequestError("the classification signature returned neither 'classes' nor "
                           "'scores'", 500)
    rows = (scores if scores is not None else classes).shape[0]
    results = []
    for i in range(rows):
        labels = ([c.decode() if isinstance(c, bytes) else str(c) for c in classes[i]]
                  if classes is not None else [""] * scores.shape[1])
        # No scores: each class's score is the proto default, 0 (classifier.cc sets it only
        # from a scores tensor; MakeJsonFromClassificationResult writes it).
        values = [float_json(s) for s in scores[i]] if scores is not None \
            else [0.0] * len(labels)
        results.append([[label, score] for label, score in zip(labels, values, strict=True)])
    return results


_TF_DETAIL = re.compile(r"\n\s*\[\[.*", re.DOTALL)


def tf_error_message(err: BaseException) -> str:
    """The useful line of a TensorFlow error (no graph node dumps)."""
    message = getattr(err, "message", None) or str(err)
    message = _TF_DETAIL.sub("", message)
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(("Graph execution error",
                                                            "Detected at node",
                                                            "<stack traces unavailable>"))]
    return " ".join(lines) or type(err).__name__
