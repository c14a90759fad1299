"""Tests for the Keras model: hyperparameters, the builder, and that it can learn."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

from models import features, model
from pipelines.common.metrics import roc_auc


def _feature_spec() -> dict[str, tf.io.FixedLenFeature]:
    spec = {name: tf.io.FixedLenFeature([1], tf.float32) for name in model.NUMERIC_INPUTS}
    spec.update({name: tf.io.FixedLenFeature([1], tf.int64) for name in model.EMBEDDED_INPUTS})
    spec[model.TOPIC_INPUT] = tf.io.FixedLenFeature([features.TOPIC_HASH_BUCKETS], tf.float32)
    spec["age_band"] = tf.io.FixedLenFeature([1], tf.string)  # present but not a model input
    return spec


def _inputs(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    data = {name: rng.normal(size=(n, 1)).astype(np.float32) for name in model.NUMERIC_INPUTS}
    for name, size in model.EMBEDDED_INPUTS.items():
        data[name] = rng.integers(0, size, size=(n, 1), dtype=np.int64)
    data[model.TOPIC_INPUT] = rng.integers(
        0, 2, size=(n, features.TOPIC_HASH_BUCKETS)).astype(np.float32)
    return data


def test_hparams_defaults_and_from_dict() -> None:
    assert model.HParams.from_dict({}) == model.HParams()
    hp = model.HParams.from_dict({"hidden_units": "64-32", "learning_rate": 0.5})
    assert hp.hidden_units == (64, 32) and hp.learning_rate == 0.5
    assert model.HParams.from_dict({"hidden_units": [8]}).hidden_units == (8,)
    assert model.HParams.from_dict({"hidden_units": "16"}).hidden_units == (16,)


def test_hparams_unknown_key_is_named() -> None:
    with pytest.raises(ValueError, match="'hiden_units'") as err:
        model.HParams.from_dict({"hiden_units": "8", "dropout": 0.2})
    assert "hidden_units" in str(err.value)  # the expected names are listed


def test_build_model_outputs_probabilities() -> None:
    tf.keras.utils.set_random_seed(0)
    net = model.build_model(model.HParams(hidden_units=(32, 16)), _feature_spec())
    assert sorted(net.input_names) == sorted(model.MODEL_INPUTS)
    assert net.output_names == [model.OUTPUT_KEY]
    out = net(_inputs(10), training=False).numpy()
    assert out.shape == (10, 1) and out.dtype == np.float32
    assert ((out > 0) & (out < 1)).all()
    assert len({net.get_layer(f"hidden_{i}").units for i in range(2)}) == 2
    small = model.build_model(model.HParams(hidden_units=(5,), dropout=0.0), _feature_spec())
    assert small.get_layer("hidden_0").units == 5
    with pytest.raises(ValueError):
        small.get_layer("hidden_1")


def test_build_model_missing_feature_is_named() -> None:
    spec = _feature_spec()
    del spec["weekday"]
    with pytest.raises(ValueError, match="'weekday'"):
        model.build_model(model.HParams(), spec)


def test_model_learns_a_linear_rule() -> None:
    tf.keras.utils.set_random_seed(1)
    data = _inputs(1024, seed=1)
    driver = features.transformed_name("DailyTimeSpentOnSite")
    labels = (2.0 * data[driver][:, 0] + 0.3 > 0).astype(np.float32)
    hp = model.HParams(learning_rate=0.03, hidden_units=(8,), dropout=0.0, batch_size=64)
    net = model.build_model(hp, _feature_spec())
    # Fast only because models.bootstrap keeps AutoGraph off tf-keras (else ~20 s on 2 cores).
    history = net.fit(data, labels, batch_size=hp.batch_size, epochs=3, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["auc"][-1] > 0.9
    scores = net(data, training=False).numpy()[:, 0]
    assert roc_auc(labels.astype(int), scores) > 0.9


def test_training_step_is_traced_once() -> None:
    """The optimizer is built with the model, so fit() does not trace its step a second time."""
    data = _inputs(64)
    labels = np.zeros((64, 1), np.float32)
    net = model.build_model(model.HParams(hidden_units=(4,), batch_size=32), _feature_spec())
    net.fit(data, labels, batch_size=32, epochs=1, verbose=0)
    assert net.train_function.experimental_get_tracing_count() == 1


def test_hparams_from_merges_tuner_values_and_custom_config() -> None:
    fn_args = SimpleNamespace(
        hyperparameters={"values": {"learning_rate": 0.05, "hidden_units": "16-8",
                                    "dropout": 0.3}},
        custom_config={"hparams": {"dropout": 0.0, "batch_size": 32}},
    )
    hp = model.hparams_from(fn_args)
    assert hp == model.HParams(learning_rate=0.05, hidden_units=(16, 8), dropout=0.0,
                               batch_size=32)


def test_hparams_from_without_sources() -> None:
    assert model.hparams_from(SimpleNamespace()) == model.HParams()
    assert model.hparams_from(
        SimpleNamespace(hyperparameters=None, custom_config=None)) == model.HParams()
    flat = SimpleNamespace(hyperparameters={"embedding_dim": 2}, custom_config={})
    assert model.hparams_from(flat).embedding_dim == 2


def test_hparams_from_rejects_unknown_custom_key() -> None:
    fn_args = SimpleNamespace(hyperparameters=None, custom_config={"hparams": {"epochs": 3}})
    with pytest.raises(ValueError, match="'epochs'"):
        model.hparams_from(fn_args)


class _TransformOutput:
    """What train_model reads of tft.TFTransformOutput: the transformed schema and spec."""

    def __init__(self, spec: dict[str, tf.io.FixedLenFeature]):
        from tensorflow_transform.tf_metadata import schema_utils

        self._spec = spec
        self.transformed_metadata = SimpleNamespace(
            schema=schema_utils.schema_from_feature_spec(spec))

    def transformed_feature_spec(self) -> dict[str, tf.io.FixedLenFeature]:
        return dict(self._spec)


def _write_transformed(path: str, n: int, seed: int) -> None:
    data = _inputs(n, seed)
    driver = data[features.transformed_name("DailyTimeSpentOnSite")][:, 0]
    label = (driver + 0.5 * np.random.default_rng(seed).normal(size=n) > 0).astype(np.int64)
    with tf.io.TFRecordWriter(path) as writer:
        for i in range(n):
            feats = {name: (tf.train.Feature(int64_list=tf.train.Int64List(value=v[i]))
                            if v.dtype == np.int64 else
                            tf.train.Feature(float_list=tf.train.FloatList(value=v[i])))
                     for name, v in data.items()}
            feats["age_band"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"<30"]))
            feats[features.LABEL_KEY] = tf.train.Feature(
                int64_list=tf.train.Int64List(value=[label[i]]))
            writer.write(tf.train.Example(
                features=tf.train.Features(feature=feats)).SerializeToString())


def test_training_is_deterministic(tmp_path) -> None:
    """Same files, hyperparameters and seed: identical metrics and weights; another seed: not.

    The data accessor is TFX's own (tfxio_utils.get_tf_dataset_factory_from_artifact over an
    Examples artifact, as the Trainer builds it in tfx/components/trainer/fn_args_utils.py),
    reading TFRecord files in several shards, so the file shuffle is exercised too.
    """
    from tfx.components.trainer import fn_args_utils
    from tfx.components.util import tfxio_utils
    from tfx.types import standard_artifacts

    files = []
    for shard in range(3):
        files.append(str(tmp_path / f"train-{shard}.tfrecord"))
        _write_transformed(files[-1], 200, seed=shard)
    eval_file = str(tmp_path / "eval.tfrecord")
    _write_transformed(eval_file, 150, seed=9)
    accessor = fn_args_utils.DataAccessor(
        tf_dataset_factory=tfxio_utils.get_tf_dataset_factory_from_artifact(
            [standard_artifacts.Examples()], ["test"]),
        record_batch_factory=None, data_view_decode_fn=None)
    spec = {**_feature_spec(), features.LABEL_KEY: tf.io.FixedLenFeature([1], tf.int64)}
    hp = model.HParams(hidden_units=(8,), batch_size=32, dropout=0.2)

    def train(hparams: model.HParams) -> tuple[dict[str, list], list[np.ndarray]]:
        net, history = model.train_model(
            hparams, [str(tmp_path / "train-*.tfrecord")], [eval_file], accessor,
            _TransformOutput(spec), train_steps=40, eval_steps=3)
        return history, [w.numpy() for w in net.weights]

    first, again = train(hp), train(hp)
    assert first[0] == again[0]  # loss, auc, accuracy and their val_ twins, exactly
    assert first[0]["val_auc"][0] > 0.7  # it learned something: the test is not vacuous
    for a, b in zip(first[1], again[1], strict=True):
        np.testing.assert_array_equal(a, b)
    other = train(dataclasses.replace(hp, seed=7))
    assert other[0] != first[0]
