"""The graph create_pipeline builds: components, order, wiring and evaluation thresholds."""



import itertools

import pytest

from pipelines.common.errors import ConfigError
from pipelines.config import PipelineConfig
from pipelines.pipeline import BigQueryTable, LocalFiles, create_pipeline, eval_config

ORDER = ["DuckDBExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator",
         "AnomaliesGate", "Transform", "Trainer", "ServedBaseline", "Evaluator",
         "Pusher", "ModelCardGenerator"]


def _pipeline(tmp_path, **config):
    return create_pipeline(
        pipeline_name="test", pipeline_root=str(tmp_path / "root"),
        source=LocalFiles(input_base=str(tmp_path), file_pattern="span-*/*.parquet"),
        serving_model_dir=str(tmp_path / "serving" / "clickflow"),
        config=PipelineConfig(**config))


def test_graph_has_every_component_in_dependency_order(tmp_path) -> None:
    pipeline = _pipeline(tmp_path)
    ids = [c.id for c in pipeline.components]
    assert sorted(ids) == sorted([*ORDER, "EvalSample"])
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
                         "schema": "ImportSchemaGen", "baseline_model": "ServedBaseline"}
    # The curated intended-use text travels in the spec: the cloud image needs no repo file.
    assert card.exec_properties["intended_use"].startswith("This model estimates")
    assert "simple_evaluation" not in card.inputs  # optional: no simple-model Evaluator here
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
