"""DAG order and what is refused, on small hand-written specs (no TFX import)."""

import pytest

from pipelines.cloud.emulator import dag


def _task(*deps: str, artifacts: dict | None = None) -> dict:
    spec = {"componentRef": {"name": "c"}, "dependentTasks": list(deps)}
    if artifacts:
        spec["inputs"] = {"artifacts": {k: {"taskOutputArtifact": {
            "producerTask": v, "outputArtifactKey": "out"}} for k, v in artifacts.items()}}
    return spec


def test_waves_follow_dependent_tasks_and_artifact_producers() -> None:
    tasks = {"gen": _task(), "schema": _task(), "stats": _task(artifacts={"e": "gen"}),
             "val": _task("schema", artifacts={"s": "stats"}), "train": _task("val")}
    assert dag.order(tasks) == [["gen", "schema"], ["stats"], ["val"], ["train"]]


def test_a_cycle_or_an_unknown_task_is_refused() -> None:
    with pytest.raises(dag.SpecError, match="cycle"):
        dag.order({"a": _task("b"), "b": _task("a")})
    with pytest.raises(dag.SpecError, match="'a' depends on \\['ghost'\\]"):
        dag.order({"a": _task("ghost")})


def test_a_failed_task_stops_everything_downstream_only() -> None:
    tasks = {"gen": _task(), "schema": _task(), "stats": _task("gen"), "train": _task("stats"),
             "other": _task("schema")}
    assert dag.downstream(tasks, {"stats"}) == {"train"}
    assert dag.with_upstream(tasks, "train") == {"gen", "stats", "train"}


def _spec(executor: dict) -> dict:
    return {"root": {"dag": {"tasks": {"r": {"componentRef": {"name": "r"}}}}},
            "components": {"r": {"executorLabel": "r_executor"}},
            "deploymentSpec": {"executors": {"r_executor": executor}}}


def test_a_resolver_executor_is_refused_with_the_reason() -> None:
    with pytest.raises(dag.SpecError, match="'resolver' executor, not a container"):
        dag.load_tasks(_spec({"resolver": {"outputArtifactQueries": {}}}))


def test_a_container_task_names_its_executor_class() -> None:
    (task,) = dag.load_tasks(_spec({"container": {
        "command": ["python"], "args": ["--executor_class_path", "a.B", "x"]}})).values()
    assert task.executor_class == "a.B"
