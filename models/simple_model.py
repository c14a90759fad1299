"""The simple model every candidate must beat: logistic regression on the numeric features.

A second TFX Trainer runs ``run_fn`` on the same Transform output as the main model, and its
SavedModel has the same four signatures (``models.model.export_serving_model``), so the same
TFMA EvalConfig scores both and the simple-model Evaluator can use it as the candidate's
``baseline_model``. It takes only the transformed numeric features (``model.NUMERIC_INPUTS``:
the three z-scored float columns, age, sex and the hour's sine and cosine): no embeddings, no
hidden layer. Small and fixed: at most ``MAX_EPOCHS`` passes within the pipeline's
``train_steps`` ceiling, early stopping on the eval loss, seeded like the main model.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from models import model
from models.bootstrap import bootstrap

INPUTS = model.NUMERIC_INPUTS
MAX_EPOCHS = 30
# A convex problem on standardized inputs: a larger step than the main model's converges in
# a few passes, and there are no weights to over-fit besides one per input.
HPARAMS = model.HParams(
    learning_rate=0.05, hidden_units=(), dropout=0.0, l2=0.0, max_epochs=MAX_EPOCHS, patience=5
)


def build_simple_model(feature_spec: Mapping[str, Any]) -> tf.keras.Model:
    """sigmoid(w . x + b) over ``INPUTS`` of the transformed feature spec. Pure, like
    ``model.build_model``."""
    missing = [name for name in INPUTS if name not in feature_spec]
    if missing:
        raise ValueError(f"transformed features {missing} are missing from the feature spec")
    inputs = {
        name: tf.keras.Input(shape=(1,), name=name, dtype=feature_spec[name].dtype)
        for name in INPUTS
    }
    # float32 throughout, even where the main model's Trainer set a mixed-precision policy in
    # the same process (LocalDagRunner runs both Trainers in one).
    numeric = tf.keras.layers.Concatenate(name="numeric", dtype="float32")(
        [tf.cast(inputs[n], tf.float32) for n in INPUTS]
    )
    output = tf.keras.layers.Dense(1, activation="sigmoid", dtype="float32", name=model.OUTPUT_KEY)(
        numeric
    )
    net = tf.keras.Model(inputs=inputs, outputs=output)
    net.compile(
        optimizer=tf.keras.optimizers.Adam(HPARAMS.learning_rate),
        loss=tf.keras.losses.BinaryCrossentropy(),
        metrics=[tf.keras.metrics.AUC(name="auc")],
    )
    net.optimizer.build(net.trainable_variables)  # one trace of the train step (model.py)
    return net


def train_simple_model(
    train_files: list[str],
    eval_files: list[str],
    data_accessor: Any,
    tf_transform_output: tft.TFTransformOutput,
    *,
    train_steps: int,
    eval_steps: int,
) -> tuple[tf.keras.Model, dict[str, list]]:
    """Seeds everything and fits the logistic regression: (model, Keras history).

    On the default (CPU) strategy even where a GPU is visible: 8 weights gain nothing from one.
    """
    model.seed_everything(HPARAMS.seed)
    net = build_simple_model(tf_transform_output.transformed_feature_spec())
    history = net.fit(
        **model.fit_arguments(
            HPARAMS,
            train_files,
            eval_files,
            data_accessor,
            tf_transform_output,
            train_steps=train_steps,
            eval_steps=eval_steps,
            inputs=INPUTS,
        )
    )
    return net, history.history


def run_fn(fn_args: Any) -> None:
    """TFX Trainer entry point of the simple model: trains, exports the same signatures."""
    bootstrap()
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    net, history = train_simple_model(
        fn_args.train_files,
        fn_args.eval_files,
        fn_args.data_accessor,
        tf_transform_output,
        train_steps=fn_args.train_steps,
        eval_steps=fn_args.eval_steps or 10,
    )
    tf.io.gfile.makedirs(fn_args.model_run_dir)
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, "simple_model.json"), "w") as f:
        json.dump(
            {
                "hparams": dataclasses.asdict(HPARAMS),
                "inputs": list(INPUTS),
                "epochs": len(history.get("loss", [])),
            },
            f,
        )
    model.export_serving_model(net, tf_transform_output, fn_args.serving_model_dir, inputs=INPUTS)
