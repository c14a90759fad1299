"""The simple model: logistic regression on the numeric features, deterministic, and learning."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from models import features, model, simple_model
from models.model_test import _feature_spec, _inputs, _TransformOutput, _write_transformed
from pipelines.common.metrics import roc_auc


def _numeric(data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: data[k] for k in simple_model.INPUTS}


def test_it_is_a_logistic_regression_on_the_numeric_features_only() -> None:
    net = simple_model.build_simple_model(_feature_spec())
    assert sorted(net.input_names) == sorted(model.NUMERIC_INPUTS)
    assert net.output_names == [model.OUTPUT_KEY]
    # One weight per numeric input and a bias: nothing else is trained.
    assert sorted(w.shape.as_list() for w in net.trainable_weights) == [
        [1],
        [len(model.NUMERIC_INPUTS), 1],
    ]
    out = net(_numeric(_inputs(5)), training=False).numpy()
    assert out.shape == (5, 1) and ((out > 0) & (out < 1)).all()


def test_a_missing_numeric_feature_is_named() -> None:
    spec = _feature_spec()
    del spec["hour_cos"]
    with pytest.raises(ValueError, match="'hour_cos'"):
        simple_model.build_simple_model(spec)


def test_training_learns_and_is_deterministic(tmp_path) -> None:
    """TFX's own data accessor over sharded TFRecords, as the Trainer builds it
    (tfx/components/trainer/fn_args_utils.py); same files and seed -> the same weights."""
    from tfx.components.trainer import fn_args_utils
    from tfx.components.util import tfxio_utils
    from tfx.types import standard_artifacts

    for shard in range(2):
        _write_transformed(str(tmp_path / f"train-{shard}.tfrecord"), 300, seed=shard)
    eval_file = str(tmp_path / "eval.tfrecord")
    _write_transformed(eval_file, 200, seed=9)
    accessor = fn_args_utils.DataAccessor(
        tf_dataset_factory=tfxio_utils.get_tf_dataset_factory_from_artifact(
            [standard_artifacts.Examples()], ["test"]
        ),
        record_batch_factory=None,
        data_view_decode_fn=None,
    )
    spec = {**_feature_spec(), features.LABEL_KEY: tf.io.FixedLenFeature([1], tf.int64)}

    def train() -> tuple[tf.keras.Model, dict[str, list]]:
        return simple_model.train_simple_model(
            [str(tmp_path / "train-*.tfrecord")],
            [eval_file],
            accessor,
            _TransformOutput(spec),
            train_steps=200,
            eval_steps=4,
        )

    (net, history), (again, history_again) = train(), train()
    assert history == history_again
    for a, b in zip(net.weights, again.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # The label follows DailyTimeSpentOnSite_xf (plus noise): its weight dominates.
    driver = model.NUMERIC_INPUTS.index(features.transformed_name("DailyTimeSpentOnSite"))
    kernel = np.abs(net.get_layer(model.OUTPUT_KEY).kernel.numpy()[:, 0])
    assert kernel.argmax() == driver
    data = _inputs(400, seed=9)
    labels = (data[features.transformed_name("DailyTimeSpentOnSite")][:, 0] > 0).astype(int)
    assert roc_auc(labels, net(_numeric(data), training=False).numpy()[:, 0]) > 0.9
    assert len(history["loss"]) <= simple_model.MAX_EPOCHS


def test_it_stays_float32_under_the_main_models_mixed_precision_policy() -> None:
    """On a GPU the main Trainer sets mixed_float16 process-wide (model._distribution); the
    local runner runs both Trainers in one process, in either order."""
    tf.keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        net = simple_model.build_simple_model(_feature_spec())
    finally:
        tf.keras.mixed_precision.set_global_policy("float32")
    assert {w.dtype for w in net.weights} == {tf.float32}
    assert net.get_layer("numeric").compute_dtype == "float32"
    assert net.get_layer(model.OUTPUT_KEY).compute_dtype == "float32"
    out = net(_numeric(_inputs(3)), training=False)
    assert out.dtype == tf.float32
