"""TF Serving's warm-up file for the exported model: its first real request is answered warm.

TF Serving replays ``assets.extra/tf_serving_warmup_requests`` when it loads a version, and
warms nothing otherwise ("SavedModel Warmup", tensorflow.org/tfx/serving/saved_model_warmup;
``tensorflow_serving/servables/tensorflow/saved_model_warmup_util.cc``): a TFRecord file of
``PredictionLog`` protos, at most 1000, each a request to one signature. A failing record fails
the load, so every record here is one the model answers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import tensorflow as tf

from models import features

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
# A realistic row (the first of the public "advertising" data set, label dropped).
EXAMPLE_ROW: dict[str, Any] = {
    "DailyTimeSpentOnSite": 68.95, "Age": 35, "AreaIncome": 61833.90,
    "DailyInternetUsage": 256.09, "AdTopicLine": "Cloned 5thgeneration orchestration",
    "City": "Wrightburgh", "Male": 0, "Country": "Tunisia",
    "Timestamp": "2016-03-27 00:53:11",
}
# Two rows, so the file warms a one-row and a batched request; the second has a city the
# vocabulary has never seen (its out-of-vocabulary bucket).
WARMUP_ROWS = (EXAMPLE_ROW, {**EXAMPLE_ROW, "Age": 52, "Male": 1, "City": "Nowhere Town",
                             "Country": "Norway", "DailyTimeSpentOnSite": 40.5,
                             "Timestamp": "2016-06-30 23:59:59"})
_DTYPES = {"float": tf.float32, "int": tf.int64, "string": tf.string}


def _tensor(name: str, values: Sequence[Any]) -> Any:
    dtype = _DTYPES[features.RAW_TYPES[name]]
    if dtype == tf.string:
        values = [str(v).encode() for v in values]
    return tf.make_tensor_proto(values, dtype=dtype, shape=[len(values)])


def to_example(row: Mapping[str, Any]) -> bytes:
    """One raw row as a serialized tf.Example (the Evaluator's and ``:classify``'s input)."""
    feature = {}
    for name, value in row.items():
        kind = features.RAW_TYPES[name]
        if kind == "float":
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
        elif kind == "int":
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        else:
            feature[name] = tf.train.Feature(
                bytes_list=tf.train.BytesList(value=[str(value).encode()]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def warmup_records(rows: Sequence[Mapping[str, Any]] = WARMUP_ROWS, *,
                   classify_signature: str | None = "classification") -> list[bytes]:
    """PredictionLog records: the rows to ``serving_default`` (one request per batch size 1
    and len(rows)), and to the classification signature as tf.Examples."""
    from tensorflow_serving.apis import (
        classification_pb2,
        model_pb2,
        predict_pb2,
        prediction_log_pb2,
    )

    records = []
    for batch in {1, len(rows)}:
        request = predict_pb2.PredictRequest(
            model_spec=model_pb2.ModelSpec(signature_name="serving_default"))
        for name in rows[0]:
            request.inputs[name].CopyFrom(_tensor(name, [r[name] for r in rows[:batch]]))
        records.append(prediction_log_pb2.PredictionLog(
            predict_log=prediction_log_pb2.PredictLog(request=request)).SerializeToString())
    if classify_signature:
        request = classification_pb2.ClassificationRequest(
            model_spec=model_pb2.ModelSpec(signature_name=classify_signature))
        for row in rows:
            request.input.example_list.examples.add().ParseFromString(to_example(row))
        records.append(prediction_log_pb2.PredictionLog(
            classify_log=prediction_log_pb2.ClassifyLog(request=request)).SerializeToString())
    return records


def write_warmup_file(export_dir: str, records: Sequence[bytes] | None = None) -> str:
    """Writes ``assets.extra/tf_serving_warmup_requests`` into a SavedModel folder (any file
    system TensorFlow reads, gs:// included); returns its path."""
    path = os.path.join(export_dir, WARMUP_FILE)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for record in records if records is not None else warmup_records():
            writer.write(record)
    return path
