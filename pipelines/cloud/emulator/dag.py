"""The root DAG of a compiled spec: which task runs after which, and what each one runs.

The order is the one the KFP/Vertex orchestrators derive: a task waits for its
``dependentTasks`` and for the producers of its ``taskOutputArtifact`` /
``taskOutputParameter`` inputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pipelines.common.errors import ClickflowError


class SpecError(ClickflowError, ValueError):
    """The spec cannot be emulated; the message names the task and why."""


@dataclass(frozen=True)
class Task:
    """One task of the root DAG with the component and container it runs."""

    name: str
    spec: dict[str, Any]  # root.dag.tasks[name]
    component: dict[str, Any]  # components[componentRef.name]
    container: dict[str, Any]  # deploymentSpec.executors[executorLabel].container
    executor_label: str

    @property
    def executor_class(self) -> str:
        """The ``--executor_class_path`` of a TFX container task ('' for another container)."""
        args = self.container.get("args", [])
        if "--executor_class_path" in args:
            index = args.index("--executor_class_path")
            if index + 1 < len(args):
                return args[index + 1]
        return ""


def upstream(task_spec: Mapping[str, Any]) -> set[str]:
    """Names of the tasks this task waits for directly."""
    inputs = task_spec.get("inputs", {})
    found = set(task_spec.get("dependentTasks", []))
    for artifact in inputs.get("artifacts", {}).values():
        if "taskOutputArtifact" in artifact:
            found.add(artifact["taskOutputArtifact"]["producerTask"])
    for parameter in inputs.get("parameters", {}).values():
        if "taskOutputParameter" in parameter:
            found.add(parameter["taskOutputParameter"]["producerTask"])
    return found


def order(tasks: Mapping[str, Mapping[str, Any]]) -> list[list[str]]:
    """The tasks in waves: each wave's tasks depend only on earlier waves (sorted by name,
    so a run is repeatable). SpecError on an unknown upstream task or a cycle."""
    waiting = {name: upstream(spec) for name, spec in tasks.items()}
    for name, needs in waiting.items():
        unknown = needs - set(tasks)
        if unknown:
            raise SpecError(f"task {name!r} depends on {sorted(unknown)}, which the spec's "
                            "root DAG does not have")
    done: set[str] = set()
    waves = []
    while waiting:
        ready = sorted(name for name, needs in waiting.items() if needs <= done)
        if not ready:
            raise SpecError(f"the root DAG has a cycle among {sorted(waiting)}")
        waves.append(ready)
        done.update(ready)
        for name in ready:
            del waiting[name]
    return waves


def with_upstream(tasks: Mapping[str, Mapping[str, Any]], name: str) -> set[str]:
    """``name`` and every task it (transitively) waits for."""
    if name not in tasks:
        raise SpecError(f"--until {name!r}: the spec has no such task; tasks: "
                        f"{', '.join(sorted(tasks))}")
    keep, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current not in keep:
            keep.add(current)
            todo += upstream(tasks[current])
    return keep


def downstream(tasks: Mapping[str, Mapping[str, Any]], failed: Iterable[str]) -> set[str]:
    """Every task that (transitively) waits for one of ``failed``."""
    blocked, changed = set(failed), True
    while changed:
        changed = False
        for name, spec in tasks.items():
            if name not in blocked and upstream(spec) & blocked:
                blocked.add(name)
                changed = True
    return blocked - set(failed)


def load_tasks(spec: Mapping[str, Any], only: Iterable[str] | None = None) -> dict[str, Task]:
    """Every root task (or those in ``only``) with its component and container; SpecError for
    anything else, such as a TFX ``resolver`` executor (which KFP cannot run either) or a
    nested DAG."""
    try:
        root_tasks = spec["root"]["dag"]["tasks"]
        components, executors = spec["components"], spec["deploymentSpec"]["executors"]
    except (KeyError, TypeError):
        raise SpecError("the spec has no root.dag.tasks, components or deploymentSpec."
                        "executors: expected a KFP v2 PipelineSpec") from None
    out = {}
    wanted = set(root_tasks) if only is None else set(only)
    for name, task_spec in root_tasks.items():
        if name not in wanted:
            continue
        ref = task_spec.get("componentRef", {}).get("name", "")
        component = components.get(ref)
        if component is None or "executorLabel" not in component:
            raise SpecError(f"task {name!r}: component {ref!r} is not a container component "
                            "(nested DAGs are not emulated)")
        label = component["executorLabel"]
        executor = executors.get(label, {})
        if "container" not in executor:
            kind = next(iter(executor), "missing")
            raise SpecError(
                f"task {name!r}: executor {label!r} is a {kind!r} executor, not a container; "
                "only container tasks are emulated (KFP's backend has no resolver executors "
                "either: backend/src/v2/compiler/argocompiler/dag.go)")
        out[name] = Task(name, task_spec, component, executor["container"], label)
    return out
