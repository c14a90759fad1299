"""What Kubeflow Pipelines 2.x refuses in a compiled pipeline spec, checked offline.

Each rule was read from kubeflow/pipelines' backend and names the file and the message the real
server, compiler or driver gives; nothing here is a rule of our own. Three stages refuse a spec:

- ``api-server``: ``template.New`` (template/template.go, template/v2_template.go) at CreateRun /
  CreateRecurringRun. ResourceManager wraps its error in NewInternalServerError, so the HTTP
  answer is 500 with the message below inside the status text.
- ``compiler``: the Argo compiler (v2/compiler/visitor.go, argocompiler/dag.go) that the server
  runs on the same request; a plain Go error, so also HTTP 500 ("Internal error: ...").
- ``driver``: the v2 driver at run time. The server accepts such a spec; the task then loses its
  parameters or fails when it starts. ``check`` refuses these too: better at compile time.

Vertex AI Pipelines runs resolver executors and schema 2.0.0, so these rules are KFP's only.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from pipelines.common.errors import ClickflowError

TEMPLATE = "backend/src/apiserver/template/template.go"
V2_TEMPLATE = "backend/src/apiserver/template/v2_template.go"
VISITOR = "backend/src/v2/compiler/visitor.go"
DAG = "backend/src/v2/compiler/argocompiler/dag.go"
DRIVER = "backend/src/v2/driver/driver.go"
SCHEMA_VERSION = "2.1.0"
# v2_template.go matches this with regexp.MatchString, which is not anchored: a name passes
# when any part of it matches, i.e. when it holds one lower-case letter or digit.
NAME_PATTERN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
RUNNABLE_EXECUTORS = ("container", "importer")


@dataclasses.dataclass(frozen=True)
class Violation:
    """One refusal: ``message`` is KFP's own text; ``where`` the task, executor or field."""

    rule: str
    message: str
    source: str
    stage: str  # "api-server", "compiler" or "driver"
    where: str = ""
    expected: str = ""

    def __str__(self) -> str:
        return f'{self.where}: {self.expected} (KFP: "{self.message}", {self.source})'


class KfpSpecError(ClickflowError, ValueError):
    """The spec is one Kubeflow Pipelines 2.x refuses; the message lists every reason."""


def check(spec: dict[str, Any]) -> None:
    """Raises ``KfpSpecError`` naming each task/executor KFP would refuse, and what it expects."""
    found = violations(spec)
    if found:
        reasons = "; ".join(str(v) for v in found)
        raise KfpSpecError(f"Kubeflow Pipelines 2.x would refuse this spec ({len(found)} "
                           f"problem{'s' if len(found) > 1 else ''}): {reasons}")


def violations(spec: dict[str, Any]) -> list[Violation]:
    """Every rule the spec breaks, API-server rules first, as KFP meets them."""
    found = _template_violations(spec)
    if any(v.rule in ("spec-parses", "pipeline-name-present", "root-present") for v in found):
        return found  # KFP stops at "unknown template format"; nothing further is read
    return found + _Walk(spec).run()


def _template_violations(spec: dict[str, Any]) -> list[Violation]:
    """template.New: isPipelineSpec (template.go) needs a spec that parses with a name and a
    root, else the template format is unknown; NewV2SpecTemplate (v2_template.go) then checks
    the schema version and the name's form."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    unknown = "unknown template format"
    try:
        json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    except json_format.ParseError as err:  # Go's protojson refuses the same unknown fields
        return [Violation("spec-parses", unknown, TEMPLATE, "api-server", str(err).split("\n")[0],
                          "a PipelineSpec with only the fields its proto defines")]
    found = []
    name = (spec.get("pipelineInfo") or {}).get("name", "")
    if not name:
        found.append(Violation("pipeline-name-present", unknown, TEMPLATE, "api-server",
                               "pipelineInfo.name", "a non-empty pipelineInfo.name"))
    if not spec.get("root"):
        found.append(Violation("root-present", unknown, TEMPLATE, "api-server", "root",
                               "a root component (the pipeline's DAG)"))
    if found:
        return found
    version = spec.get("schemaVersion", "")
    if version != SCHEMA_VERSION:
        found.append(Violation(
            "schema-version", f"KFP only supports schema version {SCHEMA_VERSION}, but the "
            f"pipeline spec has version {version}", V2_TEMPLATE, "api-server", "schemaVersion",
            "schemaVersion 2.1.0 (TFX: KubeflowV2DagRunnerConfig(use_pipeline_spec_2_1=True))"))
    if not NAME_PATTERN.search(name):
        found.append(Violation(
            "pipeline-name-format", "invalid v2 pipeline spec: name should consist of lower case "
            "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
            "character", V2_TEMPLATE, "api-server", f"pipelineInfo.name {name!r}",
            "a lower-case DNS-style pipeline name"))
    return found


class _Walk:
    """The compiler's depth-first visit of components from root (visitor.go's Accept, then
    argocompiler's DAG/task), plus the driver's reading of each task's parameters."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.components: dict[str, Any] = spec.get("components") or {}
        self.executors: dict[str, Any] = (spec.get("deploymentSpec") or {}).get("executors") or {}
        self.root: dict[str, Any] = spec["root"]
        self.found: list[Violation] = []
        self.visited: set[str] = set()

    def add(self, rule: str, message: str, source: str, where: str, expected: str,
            stage: str = "compiler") -> None:
        self.found.append(Violation(rule, message, source, stage, where, expected))

    def run(self) -> list[Violation]:
        if "root" in self.components:
            self.add("root-reserved", 'component name "root" is reserved', VISITOR,
                     "components.root", "no component named 'root' (the name of the DAG)")
        self.component("root", self.root, None)
        return self.found

    def component(self, name: str, component: dict[str, Any], task: str | None) -> None:
        if name in self.visited:
            return
        self.visited.add(name)
        label = component.get("executorLabel")
        if label:
            self.executor(name, label, task)
        elif "dag" in component:
            self.dag(name, component["dag"])
        else:
            self.add("component-implementation", f"unknown component implementation: {name}",
                     VISITOR, f"component {name!r}", "an executorLabel or a dag")

    def executor(self, name: str, label: str, task: str | None) -> None:
        where = f"task {task!r} (executor {label!r})"
        executor = self.executors.get(label)
        if executor is None:
            self.add("executor-found", f'executor(label="{label}") not found in deployment '
                     "config", VISITOR, where, "an executor of that label in deploymentSpec")
            return
        kind = next((k for k in executor if k in RUNNABLE_EXECUTORS), None)
        if kind is None:  # visitor.go refuses first; dag.go's task() would say "resolver
            # executors not implemented" or "custom job executors is Google Cloud only, ...".
            found = "/".join(sorted(executor)) or "empty"
            self.add("executor-kind", f'executor(label="{label}"): non-container and '
                     "non-importer executor not implemented", VISITOR, where,
                     f"a container or importer executor, not {found} (KFP's Argo compiler runs "
                     f"no other kind; a TFX Resolver must become a container component)")

    def dag(self, name: str, dag: dict[str, Any]) -> None:
        tasks: dict[str, Any] = dag.get("tasks") or {}
        if not any(not _is_exit(t) for t in tasks.values()):
            self.add("dag-has-tasks", f"DAG {name} must contain one or more non-exit tasks", DAG,
                     f"component {name!r}", "at least one task that is not an exit handler")
        for task_name in sorted(tasks):
            task = tasks[task_name]
            self.task(name, task_name, task)
            ref = (task.get("componentRef") or {}).get("name", "")
            label = (task.get("taskInfo") or {}).get("name", "")
            if not ref:
                self.add("component-ref", f'component ref name is empty for task name="{label}"',
                         VISITOR, f"task {task_name!r}", "componentRef.name")
            elif ref not in self.components:
                self.add("component-ref", f'cannot find component ref name="{ref}" for task '
                         f'name="{label}" in component name="{name}"', VISITOR,
                         f"task {task_name!r}", f"a component named {ref!r} in components")
            else:
                self.component(ref, self.components[ref], task_name)

    def task(self, dag: str, name: str, task: dict[str, Any]) -> None:
        where = f"task {name!r}"
        # dag.go also refuses both iterators on one task, but they are a proto oneof: such a
        # spec already fails to parse ("unknown template format").
        if "artifactIterator" in task:
            self.add("iterator", "artifact iterator not implemented yet", DAG, where,
                     "a parameterIterator (KFP has no artifact iterator)")
        component = self.components.get((task.get("componentRef") or {}).get("name", ""), {})
        executor = self.executors.get(component.get("executorLabel", ""), {})
        if "importer" in executor and (task.get("triggerPolicy") or {}).get("condition"):
            self.add("importer-condition", "triggerPolicy.condition on importer task is not "
                     "supported", DAG, where, "an importer task without a condition")
        for param, value in sorted(((task.get("inputs") or {}).get("parameters") or {}).items()):
            if "constantValue" in (value.get("runtimeValue") or {}):
                # driver.go (KFP 2.0): ConstantValue goes to the deprecated inputs.parameters,
                # which the v2 launcher never reads; later drivers (resolve.go) fail with
                # "param runtime value spec of type ..._ConstantValue not implemented".
                self.add("constant-parameter", "param runtime value spec of type "
                         "*pipelinespec.ValueOrRuntimeParameter_ConstantValue not implemented",
                         DRIVER, f"{where} parameter {param!r}",
                         "runtimeValue.constant (schema 2.1.0) instead of the 2.0.0 "
                         "runtimeValue.constantValue, which KFP's driver does not hand on",
                         stage="driver")


def _is_exit(task: dict[str, Any]) -> bool:
    """dag.go treats a task whose trigger strategy is ALL_UPSTREAM_TASKS_COMPLETED as exit."""
    return (task.get("triggerPolicy") or {}).get("strategy") == "ALL_UPSTREAM_TASKS_COMPLETED"
