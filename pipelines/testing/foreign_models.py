"""SavedModels other projects push, built here for the server's tests: what a TFX template
exports (``serving_default`` parsing serialized tf.Examples), and the same model with TF
Serving's regression method name (``:regress``)."""

from __future__ import annotations

from pathlib import Path

REGRESS_METHOD = "tensorflow/serving/regress"


def export_example_model(path: Path, method_name: str | None = None) -> Path:
    """A TF2 SavedModel whose serving_default parses tf.Examples: outputs = 2 * x; with
    ``method_name`` its signature gets that method (TF2 writes every signature as predict)."""
    import tensorflow as tf

    spec = {"x": tf.io.FixedLenFeature([1], tf.float32)}
    module = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(examples):
        return {"outputs": 2.0 * tf.io.parse_example(examples, spec)["x"][:, 0]}

    tf.saved_model.save(module, str(path), signatures={"serving_default": serve})
    if method_name:
        from tensorflow.core.protobuf import saved_model_pb2

        saved = saved_model_pb2.SavedModel.FromString((path / "saved_model.pb").read_bytes())
        for meta_graph in saved.meta_graphs:
            meta_graph.signature_def["serving_default"].method_name = method_name
        (path / "saved_model.pb").write_bytes(saved.SerializeToString())
    return path


def example(x: float) -> bytes:
    import tensorflow as tf

    feature = {"x": tf.train.Feature(float_list=tf.train.FloatList(value=[x]))}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
