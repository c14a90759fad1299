"""The run loop on a spec of tiny Python containers (no TFX): order, a failure stopping only
what is downstream of it, its log, and the ExecutorInput each container receives."""

import json
from pathlib import Path

from pipelines.cloud.emulator import orchestrator, report, session

ROOT = Path(__file__).resolve().parents[3]
WRITE_OUTPUT = ("import json, os, sys; e = json.loads(sys.argv[1]); "
                "os.makedirs(os.path.dirname(e['outputs']['outputFile']), exist_ok=True); "
                "json.dump({'artifacts': {'out': {'artifacts': [{'metadata': {'n': 1}}]}}}, "
                "open(e['outputs']['outputFile'], 'w'))")


def _spec(code: dict[str, str], deps: dict[str, list[str]]) -> dict:
    tasks, components, executors = {}, {}, {}
    for name, source in code.items():
        tasks[name] = {"componentRef": {"name": name}, "taskInfo": {"name": name},
                       "dependentTasks": deps.get(name, [])}
        components[name] = {"executorLabel": f"{name}_executor", "outputDefinitions": {
            "artifacts": {"out": {"artifactType": {"schemaTitle": "system.Artifact"}}}}}
        executors[f"{name}_executor"] = {"container": {
            "image": "img:1", "command": ["python", "-c", source], "args": ["{{$}}"]}}
    return {"pipelineInfo": {"name": "tiny"}, "schemaVersion": "2.1.0",
            "defaultPipelineRoot": "gs://tiny-bucket/root", "root": {"dag": {"tasks": tasks}},
            "components": components, "deploymentSpec": {"executors": executors}}


def test_a_failure_stops_its_downstream_tasks_only(tmp_path) -> None:
    spec = _spec({"a": WRITE_OUTPUT, "b": "import sys; print('boom'); sys.exit(3)",
                  "c": WRITE_OUTPUT, "d": WRITE_OUTPUT},
                 {"b": ["a"], "c": ["b"], "d": ["a"]})
    em = session.prepare(spec, "kfp", tmp_path, tmp_path / "none.csv", ROOT)
    results = {r.task: r for r in orchestrator.run_once(em, "run-1")}
    assert {n: r.status for n, r in results.items()} == {
        "a": "succeeded", "b": "failed", "c": "skipped", "d": "succeeded"}
    assert results["a"].outputs["artifacts"]["out"]["metadata"] == {"n": 1}
    assert results["a"].outputs["artifacts"]["out"]["uri"] == (
        f"{tmp_path}/gs/tiny-bucket/root/tiny/run-1/a/out")
    failure = report.failures(list(results.values()))
    assert "task b failed: exit code 3" in failure and "boom" in failure
    assert str(results["b"].log) in failure
    payload = json.loads((tmp_path / "executor_inputs" / "run-1" / "d.json").read_text())
    assert payload["outputs"]["outputFile"].endswith("/d/tmp/kfp_outputs/output_metadata.json")
