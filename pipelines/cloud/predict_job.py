"""Batch scoring on Dataflow, started from Vertex AI Pipelines or Kubeflow Pipelines 2.x.

A one-task KFP v2 pipeline: a container component on the pipeline image whose command is
``python -m pipelines.predict.beam_job --input ... --output ... --model ...`` with the same
Dataflow flags as the training pipeline's Beam components (``compile.dataflow_beam_args``:
DataflowRunner, project, region, temp location, and the pipeline image as the workers' SDK
container, so they import our code). The task only launches the Dataflow job and waits for it;
the scoring runs on Dataflow's workers. Every argument is a constant of the spec, so the spec
holds no pipeline parameters for a driver to lose.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml

from pipelines.cloud.compile import CompileError, dataflow_beam_args, spec_fingerprint, write_spec
from pipelines.cloud.config import CloudConfig
from pipelines.cloud.kfp_client import CompiledSpec
from pipelines.common import storage

COMMAND = ("python", "-m", "pipelines.predict.beam_job")


def display_name(c: CloudConfig) -> str:
    return f"{c.pipeline_name}-predict"


def _gcs(flag: str, uri: str) -> str:
    if not storage.is_gcs(uri):
        raise CompileError(
            f"{flag} {uri}: expected a gs://BUCKET/... URI (Dataflow's workers "
            "read and write Cloud Storage, not this machine's files)"
        )
    try:
        storage.split(uri)
    except ValueError as err:
        raise CompileError(f"{flag} {err}") from None
    return uri.rstrip("/")


def beam_job_args(
    c: CloudConfig, *, input_uri: str, output_uri: str, model_uri: str | None = None
) -> list[str]:
    """The beam_job's arguments: what to score, with which model, and Dataflow's flags."""
    model = _gcs("--model", model_uri or c.resolved_serving_model_base_path)
    return [
        "--input",
        _gcs("--input", input_uri),
        "--output",
        _gcs("--output", output_uri),
        "--model",
        model,
        *dataflow_beam_args(c),
    ]


def compile_spec(
    c: CloudConfig, *, target: str, input_uri: str, output_uri: str, model_uri: str | None = None
) -> dict[str, Any]:
    """The KFP v2 ``PipelineSpec`` (schema 2.1.0) of the one-task scoring pipeline; for the
    ``kfp`` target checked against what KFP 2.x refuses (``kfp_rules``)."""
    from kfp import compiler, dsl

    args = beam_job_args(c, input_uri=input_uri, output_uri=output_uri, model_uri=model_uri)

    @dsl.container_component
    def batch_predict():
        return dsl.ContainerSpec(image=c.pipeline_image, command=list(COMMAND), args=args)

    @dsl.pipeline(name=display_name(c), pipeline_root=c.resolved_pipeline_root)
    def pipeline():
        # Never cached: a run with the same arguments must score again (or be refused for
        # its non-empty output), not report the earlier run's success.
        batch_predict().set_display_name("batch-predict-on-dataflow").set_caching_options(False)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.yaml"
        compiler.Compiler().compile(pipeline, str(path))
        spec = yaml.safe_load(path.read_text())
    spec["defaultPipelineRoot"] = c.resolved_pipeline_root
    if target == "kfp":
        from pipelines.cloud.kfp_rules import check

        check(spec)
    return spec


def compile_to(
    c: CloudConfig,
    *,
    target: str,
    input_uri: str,
    output_uri: str,
    model_uri: str | None,
    spec_path: Path | None,
    spec_dir: Path,
) -> CompiledSpec:
    """Compiles the scoring pipeline and writes it to ``spec_path`` (default: ``spec_dir``/
    <name>.yaml for kfp, whose client reads a spec file only as YAML; .json for Vertex)."""
    spec = compile_spec(
        c, target=target, input_uri=input_uri, output_uri=output_uri, model_uri=model_uri
    )
    suffix = ".yaml" if target == "kfp" else ".json"
    path = write_spec(spec, spec_path or spec_dir / f"{display_name(c)}{suffix}")
    return CompiledSpec(path=path, fingerprint=spec_fingerprint(spec))
