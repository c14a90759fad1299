"""The graph create_pipeline builds: components, order, wiring and evaluation thresholds."""



import itertools

import pytest

from pipelines.common.errors import ConfigError
from pipelines.config import PipelineConfig
from pipelines.pipeline import BigQueryTable, LocalFiles, create_pipeline, eval_config

ORDER = ["DuckDBExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator",
         "AnomaliesGate", "Transform", "Trainer", "ServedBaseline", "Evaluator",
         "Pusher", "ModelCardGenerator"]
SIMPLE = ["SimpleTrainer", "SimpleModelEvaluator"]


def _pipeline(tmp_path, **config):
    return create_pipeline(
        pipeline_name="test", pipeline_root=str(tmp_path / "root"),
        source=LocalFiles(input_base=str(tmp_path), file_pattern="span-*/*.parquet"),
        serving_model_dir=str(tmp_path / "serving" / "clickflow"),
        config=PipelineConfig(**config))


def test_graph_has_every_component_in_dependency_order(tmp_path) -> None:
    pipeline = _pipeline(tmp_path)
    ids = [c.id for c in pipeline.components]
    assert sorted(ids) == sorted([*ORDER, "EvalSample", *SIMPLE])
    position = {name: ids.index(name) for name in ids}
    for before, after in itertools.pairwise(ORDER):
        if before != "ImportSchemaGen" and after != "ImportSchemaGen":
            assert position[before] < position[after], (before, after)
    by_id = {c.id: c for c in pipeline.components}
    assert "AnomaliesGate" in {n.id for n in by_id["Transform"].upstream_nodes}
    # The Evaluator scores EvalSample's rows, sampled from the validated examples.
    assert {n.id for n in by_id["EvalSample"].upstream_nodes} == {"DuckDBExampleGen",
                                                                 "AnomaliesGate"}
    assert by_id["Evaluator"].inputs["examples"].producer_component_id == "EvalSample"
    assert position["AnomaliesGate"] < position["EvalSample"] < position["Evaluator"]
    assert by_id["EvalSample"].exec_properties["max_rows"] == PipelineConfig().eval_max_rows


def test_the_model_card_reads_the_push_and_what_judged_it(tmp_path) -> None:
    by_id = {c.id: c for c in _pipeline(tmp_path).components}
    card = by_id["ModelCardGenerator"]
    producers = {key: channel.producer_component_id for key, channel in card.inputs.items()}
    assert producers == {"pushed_model": "Pusher", "evaluation": "Evaluator",
                         "statistics": "StatisticsGen", "examples": "DuckDBExampleGen",
                         "schema": "ImportSchemaGen", "baseline_model": "ServedBaseline",
                         "simple_evaluation": "SimpleModelEvaluator"}
    # The curated intended-use text travels in the spec: the cloud image needs no repo file.
    assert card.exec_properties["intended_use"].startswith("This model estimates")
    # Without the simple-model gate the optional input is left out: the card says "not run".
    gateless = {c.id: c for c in _pipeline(tmp_path, simple_model_gate=False).components}
    assert "simple_evaluation" not in gateless["ModelCardGenerator"].inputs
    # The Pusher's base folder: where the card goes into the pushed version.
    assert card.exec_properties["serving_model_dir"] == str(tmp_path / "serving" / "clickflow")


def test_user_code_is_referenced_by_module_path_not_packaged(tmp_path) -> None:
    pipeline = _pipeline(tmp_path)
    by_id = {c.id: c for c in pipeline.components}
    assert by_id["Transform"].exec_properties["preprocessing_fn"] == (
        "models.preprocessing.preprocessing_fn")
    assert by_id["Trainer"].exec_properties["run_fn"] == "models.model.run_fn"
    assert by_id["Transform"].exec_properties.get("module_file") is None


def test_example_gen_gets_the_max_dropped_share(tmp_path) -> None:
    from pipelines.components import example_gen

    by_id = {c.id: c for c in _pipeline(tmp_path, max_dropped_share=0.2).components}
    props = by_id["DuckDBExampleGen"].exec_properties
    assert example_gen.max_dropped_share_from_exec_properties(props) == 0.2
    assert PipelineConfig().max_dropped_share == 0.05


def test_tune_adds_the_tuner_feeding_the_trainer(tmp_path) -> None:
    pipeline = _pipeline(tmp_path, tune=True, max_trials=2)
    by_id = {c.id: c for c in pipeline.components}
    assert "Tuner" in by_id
    assert "Tuner" in {n.id for n in by_id["Trainer"].upstream_nodes}
    assert "Tuner" not in {c.id for c in _pipeline(tmp_path).components}


def test_bigquery_source_runs_the_same_query(tmp_path) -> None:
    pipeline = create_pipeline(
        pipeline_name="test", pipeline_root="gs://bucket/root",
        source=BigQueryTable("proj.ds.ad_clicks"), serving_model_dir="gs://bucket/serving",
        config=PipelineConfig())
    example_gen = pipeline.components[0]
    assert example_gen.id == "BigQueryExampleGen"
    query = example_gen.exec_properties["input_config"]
    assert "`proj.ds.ad_clicks`" in query and "CAST(Age AS INT64)" in query


def test_auc_thresholds_gate_the_overall_slice_only() -> None:
    config = eval_config(PipelineConfig(min_auc=0.8, max_auc_drop=0.02))
    auc = next(m for m in config.metrics_specs[0].metrics if m.class_name == "AUC")
    assert not auc.HasField("threshold")
    (per_slice,) = auc.per_slice_thresholds
    assert len(per_slice.slicing_specs) == 1 and not per_slice.slicing_specs[0].feature_keys
    assert per_slice.threshold.value_threshold.lower_bound.value == 0.8
    assert per_slice.threshold.change_threshold.absolute.value == pytest.approx(-0.02)
    assert {tuple(s.feature_keys) for s in config.slicing_specs} == {(), ("Male",), ("age_band",)}


@pytest.mark.parametrize(("field", "value"), [
    ("train_steps", 0), ("min_auc", 1.5), ("max_auc_drop", -0.1), ("eval_buckets", 0),
    ("max_dropped_share", 1.5), ("max_dropped_share", "0.1")])
def test_config_rejects_bad_values_naming_them(field, value) -> None:
    with pytest.raises(ConfigError, match=field):
        PipelineConfig(**{field: value})


def test_config_rejects_unknown_hparams() -> None:
    with pytest.raises(ConfigError, match="hparams: unknown hyperparameters \\['depth'\\]"):
        PipelineConfig(hparams={"depth": 3})


def _inputs_of(component, key: str) -> str:
    return component.inputs[key].producer_component_id


def _check_simple_model_gate(by_id: dict, margin: float) -> None:
    from pipelines.components.pusher import SIMPLE_MODEL_BLESSING_KEY
    from pipelines.pipeline import SIMPLE_RUN_FN

    trainer, evaluator = by_id["SimpleTrainer"], by_id["SimpleModelEvaluator"]
    assert trainer.exec_properties["run_fn"] == SIMPLE_RUN_FN == "models.simple_model.run_fn"
    # The same Transform output as the main Trainer: the simple model sees the same features.
    for key in ("examples", "transform_graph"):
        assert _inputs_of(trainer, key) == _inputs_of(by_id["Trainer"], key) == "Transform"
    # The candidate against the simple model, on the rows the main Evaluator scores.
    assert _inputs_of(evaluator, "model") == "Trainer"
    assert _inputs_of(evaluator, "baseline_model") == "SimpleTrainer"
    assert _inputs_of(evaluator, "examples") == _inputs_of(by_id["Evaluator"], "examples")
    pusher = by_id["Pusher"]
    assert _inputs_of(pusher, "model_blessing") == "Evaluator"
    assert _inputs_of(pusher, SIMPLE_MODEL_BLESSING_KEY) == "SimpleModelEvaluator"
    import json

    config = json.loads(evaluator.exec_properties["eval_config"])
    (auc,) = [m for m in config["metrics_specs"][0]["metrics"] if m["class_name"] == "AUC"]
    assert "threshold" not in auc  # a plain threshold would make TFMA judge every slice
    (judged,) = auc["per_slice_thresholds"]
    assert judged["slicing_specs"] == [{}]  # the whole eval set only; slices are reported
    change = judged["threshold"]["change_threshold"]
    assert change["absolute"] == pytest.approx(-margin)
    assert change["direction"] == "HIGHER_IS_BETTER"
    assert [s.get("feature_keys", []) for s in config["slicing_specs"]] == [
        [], ["Male"], ["age_band"]]


def test_local_graph_has_the_simple_model_gate_and_it_can_be_switched_off(tmp_path) -> None:
    by_id = {c.id: c for c in _pipeline(tmp_path, simple_model_margin=0.03).components}
    _check_simple_model_gate(by_id, 0.03)
    ids = [c.id for c in by_id.values()]
    assert ids.index("Transform") < ids.index("SimpleTrainer") < ids.index(
        "SimpleModelEvaluator") < ids.index("Pusher")
    off = {c.id: c for c in _pipeline(tmp_path, simple_model_gate=False).components}
    assert not set(SIMPLE) & set(off)
    assert "simple_model_blessing" not in off["Pusher"].inputs


def test_the_simple_trainer_keeps_its_own_budget(tmp_path) -> None:
    from pipelines.pipeline import SIMPLE_TRAIN_STEPS

    by_id = {c.id: c for c in _pipeline(tmp_path, train_steps=3).components}
    import json

    steps = json.loads(by_id["SimpleTrainer"].exec_properties["train_args"])["num_steps"]
    assert steps == SIMPLE_TRAIN_STEPS
    assert json.loads(by_id["Trainer"].exec_properties["train_args"])["num_steps"] == 3


@pytest.mark.parametrize("target", ["vertex", "kfp"])
def test_cloud_graphs_have_the_simple_model_gate_on_plain_steps(target) -> None:
    """Vertex and KFP build the same gate; the simple Trainer is TFX's plain Trainer there (no
    Vertex custom job, no GPU resource), while the main Trainer is the cloud one."""
    from pathlib import Path

    from pipelines.cloud.compile import build_pipeline
    from pipelines.cloud.config import load_cloud_config

    example = Path(__file__).resolve().parents[1] / "configs" / "cloud.example.yaml"
    config = load_cloud_config(example, environ={}, simple_model_margin=0.02)
    by_id = {c.id: c for c in build_pipeline(config, target=target, tune=False).components}
    _check_simple_model_gate(by_id, 0.02)
    from tfx.components import Trainer

    assert type(by_id["SimpleTrainer"]) is Trainer
    assert by_id["SimpleTrainer"].platform_config is None
    if target == "vertex":
        assert type(by_id["Trainer"]) is not Trainer  # the Vertex AI custom-job Trainer
    else:
        assert by_id["Trainer"].platform_config is not None  # the GPU resource spec
    off = load_cloud_config(example, environ={"CLICKFLOW_SIMPLE_MODEL_GATE": "false"})
    assert not set(SIMPLE) & {c.id for c in build_pipeline(off, target=target,
                                                           tune=False).components}


def test_statistics_gen_uses_sketches_that_match_exact_statistics_on_our_data(tmp_path) -> None:
    # The sketch options must not change what ExampleValidator, the model card and the
    # dashboard read for features with fewer distinct values than TFDV's Misra-Gries sketch
    # (names.TFDV_SKETCH_EXACT_VALUES; City and Country): top values and rank histograms equal
    # the exact generator's. Above it (AdTopicLine, near-unique) the counts are upper bounds of
    # the true ones, and unique counts stay within KMV's error.
    from collections import Counter
    from datetime import datetime

    import apache_beam as beam
    import tensorflow_data_validation as tfdv
    from tensorflow_data_validation.statistics import stats_impl
    from tfx_bsl.arrow import table_util

    from pipelines.common import names
    from pipelines.data.generator import generate_batches
    from pipelines.pipeline import statistics_options

    assert names.TFDV_SKETCH_EXACT_VALUES == stats_impl._DEFAULT_MG_SKETCH_SIZE
    raw = list(generate_batches(20_000, 7, start=datetime(2026, 1, 1), chunk_rows=5_000))
    batches = [table_util.CanonicalizeRecordBatch(b) for b in raw]

    def run(options, name):
        path = str(tmp_path / name)
        with beam.Pipeline() as p:
            _ = (p | beam.Create(batches, reshuffle=False) | tfdv.GenerateStatistics(options)
                 | tfdv.WriteStatisticsToBinaryFile(path))
        return {f.path.step[0]: f for f in tfdv.load_stats_binary(path).datasets[0].features}

    sketched = run(statistics_options(), "sketched.pb")
    exact = run(tfdv.StatsOptions(), "exact.pb")
    assert statistics_options().use_sketch_based_topk_uniques
    strings = {name for name, f in exact.items() if f.HasField("string_stats")}
    assert {"City", "Country", "AdTopicLine"} <= strings, strings
    for name in strings:
        want, got = exact[name].string_stats, sketched[name].string_stats
        if want.unique < names.TFDV_SKETCH_EXACT_VALUES:
            assert [(v.value, v.frequency) for v in got.top_values] == \
                [(v.value, v.frequency) for v in want.top_values], name
            assert [(b.label, b.sample_count) for b in got.rank_histogram.buckets] == \
                [(b.label, b.sample_count) for b in want.rank_histogram.buckets], name
            assert got.unique == want.unique, name
        else:
            true = Counter(v for b in raw for v in b.column(name).to_pylist())
            assert all(v.frequency >= true[v.value] for v in got.top_values), name
            assert abs(got.unique - want.unique) <= 0.05 * want.unique, name
    assert exact["AdTopicLine"].string_stats.unique > names.TFDV_SKETCH_EXACT_VALUES
