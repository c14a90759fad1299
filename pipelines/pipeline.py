"""The one clickflow pipeline definition that every runner (local, Kubeflow, Vertex) builds."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

import tensorflow_data_validation as tfdv
import tensorflow_model_analysis as tfma
from tfx.components import (
    ExampleValidator,
    StatisticsGen,
    Trainer,
    Transform,
    Tuner,
)
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import example_gen_pb2, pusher_pb2, trainer_pb2

from models import features
from pipelines.common import names
from pipelines.components.eval_sample import EvalSample
from pipelines.components.evaluator import Evaluator
from pipelines.components.gate import AnomaliesGate
from pipelines.components.model_card import ModelCardGenerator
from pipelines.components.pusher import Pusher
from pipelines.components.served_baseline import ServedBaseline
from pipelines.config import PipelineConfig
from pipelines.data import source as data_source

PREPROCESSING_FN = "models.preprocessing.preprocessing_fn"
RUN_FN = "models.model.run_fn"
SIMPLE_RUN_FN = "models.simple_model.run_fn"
# The simple model's own ceiling, not --train-steps: the bar a candidate must clear stays the
# same however briefly the candidate trains (models.simple_model.MAX_EPOCHS ends it sooner).
SIMPLE_TRAIN_STEPS = 2_000
TUNER_FN = "models.tuner.tuner_fn"
# TFDV's combiner batch for StatisticsGen: rows merged before each generator's add_input.
STATISTICS_BATCH_ROWS = 8_192
SCHEMA_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "schema", "schema.pbtxt")
# The curated "intended use" text of every model card (ModelCardGenerator).
MODEL_CARD_INTRO = os.path.join(os.path.dirname(os.path.dirname(SCHEMA_FILE)), "models",
                                "model_card_intro.md")


def statistics_options() -> tfdv.StatsOptions:
    """StatisticsGen's options, the same on every runner.

    Top-k values and unique counts of string features come from sketches combined per bundle
    (Misra-Gries for the counts, exact up to ``names.TFDV_SKETCH_EXACT_VALUES`` distinct
    values, as City and Country are, upper bounds above it; KMV for the unique count), the
    same generator the monitor's in-memory statistics use, instead of one Beam element per
    (feature, value) pair grouped by key. That grouping was most of StatisticsGen's time (56 s
    of the train split's 69 s at 1M rows) and its state grew with the data.
    """
    return tfdv.StatsOptions(use_sketch_based_topk_uniques=True,
                             desired_batch_size=STATISTICS_BATCH_ROWS)


@dataclasses.dataclass(frozen=True)
class LocalFiles:
    """Examples from local CSV/Parquet files matching ``file_pattern`` under ``input_base``."""

    input_base: str
    file_pattern: str


@dataclasses.dataclass(frozen=True)
class BigQueryTable:
    """Examples from a BigQuery table (``project.dataset.table``)."""

    table: str


@dataclasses.dataclass(frozen=True)
class VertexTraining:
    """Trainer and Tuner as Vertex AI custom jobs (TFX's Google Cloud extensions).

    ``worker_pool_specs`` is Vertex's CustomJobSpec list: machine type, accelerator, image;
    ``service_account`` the identity the jobs run as (empty: Vertex's default).
    """

    project: str
    region: str
    worker_pool_specs: tuple[Mapping[str, Any], ...]
    service_account: str = ""

    def custom_config(self, args_key: str) -> dict[str, Any]:
        from tfx.extensions.google_cloud_ai_platform import constants

        job_spec: dict[str, Any] = {"worker_pool_specs": [dict(w) for w in self.worker_pool_specs]}
        if self.service_account:
            job_spec["service_account"] = self.service_account
        return {
            constants.ENABLE_VERTEX_KEY: True,
            constants.VERTEX_REGION_KEY: self.region,
            args_key: {"project": self.project, "job_spec": job_spec},
        }


@dataclasses.dataclass(frozen=True)
class ModelRegistry:
    """Where ``RegisterModel`` records each pushed version: Vertex AI Model Registry."""

    project: str
    location: str
    model_name: str
    serving_image: str


def output_config(config: PipelineConfig) -> example_gen_pb2.Output:
    """Deterministic train/eval split by a hash of the event timestamp (a stable key)."""
    return example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(
        splits=[
            example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=config.train_buckets),
            example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=config.eval_buckets),
        ],
        partition_feature_name=features.TIMESTAMP_FEATURE,
    ))


SLICING_SPECS = ((), ("Male",), ("age_band",))


def _model_spec() -> tfma.ModelSpec:
    return tfma.ModelSpec(
        # Our SavedModel is signatures over a tf.Module, not Keras; said here, TFMA does
        # not find out by trying to load each model as Keras first (~0.5 s a model).
        model_type=tfma.TF_GENERIC,
        signature_name=features.EVAL_SIGNATURE,
        label_key=features.LABEL_KEY,
        prediction_key="probability",
        preprocessing_function_names=[features.TRANSFORM_SIGNATURE],
    )


def _slicing_specs() -> list[tfma.SlicingSpec]:
    return [tfma.SlicingSpec(feature_keys=list(keys)) for keys in SLICING_SPECS]


def _auc_overall(threshold: tfma.MetricThreshold) -> tfma.MetricConfig:
    """AUC with ``threshold`` on the whole eval set only: slices are reported, not judged (a
    slice of a small eval split holds a few dozen rows, where AUC moves by hundredths)."""
    return tfma.MetricConfig(class_name="AUC", per_slice_thresholds=[
        tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=threshold)])


def simple_eval_config(config: PipelineConfig) -> tfma.EvalConfig:
    """The simple-baseline gate: the candidate against the simple model (the baseline here).

    One TFMA change threshold on AUC over the whole eval set: the candidate's AUC may be below
    the simple model's by at most ``simple_model_margin``. The slices (``Male``, age band) are
    computed and reported beside it, not judged, as in ``eval_config``: on the few dozen rows
    of an age band in a small run, AUC moves by several hundredths between two equally good
    models, so a per-slice gate blocked pushes at random. Only the metrics the gate and its
    report need (no plots, no calibration): TFMA's time is per metric.
    """
    return tfma.EvalConfig(
        model_specs=[_model_spec()],
        slicing_specs=_slicing_specs(),
        metrics_specs=[tfma.MetricsSpec(metrics=[
            tfma.MetricConfig(class_name="ExampleCount"),
            _auc_overall(tfma.MetricThreshold(change_threshold=tfma.GenericChangeThreshold(
                direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                absolute={"value": -config.simple_model_margin}))),
            tfma.MetricConfig(class_name="BinaryAccuracy"),
        ])],
    )


def eval_config(config: PipelineConfig) -> tfma.EvalConfig:
    """Metrics, slices and the two blessing thresholds (absolute AUC, no worse than baseline)."""
    auc_threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": config.min_auc}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -config.max_auc_drop}),
    )
    return tfma.EvalConfig(
        model_specs=[_model_spec()],
        slicing_specs=_slicing_specs(),
        metrics_specs=[tfma.MetricsSpec(metrics=[
            tfma.MetricConfig(class_name="ExampleCount"),
            _auc_overall(auc_threshold),
            tfma.MetricConfig(class_name="AUCPrecisionRecall"),
            tfma.MetricConfig(class_name="BinaryAccuracy"),
            tfma.MetricConfig(class_name="Precision"),
            tfma.MetricConfig(class_name="Recall"),
            tfma.MetricConfig(class_name="Calibration"),
            tfma.MetricConfig(class_name="MeanLabel"),
            tfma.MetricConfig(class_name="MeanPrediction"),
            tfma.MetricConfig(class_name="CalibrationPlot"),
            tfma.MetricConfig(class_name="ConfusionMatrixPlot"),
        ])],
    )


def _example_gen(source: LocalFiles | BigQueryTable, config: PipelineConfig) -> Any:
    query = data_source.load_query()
    if isinstance(source, BigQueryTable):
        from tfx.extensions.google_cloud_big_query.example_gen.component import (
            BigQueryExampleGen,
        )

        return BigQueryExampleGen(query=data_source.render_query(query, f"`{source.table}`"),
                                  output_config=output_config(config))
    from pipelines.components.example_gen import DuckDBExampleGen

    return DuckDBExampleGen(input_base=source.input_base, file_pattern=source.file_pattern,
                            query=query, output_config=output_config(config),
                            max_dropped_share=config.max_dropped_share)


def _simple_model_gate(config: PipelineConfig, transform: Any, schema_gen: Any, trainer: Any,
                       eval_sample: Any, eval_args: trainer_pb2.EvalArgs) -> list[Any]:
    """SimpleTrainer -> SimpleModelEvaluator: TFX's own Trainer and Evaluator, a second time.

    A second TFX Trainer (``models.simple_model.run_fn``: same Transform output, same
    signatures) and a second Evaluator with the candidate as ``model`` and the simple model as
    ``baseline_model`` (``simple_eval_config``): TFMA's change threshold is then the gate, and
    the Evaluator's ``evaluation`` output is the report of the candidate against the simple
    model, overall and per slice, for the summary, the dashboard and the model card
    (``names.SIMPLE_EVALUATOR``). The main Evaluator keeps its one baseline, the served model:
    TFX's Evaluator takes one baseline, and the two answer different questions.

    The simple Trainer is a plain TFX Trainer on every runner, never a Vertex custom job or a
    GPU step: eight weights train in seconds in the pipeline's own container.
    """
    simple_trainer = Trainer(
        run_fn=SIMPLE_RUN_FN,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=trainer_pb2.TrainArgs(num_steps=SIMPLE_TRAIN_STEPS),
        eval_args=eval_args,
    ).with_id(names.SIMPLE_TRAINER)
    simple_evaluator = Evaluator(
        examples=eval_sample.outputs["sample"],
        model=trainer.outputs["model"],
        baseline_model=simple_trainer.outputs["model"],
        eval_config=simple_eval_config(config),
    ).with_id(names.SIMPLE_EVALUATOR)
    return [simple_trainer, simple_evaluator]


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def create_pipeline(
    *,
    pipeline_name: str,
    pipeline_root: str,
    source: LocalFiles | BigQueryTable,
    serving_model_dir: str,
    config: PipelineConfig,
    metadata_connection_config: Any = None,
    beam_pipeline_args: list[str] | None = None,
    schema_file: str = SCHEMA_FILE,
    vertex_training: VertexTraining | None = None,
    training_resources: Any = None,
    model_registry: ModelRegistry | None = None,
) -> tfx_pipeline.Pipeline:
    """Builds the clickflow graph.

    ExampleGen -> StatisticsGen -> ImportSchemaGen -> ExampleValidator -> AnomaliesGate ->
    Transform -> [Tuner] -> Trainer -> ServedBaseline -> Evaluator -> Pusher ->
    ModelCardGenerator (the pushed model's card; ``MODEL_CARD_INTRO`` is its intended use), the
    Evaluator reading EvalSample's deterministic sample of at most ``config.eval_max_rows``
    eval rows (all of them on small data) and comparing the candidate with the model served from
    ``serving_model_dir`` (ServedBaseline: the same on every runner, no Resolver node).
    With ``config.simple_model_gate`` a SimpleTrainer (logistic regression) and a
    SimpleModelEvaluator (the candidate against it) run beside them, and the Pusher pushes
    only what both Evaluators blessed (``_simple_model_gate``).

    In the cloud, ``vertex_training`` runs the Trainer and Tuner as Vertex AI custom jobs (on
    the GPU its worker pool names) and ``training_resources`` (a KFP ``ResourceSpec``) sets
    their step's CPU, memory and accelerator on Kubeflow Pipelines. ``model_registry`` adds
    RegisterModel after the Pusher: each pushed version also becomes a Vertex AI Model Registry
    version pointing at the same folder.
    """
    example_gen = _example_gen(source, config)
    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"],
                                   stats_options=statistics_options())
    schema_gen = ImportSchemaGen(schema_file=schema_file)
    example_validator = ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"])
    gate = AnomaliesGate(anomalies=example_validator.outputs["anomalies"])
    transform = Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN,
        disable_statistics=True,
        force_tf_compat_v1=True,
        # Nothing feeds a previous run's analyzer cache back in, so writing one is pure cost.
        disable_analyzer_cache=True,
    )
    transform.add_upstream_node(gate)
    components: list[Any] = [example_gen, statistics_gen, schema_gen, example_validator, gate,
                             transform]

    train_args = trainer_pb2.TrainArgs(num_steps=config.train_steps)
    eval_args = trainer_pb2.EvalArgs(num_steps=config.eval_steps)
    trainer_class, tuner_class = Trainer, Tuner
    trainer_cloud: dict[str, Any] = {}
    tuner_cloud: dict[str, Any] = {}
    if vertex_training is not None:
        from tfx.extensions.google_cloud_ai_platform.trainer import component as vertex_trainer
        from tfx.extensions.google_cloud_ai_platform.trainer import executor as trainer_executor
        from tfx.extensions.google_cloud_ai_platform.tuner import component as vertex_tuner
        from tfx.extensions.google_cloud_ai_platform.tuner import executor as tuner_executor

        trainer_class, tuner_class = vertex_trainer.Trainer, vertex_tuner.Tuner
        trainer_cloud = vertex_training.custom_config(trainer_executor.TRAINING_ARGS_KEY)
        tuner_cloud = vertex_training.custom_config(tuner_executor.TUNING_ARGS_KEY)
    hyperparameters = None
    if config.tune:
        tuner = tuner_class(
            tuner_fn=TUNER_FN,
            examples=transform.outputs["transformed_examples"],
            transform_graph=transform.outputs["transform_graph"],
            train_args=train_args,
            eval_args=eval_args,
            custom_config={"max_trials": config.max_trials, **tuner_cloud},
        )
        if training_resources is not None:
            tuner.with_platform_config(training_resources)
        hyperparameters = tuner.outputs["best_hyperparameters"]
        components.append(tuner)
    trainer = trainer_class(
        run_fn=RUN_FN,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        hyperparameters=hyperparameters,
        train_args=train_args,
        eval_args=eval_args,
        custom_config={"hparams": dict(config.hparams), **trainer_cloud},
    )
    if training_resources is not None:
        trainer.with_platform_config(training_resources)
    served_baseline = ServedBaseline(
        candidate=trainer.outputs["model"],
        serving_model_dir=serving_model_dir,
        required_signatures=",".join((features.EVAL_SIGNATURE, features.TRANSFORM_SIGNATURE)),
    )
    eval_sample = EvalSample(examples=example_gen.outputs["examples"],
                             max_rows=config.eval_max_rows)
    eval_sample.add_upstream_node(gate)
    evaluator = Evaluator(
        examples=eval_sample.outputs["sample"],
        model=trainer.outputs["model"],
        baseline_model=served_baseline.outputs["model"],
        eval_config=eval_config(config),
    )
    components += [trainer, served_baseline, eval_sample, evaluator]
    simple_blessing = None
    if config.simple_model_gate:
        simple_nodes = _simple_model_gate(config, transform, schema_gen, trainer, eval_sample,
                                          eval_args)
        simple_blessing = simple_nodes[-1].outputs["blessing"]
        components += simple_nodes
    pusher = Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        simple_model_blessing=simple_blessing,
        push_destination=pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=serving_model_dir)),
    )
    components.append(pusher)
    # The pushed model's card, beside its artifacts and in the pushed version.
    components.append(ModelCardGenerator(
        pushed_model=pusher.outputs["pushed_model"],
        evaluation=evaluator.outputs["evaluation"],
        statistics=statistics_gen.outputs["statistics"],
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        baseline_model=served_baseline.outputs["model"],
        simple_evaluation=simple_nodes[-1].outputs["evaluation"] if config.simple_model_gate
        else None,
        intended_use=_read_text(MODEL_CARD_INTRO),
        serving_model_dir=serving_model_dir,
    ))
    if model_registry is not None:
        from pipelines.components.register_model import RegisterModel

        components.append(RegisterModel(
            pushed_model=pusher.outputs["pushed_model"],
            model_name=model_registry.model_name,
            serving_image=model_registry.serving_image,
            project=model_registry.project,
            location=model_registry.location,
        ))
    return tfx_pipeline.Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        components=components,
        enable_cache=config.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args or [],
    )
