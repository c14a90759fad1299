"""The ``ExecutorInput`` JSON that the launcher hands a task's container as ``{{$}}``.

Parameters come in one of two forms:

- ``values`` (``inputs.parameterValues``, plain protobuf ``Value`` JSON): what KFP 2.x's driver
  hands over (``resolveInputs`` in backend/src/v2/driver/driver.go) and what Vertex passes for
  a schema 2.1.0 spec; TFX reads them when the spec also passes
  ``--json_serialized_inputs_spec_args`` (kubeflow_v2_entrypoint_utils.parse_execution_properties);
- ``legacy`` (``inputs.parameters``, typed ``{"stringValue": ...}``): what Vertex passes for a
  schema 2.0.0 spec.

Output artifact URIs follow each backend's layout:

- ``kfp``: ``<pipeline root>/<pipeline name>/<run id>/<task>/<output key>`` (the run's root is
  set in backend/src/v2/metadata/client.go ``GetPipeline``; the driver's ``provisionOutputs``
  appends task and key), the output metadata file is the launcher's
  ``/tmp/kfp_outputs/output_metadata.json`` (``OutputMetadataFilepath``), in the task's own
  (here: per-task) /tmp;
- ``vertex``: ``<pipeline root>/<project number>/<job id>/<task>_<task id>/<output key>`` and
  ``.../<task>_<task id>/executor_output.json`` (the layout TFX's kubeflow_v2_run_executor
  documents for Vertex).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.cloud.emulator.dag import SpecError, Task
from pipelines.cloud.emulator.substitutions import Substitutions

FORMS = ("values", "legacy")
VERTEX_PROJECT_NUMBER = "123456789012"  # stands in for the project's number
_LEGACY_KIND = {"STRING": "stringValue", "NUMBER_INTEGER": "intValue",
                "NUMBER_DOUBLE": "doubleValue", "INT": "intValue", "DOUBLE": "doubleValue"}


@dataclass(frozen=True)
class RunLayout:
    """Where one run's task outputs go, as the target lays them out."""

    target: str  # 'kfp' or 'vertex'
    pipeline_root: str  # as in the spec, e.g. gs://bucket/pipeline_root
    pipeline_name: str
    run_id: str
    pod_root: Path  # per-task local folders standing in for each container's own /tmp
    region: str = "us-central1"

    def task_root(self, task: str) -> str:
        root = self.pipeline_root.rstrip("/")
        if self.target == "vertex":
            return f"{root}/{VERTEX_PROJECT_NUMBER}/{self.run_id}/{task}_{_task_id(task)}"
        return f"{root}/{self.pipeline_name}/{self.run_id}/{task}"

    def output_uri(self, task: str, key: str) -> str:
        return f"{self.task_root(task)}/{key}"

    def output_file(self, task: str) -> str:
        if self.target == "vertex":
            return f"{self.task_root(task)}/executor_output.json"
        return str(self.pod_root / task / "tmp" / "kfp_outputs" / "output_metadata.json")

    def artifact_name(self, task: str, key: str) -> str:
        """An MLMD artifact name: TFX hashes it into the artifact id (and the Evaluator's
        blessing refers to its baseline by it)."""
        digest = hashlib.sha256(f"{self.run_id}/{task}/{key}".encode()).hexdigest()
        number = int(digest[:12], 16)
        if self.target == "vertex":
            return (f"projects/{VERTEX_PROJECT_NUMBER}/locations/{self.region}/metadataStores/"
                    f"default/artifacts/{number}")
        return str(number)


def _task_id(task: str) -> str:
    return format(sum(ord(c) * (i + 1) for i, c in enumerate(task)) % 10**8, "08d")


def parameter_value(task: str, name: str, binding: Mapping[str, Any],
                    produced: Mapping[str, Mapping[str, Any]],
                    root_defaults: Mapping[str, Any]) -> Any:
    """A task's input parameter as a plain JSON value, from the spec or an upstream task."""
    if "runtimeValue" in binding:
        runtime = binding["runtimeValue"]
        if "constant" in runtime:
            return runtime["constant"]
        legacy = runtime.get("constantValue", {})
        for kind in ("stringValue", "intValue", "doubleValue"):
            if kind in legacy:
                return int(legacy[kind]) if kind == "intValue" else legacy[kind]
    if "componentInputParameter" in binding:
        key = binding["componentInputParameter"]
        if key in root_defaults:
            return root_defaults[key]
        raise SpecError(f"task {task!r} parameter {name!r}: pipeline parameter {key!r} has "
                        "no default value in the spec")
    if "taskOutputParameter" in binding:
        ref = binding["taskOutputParameter"]
        return produced[ref["producerTask"]]["parameters"][ref["outputParameterKey"]]
    raise SpecError(f"task {task!r} parameter {name!r}: unsupported binding {sorted(binding)}")


def legacy_value(value: Any, parameter_type: str) -> dict[str, Any]:
    """A plain value as the typed ``Value`` of the legacy ``inputs.parameters`` field."""
    kind = _LEGACY_KIND.get(parameter_type, "stringValue")
    if kind == "intValue":
        return {kind: str(int(value))}
    if kind == "doubleValue":
        return {kind: float(value)}
    return {kind: value if isinstance(value, str) else json.dumps(value)}


def build(task: Task, layout: RunLayout, produced: Mapping[str, Mapping[str, Any]],
          subs: Substitutions, *, form: str = "values",
          root_defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ExecutorInput of ``task`` (JSON dict), given the outputs of the tasks it waits for
    (``produced[task] = {"artifacts": {key: runtime artifact}, "parameters": {...}}``)."""
    if form not in FORMS:
        raise SpecError(f"--parameter-form {form!r}: expected one of {', '.join(FORMS)}")
    inputs_def = task.component.get("inputDefinitions", {})
    bindings = task.spec.get("inputs", {})
    inputs: dict[str, Any] = {}
    values = {}
    for name, binding in bindings.get("parameters", {}).items():
        value = parameter_value(task.name, name, binding, produced, root_defaults or {})
        if isinstance(value, str):
            value = subs.text(task.name, f"parameter {name}", value)
        values[name] = value
    if values and form == "values":
        inputs["parameterValues"] = values
    elif values:
        definitions = inputs_def.get("parameters", {})
        inputs["parameters"] = {
            name: legacy_value(value, definitions.get(name, {}).get(
                "parameterType", definitions.get(name, {}).get("type", "STRING")))
            for name, value in values.items()}
    artifacts = {}
    for name, binding in bindings.get("artifacts", {}).items():
        ref = binding.get("taskOutputArtifact")
        if ref is None:
            raise SpecError(f"task {task.name!r} artifact {name!r}: only taskOutputArtifact "
                            f"inputs are emulated, got {sorted(binding)}")
        upstream = produced[ref["producerTask"]]["artifacts"][ref["outputArtifactKey"]]
        artifact = {**upstream}
        artifact["type"] = inputs_def.get("artifacts", {}).get(name, {}).get(
            "artifactType", upstream.get("type", {}))
        artifacts[name] = {"artifacts": [artifact]}
    if artifacts:
        inputs["artifacts"] = artifacts
    outputs: dict[str, Any] = {"outputFile": subs.local_uri(layout.output_file(task.name))}
    out_def = task.component.get("outputDefinitions", {})
    out_artifacts = {}
    for key, definition in out_def.get("artifacts", {}).items():
        out_artifacts[key] = {"artifacts": [{
            "name": layout.artifact_name(task.name, key),
            "type": definition.get("artifactType", {}),
            "uri": subs.local_uri(layout.output_uri(task.name, key)),
        }]}
    if out_artifacts:
        outputs["artifacts"] = out_artifacts
    out_params = out_def.get("parameters", {})
    if out_params:
        outputs["parameters"] = {
            key: {"outputFile": str(layout.pod_root / task.name / "tmp" / "kfp" / "outputs" /
                                    key)} for key in out_params}
    return {"inputs": inputs, "outputs": outputs}


def read_outputs(executor_input: Mapping[str, Any], output_file: Path,
                 subs: Substitutions | None = None) -> dict[str, Any]:
    """What the task produced, as the launcher records it: each output artifact of the
    ExecutorInput with the executor output's uri and metadata merged in (launcher_v2's
    mergeRuntimeArtifacts), and the output parameter values.

    Paths in the metadata (e.g. the Pusher's ``pushed_destination``) are turned back into the
    ``gs://`` URIs the cloud would record, so downstream tasks see what they would see there.
    """
    written = json.loads(output_file.read_text()) if output_file.exists() else {}
    artifacts = {}
    for key, listing in executor_input["outputs"].get("artifacts", {}).items():
        artifact = dict(listing["artifacts"][0])
        reported = written.get("artifacts", {}).get(key, {}).get("artifacts", [{}])[0]
        if reported.get("uri"):
            artifact["uri"] = reported["uri"]
        if reported.get("metadata"):
            metadata = {**artifact.get("metadata", {}), **reported["metadata"]}
            if subs is not None:
                metadata = {k: subs.cloud_uri(v) if isinstance(v, str) else v
                            for k, v in metadata.items()}
            artifact["metadata"] = metadata
        artifacts[key] = artifact
    return {"artifacts": artifacts, "parameters": dict(written.get("parameterValues", {}))}
