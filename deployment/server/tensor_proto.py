"""``tensorflow.TensorProto`` <-> numpy for the gRPC API, checked against a signature's specs.

Reading follows ``Tensor::FromProto`` (tensorflow/core/framework/tensor.cc), which TF Serving's
``PreProcessPrediction`` calls (tensorflow_serving/servables/tensorflow/predict_util.cc): the
values come from ``tensor_content`` or from the dtype's repeated field, and a repeated field
with fewer values than the shape holds is filled with its last value. Writing follows
``Tensor::AsProtoField``, TF Serving's default for responses: the dtype's repeated field, not
``tensor_content`` (clients read ``outputs["scores"].float_val``).

Differences, deliberate and the same as the REST API's: NaN and infinite floats are refused, and
every input's rank and fixed dimensions must match the signature's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

from deployment.server.convert import RequestError, TensorSpec

# TF dtype name -> (DataType enum, numpy dtype, TensorProto value field).
_TYPES: dict[str, tuple[int, Any, str]] = {
    "float32": (types_pb2.DT_FLOAT, np.float32, "float_val"),
    "float64": (types_pb2.DT_DOUBLE, np.float64, "double_val"),
    "float16": (types_pb2.DT_HALF, np.float16, "half_val"),
    "int8": (types_pb2.DT_INT8, np.int8, "int_val"),
    "int16": (types_pb2.DT_INT16, np.int16, "int_val"),
    "int32": (types_pb2.DT_INT32, np.int32, "int_val"),
    "int64": (types_pb2.DT_INT64, np.int64, "int64_val"),
    "uint8": (types_pb2.DT_UINT8, np.uint8, "int_val"),
    "uint16": (types_pb2.DT_UINT16, np.uint16, "int_val"),
    "uint32": (types_pb2.DT_UINT32, np.uint32, "uint32_val"),
    "uint64": (types_pb2.DT_UINT64, np.uint64, "uint64_val"),
    "bool": (types_pb2.DT_BOOL, np.bool_, "bool_val"),
    "string": (types_pb2.DT_STRING, object, "string_val"),
}
_BY_ENUM = {enum: name for name, (enum, _, _) in _TYPES.items()}


def _dtype_name(enum: int) -> str:
    return types_pb2.DataType.Name(enum) if enum in types_pb2.DataType.values() else str(enum)


def to_array(proto: tensor_pb2.TensorProto, spec: TensorSpec, name: str,
             max_elements: int) -> np.ndarray:
    """The input tensor ``name`` as a numpy array of ``spec``'s dtype, or ``RequestError``."""
    dtype = _BY_ENUM.get(proto.dtype)
    if dtype != spec.dtype:
        raise RequestError(f"input tensor '{name}' is {_dtype_name(proto.dtype)}; the "
                           f"signature expects {spec.dtype} ({spec.describe()})")
    if proto.tensor_shape.unknown_rank:
        raise RequestError(f"input tensor '{name}' has an unknown rank; send its shape")
    dims = tuple(d.size for d in proto.tensor_shape.dim)
    if any(d < 0 for d in dims):
        raise RequestError(f"input tensor '{name}' has a negative dimension: {list(dims)}")
    if not spec.unknown_rank and (len(dims) != len(spec.shape) or any(
            want is not None and want != got
            for want, got in zip(spec.shape, dims, strict=False))):
        want = ["?" if d is None else d for d in spec.shape]
        raise RequestError(f"input tensor '{name}' has shape {list(dims)}; the signature "
                           f"expects {want}")
    count = math.prod(dims)
    if count > max_elements:
        raise RequestError(f"input tensor '{name}' has {count} values; at most "
                           f"{max_elements} are accepted")
    _, np_dtype, field = _TYPES[dtype]
    if proto.tensor_content:
        if dtype == "string":
            raise RequestError(f"tensor parsing error: {name} (a string tensor cannot use "
                               "tensor_content)")
        if len(proto.tensor_content) != count * np.dtype(np_dtype).itemsize:
            raise RequestError(f"tensor parsing error: {name} (tensor_content holds "
                               f"{len(proto.tensor_content)} bytes for {count} values of "
                               f"{dtype})")
        array = np.frombuffer(proto.tensor_content, dtype=np_dtype).reshape(dims)
    else:
        array = _from_field(getattr(proto, field), dtype, np_dtype, count, name).reshape(dims)
    if dtype.startswith("float") and array.size and not np.isfinite(array).all():
        raise RequestError(f"input tensor '{name}' holds NaN or Infinity; expects finite "
                           f"numbers ({dtype})")
    return array


def _from_field(values: Any, dtype: str, np_dtype: Any, count: int, name: str) -> np.ndarray:
    given = len(values)
    if given > count:
        raise RequestError(f"tensor parsing error: {name} ({given} values for a shape of "
                           f"{count})")
    if given == 0 and count:
        raise RequestError(f"tensor parsing error: {name} (no values for a shape of {count})")
    if dtype == "string":
        array = np.empty(count, dtype=object)
        array[:given] = list(values)
    elif dtype == "float16":
        array = np.empty(count, dtype=np.float16)
        array[:given] = np.array(values, dtype=np.uint16).view(np.float16)
    else:
        array = np.empty(count, dtype=np_dtype)
        try:
            array[:given] = values
        except OverflowError:
            raise RequestError(f"input tensor '{name}' has a value out of range for "
                               f"{dtype}") from None
    if given < count:  # Tensor::FromProto repeats the last value
        array[given:] = array[given - 1]
    return array


def from_array(value: np.ndarray) -> tensor_pb2.TensorProto:
    """An output as TF Serving writes it (``AsProtoField``)."""
    value = np.asarray(value)
    dtype = "string" if value.dtype == object or value.dtype.kind in "SU" else value.dtype.name
    if dtype not in _TYPES:
        raise RequestError(f"the model returned a {value.dtype} tensor, which this server "
                           "cannot send", 500)
    enum, _, field = _TYPES[dtype]
    proto = tensor_pb2.TensorProto(
        dtype=enum, tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in value.shape]))
    flat = value.reshape(-1)
    if dtype == "string":
        getattr(proto, field).extend(v if isinstance(v, bytes) else str(v).encode()
                                     for v in flat)
    elif dtype == "float16":
        proto.half_val.extend(flat.view(np.uint16).tolist())
    else:
        getattr(proto, field).extend(flat.tolist())
    return proto


def outputs_to_protos(outputs: Mapping[str, np.ndarray], names: list[str]
                      ) -> dict[str, tensor_pb2.TensorProto]:
    return {name: from_array(outputs[name]) for name in names}
