"""The cloud graph and its KFP v2 pipeline spec: the same ``create_pipeline()`` as locally, fed
by BigQuery, with Beam on Dataflow and the Trainer/Tuner on a GPU.

The spec is compiled per target because the two run GPU steps differently: on Vertex AI the
Trainer/Tuner steps start Vertex custom jobs whose worker pool carries the accelerator; on
Kubeflow Pipelines the step itself gets a resource spec (``nvidia.com/gpu``).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import yaml

from pipelines.cloud.config import CloudConfig
from pipelines.common.errors import ClickflowError

SPEC_SUFFIXES = (".json", ".yaml", ".yml")
# Where deployment/pipeline/Dockerfile puts the code (WORKDIR, on PYTHONPATH): paths in the spec
# must name files inside the image, never the machine that compiled it.
IMAGE_CODE_DIR = "/pipeline"
IMAGE_SCHEMA_FILE = f"{IMAGE_CODE_DIR}/schema/schema.pbtxt"


class CompileError(ClickflowError, ValueError):
    """The spec cannot be written where asked; the message says why."""


def dataflow_beam_args(c: CloudConfig) -> list[str]:
    """Beam flags that run ExampleGen, StatisticsGen, Transform and Evaluator on Dataflow.

    Workers use the pipeline image (``--sdk_container_image``): our code and pinned
    requirements import there, and the image is TFX's dependency flag, so TFX does not build
    an ephemeral sdist for each Beam component.
    """
    args = [
        "--runner=DataflowRunner",
        f"--project={c.project}",
        f"--region={c.dataflow_region or c.region}",
        f"--temp_location={c.resolved_temp_location}",
        f"--sdk_container_image={c.pipeline_image}",
        "--sdk_location=container",
        "--experiments=use_runner_v2",
        f"--machine_type={c.dataflow_machine_type}",
        f"--max_num_workers={c.dataflow_max_workers}",
        f"--disk_size_gb={c.dataflow_disk_size_gb}",
        "--autoscaling_algorithm=THROUGHPUT_BASED",
    ]
    if c.dataflow_service_account:
        args.append(f"--service_account_email={c.dataflow_service_account}")
    if c.dataflow_subnetwork:
        args.append(f"--subnetwork={c.dataflow_subnetwork}")
    if not c.dataflow_use_public_ips:
        args.append("--no_use_public_ips")
    return args


def worker_pool_specs(c: CloudConfig) -> list[dict[str, Any]]:
    """One Vertex worker pool on the pipeline image; the accelerator only when count > 0."""
    machine_spec: dict[str, Any] = {"machine_type": c.trainer_machine_type}
    if c.accelerator_count > 0:
        machine_spec["accelerator_type"] = c.accelerator_type
        machine_spec["accelerator_count"] = c.accelerator_count
    return [{"machine_spec": machine_spec, "replica_count": 1,
             "container_spec": {"image_uri": c.pipeline_image}}]


def kfp_training_resources(c: CloudConfig) -> Any:
    """The Trainer/Tuner step's accelerator on Kubeflow Pipelines, or None for CPU."""
    if c.accelerator_count == 0:
        return None
    from kfp.pipeline_spec import pipeline_spec_pb2

    resource_spec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec
    return resource_spec(accelerator=resource_spec.AcceleratorConfig(
        type=c.kfp_gpu_resource, count=c.accelerator_count))


def display_name(c: CloudConfig, *, tune: bool) -> str:
    return f"{c.pipeline_name}-tuning" if tune else c.pipeline_name


def build_pipeline(c: CloudConfig, *, target: str, tune: bool) -> Any:
    """The TFX pipeline object for ``target`` ('vertex' or 'kfp')."""
    from pipelines.pipeline import BigQueryTable, ModelRegistry, VertexTraining, create_pipeline

    vertex_training = training_resources = None
    if target == "vertex":
        vertex_training = VertexTraining(project=c.project, region=c.region,
                                         worker_pool_specs=tuple(worker_pool_specs(c)),
                                         service_account=c.trainer_service_account)
    else:
        training_resources = kfp_training_resources(c)
    model_registry = None
    if c.register_model:
        model_registry = ModelRegistry(project=c.project, location=c.region,
                                       model_name=c.model_name,
                                       serving_image=c.registry_serving_image)
    return create_pipeline(
        pipeline_name=c.pipeline_name,
        pipeline_root=c.resolved_pipeline_root,
        source=BigQueryTable(c.bigquery_table),
        serving_model_dir=c.resolved_serving_model_base_path,
        config=c.pipeline_config(tune=tune),
        beam_pipeline_args=dataflow_beam_args(c),
        schema_file=IMAGE_SCHEMA_FILE,
        vertex_training=vertex_training,
        training_resources=training_resources,
        model_registry=model_registry,
    )


def compile_spec(c: CloudConfig, *, target: str, tune: bool) -> dict[str, Any]:
    """The KFP v2 ``PipelineSpec`` (IR) that Vertex AI Pipelines and KFP 2.x both run."""
    from tfx.orchestration.kubeflow.v2.kubeflow_v2_dag_runner import (
        KubeflowV2DagRunner,
        KubeflowV2DagRunnerConfig,
    )

    # Schema 2.1.0: the only version KFP 2.x's API server accepts, and the one whose parameters
    # reach the executors on KFP (its driver hands the launcher ``parameterValues``). Vertex
    # AI Pipelines runs it as well, so both targets share one form.
    runner = KubeflowV2DagRunner(config=KubeflowV2DagRunnerConfig(
        display_name=display_name(c, tune=tune), default_image=c.pipeline_image,
        use_pipeline_spec_2_1=True))
    job = runner.run(build_pipeline(c, target=target, tune=tune), write_out=False)
    spec = job["pipelineSpec"]
    # KFP reads the root from the spec; Vertex takes it with the job as well.
    spec["defaultPipelineRoot"] = c.resolved_pipeline_root
    uncache_example_gen(spec)
    if target == "kfp":
        from pipelines.cloud.kfp_rules import check

        check(spec)  # what KFP's API server, compiler and driver would refuse, refused here
    return spec


EXAMPLE_GEN_TASK = "BigQueryExampleGen"


def uncache_example_gen(spec: dict[str, Any]) -> None:
    """Turns the step cache off for the ExampleGen task only.

    Vertex and KFP key a step's cache on its inputs and parameters, and BigQueryExampleGen has
    no input artifact and the same query every day: with the cache on, every scheduled run
    would reuse the first run's examples and never read a row added since. Without it, new
    rows mean new examples, and the steps after it are cached only when their inputs are
    unchanged (an unchanged table still retrains: the ExampleGen output is a new artifact).
    """
    task = spec["root"]["dag"]["tasks"].get(EXAMPLE_GEN_TASK)
    if task is not None:
        task.pop("cachingOptions", None)


def spec_fingerprint(spec: dict[str, Any]) -> str:
    """A short content hash of a spec: equal specs, equal fingerprints."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def write_spec(spec: dict[str, Any], output: str | os.PathLike) -> Path:
    """Writes the spec as JSON or YAML (by suffix), atomically."""
    output = Path(output)
    if output.suffix.lower() not in SPEC_SUFFIXES:
        raise CompileError(f"--output {output}: expected a file name ending in "
                           f"{', '.join(SPEC_SUFFIXES)}")
    if output.is_dir():
        raise CompileError(f"--output {output} is a folder; expected a file name such as "
                           f"{output / 'pipeline.json'}")
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix.lower() == ".json":
        text = json.dumps(spec, indent=2, sort_keys=True) + "\n"
    else:
        text = yaml.safe_dump(spec, sort_keys=True)
    with tempfile.NamedTemporaryFile("w", dir=output.parent, prefix=f".{output.name}.",
                                     suffix=".tmp", delete=False) as tmp:
        tmp.write(text)
    os.chmod(tmp.name, 0o644)
    os.replace(tmp.name, output)
    return output


def plan_schedule(existing: Sequence[tuple[str, Hashable]],
                  wanted: Hashable) -> tuple[str | None, list[str]]:
    """(the id to keep, the ids to delete) for one schedule name.

    An existing schedule whose signature (spec fingerprint, cron, ...) equals ``wanted`` is kept;
    every other one of that name is a stale or duplicate copy and goes.
    """
    keep = next((sid for sid, signature in existing if signature == wanted), None)
    return keep, [sid for sid, _ in existing if sid != keep]
