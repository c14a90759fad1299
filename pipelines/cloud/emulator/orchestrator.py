"""Runs a spec's root DAG once: tasks in dependency order, two at a time, each a fresh process.

A task starts when every task it waits for succeeded; a failed task stops every task
downstream of it (they are reported as skipped), as KFP and Vertex do.
"""

from __future__ import annotations

import json
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.cloud.emulator import dag, executor_input
from pipelines.cloud.emulator import task as task_runner
from pipelines.cloud.emulator.image import Image
from pipelines.cloud.emulator.substitutions import Substitutions


@dataclass(frozen=True)
class Emulation:
    """What every run of one spec shares."""

    spec: dict[str, Any]
    target: str
    image: Image
    staged: Path  # the staged image dir
    workdir: Path
    settings_file: Path  # the shim's settings
    subs: Substitutions
    form: str = "values"
    parallel: int = 2
    task_timeout: float = 1800.0
    until: str | None = None


def _root_defaults(spec: dict[str, Any]) -> dict[str, Any]:
    params = spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {})
    return {k: v["defaultValue"] for k, v in params.items() if "defaultValue" in v}


def run_once(em: Emulation, run_id: str) -> list[task_runner.Result]:
    """One run; the results in the order the tasks finished (skipped ones last)."""
    root = em.spec.get("root", {}).get("dag", {}).get("tasks", {})
    names = None if em.until is None else dag.with_upstream(root, em.until)
    tasks = dag.load_tasks(em.spec, names)
    dag.order({n: t.spec for n, t in tasks.items()})  # refuses cycles before anything runs
    layout = executor_input.RunLayout(
        target=em.target, pipeline_root=em.spec.get("defaultPipelineRoot", ""),
        pipeline_name=em.spec.get("pipelineInfo", {}).get("name", "pipeline"), run_id=run_id,
        pod_root=em.workdir / "pods" / run_id)
    produced: dict[str, dict[str, Any]] = {}
    results: list[task_runner.Result] = []
    failed: set[str] = set()
    pending = dict(tasks)
    running: dict[Future, str] = {}
    defaults = _root_defaults(em.spec)
    with ThreadPoolExecutor(max_workers=em.parallel) as pool:
        while pending or running:
            blocked = dag.downstream({n: t.spec for n, t in tasks.items()}, failed)
            for name in sorted(set(pending) & blocked):
                t = pending.pop(name)
                results.append(task_runner.Result(name, t.executor_class, "skipped",
                                                  message="an upstream task failed"))
            ready = [n for n in sorted(pending)
                     if dag.upstream(tasks[n].spec) <= set(produced)]
            for name in ready[: max(0, em.parallel - len(running))]:
                t = pending.pop(name)
                running[pool.submit(_run_task, em, t, layout, produced, defaults)] = name
            if not running:
                continue
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                name = running.pop(future)
                result, outputs = future.result()
                results.append(result)
                if result.status == "succeeded":
                    produced[name] = outputs
                else:
                    failed.add(name)
    return results


def _run_task(em: Emulation, t: dag.Task, layout: executor_input.RunLayout,
              produced: dict[str, dict[str, Any]], defaults: dict[str, Any]
              ) -> tuple[task_runner.Result, dict[str, Any]]:
    log = em.workdir / "logs" / layout.run_id / f"{t.name}.log"
    try:
        payload = executor_input.build(t, layout, produced, em.subs, form=em.form,
                                       root_defaults=defaults)
        command = task_runner.command_line(t, payload, em.subs)
    except dag.SpecError as err:
        return task_runner.Result(t.name, t.executor_class, "failed", message=str(err)), {}
    pod_tmp = layout.pod_root / t.name / "tmp"
    # Cloud Storage has no folders: an object can be written under any prefix. Locally the
    # parent folder of each output must exist first.
    for listing in payload["outputs"].get("artifacts", {}).values():
        Path(listing["artifacts"][0]["uri"]).parent.mkdir(parents=True, exist_ok=True)
    Path(payload["outputs"]["outputFile"]).parent.mkdir(parents=True, exist_ok=True)
    (em.workdir / "executor_inputs" / layout.run_id).mkdir(parents=True, exist_ok=True)
    (em.workdir / "executor_inputs" / layout.run_id / f"{t.name}.json").write_text(
        json.dumps(payload, indent=1))
    env = task_runner.environment(em.image, em.staged, em.settings_file, pod_tmp)
    rc, seconds = task_runner.run(t, command, env, em.staged, log, em.task_timeout)
    output_file = Path(payload["outputs"]["outputFile"])
    if rc != 0:
        return task_runner.Result(t.name, t.executor_class, "failed", seconds, log,
                                  message=f"exit code {rc}"), {}
    outputs = executor_input.read_outputs(payload, output_file, em.subs)
    return task_runner.Result(t.name, t.executor_class, "succeeded", seconds, log,
                              outputs=outputs), outputs
