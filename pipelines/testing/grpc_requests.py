"""A TF Serving gRPC PredictRequest from one JSON-style row, as a TF Serving client builds it
(``tf.make_tensor_proto``, one tensor of one value per feature), for tests and benchmarks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def predict_request(row: Mapping[str, Any], model: str = "clickflow") -> Any:
    """Strings as DT_STRING, integers as DT_INT64, other numbers as DT_FLOAT."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    for name, value in row.items():
        dtype = tf.string if isinstance(value, str) else (
            tf.int64 if isinstance(value, int) else tf.float32)
        request.inputs[name].CopyFrom(tf.make_tensor_proto([value], dtype=dtype))
    return request
