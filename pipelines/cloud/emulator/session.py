"""Everything one emulator invocation prepares once: the spec, the data, the staged image, the
local gs folder and the shim's settings."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipelines.cloud.emulator import image as image_mod
from pipelines.cloud.emulator.dag import SpecError
from pipelines.cloud.emulator.orchestrator import Emulation
from pipelines.cloud.emulator.substitutions import Substitutions

SCHEMA_VERSIONS = ("2.1.0", "2.0.0")
_TABLE_RE = re.compile(r"`([A-Za-z0-9:._-]+\.[A-Za-z0-9_]+\.[\w$-]+)`")
_COMMENT_RE = re.compile(r"--[^\n]*")


def compile_from_config(config_path: Path, target: str, tune: bool, schema_version: str,
                        environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The spec ``kubeflow_runner.py compile`` writes (2.1.0), or its 2.0.0 form (Vertex's
    legacy typed parameters), compiled in this process."""
    from pipelines.cloud import compile as cloud_compile
    from pipelines.cloud.config import load_cloud_config

    config = load_cloud_config(config_path, environ=environ)
    if schema_version == "2.1.0":
        return cloud_compile.compile_spec(config, target=target, tune=tune)
    from tfx.orchestration.kubeflow.v2.kubeflow_v2_dag_runner import (
        KubeflowV2DagRunner,
        KubeflowV2DagRunnerConfig,
    )

    runner = KubeflowV2DagRunner(config=KubeflowV2DagRunnerConfig(
        display_name=cloud_compile.display_name(config, tune=tune),
        default_image=config.pipeline_image, use_pipeline_spec_2_1=False))
    spec = runner.run(cloud_compile.build_pipeline(config, target=target, tune=tune),
                      write_out=False)["pipelineSpec"]
    spec["defaultPipelineRoot"] = config.resolved_pipeline_root
    return spec


def read_spec(path: Path) -> dict[str, Any]:
    import yaml

    try:
        text = path.read_text()
    except OSError as err:
        raise SpecError(f"--spec {path}: cannot read it ({err.strerror})") from None
    try:
        spec = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as err:
        raise SpecError(f"--spec {path}: not JSON/YAML: {str(err).splitlines()[0]}") from None
    if isinstance(spec, dict) and "pipelineSpec" in spec:  # a PipelineJob file
        spec = spec["pipelineSpec"]
    if not isinstance(spec, dict) or "root" not in spec:
        raise SpecError(f"--spec {path}: expected a KFP v2 PipelineSpec (with 'root')")
    return spec


def tables_in(spec: Mapping[str, Any]) -> set[str]:
    """Every backticked BigQuery table that a task's parameters name (outside comments)."""
    found: set[str] = set()
    for task in spec.get("root", {}).get("dag", {}).get("tasks", {}).values():
        for binding in task.get("inputs", {}).get("parameters", {}).values():
            value = binding.get("runtimeValue", {}).get("constant")
            for text in _strings(value):
                found |= set(_TABLE_RE.findall(_COMMENT_RE.sub("", text)))
    return found


def _strings(value: Any) -> list[str]:
    """The strings in a parameter, looking inside JSON text (TFX writes protos as JSON)."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return [value]
        return _strings(parsed) if not isinstance(parsed, str) else [parsed]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def make_data(workdir: Path, rows: int, seed: int, days: int = 1) -> Path:
    """The BigQuery table of a scheduled run's day ``days``: ``rows`` generated rows of each
    day 1..``days`` (pipelines.data.generator's spans: their own seed and day each), as one CSV
    under ``workdir``, reused if there. A recurring run reads a table that has grown by the
    new day's partition since the previous run; run n of the emulator reads day n's table."""
    import pyarrow.csv as pacsv

    from pipelines.data import generator

    path = workdir / "data" / f"ad_clicks-{rows}-{seed}-days{days}.csv"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with pacsv.CSVWriter(tmp, generator.schema_of(generator.DEFAULT_MODE)) as writer:
        for day in range(1, days + 1):
            for batch in generator.generate_batches(
                    rows, generator.span_seed(seed, day), start=generator.span_start(day)):
                writer.write_batch(batch)
    tmp.replace(path)
    return path


def use_table(em: Emulation, data: Path) -> None:
    """Points every BigQuery table of ``em`` at ``data`` for the runs that follow."""
    settings = json.loads(em.settings_file.read_text())
    settings["tables"] = {t: str(data.resolve()) for t in settings["tables"]}
    em.settings_file.write_text(json.dumps(settings, indent=1))


def prepare(spec: dict[str, Any], target: str, workdir: Path, data: Path, repo: Path,
            form: str | None = None, **options: Any) -> Emulation:
    """Stages the image, writes the shim's settings; the Emulation every run shares."""
    workdir = workdir.resolve()
    image = image_mod.read_image(repo)
    staged = image_mod.stage(repo, image, workdir / "image" / image.workdir.strip("/"))
    subs = Substitutions(gs_root=workdir / "gs", image_dir=staged, image_workdir=image.workdir)
    tables = {t: str(data.resolve()) for t in tables_in(spec)}
    for table in sorted(tables):
        subs.record("BigQueryExampleGen", "BigQuery table (DuckDB over a local file)",
                    f"`{table}`", tables[table])
    subs.record("(all)", "Cloud Storage", "gs://BUCKET/...", f"{workdir / 'gs'}/BUCKET/... "
                "(artifact metadata handed downstream keeps the gs:// form)")
    subs.record("(all)", "pipeline image", f"{image.workdir} (COPY lines of "
                f"{image_mod.DOCKERFILE})", str(staged))
    settings = workdir / "emulator-settings.json"
    settings.write_text(json.dumps({"tables": tables, "records": str(workdir / "records")},
                                   indent=1))
    version = spec.get("schemaVersion", "")
    chosen = form or ("values" if version == "2.1.0" else "legacy")
    return Emulation(spec=spec, target=target, image=image, staged=staged, workdir=workdir,
                     settings_file=settings, subs=subs, form=chosen, **options)
