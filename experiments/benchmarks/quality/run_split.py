"""The very train/eval split and trained model of a pipeline run, read back through ML Metadata.

The newest run of the pipeline in a pipeline root names its ExampleGen ``examples`` artifact
(``Split-train`` / ``Split-eval`` TFRecords of tf.Examples) and its Trainer ``model`` artifact
(the serving SavedModel in ``Format-Serving``, TFX's layout). The model is scored on the
serialized eval examples through the ``serving_tf_example`` signature, the one the Evaluator
calls, so its probabilities are the ones TFMA saw.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from models import features
from pipelines.common import names

EXAMPLE_GEN = "DuckDBExampleGen"
BATCH = 1024


class RunNotFound(Exception):
    """The pipeline root has no finished run with the artifacts the benchmark needs."""


@dataclasses.dataclass(frozen=True)
class RunSplit:
    train: dict[str, np.ndarray]
    eval: dict[str, np.ndarray]
    examples_uri: str
    model_dir: str
    tfma_metrics: dict[str, float]  # the Evaluator's overall metrics, for a cross-check


def read_run(pipeline_root: Path, pipeline_name: str = names.DEFAULT_PIPELINE_NAME) -> RunSplit:
    """The split, model and Evaluator metrics of the newest run in ``pipeline_root``."""
    from pipelines.metadata import runs, store

    try:
        mlmd = store.open_store(names.metadata_path(pipeline_root))
    except store.StoreUnavailable as err:
        raise RunNotFound(str(err)) from None
    outputs = runs.latest_run_artifacts(mlmd, pipeline_name)

    def uri(node: str, key: str) -> str:
        artifacts = outputs.get(node, {}).get(key)
        if not artifacts:
            raise RunNotFound(f"the newest run in {pipeline_root} has no {node}.{key} artifact")
        return artifacts[-1].uri

    examples = uri(EXAMPLE_GEN, "examples")
    model_dir = os.path.join(uri("Trainer", "model"), "Format-Serving")
    tfma: dict[str, float] = {}
    if outputs.get("Evaluator", {}).get("evaluation"):
        tfma, _sliced = runs.evaluation_metrics(uri("Evaluator", "evaluation"))
    train, evaluation = (runs.eval_examples(examples, split) for split in ("train", "eval"))
    if not train or not evaluation:
        raise RunNotFound(f"{examples} has an empty train or eval split")
    return RunSplit(train, evaluation, examples, model_dir, tfma)


def model_probabilities(model_dir: str, examples_uri: str, split: str = "eval") -> np.ndarray:
    """The SavedModel's click probability for each serialized example of ``split``, in order."""
    import itertools

    import tensorflow as tf

    from pipelines.components.eval_sample import read_records, split_files

    signature: Any = tf.saved_model.load(model_dir).signatures[features.EVAL_SIGNATURE]
    records = read_records(split_files(examples_uri, split))
    out = []
    while chunk := list(itertools.islice(records, BATCH)):
        out.append(signature(examples=tf.constant(chunk))["probability"].numpy().reshape(-1))
    return np.concatenate(out).astype(np.float64)
