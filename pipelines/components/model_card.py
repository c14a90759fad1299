"""ModelCardGenerator: a model card for each pushed model, written with its artifacts.

The card says what the model is for (a curated text, ``models/model_card_intro.md``), what it
learned from (spans, rows and the date range of each split), how it scored overall and per
slice with every threshold that applied and whether it held, how it compares with the served
baseline and the simple model, and what it cannot do (rare categorical values, small slices).
Its sections follow Model Card Toolkit's schema names (``model_details``,
``model_parameters``, ``quantitative_analysis``, ``considerations``), so it could move to MCT;
MCT itself does not install with our pins (every release needs absl-py < 1.1; TFX 1.16's
set has 1.4.0).

Only a pushed model gets a card: a card describes a model that answers users. A model that was
not pushed (not blessed) is explained on the dashboard's history page from its evaluation; a
card for it, beside the real ones, would read like a release. Its ModelCard artifact is then an
empty folder with ``written = 0``. A pushed model's card is written to the artifact folder and
copied into the pushed version (``names.MODEL_CARD_DIR``), so whoever holds a served version,
locally or on gs://, holds its card; TF Serving ignores ``assets.extra`` but for its warm-up
file, and the SavedModel's fingerprint does not cover it. The train split's statistics go
beside the card (``names.TRAINING_STATISTICS_DIR``), for the monitor's skew where it has no
ML Metadata.

(No ``from __future__ import annotations``: TFX reads the component's type hints as objects.)
"""

import json
import os
from typing import Any

from tfx import types
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts

from models import features
from pipelines.common import names
from pipelines.common.errors import ClickflowError
from pipelines.components import model_card_data as data
from pipelines.components import model_card_evaluation as evaluation
from pipelines.components import model_card_render as render
from pipelines.components.register_model import PUSHED_KEY, PUSHED_VERSION_KEY, push_properties
from pipelines.components.served_baseline import FOUND, SERVED_VERSION

SCHEMA_VERSION = 1
WRITTEN = names.MODEL_CARD_WRITTEN  # 1 when a card was written, 0 for a model not pushed
MIN_SLICE_EXAMPLES = 100  # a slice with fewer eval examples is named a limitation
NOT_RUN = "not run"


class ModelCard(types.Artifact):
    """A folder with model_card.json, model_card.md and model_card.html.

    MCT's type is named plain "ModelCard"; TFX's Kubeflow V2 compiler refuses a custom type
    name that is not "<namespace>.<Name>" (``_SCHEMA_TITLE_RE`` in
    tfx/orchestration/kubeflow/v2/compiler_utils.py), and its launcher imports the type by that
    name, so the name is an import path: ``pipelines.ModelCard`` (pipelines/__init__.py).
    """

    TYPE_NAME = "pipelines.ModelCard"


def _gfile():
    import tensorflow as tf

    return tf.io.gfile


def read_push_record(destination: str) -> dict[str, Any]:
    path = os.path.join(destination, names.PUSH_RECORD)
    if not destination or not _gfile().exists(path):
        return {}
    with _gfile().GFile(path) as f:
        record = json.loads(f.read())
    return record if isinstance(record, dict) else {}


def limitations(
    data_section: dict[str, Any], slices: dict[str, dict[str, float]], min_slice_examples: int
) -> list[str]:
    """What the model was not shown enough of, as plain sentences."""
    out = []
    for rare in data_section.get("rare_values", []):
        if rare["rare"]:
            out.append(
                f"{rare['feature']}: {'at least ' if rare.get('rare_at_least') else ''}"
                f"{rare['rare']} of {rare['unique']} values were seen "
                f"fewer than {rare['min_count']} times in the train split "
                f"(e.g. {', '.join(rare['examples'])}); they share the out-of-vocabulary "
                "buckets, so the model cannot tell them apart."
            )
    small = [
        (name, int(m.get("example_count", 0)))
        for name, m in slices.items()
        if m.get("example_count", 0) < min_slice_examples
    ]
    if small:
        out.append(
            f"Slices with fewer than {min_slice_examples} eval examples, whose metrics "
            "are noisy: " + ", ".join(f"{n} ({c})" for n, c in small) + "."
        )
    one_class = [name for name, m in slices.items() if m.get("mean_label") in (0.0, 1.0)]
    if one_class:
        out.append(
            "Slices whose eval examples all have the same label, where AUC is not "
            "defined (TFMA reports 0 or 1): " + ", ".join(one_class) + "."
        )
    first, last = data_section.get("first"), data_section.get("last")
    if first and last:
        out.append(
            f"Trained and evaluated on events from {first} to {last} only; behaviour on "
            "later traffic is measured by monitoring, not by this card."
        )
    return out


class ModelCardError(ClickflowError, ValueError):
    """The PushedModel cannot be matched to a version folder; the message says why."""


def version_folder(serving_model_dir: str, props: dict[str, Any]) -> str:
    """``<serving_model_dir>/<pushed_version>``: the Pusher's version folder (pusher.py always
    pushes there). Read from the parameter, not from ``pushed_destination``: a runner may hand
    parameters a path that it rewrites (the KFP emulator's gs:// folders), never metadata."""
    version = str(props.get(PUSHED_VERSION_KEY, "") or "")
    if not version.isdigit():
        raise ModelCardError(
            f"PushedModel property {PUSHED_VERSION_KEY}={version!r}: expected the version "
            "number the Pusher pushed (digits)"
        )
    return os.path.join(serving_model_dir, version)


def build_card(
    *,
    props: dict[str, Any],
    version_dir: str,
    evaluation_uri: str,
    statistics_uri: str,
    examples: Any,
    schema_uri: str,
    baseline: Any,
    simple_evaluation_uri: str | None,
    intended_use: str,
    min_slice_examples: int = MIN_SLICE_EXAMPLES,
) -> dict[str, Any]:
    """The card's content from the run's artifacts (see the module docstring)."""
    destination = str(props.get("pushed_destination", "")) or version_dir
    record = read_push_record(version_dir)
    candidate, _ = evaluation.model_names(evaluation_uri)
    slices = evaluation.slice_metrics(evaluation_uri, candidate)
    data_section = data.data_section(statistics_uri, examples)
    served_version = ""
    if baseline is not None and int(baseline.get_custom_property(FOUND) or 0) == 1:
        served_version = str(baseline.get_custom_property(SERVED_VERSION) or "")
    gates = evaluation.thresholds(evaluation_uri, "blessing")
    if simple_evaluation_uri:
        gates += evaluation.thresholds(simple_evaluation_uri, "simple-model gate")
    return {
        "schema_version": SCHEMA_VERSION,
        "model_details": {
            "name": os.path.basename(os.path.dirname(destination.rstrip("/"))),
            "version": {
                "name": str(props.get("pushed_version", "")),
                "date": record.get("pushed_at", ""),
            },
            "path": destination,
            "pipeline_name": record.get("pipeline_name", ""),
            "pipeline_run_id": record.get("pipeline_run_id", ""),
            "model_uri": record.get("model_uri", ""),
        },
        "model_parameters": {
            "label": features.LABEL_KEY,
            "input_features": data.schema_features(schema_uri),
            "data": data_section,
        },
        "quantitative_analysis": {
            "performance_metrics": [{"slice": name, **m} for name, m in slices.items()],
            "thresholds": gates,
            "comparisons": [
                evaluation.comparison(
                    evaluation_uri,
                    what=f"served baseline (version {served_version})"
                    if served_version
                    else "served baseline",
                    absent="not compared: nothing was served yet",
                ),
                evaluation.comparison(simple_evaluation_uri, what="simple model", absent=NOT_RUN),
            ],
        },
        "considerations": {
            "intended_use": intended_use.strip(),
            "limitations": limitations(
                data_section, dict(list(slices.items())[1:]), min_slice_examples
            ),
        },
    }


def write_card(card: dict[str, Any], *folders: str) -> None:
    """model_card.json, .md and .html into each folder (local or gs://)."""
    files = {
        names.MODEL_CARD_JSON: json.dumps(card, indent=2, sort_keys=True),
        names.MODEL_CARD_MD: render.markdown(card),
        names.MODEL_CARD_HTML: render.html(card),
    }
    for folder in folders:
        _gfile().makedirs(folder)
        for name, text in files.items():
            with _gfile().GFile(os.path.join(folder, name), "w") as f:
                f.write(text)


def copy_training_statistics(statistics_uri: str, version_dir: str) -> str:
    """The train split's ``FeatureStats.pb`` into ``<version>/`` ``names.TRAINING_STATISTICS_DIR``
    (the card's data section is computed from the same file): a monitor that has no access to
    the pipeline's metadata (the CronJob on GKE) measures skew against them. Returns the copy."""
    source = os.path.join(statistics_uri, "Split-train", names.STATISTICS_FILE)
    if not _gfile().exists(source):
        raise ModelCardError(f"{source}: the train split's statistics are missing from the "
                             "StatisticsGen output")
    folder = os.path.join(version_dir, names.TRAINING_STATISTICS_DIR)
    _gfile().makedirs(folder)
    target = os.path.join(folder, names.STATISTICS_FILE)
    _gfile().copy(source, target, overwrite=True)
    return target


@component
def ModelCardGenerator(
    pushed_model: InputArtifact[standard_artifacts.PushedModel],
    evaluation: InputArtifact[standard_artifacts.ModelEvaluation],
    statistics: InputArtifact[standard_artifacts.ExampleStatistics],
    examples: InputArtifact[standard_artifacts.Examples],
    schema: InputArtifact[standard_artifacts.Schema],
    baseline_model: InputArtifact[standard_artifacts.Model],
    model_card: OutputArtifact[ModelCard],
    intended_use: Parameter[str],
    serving_model_dir: Parameter[str],
    min_slice_examples: Parameter[int] = MIN_SLICE_EXAMPLES,
    simple_evaluation: InputArtifact[standard_artifacts.ModelEvaluation] = None,
) -> None:
    """Writes the pushed model's card into ``model_card`` and into the pushed version."""
    props = push_properties(pushed_model)
    _gfile().makedirs(model_card.uri)
    if int(props.get(PUSHED_KEY, 0) or 0) != 1:
        model_card.set_int_custom_property(WRITTEN, 0)
        return
    version_dir = version_folder(serving_model_dir, props)
    card = build_card(
        props=props,
        version_dir=version_dir,
        evaluation_uri=evaluation.uri,
        statistics_uri=statistics.uri,
        examples=examples,
        schema_uri=schema.uri,
        baseline=baseline_model,
        simple_evaluation_uri=simple_evaluation.uri if simple_evaluation else None,
        intended_use=intended_use,
        min_slice_examples=min_slice_examples,
    )
    write_card(card, model_card.uri, os.path.join(version_dir, names.MODEL_CARD_DIR))
    copy_training_statistics(statistics.uri, version_dir)
    model_card.set_int_custom_property(WRITTEN, 1)
