"""ModelCardGenerator in real pipeline runs (``history_root``: blessed with nothing served,
blessed against the served version, not blessed, failed at the gate), each card checked
against what it summarises, read another way: the span's Parquet file, the examples' own
records, TFMA's results through ``pipelines.metadata.runs``, and the Evaluator's blessing."""

from __future__ import annotations

import collections
import json
import re
from pathlib import Path

import pytest

from models import features
from pipelines.common import names
from pipelines.components import model_card, model_card_evaluation
from pipelines.metadata import runs as run_summary
from pipelines.metadata.store import open_store

NODE = "ModelCardGenerator"


def test_the_version_folder_comes_from_the_parameter_and_a_bad_version_is_named() -> None:
    props = {
        "pushed": 1,
        "pushed_version": "1796303374",
        "pushed_destination": "gs://bucket/serving_model/clickflow/1796303374",
    }
    assert model_card.version_folder("/local/serving", props) == "/local/serving/1796303374"
    with pytest.raises(
        model_card.ModelCardError, match=re.escape("pushed_version='../x': expected the")
    ):
        model_card.version_folder("/local/serving", {**props, "pushed_version": "../x"})


def test_rare_values_above_the_exact_sketch_size_are_a_lower_bound() -> None:
    # StatisticsGen's sketches count exactly up to names.TFDV_SKETCH_EXACT_VALUES distinct
    # values; above it the listed counts are upper bounds, so the card says "at least".
    from tensorflow_metadata.proto.v0 import statistics_pb2

    from pipelines.components import model_card_data

    def train(unique: int) -> statistics_pb2.DatasetFeatureStatistics:
        dataset = statistics_pb2.DatasetFeatureStatistics()
        city = dataset.features.add()
        city.path.step.append("City")
        city.string_stats.unique = unique
        for label, count in (("Rome", 50), ("Oslo", 12), ("Bern", 3)):
            city.string_stats.rank_histogram.buckets.add(label=label, sample_count=count)
        return dataset

    def limits(unique: int) -> str:
        section = {"rare_values": model_card_data.rare_values(train(unique))}
        return " ".join(model_card.limitations(section, {}, model_card.MIN_SLICE_EXAMPLES))

    # Bern is listed below 10; the values TFDV did not list are rarer than Bern.
    assert "City: 1 of 3 values were seen fewer than 10 times" in limits(3)
    big = names.TFDV_SKETCH_EXACT_VALUES + 100
    assert f"City: at least {big - 2} of {big} values were seen fewer than 10" in limits(big)


def test_the_kubeflow_v2_launcher_finds_the_card_type_by_its_compiled_name() -> None:
    """What the compiler writes as the output's schema title is what the launcher imports
    (tfx/orchestration/kubeflow/v2: compiler_utils.build_output_artifact_spec, then
    container/kubeflow_v2_entrypoint_utils._retrieve_class_path and import_class_by_path)."""
    from tfx.orchestration.kubeflow.v2 import compiler_utils
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils
    from tfx.types import channel, standard_artifacts
    from tfx.utils import import_utils

    inputs = {
        "pushed_model": standard_artifacts.PushedModel,
        "evaluation": standard_artifacts.ModelEvaluation,
        "statistics": standard_artifacts.ExampleStatistics,
        "examples": standard_artifacts.Examples,
        "schema": standard_artifacts.Schema,
        "baseline_model": standard_artifacts.Model,
    }
    node = model_card.ModelCardGenerator(
        intended_use="x",
        serving_model_dir="gs://bucket/serving_model/clickflow",
        **{k: channel.Channel(type=v) for k, v in inputs.items()},
    )
    spec = compiler_utils.build_output_artifact_spec(node.outputs["model_card"])
    path = kubeflow_v2_entrypoint_utils._retrieve_class_path(spec.artifact_type)
    assert import_utils.import_class_by_path(path) is model_card.ModelCard


@pytest.fixture(scope="module")
def history(history_root):
    """(history, [per run, oldest first: node -> output key -> MLMD artifacts])."""
    store = open_store(history_root.root / names.METADATA_FILE)
    pipeline = store.get_context_by_type_and_name("pipeline", names.DEFAULT_PIPELINE_NAME)
    contexts = sorted(
        store.get_children_contexts_by_context(pipeline.id),
        key=lambda c: (c.create_time_since_epoch, c.id),
    )
    return history_root, [run_summary.run_artifacts(store, c) for c in contexts]


def _one(outputs: dict, node: str, key: str):
    (artifact,) = outputs[node][key]
    return artifact


def _card_files(folder: Path) -> dict[str, bytes]:
    return {
        name: (folder / name).read_bytes()
        for name in (names.MODEL_CARD_JSON, names.MODEL_CARD_MD, names.MODEL_CARD_HTML)
    }


def _records(examples_uri: str, split: str) -> list:
    import tensorflow as tf

    from pipelines.components.eval_sample import read_records, split_files

    return [tf.train.Example.FromString(r) for r in read_records(split_files(examples_uri, split))]


@pytest.mark.e2e
def test_pushed_versions_carry_their_card_and_the_others_have_none(history) -> None:
    root, runs = history
    assert root.kinds == ("blessed", "blessed", "not blessed", "failed")
    versions = sorted(p for p in root.model_base_path.iterdir() if p.name.isdigit())
    assert len(versions) == 2
    for outputs, version in zip(runs[:2], versions, strict=True):
        pushed = _one(outputs, "Pusher", "pushed_model")
        assert run_summary.custom_str(pushed, "pushed_destination") == str(version)
        card = _one(outputs, NODE, "model_card")
        assert run_summary.custom_int(card, names.MODEL_CARD_WRITTEN) == 1
        in_version = _card_files(version / names.MODEL_CARD_DIR)
        assert in_version == _card_files(Path(card.uri))
        written = json.loads(in_version[names.MODEL_CARD_JSON])
        assert written["model_details"]["version"]["name"] == version.name
        assert written["model_details"]["path"] == str(version)
        # Beside the card, the train statistics the model learned from (the monitor's skew
        # where it has no ML Metadata): the run's own StatisticsGen output, byte for byte.
        statistics = _one(outputs, "StatisticsGen", "statistics")
        carried = version / names.TRAINING_STATISTICS_DIR / names.STATISTICS_FILE
        assert carried.read_bytes() == (
            Path(statistics.uri) / "Split-train" / names.STATISTICS_FILE).read_bytes()
    # Not blessed: the card component ran and wrote nothing; failed at the gate: it never ran.
    card = _one(runs[2], NODE, "model_card")
    assert run_summary.custom_int(card, names.MODEL_CARD_WRITTEN) == 0
    assert list(Path(card.uri).iterdir()) == []
    assert NODE not in runs[3]


@pytest.mark.e2e
def test_first_card_matches_the_data_and_tfma(history) -> None:
    import pyarrow.parquet as pq

    root, runs = history
    first = runs[0]
    card = json.loads(Path(_one(first, NODE, "model_card").uri, names.MODEL_CARD_JSON).read_text())
    data = card["model_parameters"]["data"]
    assert data["spans"] == ["span-00001"]
    stamps = (
        pq.read_table(next((root.data / "span-00001").glob("*.parquet")))
        .column(features.TIMESTAMP_FEATURE)
        .to_pylist()
    )
    assert (data["first"], data["last"]) == (min(stamps), max(stamps))
    examples_uri = _one(first, "DuckDBExampleGen", "examples").uri
    by_split = {s["name"]: s for s in data["splits"]}
    train = _records(examples_uri, "train")
    assert by_split["train"]["rows"] == len(train)
    assert by_split["eval"]["rows"] == len(_records(examples_uri, "eval"))
    assert by_split["train"]["rows"] + by_split["eval"]["rows"] == len(stamps)

    evaluation = _one(first, "Evaluator", "evaluation").uri
    overall, sliced = run_summary.evaluation_metrics(evaluation)
    quant = card["quantitative_analysis"]
    by_slice = {m["slice"]: m for m in quant["performance_metrics"]}
    assert by_slice["overall"]["auc"] == pytest.approx(overall["auc"])
    assert set(by_slice) == {"overall", *sliced}
    blessing = [t for t in quant["thresholds"] if t["gate"] == "blessing"]
    (auc,) = blessing  # nothing was served: TFX dropped the change threshold
    assert auc == {
        "gate": "blessing",
        "metric": "auc",
        "slices": "overall",
        "threshold": ">= 0.75",
        "overall_value": pytest.approx(overall["auc"]),
        "passed": True,
        "failed_slices": [],
    }
    served, simple = quant["comparisons"]
    assert served["status"] == "not compared: nothing was served yet"
    # The simple-model gate (run_history relaxes its margin to 0.5): the candidate against the
    # simple model, as the SimpleModelEvaluator's TFMA result has it.
    simple_uri = _one(first, names.SIMPLE_EVALUATOR, "evaluation").uri
    theirs, _ = run_summary.evaluation_metrics(simple_uri, model_name="baseline")
    assert simple["what"] == "simple model" and simple["status"] == "compared"
    simple_auc = next(m for m in simple["metrics"] if m["metric"] == "auc")
    assert simple_auc["baseline"] == pytest.approx(theirs["auc"])
    gate = [
        (t["metric"], t["slices"], t["threshold"], t["passed"])
        for t in quant["thresholds"]
        if t["gate"] == "simple-model gate"
    ]
    assert gate == [("auc change vs baseline", "overall", "change >= -0.5 (absolute)", True)]

    # Rare values: counted here from the train split's own records.
    limits = " ".join(card["considerations"]["limitations"])
    for name, min_count in features.VOCAB_MIN_COUNT.items():
        counts = collections.Counter(
            e.features.feature[name].bytes_list.value[0].decode() for e in train
        )
        rare = sum(1 for c in counts.values() if c < min_count)
        assert (
            f"{name}: {rare} of {len(counts)} values were seen fewer than {min_count} times"
        ) in limits
    small = [
        n
        for n, m in by_slice.items()
        if n != "overall" and m["example_count"] < model_card.MIN_SLICE_EXAMPLES
    ]
    assert small and all(f"{n} (" in limits for n in small)


@pytest.mark.e2e
def test_second_card_compares_with_the_version_served_before(history) -> None:
    _, runs = history
    first_version = run_summary.custom_str(
        _one(runs[0], "Pusher", "pushed_model"), "pushed_version"
    )
    card = json.loads(
        Path(_one(runs[1], NODE, "model_card").uri, names.MODEL_CARD_JSON).read_text()
    )
    served, _ = card["quantitative_analysis"]["comparisons"]
    assert served["what"] == f"served baseline (version {first_version})"
    evaluation = _one(runs[1], "Evaluator", "evaluation").uri
    baseline, _ = run_summary.evaluation_metrics(evaluation, model_name="baseline")
    candidate, _ = run_summary.evaluation_metrics(evaluation)
    auc = next(m for m in served["metrics"] if m["metric"] == "auc")
    assert auc["baseline"] == pytest.approx(baseline["auc"])
    assert auc["difference"] == pytest.approx(candidate["auc"] - baseline["auc"])
    change = [
        t
        for t in card["quantitative_analysis"]["thresholds"]
        if t["gate"] == "blessing" and t["metric"] == "auc change vs baseline"
    ]
    # run_history relaxes the allowed drop to 0.5 for this run (--max-auc-drop 0.5).
    assert [(t["threshold"], t["passed"]) for t in change] == [("change >= -0.5 (absolute)", True)]


@pytest.mark.e2e
def test_a_threshold_that_failed_is_listed_as_failed(history) -> None:
    _, runs = history
    blessing = _one(runs[2], "Evaluator", "blessing")
    assert run_summary.custom_int(blessing, "blessed") == 0
    rows = model_card_evaluation.thresholds(
        _one(runs[2], "Evaluator", "evaluation").uri, "blessing"
    )
    value = next(r for r in rows if r["metric"] == "auc")
    assert value["threshold"] == ">= 0.9999"  # run_history's --min-auc for this run
    assert (value["passed"], value["failed_slices"]) == (False, ["overall"])


@pytest.mark.e2e
def test_without_a_simple_model_evaluation_the_card_says_not_run(history) -> None:
    """The graph without the simple-model gate (--no-simple-gate) hands the card no
    ``simple_evaluation``: the second run's artifacts, built into a card without it."""
    from tfx.types import artifact_utils, standard_artifacts

    from pipelines.components import model_card_render
    from pipelines.components.register_model import push_properties

    _, runs = history
    outputs = runs[1]

    def tfx(artifact, kind):
        return artifact_utils.deserialize_artifact(kind._get_artifact_type(), artifact)

    pushed = _one(outputs, "Pusher", "pushed_model")
    card = model_card.build_card(
        props=push_properties(tfx(pushed, standard_artifacts.PushedModel)),
        version_dir=run_summary.custom_str(pushed, "pushed_destination"),
        evaluation_uri=_one(outputs, "Evaluator", "evaluation").uri,
        statistics_uri=_one(outputs, "StatisticsGen", "statistics").uri,
        examples=tfx(_one(outputs, "DuckDBExampleGen", "examples"), standard_artifacts.Examples),
        schema_uri=_one(outputs, "ImportSchemaGen", "schema").uri,
        baseline=tfx(_one(outputs, "ServedBaseline", "model"), standard_artifacts.Model),
        simple_evaluation_uri=None,
        intended_use="Ranking ads.",
    )
    _, simple = card["quantitative_analysis"]["comparisons"]
    assert simple == {"what": "simple model", "status": model_card.NOT_RUN}
    gates = collections.Counter(t["gate"] for t in card["quantitative_analysis"]["thresholds"])
    assert gates == {"blessing": 2}  # the AUC bar and the change against the served model
    assert "### Compared with the simple model\n\nnot run" in model_card_render.markdown(card)
