"""The compiled spec run here task by task (real TFX executors in fresh processes).

Slow: each task imports TensorFlow in its own process, as its container does.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BUCKET = "my-clickflow-bucket"  # configs/cloud.example.yaml


def _emulate(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLICKFLOW_")}
    # A check of the wiring, not of the model: enough steps and a low bar that run 1 is
    # always blessed and pushed (20 steps once stayed under the 0.75 AUC bar and pushed nothing;
    # 50 steps trail the simple model, which keeps its own budget, on 20-row slices).
    env.update(CLICKFLOW_TRAIN_STEPS="50", CLICKFLOW_EVAL_STEPS="5", CLICKFLOW_MIN_AUC="0.5",
               CLICKFLOW_SIMPLE_MODEL_MARGIN="0.5")
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cloud.emulator", "--workdir", str(workdir),
         "--rows", "600", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=1500)


def _inputs(workdir: Path, run: Path, task: str) -> dict:
    return json.loads((run / f"{task}.json").read_text())


@pytest.mark.e2e
def test_two_kfp_runs_push_and_the_second_compares_with_the_first(tmp_path) -> None:
    done = _emulate(tmp_path, "--target", "kfp", "--runs", "2")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert " failed" not in done.stdout.replace("0 failed", "")
    assert "skipped" not in done.stdout.replace("0 skipped", "")
    run1, run2 = sorted((tmp_path / "kfp" / "executor_inputs").iterdir())
    pusher1 = json.loads((Path(_inputs(tmp_path, run1, "Pusher")["outputs"]["outputFile"])
                          ).read_text())
    (pushed,) = pusher1["artifacts"]["pushed_model"]["artifacts"]
    assert pushed["metadata"]["pushed"] == 1
    destination = pushed["metadata"]["pushed_destination"]
    serving = tmp_path / "kfp" / "gs" / BUCKET / "serving_model" / "clickflow"
    assert Path(destination).parent == serving
    assert (Path(destination) / "saved_model.pb").is_file()
    (baseline,) = _inputs(tmp_path, run2, "Evaluator")["inputs"]["artifacts"][
        "baseline_model"]["artifacts"]
    assert baseline["metadata"]["found"] == 1
    # Handed downstream in the gs:// form the cloud records; the task wrote the local path.
    served = baseline["metadata"]["served_path"]
    assert served.startswith(f"gs://{BUCKET}/serving_model/clickflow/")
    local = served.replace("gs://", f"{tmp_path / 'kfp' / 'gs'}/")
    assert local.rstrip("/") == destination.rstrip("/")
    assert "substitutions (what cannot run here" in done.stdout


@pytest.mark.e2e
@pytest.mark.parametrize(("schema", "form"), [("2.0.0", "legacy")])
def test_a_real_task_runs_with_each_parameter_form(tmp_path, schema, form) -> None:
    """The legacy typed ``parameters`` Vertex hands a 2.0.0 spec's tasks; ``parameterValues``
    (2.1.0, both targets) is what every task of the two-run test above receives."""
    done = _emulate(tmp_path, "--target", "vertex", "--runs", "1", "--until", "ImportSchemaGen",
                    "--schema-version", schema)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"parameters as {form}" in done.stdout
    (run,) = (tmp_path / "vertex" / "executor_inputs").iterdir()
    inputs = _inputs(tmp_path, run, "ImportSchemaGen")["inputs"]
    key = "parameterValues" if form == "values" else "parameters"
    assert set(inputs) == {key}
    (schema_dir,) = (tmp_path / "vertex" / "gs" / BUCKET / "pipeline_root").rglob("schema")
    assert (schema_dir / "schema.pbtxt").is_file()
