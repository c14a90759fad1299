"""TFX Tuner entry point: a KerasTuner search over the same ``build_model`` the Trainer uses."""

from __future__ import annotations

from typing import Any

import keras_tuner
import tensorflow_transform as tft
from tfx.components.tuner.component import TunerFnResult

from models.bootstrap import bootstrap
from models.model import HParams, build_model, input_dataset, seed_everything

SEARCH_SPACE = {
    "learning_rate": [0.003, 0.01, 0.03],
    "hidden_units": ["32-16", "64-32", "16"],
    "dropout": [0.0, 0.1, 0.3],
    "embedding_dim": [2, 4, 8],
}


def hyperparameters() -> keras_tuner.HyperParameters:
    """The search space as KerasTuner hyperparameters."""
    hp = keras_tuner.HyperParameters()
    for name, values in SEARCH_SPACE.items():
        hp.Choice(name, values)
    return hp


def tuner_fn(fn_args: Any) -> TunerFnResult:
    """Random search, maximising validation AUC, with the Trainer's own datasets."""
    bootstrap()
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    feature_spec = tf_transform_output.transformed_feature_spec()
    trials = int((fn_args.custom_config or {}).get("max_trials", 6))
    defaults = HParams()
    batch_size = defaults.batch_size
    seed_everything(defaults.seed)  # every trial starts from the same seeds as the Trainer
    tuner = keras_tuner.RandomSearch(
        hypermodel=lambda hp: build_model(HParams.from_dict(hp.values), feature_spec),
        hyperparameters=hyperparameters(),
        objective=keras_tuner.Objective("val_auc", "max"),
        max_trials=trials,
        directory=fn_args.working_dir,
        project_name="clickflow",
        seed=42,
    )
    train = input_dataset(fn_args.train_files, fn_args.data_accessor, tf_transform_output,
                          batch_size, defaults.seed)
    evaluation = input_dataset(fn_args.eval_files, fn_args.data_accessor, tf_transform_output,
                               batch_size, defaults.seed)
    return TunerFnResult(tuner=tuner, fit_kwargs={
        "x": train,
        "validation_data": evaluation,
        "steps_per_epoch": fn_args.train_steps,
        "validation_steps": fn_args.eval_steps,
        "verbose": 0,
    })
