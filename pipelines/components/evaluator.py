"""TFX's Evaluator, reading ServedBaseline's "nothing is served yet" as no baseline.

ServedBaseline always outputs a Model artifact (KFP's and Vertex's launchers hand a downstream
task every declared output, empty or not); on a first run it is an empty folder marked
``found = 0``. TFX's executor would try to load it. This executor drops such a baseline before
TFX's own code runs, which then does what it does for a missing baseline: the change threshold
(no worse than the baseline) is not applied, the absolute AUC threshold still is.
"""

from __future__ import annotations

import os
from typing import Any

from tfx.components import Evaluator as TfxEvaluator
from tfx.components.evaluator import executor as tfx_executor
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_component_specs

from pipelines.common.errors import ClickflowError
from pipelines.components.served_baseline import FOUND, SERVING_SUBDIR

BASELINE_KEY = standard_component_specs.BASELINE_MODEL_KEY


class BaselineMissingError(ClickflowError, RuntimeError):
    """The baseline says a served model was copied, but its folder has no SavedModel."""


def has_baseline(artifacts: list[Any]) -> bool:
    """Whether the baseline input holds a model to compare with."""
    if not artifacts:
        return False
    import tensorflow as tf

    (baseline,) = artifacts
    on_disk = tf.io.gfile.exists(os.path.join(baseline.uri, SERVING_SUBDIR, "saved_model.pb"))
    if not baseline.has_custom_property(FOUND):
        return True  # not ServedBaseline's: TFX's usual contract, the model is there
    # A number on every runner, though KFP's metadata may hand an int back as a float, and
    # TFX's getter returns None for a JSON 0 (found == 0 between Kubeflow V2 steps).
    if int(baseline.get_custom_property(FOUND) or 0) != 1:
        return False
    if not on_disk:
        raise BaselineMissingError(
            f"the baseline model at {baseline.uri} is marked {FOUND}=1 but "
            f"{SERVING_SUBDIR}/saved_model.pb is missing: its copy from the serving folder "
            "was lost; rerun the pipeline")
    return True


class Executor(tfx_executor.Executor):
    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]],
           exec_properties: dict[str, Any]) -> None:
        if BASELINE_KEY in input_dict and not has_baseline(input_dict[BASELINE_KEY]):
            input_dict = {k: v for k, v in input_dict.items() if k != BASELINE_KEY}
        super().Do(input_dict, output_dict, exec_properties)


class Evaluator(TfxEvaluator):
    """TFX's Evaluator component with the executor above."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
