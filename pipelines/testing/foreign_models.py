"""SavedModels other projects push, built here for the server's tests: what a TFX template
exports (``serving_default`` parsing serialized tf.Examples), the same model with TF
Serving's regression method name (``:regress``), and a TF1 graph like TF Serving's own
``half_plus_three`` test model."""

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


def export_half_plus_three(path: Path) -> Path:
    """A TF1 (session-based) SavedModel computing y = 0.5 * x + 3, built as TF Serving's
    tensorflow_serving/servables/tensorflow/testdata/saved_model_half_plus_two.py builds its
    half_plus_two/half_plus_three: variables a and b, tf.Examples parsed for ``classify_x_to_y``
    and ``regress_x_to_y``; ``serving_default`` predicts from a float placeholder ``x`` [-1]
    (so the REST doc's ``{"instances": [1.0, 2.0, 5.0]}`` feeds it as it is)."""
    import tensorflow as tf

    v1 = tf.compat.v1
    with tf.Graph().as_default(), v1.Session() as session:
        a = v1.Variable(0.5, name="a")
        b = v1.Variable(3.0, name="b")
        x = v1.placeholder(tf.float32, shape=[None], name="x")
        y = tf.identity(a * x + b, name="y")
        serialized = v1.placeholder(tf.string, shape=[None], name="tf_example")
        parsed = v1.parse_example(serialized, {"x": v1.FixedLenFeature([1], tf.float32)})
        parsed_y = tf.identity(a * parsed["x"] + b, name="parsed_y")  # [-1, 1]
        info = v1.saved_model.utils.build_tensor_info
        build = v1.saved_model.signature_def_utils.build_signature_def
        constants = v1.saved_model.signature_constants
        signatures = {
            constants.DEFAULT_SERVING_SIGNATURE_DEF_KEY: build(
                {"x": info(x)}, {"y": info(y)}, constants.PREDICT_METHOD_NAME),
            "classify_x_to_y": build(
                {constants.CLASSIFY_INPUTS: info(serialized)},
                {constants.CLASSIFY_OUTPUT_SCORES: info(parsed_y)},
                constants.CLASSIFY_METHOD_NAME),
            "regress_x_to_y": build(
                {constants.REGRESS_INPUTS: info(serialized)},
                {constants.REGRESS_OUTPUTS: info(parsed_y)}, constants.REGRESS_METHOD_NAME),
        }
        session.run(v1.global_variables_initializer())
        builder = v1.saved_model.Builder(str(path))
        builder.add_meta_graph_and_variables(
            session, [v1.saved_model.tag_constants.SERVING], signature_def_map=signatures)
        builder.save()
    return path


def example(x: float) -> bytes:
    import tensorflow as tf

    feature = {"x": tf.train.Feature(float_list=tf.train.FloatList(value=[x]))}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
