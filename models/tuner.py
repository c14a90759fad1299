"""TFX Tuner entry point: a KerasTuner search over the same ``build_model`` the Trainer uses.

The search space contains the Trainer's defaults and the first trial trains exactly them (same
seeds, budget and early stopping as the Trainer), so the best trial is never worse than not
tuning on the metric the search maximises (the eval AUC).
"""

from __future__ import annotations

from typing import Any

import keras_tuner
import tensorflow_transform as tft
from tfx.components.tuner.component import TunerFnResult

from models.bootstrap import bootstrap
from models.model import HParams, build_model, fit_arguments, seed_everything

SEARCH_SPACE = {
    "learning_rate": [0.003, 0.01, 0.03],
    "hidden_units": ["32-16", "64-32", "16"],
    "dropout": [0.0, 0.1, 0.3],
    "embedding_dim": [2, 4, 8],
}


def _default(name: str) -> Any:
    value = getattr(HParams(), name)
    return "-".join(str(u) for u in value) if name == "hidden_units" else value


def hyperparameters() -> keras_tuner.HyperParameters:
    """The search space as KerasTuner hyperparameters, each defaulting to HParams()' value."""
    hp = keras_tuner.HyperParameters()
    for name, values in SEARCH_SPACE.items():
        default = _default(name)
        if default not in values:
            raise ValueError(f"the search space of {name} {values} lacks the default {default}")
        hp.Choice(name, values, default=default)
    return hp


class DefaultsFirstOracle(keras_tuner.oracles.RandomSearchOracle):
    """Random search whose first trial is the defaults (KerasTuner's draws them at random)."""

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        if not self.trials:
            values = {hp.name: hp.default for hp in self.hyperparameters.space}
            return {"status": keras_tuner.engine.trial.TrialStatus.RUNNING, "values": values}
        return super().populate_space(trial_id)


def tuner_fn(fn_args: Any) -> TunerFnResult:
    """Random search, maximising validation AUC, with the Trainer's own datasets."""
    bootstrap()
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    feature_spec = tf_transform_output.transformed_feature_spec()
    trials = int((fn_args.custom_config or {}).get("max_trials", 6))
    defaults = HParams()
    def build(hp: keras_tuner.HyperParameters) -> Any:
        seed_everything(defaults.seed)  # each trial starts from the Trainer's seeds
        return build_model(HParams.from_dict(hp.values), feature_spec)

    oracle = DefaultsFirstOracle(
        objective=keras_tuner.Objective("val_auc", "max"), max_trials=trials,
        hyperparameters=hyperparameters(), seed=42)
    tuner = keras_tuner.Tuner(oracle=oracle, hypermodel=build, directory=fn_args.working_dir,
                              project_name="clickflow")
    fit_kwargs = fit_arguments(defaults, fn_args.train_files, fn_args.eval_files,
                               fn_args.data_accessor, tf_transform_output,
                               train_steps=fn_args.train_steps,
                               eval_steps=fn_args.eval_steps or 10)
    return TunerFnResult(tuner=tuner, fit_kwargs=fit_kwargs)
