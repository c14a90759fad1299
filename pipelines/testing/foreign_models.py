"""SavedModels other projects push, built here for the server's tests: what a TFX template
exports (``serving_default`` parsing serialized tf.Examples), the same model with TF
Serving's regression method name (``:regress``) and a classification signature, a TF1 graph
like TF Serving's own ``half_plus_three`` test model, and a TF2 model with the named inputs and
outputs of TF Serving's JSON tests (``export_tensor_model``)."""

from __future__ import annotations

from pathlib import Path

REGRESS_METHOD = "tensorflow/serving/regress"
CLASSIFY_METHOD = "tensorflow/serving/classify"
CLASSIFY_SIGNATURE = "classify_x"
CLASSES_SIGNATURE = "classes_only"


def export_example_model(path: Path, method_name: str | None = None,
                         with_classify: bool = False) -> Path:
    """A TF2 SavedModel whose serving_default parses tf.Examples: outputs = 2 * x; with
    ``method_name`` its signature gets that method (TF2 writes every signature as predict).

    ``with_classify`` adds ``classify_x`` (TF Serving's classify method): for features ``x``
    and ``bias`` (default 0), p = 0.25 * x + bias, classes ["neg", "pos"], scores [1 - p, p];
    and ``classes_only`` (classify too), the same classes without scores.
    """
    import tensorflow as tf

    spec = {"x": tf.io.FixedLenFeature([1], tf.float32)}
    module = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(examples):
        return {"outputs": 2.0 * tf.io.parse_example(examples, spec)["x"][:, 0]}

    signatures = {"serving_default": serve}
    if with_classify:
        classify_spec = {"x": tf.io.FixedLenFeature([1], tf.float32),
                         "bias": tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0])}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def classify(inputs):
            features = tf.io.parse_example(inputs, classify_spec)
            p = 0.25 * features["x"] + features["bias"]
            classes = tf.tile(tf.constant([["neg", "pos"]]), [tf.shape(p)[0], 1])
            return {"classes": classes, "scores": tf.concat([1.0 - p, p], axis=1)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def top_classes(inputs):
            return {"classes": classify(inputs)["classes"]}

        signatures[CLASSIFY_SIGNATURE] = classify
        signatures[CLASSES_SIGNATURE] = top_classes
    tf.saved_model.save(module, str(path), signatures=signatures)
    classify_method = CLASSIFY_METHOD if with_classify else None
    methods = {"serving_default": method_name, CLASSIFY_SIGNATURE: classify_method,
               CLASSES_SIGNATURE: classify_method}
    if any(methods.values()):
        from tensorflow.core.protobuf import saved_model_pb2

        saved = saved_model_pb2.SavedModel.FromString((path / "saved_model.pb").read_bytes())
        for meta_graph in saved.meta_graphs:
            for name, method in methods.items():
                if method:
                    meta_graph.signature_def[name].method_name = method
        (path / "saved_model.pb").write_bytes(saved.SerializeToString())
    return path


def export_tensor_model(path: Path) -> Path:
    """A TF2 SavedModel whose signatures echo the tensors of TF Serving's JSON tests
    (tensorflow_serving/util/json_tensor_test.cc), so a REST answer can be compared with the
    JSON those tests expect:

    - ``serving_default``: inputs ``int_tensor`` int32 [-1, 3, 2], ``str_tensor`` string
      [-1, 2], ``bin_tensor`` string [-1, 2], ``float_tensor`` float32 [-1, 2] and
      ``dbl_tensor`` float64 [-1, 1]; outputs ``int_tensor``, ``str_tensor`` (echoed),
      ``str_tensor_bytes`` (``bin_tensor``), ``float_tensor`` (its first column, [-1, 1]) and
      ``double_scalar_tensor`` (``dbl_tensor`` as [-1]): MultipleNamedTensor's inputs give
      FromJsonMultipleNamedTensors' outputs.
    - ``pairs``: ``default`` int32 [-1, 2] -> ``y`` (echo); ``scalars``: ``x`` int32 [-1] ->
      ``y``; ``f32`` / ``f64``: ``x`` float32 / float64 [-1] -> ``y`` (echo); ``any_shape``:
      ``default`` int32 of unknown rank (json_tensor_test's TensorInfos give no shape) -> ``y``.
    - ``nonfinite``: ``x`` float32 [-1] -> ``y`` = x / 0 (3 stays 3): NaN, Infinity, -Infinity.
    - ``bytes``: ``default`` string [-1] -> ``text`` and ``text_bytes`` (both the input).
    - ``types``: ``flag`` bool [-1] and ``id`` int64 [-1] -> ``flag`` (negated), ``id`` (echo).
    - ``summed``: ``x`` float32 [-1] -> ``y`` (echo) and ``total`` (its sum, a scalar);
      ``first``: ``x`` -> ``y`` (echo) and ``head`` (x[:1]): outputs with no or another batch.
    """
    import tensorflow as tf

    def spec(shape: list | None, dtype, name: str):
        return tf.TensorSpec(shape, dtype, name=name)

    @tf.function(input_signature=[
        spec([None, 3, 2], tf.int32, "int_tensor"), spec([None, 2], tf.string, "str_tensor"),
        spec([None, 2], tf.string, "bin_tensor"), spec([None, 2], tf.float32, "float_tensor"),
        spec([None, 1], tf.float64, "dbl_tensor")])
    def default(int_tensor, str_tensor, bin_tensor, float_tensor, dbl_tensor):
        return {"int_tensor": tf.identity(int_tensor), "str_tensor": tf.identity(str_tensor),
                "str_tensor_bytes": tf.identity(bin_tensor),
                "float_tensor": float_tensor[:, :1], "double_scalar_tensor": dbl_tensor[:, 0]}

    def echo(dtype, shape: list | None, name: str):
        @tf.function(input_signature=[spec(shape, dtype, name)])
        def call(value):
            return {"y": tf.identity(value)}

        return call

    @tf.function(input_signature=[spec([None], tf.float32, "x")])
    def nonfinite(x):
        return {"y": tf.where(tf.equal(x, 3.0), x, x / 0.0)}

    @tf.function(input_signature=[spec([None], tf.string, "default")])
    def as_bytes(default):
        return {"text": tf.identity(default), "text_bytes": tf.identity(default)}

    @tf.function(input_signature=[spec([None], tf.bool, "flag"), spec([None], tf.int64, "id")])
    def types(flag, ids):  # the TensorSpec's name, "id", names the signature input
        return {"flag": tf.logical_not(flag), "id": tf.identity(ids)}

    @tf.function(input_signature=[spec([None], tf.float32, "x")])
    def summed(x):
        return {"y": tf.identity(x), "total": tf.reduce_sum(x)}

    @tf.function(input_signature=[spec([None], tf.float32, "x")])
    def first(x):
        return {"y": tf.identity(x), "head": x[:1]}

    signatures = {"serving_default": default, "summed": summed, "first": first,
                  "pairs": echo(tf.int32, [None, 2], "default"),
                  "scalars": echo(tf.int32, [None], "x"), "f32": echo(tf.float32, [None], "x"),
                  "f64": echo(tf.float64, [None], "x"), "nonfinite": nonfinite,
                  "bytes": as_bytes, "types": types,
                  "any_shape": echo(tf.int32, None, "default")}
    tf.saved_model.save(tf.Module(), str(path), signatures=signatures)
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
