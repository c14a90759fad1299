"""`kubeflow_runner.py predict`: the one-task batch-scoring pipeline, checked against KFP's
backend rules, started on a recording fake of KFP's REST API by the real kfp client, and
built into the PipelineJob Vertex would receive."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

import kubeflow_runner
from pipelines.cloud import kfp_rules, predict_job, vertex
from pipelines.cloud.config import load_cloud_config
from pipelines.testing.fake_kfp import serving

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "configs" / "cloud.example.yaml"
IMAGE = "us-central1-docker.pkg.dev/my-gcp-project/clickflow/pipeline:0.1.0"
URIS = ["--input", "gs://my-clickflow-bucket/in/", "--output", "gs://my-clickflow-bucket/preds"]


@pytest.fixture
def no_env(monkeypatch):
    for key in [k for k in os.environ if k.startswith("CLICKFLOW_")]:
        monkeypatch.delenv(key)
    return monkeypatch


def _compile(tmp_path: Path, target: str, *extra: str) -> dict:
    spec = tmp_path / f"predict-{target}.yaml"
    args = ["predict", "--config", str(EXAMPLE), "--target", target, *URIS, "--compile-only"]
    assert kubeflow_runner.main([*args, "--spec", str(spec), *extra]) == 0
    return yaml.safe_load(spec.read_text())


def test_spec_is_one_uncached_dataflow_task_on_the_pipeline_image(tmp_path, no_env) -> None:
    spec = _compile(tmp_path, "kfp")
    assert kfp_rules.violations(spec) == []
    assert spec["schemaVersion"] == kfp_rules.SCHEMA_VERSION
    assert spec["pipelineInfo"]["name"] == "clickflow-predict"
    assert spec["defaultPipelineRoot"] == "gs://my-clickflow-bucket/pipeline_root"
    ((name, task),) = spec["root"]["dag"]["tasks"].items()
    assert "enableCache" not in task.get("cachingOptions", {})
    assert "inputs" not in task  # every argument a constant of the container
    executor = spec["deploymentSpec"]["executors"][f"exec-{name}"]["container"]
    assert executor["image"] == IMAGE
    assert executor["command"] == ["python", "-m", "pipelines.predict.beam_job"]
    args = executor["args"]
    assert args[:6] == [
        "--input",
        "gs://my-clickflow-bucket/in",
        "--output",
        "gs://my-clickflow-bucket/preds",
        "--model",
        "gs://my-clickflow-bucket/serving_model/clickflow",
    ]
    for flag in (
        "--runner=DataflowRunner",
        "--project=my-gcp-project",
        "--region=us-central1",
        "--temp_location=gs://my-clickflow-bucket/dataflow/tmp",
        f"--sdk_container_image={IMAGE}",
    ):
        assert flag in args
    # What the container runs parses with the job's own parser: no flag is misspelled.
    from pipelines.predict.beam_job import build_parser

    parsed, beam_args = build_parser().parse_known_args(args)
    assert (parsed.input, parsed.output) == (
        "gs://my-clickflow-bucket/in",
        "gs://my-clickflow-bucket/preds",
    )
    assert all(a.startswith("--") and "=" in a for a in beam_args)


def test_a_model_flag_and_a_json_spec(tmp_path, no_env) -> None:
    out = tmp_path / "p.json"
    assert (
        kubeflow_runner.main(
            [
                "predict",
                "--config",
                str(EXAMPLE),
                *URIS,
                "--model",
                "gs://other-bucket/models/clickflow/12",
                "--compile-only",
                "--spec",
                str(out),
            ]
        )
        == 0
    )
    (executor,) = json.loads(out.read_text())["deploymentSpec"]["executors"].values()
    args = executor["container"]["args"]
    assert args[args.index("--model") + 1] == "gs://other-bucket/models/clickflow/12"


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--input", "data/in.csv"),
        ("--output", "/tmp/preds"),
        ("--model", "serving_model/clickflow"),
        ("--input", "gs://Bad_Bucket/x"),
    ],
)
def test_a_uri_workers_cannot_reach_is_refused(tmp_path, no_env, capsys, flag, value) -> None:
    args = dict(zip(URIS[::2], URIS[1::2], strict=True))
    args[flag] = value
    spec = tmp_path / "p.yaml"
    argv = ["predict", "--config", str(EXAMPLE), "--compile-only", "--spec", str(spec)]
    for k, v in args.items():
        argv += [k, v]
    assert kubeflow_runner.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {flag} ") and "Traceback" not in err
    assert not spec.exists()


def test_kfp_submit_starts_the_run_on_the_server(tmp_path, no_env, capsys) -> None:
    with serving() as server:
        no_env.setenv("CLICKFLOW_KFP_HOST", server.host)
        assert (
            kubeflow_runner.main(
                [
                    "predict",
                    "--config",
                    str(EXAMPLE),
                    "--target",
                    "kfp",
                    *URIS,
                    "--run-name",
                    "score-1",
                    "--spec",
                    str(tmp_path / "p.yaml"),
                ]
            )
            == 0
        )
        ((_, run),) = server.calls("POST", "/apis/v2beta1/runs")
        run_id = next(iter(server.runs))
        assert not server.doomed  # nothing the driver would drop at run time
    assert run["display_name"] == "score-1"
    assert run["pipeline_spec"]["pipelineInfo"]["name"] == "clickflow-predict"
    assert run["runtime_config"]["pipeline_root"] == "gs://my-clickflow-bucket/pipeline_root"
    assert f"{server.host}/#/runs/details/{run_id}" in capsys.readouterr().out


def test_vertex_pipeline_job_for_the_scoring_run(tmp_path) -> None:
    from google.auth.credentials import AnonymousCredentials

    config = load_cloud_config(EXAMPLE, environ={})
    compiled = predict_job.compile_to(
        config,
        target="vertex",
        input_uri=URIS[1],
        output_uri=URIS[3],
        model_uri=None,
        spec_path=None,
        spec_dir=tmp_path,
    )
    assert compiled.path == tmp_path / "clickflow-predict.json"
    kwargs = vertex.pipeline_job_kwargs(config, compiled, display_name="score-1")
    job = vertex.build_pipeline_job(kwargs, credentials=AnonymousCredentials())
    assert job._gca_resource.display_name == "score-1"
    assert list(job.pipeline_spec["root"]["dag"]["tasks"]) == ["batch-predict"]


def test_pipeline_image_copies_every_module_the_scoring_job_loads() -> None:
    """The Dockerfile's import check runs ``import pipelines.predict.beam_job``; every project
    module that import and a worker's ``setup`` load must be in a COPY line of the image."""
    import subprocess
    import sys

    from pipelines.cloud.emulator.image import read_image

    code = (
        "import sys, pipelines.predict.beam_job as j, pipelines.predict.plan, "
        "pipelines.predict.model, models.bootstrap; "
        "print('\\n'.join(sorted(getattr(m, '__file__', None) or '' for n, m in "
        "sys.modules.items() if n.split('.')[0] in ('models', 'pipelines'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.split()
    image = read_image(ROOT)
    files = [Path(f).resolve().relative_to(ROOT).as_posix() for f in loaded if f]
    assert "pipelines/predict/beam_job.py" in files and "pipelines/data/source.py" in files
    missing = [f for f in files if not image.copies(f)]
    assert not missing, f"the pipeline image lacks {missing}"
