"""The Keras model: one pure builder shared by the Tuner and the Trainer, and TFX's ``run_fn``."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Mapping
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft
from tfx_bsl.public import tfxio

from models import budget, features, warmup
from models.bootstrap import bootstrap

NUMERIC_INPUTS = (
    *(features.transformed_name(k) for k in (*features.FLOAT_FEATURES, "Age", "Male")),
    "hour_sin",
    "hour_cos",
)
EMBEDDED_INPUTS = {
    features.transformed_name(k): features.VOCAB_SIZE[k] + features.OOV_BUCKETS[k]
    for k in features.VOCAB_FEATURES
} | {"weekday": 7}
TOPIC_INPUT = features.transformed_name(features.TEXT_FEATURE)
MODEL_INPUTS = (*NUMERIC_INPUTS, *EMBEDDED_INPUTS, TOPIC_INPUT)
OUTPUT_KEY = "probability"
CLASSIFY_METHOD = "tensorflow/serving/classify"


@dataclasses.dataclass(frozen=True)
class HParams:
    """Hyperparameters of the model and its training."""

    learning_rate: float = 0.01
    # Small on purpose: on data like the public set the signal is in five numeric columns
    # (the wide part); a larger deep part fits noise from the near-unique strings
    # (`make bench-quality`: (32, 16) x 4 at 0.003 trailed logistic regression on 1,000 rows).
    hidden_units: tuple[int, ...] = (16,)
    dropout: float = 0.1
    embedding_dim: int = 2
    l2: float = 0.003
    batch_size: int = 64
    # Seeds Python, NumPy, TensorFlow and the input pipeline's shuffle (see seed_everything).
    seed: int = 42
    # Training budget (models.budget): at most this many epochs, and early stopping on the
    # eval loss after this many epochs without improvement, the best weights restored.
    max_epochs: int = 100
    patience: int = 10

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> HParams:
        """From a dict (KerasTuner values or JSON); unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown hyperparameters {unknown}; expected some of {sorted(known)}")
        values = dict(values)
        if "hidden_units" in values:
            units = values["hidden_units"]
            values["hidden_units"] = tuple(
                int(u) for u in (units.split("-") if isinstance(units, str) else units))
        return cls(**values)


def build_model(hparams: HParams, feature_spec: Mapping[str, Any]) -> tf.keras.Model:
    """A wide-and-deep binary classifier over the transformed features.

    ``feature_spec`` is the transformed feature spec (name -> tf.io.FixedLenFeature); only the
    features in ``MODEL_INPUTS`` are used. Pure: no I/O, no global state besides Keras'.
    """
    missing = [name for name in MODEL_INPUTS if name not in feature_spec]
    if missing:
        raise ValueError(f"transformed features {missing} are missing from the feature spec")
    inputs = {
        name: tf.keras.Input(shape=_width(feature_spec[name]), name=name,
                             dtype=feature_spec[name].dtype)
        for name in MODEL_INPUTS
    }
    reg = tf.keras.regularizers.l2(hparams.l2)
    numeric = tf.keras.layers.Concatenate(name="numeric")(
        [tf.cast(inputs[n], tf.float32) for n in NUMERIC_INPUTS])
    embedded = [
        tf.keras.layers.Flatten()(tf.keras.layers.Embedding(
            size, hparams.embedding_dim, embeddings_regularizer=reg, name=f"{name}_embedding",
        )(inputs[name]))
        for name, size in EMBEDDED_INPUTS.items()
    ]
    topic = tf.keras.layers.Dense(hparams.embedding_dim, kernel_regularizer=reg,
                                  name="topic")(inputs[TOPIC_INPUT])
    deep = tf.keras.layers.Concatenate(name="deep_inputs")([numeric, topic, *embedded])
    for i, units in enumerate(hparams.hidden_units):
        deep = tf.keras.layers.Dense(units, activation="relu", kernel_regularizer=reg,
                                     name=f"hidden_{i}")(deep)
        if hparams.dropout:
            deep = tf.keras.layers.Dropout(hparams.dropout)(deep)
    logit = tf.keras.layers.Add(name="wide_and_deep")([
        tf.keras.layers.Dense(1, kernel_regularizer=reg, name="wide")(numeric),
        tf.keras.layers.Dense(1, kernel_regularizer=reg, name="deep")(deep),
    ])
    # float32 output even under a mixed-precision policy.
    output = tf.keras.layers.Activation("sigmoid", dtype="float32", name=OUTPUT_KEY)(logit)
    model = tf.keras.Model(inputs=inputs, outputs=output)
    model.compile(
        optimizer=tf.keras.optimizers.Adam(hparams.learning_rate),
        loss=tf.keras.losses.BinaryCrossentropy(),
        metrics=[tf.keras.metrics.AUC(name="auc"), tf.keras.metrics.BinaryAccuracy()],
    )
    # The optimizer's slot variables, made now rather than inside the first training step:
    # a step that creates variables is traced twice by tf.function (~1 s of every fit).
    model.optimizer.build(model.trainable_variables)
    return model


def _width(spec: Any) -> tuple[int, ...]:
    return tuple(spec.shape) if spec.shape else (1,)


def hparams_from(fn_args: Any) -> HParams:
    """Tuner results (if any) overlaid by ``custom_config['hparams']`` (if any)."""
    values: dict[str, Any] = {}
    if getattr(fn_args, "hyperparameters", None):
        hp = fn_args.hyperparameters
        values.update(hp.get("values", hp) if isinstance(hp, dict) else hp)
    custom = (getattr(fn_args, "custom_config", None) or {}).get("hparams") or {}
    values.update(custom)
    return HParams.from_dict(values)


def seed_everything(seed: int, *, deterministic_ops: bool = True) -> None:
    """Same data, code and seed -> the same model: seeds Python's ``random``, NumPy and
    TensorFlow, and (``deterministic_ops``) switches on TensorFlow's op determinism.

    Op determinism makes every op that has a nondeterministic kernel (GPU reductions,
    scatter-adds, tf.data's parallel map order) use a deterministic one, or raise when there is
    none; it is process-wide and cannot be switched off again, which is what a Trainer process
    wants.
    """
    tf.keras.utils.set_random_seed(seed)  # random.seed, np.random.seed and tf.random.set_seed
    if deterministic_ops:
        tf.config.experimental.enable_op_determinism()


def input_dataset(file_pattern: list[str], data_accessor: Any,
                  tf_transform_output: tft.TFTransformOutput, batch_size: int,
                  seed: int = HParams.seed, *, shuffle: bool = True,
                  num_epochs: int | None = None,
                  inputs: tuple[str, ...] = MODEL_INPUTS) -> tf.data.Dataset:
    """Batches of (the transformed features named in ``inputs``, label) from transformed
    examples, repeated ``num_epochs`` times (None: for ever).

    Files and records are shuffled with ``seed`` and read in a deterministic order, so the
    batches are the same on every run over the same files.
    """
    dataset = data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size, shuffle=shuffle,
                                       shuffle_seed=seed, num_epochs=num_epochs,
                                       sloppy_ordering=False),
        tf_transform_output.transformed_metadata.schema,
    )
    options = tf.data.Options()
    options.deterministic = True
    return dataset.map(_inputs_and_label(inputs)).with_options(options)


def _inputs_and_label(inputs: tuple[str, ...]) -> Any:
    """A map function: (model inputs, label) of a batch of transformed features.

    Done here rather than by tfxio's ``label_key`` option, whose lambda tf.data hands to
    AutoGraph, which re-parses tfx_bsl's whole source file to find it (~0.7 s per run).
    """

    @tf.autograph.experimental.do_not_convert
    def split(batch: dict[str, tf.Tensor]) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        return {k: batch[k] for k in inputs}, batch[features.LABEL_KEY]

    return split


def _distribution() -> tf.distribute.Strategy:
    """All visible GPUs with mixed precision, else the default (CPU) strategy."""
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        logging.info("Training on CPU (no GPU visible to TensorFlow).")
        return tf.distribute.get_strategy()
    tf.keras.mixed_precision.set_global_policy("mixed_float16")
    logging.info("Training on %d GPU(s) with mixed precision.", len(gpus))
    return tf.distribute.MirroredStrategy()


def train_model(hparams: HParams, train_files: list[str], eval_files: list[str],
                data_accessor: Any, tf_transform_output: tft.TFTransformOutput, *,
                train_steps: int, eval_steps: int) -> tuple[tf.keras.Model, dict[str, list]]:
    """Seeds everything, builds the model and fits it: (model, Keras history).

    ``train_steps`` is a ceiling: the budget grows with the train rows (``models.budget``) and
    early stopping on the eval loss (the first ``eval_steps`` batches of the eval split, the
    same rows every epoch) ends it sooner, keeping the best epoch's weights. Deterministic:
    the same files, hyperparameters and seed give the same weights and metrics.
    """
    seed_everything(hparams.seed)
    with _distribution().scope():
        model = build_model(hparams, tf_transform_output.transformed_feature_spec())
    history = model.fit(**fit_arguments(hparams, train_files, eval_files, data_accessor,
                                        tf_transform_output, train_steps=train_steps,
                                        eval_steps=eval_steps))
    return model, history.history


def fit_arguments(hparams: HParams, train_files: list[str], eval_files: list[str],
                  data_accessor: Any, tf_transform_output: tft.TFTransformOutput, *,
                  train_steps: int, eval_steps: int,
                  inputs: tuple[str, ...] = MODEL_INPUTS) -> dict[str, Any]:
    """``model.fit`` arguments of the Trainer and of each Tuner trial: data, budget, callbacks."""
    plan = budget.training_budget(budget.count_examples(train_files), hparams.batch_size,
                                  max_steps=train_steps, max_epochs=hparams.max_epochs)
    train = input_dataset(train_files, data_accessor, tf_transform_output, hparams.batch_size,
                          hparams.seed, inputs=inputs)
    evaluation = input_dataset(eval_files, data_accessor, tf_transform_output,
                               hparams.batch_size, hparams.seed, shuffle=False,
                               num_epochs=1, inputs=inputs).take(eval_steps)
    logging.info("Training budget: %d epochs of %d steps at most (%d steps), early stopping "
                 "after %d epochs without a better eval loss.", plan.epochs,
                 plan.steps_per_epoch, plan.max_steps, hparams.patience)
    return {"x": train, "epochs": plan.epochs, "steps_per_epoch": plan.steps_per_epoch,
            "validation_data": evaluation, "verbose": 0,
            "callbacks": [budget.early_stopping(hparams.patience)]}


def run_fn(fn_args: Any) -> None:
    """TFX Trainer entry point: trains, then exports the serving SavedModel."""
    bootstrap()  # in a TFX executor or container too, not only under our runners
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    hparams = hparams_from(fn_args)
    model, _history = train_model(
        hparams, fn_args.train_files, fn_args.eval_files, fn_args.data_accessor,
        tf_transform_output, train_steps=fn_args.train_steps,
        eval_steps=fn_args.eval_steps or 10)
    tf.io.gfile.makedirs(fn_args.model_run_dir)
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, "hparams.json"), "w") as f:
        json.dump(dataclasses.asdict(hparams), f)
    export_serving_model(model, tf_transform_output, fn_args.serving_model_dir)


def export_serving_model(model: tf.keras.Model, tf_transform_output: tft.TFTransformOutput,
                         export_dir: str, inputs: tuple[str, ...] = MODEL_INPUTS) -> None:
    """Saves a SavedModel with the transform graph and four signatures (no Keras metadata);
    ``model`` takes the transformed features named in ``inputs``.

    - ``serving_default``: raw JSON-friendly features, one tensor per column (TF Serving REST
      ``{"instances": [{"Age": 35, ...}]}``) -> ``probability`` and ``clicked``.
    - ``serving_tf_example``: serialized tf.Examples -> ``probability`` (the Evaluator).
    - ``classification``: serialized tf.Examples -> ``classes``/``scores`` with TF Serving's
      classify method name (REST ``:classify``).
    - ``transform_features``: serialized tf.Examples -> transformed features (TFMA slicing).

    Plus TF Serving's warm-up requests (``models.warmup``) in ``assets.extra``.
    """
    module = tf.Module()
    module.model = _Weights(model)
    tft_layer = tf_transform_output.transform_features_layer()
    module.transform = _transform_resources(tft_layer)
    example_spec = tf_transform_output.raw_feature_spec()
    raw_spec = {k: v for k, v in example_spec.items() if k != features.LABEL_KEY}

    # autograph=False: these functions have no Python control flow on tensors, and AutoGraph
    # would otherwise convert everything they call (TFT's layer, tfx_bsl's schema helpers):
    # ~5 s of the Trainer's time on a 2-core machine.
    # One tf.function for transform + model, which the three predicting signatures call: raw
    # and parsed features have the same [batch, 1] specs, so the transform graph is traced
    # once instead of three times (TF inlines the call when it runs a signature).
    @tf.function(autograph=False)
    def predict(raw: dict[str, tf.Tensor]) -> tf.Tensor:
        transformed = tft_layer(raw)
        return tf.reshape(model({k: transformed[k] for k in inputs}), [-1])

    @tf.function(autograph=False, input_signature=[{
        name: tf.TensorSpec([None], spec.dtype, name=name) for name, spec in raw_spec.items()}])
    def serve_raw(raw):
        probability = predict({k: tf.reshape(v, [-1, 1]) for k, v in raw.items()})
        return {OUTPUT_KEY: probability, "clicked": tf.cast(probability >= 0.5, tf.int64)}

    def parse(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        return tf.io.parse_example(serialized, raw_spec)

    @tf.function(autograph=False,
                 input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(examples):
        return {OUTPUT_KEY: predict(parse(examples))}

    @tf.function(autograph=False,
                 input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def classify(inputs):
        probability = predict(parse(inputs))
        scores = tf.stack([1.0 - probability, probability], axis=1)
        classes = tf.tile(tf.constant([["0", "1"]]), [tf.shape(inputs)[0], 1])
        return {"classes": classes, "scores": scores}

    @tf.function(autograph=False,
                 input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(examples):
        return tft_layer(tf.io.parse_example(examples, example_spec))

    signatures = {
        "serving_default": serve_raw.get_concrete_function(),
        features.EVAL_SIGNATURE: serve_examples.get_concrete_function(),
        "classification": classify.get_concrete_function(),
        features.TRANSFORM_SIGNATURE: transform_features.get_concrete_function(),
    }
    tf.saved_model.save(module, export_dir, signatures=signatures)
    _set_method_name(export_dir, "classification", CLASSIFY_METHOD)
    # TF Serving warms a version only from this file: without it, the first requests on GKE
    # after every push would pay for the graph's setup.
    warmup.write_warmup_file(export_dir)


class _Weights(tf.Module):
    """The model's variables without the Keras layer objects.

    Saving the Keras model itself would also trace every layer's call function (tens of seconds
    on a small machine); serving and the Evaluator only ever use the signatures, which close over
    the model and need nothing but its variables.
    """

    def __init__(self, model: tf.keras.Model):
        super().__init__(name="model")
        self.weights = list(model.weights)


def _transform_resources(tft_layer: tf.keras.Model) -> tf.Module:
    """What the signatures need saved of TFT's layer: its loaded graph's tables and assets.

    TFT's ``TransformFeaturesLayer`` is a Keras model, and saving it makes Keras serialize
    it (tracing a default signature through the whole transform graph: ~2 s of a 1k-row
    Trainer). The layer keeps everything its call captures (the loaded transform SavedModel:
    vocabulary tables, their initializers and asset files) in one tracked dictionary; saving
    that dictionary saves the same resources. Should a TFT version not have it, the layer
    itself is saved, as before. Either way ``tf.saved_model.save`` refuses to write a
    signature that captures a resource nothing tracks, so a gap here cannot go unnoticed.
    """
    tracked = getattr(tft_layer, "_saved_model_loader_tracked_dict", None)
    resources = tf.Module(name="transform")
    resources.graph = tft_layer if tracked is None else tracked
    return resources


def _set_method_name(export_dir: str, signature: str, method_name: str) -> None:
    """TF2 saves every signature as 'predict'; TF Serving's classify API needs its own name."""
    from tensorflow.core.protobuf import saved_model_pb2

    path = os.path.join(export_dir, "saved_model.pb")
    saved = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(path, "rb") as f:
        saved.ParseFromString(f.read())
    for meta_graph in saved.meta_graphs:
        meta_graph.signature_def[signature].method_name = method_name
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(saved.SerializeToString())
