"""kubeflow_runner.py end to end, offline: the compiled KFP v2 spec, submit/schedule against a
real ``kfp`` client talking to a recording fake of the KFP v2beta1 API on 127.0.0.1, and the
Vertex AI objects built (never sent) for runs and schedules."""



import contextlib
import itertools
import json
import os
from pathlib import Path

import pytest
import yaml

import kubeflow_runner
from pipelines.cloud import vertex
from pipelines.cloud.compile import dataflow_beam_args, spec_fingerprint
from pipelines.cloud.config import load_cloud_config
from pipelines.cloud.emulator.dag import with_upstream
from pipelines.cloud.kfp_client import CompiledSpec
from pipelines.data import source as data_source
from pipelines.testing.fake_kfp import serving

ROOT = Path(__file__).resolve().parent
EXAMPLE = ROOT / "configs" / "cloud.example.yaml"
IMAGE = "us-central1-docker.pkg.dev/my-gcp-project/clickflow/pipeline:0.1.0"
ORDER = ["BigQueryExampleGen", "StatisticsGen", "ExampleValidator", "AnomaliesGate", "Transform",
         "Trainer", "Evaluator", "Pusher"]
BEAM_COMPONENTS = ["BigQueryExampleGen", "StatisticsGen", "Transform", "Evaluator"]


@contextlib.contextmanager
def _env(**values):
    saved = {k: v for k, v in os.environ.items() if k.startswith("CLICKFLOW_")}
    for key in saved:
        del os.environ[key]
    os.environ.update({f"CLICKFLOW_{k.upper()}": str(v) for k, v in values.items()})
    try:
        yield
    finally:
        for key in [k for k in os.environ if k.startswith("CLICKFLOW_")]:
            del os.environ[key]
        os.environ.update(saved)


def _compile(out: Path, target: str, tune: bool = False, **env) -> dict:
    args = ["compile", "--config", str(EXAMPLE), "--target", target, "--output", str(out)]
    with _env(**env):
        assert kubeflow_runner.main([*args, *(["--tune"] if tune else [])]) == 0
    return json.loads(out.read_text()) if out.suffix == ".json" else yaml.safe_load(
        out.read_text())


@pytest.fixture(scope="module")
def specs(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("specs")
    return {(target, tune): _compile(out / f"{target}-{tune}.json", target, tune)
            for target, tune in itertools.product(("vertex", "kfp"), (False, True))}


def _param(spec: dict, task: str, name: str) -> str:
    # Schema 2.1.0 writes a constant parameter as a plain protobuf Value ("constant"); 2.0.0
    # wrote the typed "constantValue" that KFP's driver does not hand to the launcher.
    params = spec["root"]["dag"]["tasks"][task]["inputs"]["parameters"]
    return params[name]["runtimeValue"]["constant"]


def _upstream(spec: dict, task: str) -> set[str]:
    """Every task ``task`` waits for, read as the emulator reads the DAG."""
    return with_upstream(spec["root"]["dag"]["tasks"], task) - {task}


def _container(spec: dict, task: str) -> dict:
    return spec["deploymentSpec"]["executors"][f"{task}_executor"]["container"]


@pytest.mark.parametrize("target", ["vertex", "kfp"])
def test_spec_has_every_component_in_dependency_order(specs, target) -> None:
    for tune in (False, True):
        spec = specs[(target, tune)]
        tasks = set(spec["root"]["dag"]["tasks"])
        assert set(ORDER) | {"ImportSchemaGen"} <= tasks
        assert ("Tuner" in tasks) is tune
        for before, after in itertools.pairwise(ORDER):
            assert before in _upstream(spec, after), (before, after)
        if tune:
            assert "Tuner" in _upstream(spec, "Trainer")
            assert "Transform" in _upstream(spec, "Tuner")
        assert {"ServedBaseline", "Trainer"} <= _upstream(spec, "Evaluator")
        assert "Trainer" in _upstream(spec, "ServedBaseline")
        # No resolver (or any non-container) executor: KFP's Argo compiler implements none
        # ("resolver executors not implemented", backend/src/v2/compiler/argocompiler/dag.go).
        kinds = {kind for executor in spec["deploymentSpec"]["executors"].values()
                 for kind in executor}
        assert kinds == {"container"}, kinds
        assert _param(spec, "ServedBaseline", "serving_model_dir") == (
            "gs://my-clickflow-bucket/serving_model/clickflow")
        assert "EvalSample" in _upstream(spec, "Evaluator")
        assert {"BigQueryExampleGen", "AnomaliesGate"} <= _upstream(spec, "EvalSample")
        sample_args = " ".join(_container(spec, "EvalSample")["args"])
        assert "pipelines.components.eval_sample" in sample_args
        assert spec["defaultPipelineRoot"] == "gs://my-clickflow-bucket/pipeline_root"


def test_vertex_trainer_and_tuner_run_as_gpu_custom_jobs(specs) -> None:
    spec = specs[("vertex", True)]
    for task, key in (("Trainer", "ai_platform_training_args"),
                      ("Tuner", "ai_platform_tuning_args")):
        custom = json.loads(_param(spec, task, "custom_config"))
        assert custom["ai_platform_enable_vertex"] is True
        assert custom["ai_platform_vertex_region"] == "us-central1"
        assert custom[key]["project"] == "my-gcp-project"
        (pool,) = custom[key]["job_spec"]["worker_pool_specs"]
        assert pool["machine_spec"] == {"machine_type": "n1-standard-8",
                                        "accelerator_type": "NVIDIA_TESLA_T4",
                                        "accelerator_count": 1}
        assert pool["container_spec"]["image_uri"] == IMAGE
        assert "resources" not in _container(spec, task)
        assert "google_cloud_ai_platform" in spec["deploymentSpec"]["executors"][
            f"{task}_executor"]["container"]["args"][1]
    assert json.loads(_param(spec, "Tuner", "custom_config"))["max_trials"] == 10


def test_every_step_but_example_gen_is_cached(specs) -> None:
    # A cached BigQueryExampleGen (same query, no inputs) would hand every scheduled run the
    # first run's rows; KFP and Vertex read the per-task cachingOptions.
    for spec in specs.values():
        for name, task in spec["root"]["dag"]["tasks"].items():
            assert task.get("cachingOptions", {}).get("enableCache", False) is (
                name != "BigQueryExampleGen"), name


def test_both_targets_compile_schema_2_1_0(specs) -> None:
    # KFP 2.x's API server refuses any other version (backend/src/apiserver/template/
    # v2_template.go); Vertex AI Pipelines runs 2.1.0 as well.
    for spec in specs.values():
        assert spec["schemaVersion"] == "2.1.0"


def test_vertex_custom_jobs_run_as_the_trainer_service_account(tmp_path, specs) -> None:
    account = "clickflow-trainer@my-gcp-project.iam.gserviceaccount.com"
    spec = _compile(tmp_path / "vertex.json", "vertex", tune=True,
                    trainer_service_account=account)
    for task, key in (("Trainer", "ai_platform_training_args"),
                      ("Tuner", "ai_platform_tuning_args")):
        assert json.loads(_param(spec, task, "custom_config"))[key]["job_spec"][
            "service_account"] == account
        unset = json.loads(_param(specs[("vertex", True)], task, "custom_config"))
        assert "service_account" not in unset[key]["job_spec"]


def test_kfp_trainer_and_tuner_steps_request_the_gpu(specs) -> None:
    spec = specs[("kfp", True)]
    for task in ("Trainer", "Tuner"):
        assert _container(spec, task)["resources"] == {
            "accelerator": {"type": "nvidia.com/gpu", "count": "1"}}
        assert "ai_platform" not in _param(spec, task, "custom_config")
    for task in ORDER:
        if task != "Trainer":
            assert "resources" not in _container(spec, task), task


def test_simple_model_gate_steps_on_both_targets(specs) -> None:
    """SimpleTrainer -> SimpleModelEvaluator -> Pusher in the compiled DAG; the simple Trainer
    runs TFX's own Trainer executor in its step (no Vertex custom job, no GPU request)."""
    for (target, tune), spec in specs.items():
        tasks = spec["root"]["dag"]["tasks"]
        assert {"SimpleTrainer", "SimpleModelEvaluator"} <= set(tasks), (target, tune)
        assert {"Transform"} <= _upstream(spec, "SimpleTrainer")
        assert {"SimpleTrainer", "Trainer", "EvalSample"} <= _upstream(
            spec, "SimpleModelEvaluator")
        assert "SimpleModelEvaluator" in _upstream(spec, "Pusher")
        pusher_inputs = tasks["Pusher"]["inputs"]["artifacts"]
        assert pusher_inputs["simple_model_blessing"]["taskOutputArtifact"] == {
            "outputArtifactKey": "blessing", "producerTask": "SimpleModelEvaluator"}
        args = " ".join(_container(spec, "SimpleTrainer")["args"])
        assert "tfx.components.trainer.executor.GenericExecutor" in args, args
        assert "google_cloud_ai_platform" not in args
        assert "resources" not in _container(spec, "SimpleTrainer")
        assert _param(spec, "SimpleTrainer", "run_fn") == "models.simple_model.run_fn"
        evaluator_args = " ".join(_container(spec, "SimpleModelEvaluator")["args"])
        assert "pipelines.components.evaluator.Executor" in evaluator_args


def test_accelerator_count_zero_trains_on_cpu(tmp_path) -> None:
    kfp = _compile(tmp_path / "kfp.json", "kfp", accelerator_count=0)
    assert "resources" not in _container(kfp, "Trainer")
    vertex_spec = _compile(tmp_path / "vertex.json", "vertex", accelerator_count=0)
    custom = json.loads(_param(vertex_spec, "Trainer", "custom_config"))
    (pool,) = custom["ai_platform_training_args"]["job_spec"]["worker_pool_specs"]
    assert pool["machine_spec"] == {"machine_type": "n1-standard-8"}


def test_example_gen_runs_the_shared_query_on_the_configured_table(specs) -> None:
    expected = data_source.render_query(data_source.load_query(),
                                        "`my-gcp-project.ads.ad_clicks`")
    for spec in specs.values():
        assert _param(spec, "BigQueryExampleGen", "input_config") == json.dumps(
            {"splits": [{"name": "single_split", "pattern": expected}]}, indent=2)


def test_beam_components_run_on_dataflow_from_the_pipeline_image(specs) -> None:
    config = load_cloud_config(EXAMPLE, environ={})
    flags = dataflow_beam_args(config)
    assert f"--sdk_container_image={IMAGE}" in flags and "--runner=DataflowRunner" in flags
    assert "--temp_location=gs://my-clickflow-bucket/dataflow/tmp" in flags
    for spec in specs.values():
        for task in BEAM_COMPONENTS:
            args = _container(spec, task)["args"]
            assert args[-len(flags):] == flags, task
        for name, executor in spec["deploymentSpec"]["executors"].items():
            if "container" in executor:
                assert executor["container"]["image"] == IMAGE, name


def test_pusher_writes_to_the_serving_model_base_path(specs) -> None:
    destination = json.loads(_param(specs[("vertex", False)], "Pusher", "push_destination"))
    assert destination == {"filesystem": {
        "base_directory": "gs://my-clickflow-bucket/serving_model/clickflow"}}


def test_model_registry_step_only_when_enabled(tmp_path, specs) -> None:
    for spec in specs.values():
        assert not any(t.startswith("RegisterModel") for t in spec["root"]["dag"]["tasks"])
    spec = _compile(tmp_path / "vertex.json", "vertex", register_model="true",
                    registry_serving_image="us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:1")
    task = spec["root"]["dag"]["tasks"]["RegisterModel"]
    assert task["inputs"]["artifacts"]["pushed_model"]["taskOutputArtifact"] == {
        "producerTask": "Pusher", "outputArtifactKey": "pushed_model"}
    assert set(ORDER) <= _upstream(spec, "RegisterModel")
    assert {name: _param(spec, "RegisterModel", name) for name in
            ("model_name", "serving_image", "project", "location")} == {
        "model_name": "clickflow", "project": "my-gcp-project", "location": "us-central1",
        "serving_image": "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:1"}
    assert _container(spec, "RegisterModel")["image"] == IMAGE


def test_spec_names_files_in_the_image_not_on_this_machine(specs) -> None:
    dockerfile = (ROOT / "deployment" / "pipeline" / "Dockerfile").read_text()
    assert "WORKDIR /pipeline\n" in dockerfile and "COPY schema/ schema/\n" in dockerfile
    assert "ENV PYTHONPATH=/pipeline\n" in dockerfile
    for spec in specs.values():
        assert _param(spec, "ImportSchemaGen", "schema_file") == "/pipeline/schema/schema.pbtxt"
        assert str(ROOT) not in json.dumps(spec)


def test_yaml_output_holds_the_same_spec(tmp_path, specs) -> None:
    assert _compile(tmp_path / "spec.yaml", "vertex") == specs[("vertex", False)]


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--output", "build/pipeline.txt"], {}, "expected a file name ending in .json"),
    ([], {"pipeline_image": "gcr.io/p/pipeline:latest"}, "pipeline_image="),
    ([], {"accelerator_count": "two"}, "CLICKFLOW_ACCELERATOR_COUNT): expected a whole number"),
])
def test_compile_errors_name_the_setting(tmp_path, capsys, args, env, message) -> None:
    with _env(**env):
        rc = kubeflow_runner.main(["compile", "--config", str(EXAMPLE), "--output",
                                   str(tmp_path / "p.json"), *args])
    assert rc == 2
    assert message in capsys.readouterr().err


def test_without_a_config_every_missing_setting_is_named(capsys) -> None:
    with _env():
        assert kubeflow_runner.main(["compile"]) == 2
    err = capsys.readouterr().err
    for key in ("project", "region", "bucket", "bigquery_table", "pipeline_image"):
        assert f"{key} is not set" in err
    assert "CLICKFLOW_* environment variables only" in err


# ---- Kubeflow Pipelines: the real kfp client against a recording fake of its REST API ----

@pytest.fixture
def kfp_server():
    with serving() as server:
        yield server


def _kfp(tmp_path, server, command: str, *args: str, **env) -> int:
    with _env(kfp_host=server.host, **env):
        return kubeflow_runner.main([command, "--config", str(EXAMPLE), "--target", "kfp",
                                     "--spec-dir", str(tmp_path), *args])


def test_kfp_submit_starts_a_run_and_prints_its_url(tmp_path, kfp_server, capsys) -> None:
    assert _kfp(tmp_path, kfp_server, "submit", "--run-name", "nightly-1") == 0
    (experiment,) = [b for _, b in kfp_server.calls("POST", "/apis/v2beta1/experiments")]
    assert experiment["display_name"] == "clickflow"
    ((_, run),) = kfp_server.calls("POST", "/apis/v2beta1/runs")
    assert run["display_name"] == "nightly-1"
    assert run["experiment_id"] == next(iter(kfp_server.experiments))
    assert run["runtime_config"]["pipeline_root"] == "gs://my-clickflow-bucket/pipeline_root"
    assert run["pipeline_spec"]["pipelineInfo"]["name"] == "clickflow"
    assert "Tuner" not in run["pipeline_spec"]["root"]["dag"]["tasks"]
    run_id = next(iter(kfp_server.runs))
    assert f"{kfp_server.host}/#/runs/details/{run_id}" in capsys.readouterr().out


def test_kfp_schedule_is_idempotent_and_updates_what_changed(tmp_path, kfp_server,
                                                             capsys) -> None:
    assert _kfp(tmp_path, kfp_server, "schedule") == 0
    created = {b["display_name"]: b for _, b in kfp_server.calls(
        "POST", "/apis/v2beta1/recurringruns")}
    assert set(created) == {"clickflow-daily", "clickflow-weekly-tuning"}
    daily, weekly = created["clickflow-daily"], created["clickflow-weekly-tuning"]
    assert daily["trigger"] == {"cron_schedule": {"cron": "0 0 3 * * *"}}
    assert weekly["trigger"] == {"cron_schedule": {"cron": "0 0 4 * * 0"}}
    assert "Tuner" not in daily["pipeline_spec"]["root"]["dag"]["tasks"]
    assert "Tuner" in weekly["pipeline_spec"]["root"]["dag"]["tasks"]
    assert daily["mode"] == "ENABLE" and int(daily["max_concurrency"]) == 1
    assert daily["no_catchup"] is True
    assert len(kfp_server.calls("GET", "/apis/v2beta1/recurringruns")) == 2

    kfp_server.requests.clear()
    assert _kfp(tmp_path, kfp_server, "schedule") == 0
    assert kfp_server.calls("POST", "/apis/v2beta1/recurringruns") == []
    assert not [r for r in kfp_server.requests if r[0] == "DELETE"]
    assert not kfp_server.calls("POST", "/apis/v2beta1/experiments")
    assert capsys.readouterr().out.count(": unchanged") == 2

    kfp_server.requests.clear()
    old_daily = next(i for i, r in kfp_server.recurring.items()
                     if r["display_name"] == "clickflow-daily")
    assert _kfp(tmp_path, kfp_server, "schedule", daily_cron="30 2 * * 1-5") == 0
    deleted = [p for m, p, _, _ in kfp_server.requests if m == "DELETE"]
    assert deleted == [f"/apis/v2beta1/recurringruns/{old_daily}"]
    ((_, new_daily),) = kfp_server.calls("POST", "/apis/v2beta1/recurringruns")
    assert new_daily["trigger"]["cron_schedule"]["cron"] == "0 30 2 * * 1-5"
    assert sorted(r["display_name"] for r in kfp_server.recurring.values()) == [
        "clickflow-daily", "clickflow-weekly-tuning"]
    out = capsys.readouterr().out
    assert "clickflow-daily: updated" in out and "clickflow-weekly-tuning: unchanged" in out


def test_kfp_schedule_removes_duplicates_left_by_others(tmp_path, kfp_server) -> None:
    assert _kfp(tmp_path, kfp_server, "schedule") == 0
    daily = next(r for r in kfp_server.recurring.values()
                 if r["display_name"] == "clickflow-daily")
    kfp_server.recurring["rr-copy"] = {**daily, "recurring_run_id": "rr-copy"}
    assert _kfp(tmp_path, kfp_server, "schedule") == 0
    assert sorted(r["display_name"] for r in kfp_server.recurring.values()) == [
        "clickflow-daily", "clickflow-weekly-tuning"]


def test_kfp_refuses_a_time_zone_its_scheduler_does_not_use(tmp_path, kfp_server,
                                                            capsys) -> None:
    assert _kfp(tmp_path, kfp_server, "schedule", weekly_time_zone="Europe/Berlin") == 2
    err = capsys.readouterr().err
    assert "clickflow-weekly-tuning" in err and "kfp_scheduler_time_zone='UTC'" in err
    assert not [r for r in kfp_server.requests if r[1].endswith("recurringruns")]


def test_kfp_needs_a_host_and_reports_an_unreachable_one(tmp_path, capsys) -> None:
    with _env(kfp_host=""):
        rc = kubeflow_runner.main(["submit", "--config", str(EXAMPLE), "--target", "kfp",
                                   "--spec-dir", str(tmp_path)])
    assert rc == 2
    assert "kfp_host is not set (env CLICKFLOW_KFP_HOST)" in capsys.readouterr().err
    with _env(kfp_host="http://127.0.0.1:9"):
        rc = kubeflow_runner.main(["submit", "--config", str(EXAMPLE), "--target", "kfp",
                                   "--spec-dir", str(tmp_path)])
    assert rc == 1
    assert "error: the request to kfp failed" in capsys.readouterr().err


def _served_spec(monkeypatch, change) -> None:
    """Lets ``change`` edit each compiled spec after compile_spec (and any check in it) ran,
    so that only the fake server stands between it and KFP."""
    from pipelines.cloud import compile as cloud_pipeline

    original = cloud_pipeline.compile_spec

    def compile_spec(*args, **kwargs):
        spec = original(*args, **kwargs)
        change(spec)
        return spec

    monkeypatch.setattr(cloud_pipeline, "compile_spec", compile_spec)


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if line.strip()]
    return line


def test_kfp_submit_reports_a_spec_the_server_refuses(tmp_path, kfp_server, monkeypatch,
                                                      capsys) -> None:
    # KFP's template.New refuses schema 2.0.0; ResourceManager.CreateRun wraps it as HTTP 500.
    _served_spec(monkeypatch, lambda spec: spec.update(schemaVersion="2.0.0"))
    assert _kfp(tmp_path, kfp_server, "submit") == 1
    line = _one_line_error(capsys)
    assert line.startswith("error: the request to kfp failed: ApiException: HTTP 500: ")
    assert ("KFP only supports schema version 2.1.0, but the pipeline spec has version 2.0.0"
            in line)
    assert kfp_server.calls("POST", "/apis/v2beta1/runs") and not kfp_server.runs


def test_kfp_schedule_reports_an_executor_the_compiler_cannot_run(tmp_path, kfp_server,
                                                                   monkeypatch, capsys) -> None:
    def resolver(spec: dict) -> None:
        spec["deploymentSpec"]["executors"]["Pusher_executor"] = {"resolver": {}}

    _served_spec(monkeypatch, resolver)
    assert _kfp(tmp_path, kfp_server, "schedule") == 1
    line = _one_line_error(capsys)
    assert "HTTP 500: Internal error: Failed to create a recurring run" in line
    assert ('executor(label="Pusher_executor"): non-container and non-importer executor not '
            "implemented") in line
    assert kfp_server.recurring == {}


def test_kfp_run_with_constant_value_parameters_is_accepted_but_doomed(tmp_path, kfp_server,
                                                                      monkeypatch) -> None:
    # KFP's server takes schema-2.1.0 specs with 2.0.0-style constantValue parameters; its
    # driver then never hands them on (backend/src/v2/driver/driver.go).
    def constant_value(spec: dict) -> None:
        params = spec["root"]["dag"]["tasks"]["Pusher"]["inputs"]["parameters"]
        params["push_destination"]["runtimeValue"] = {"constantValue": {"stringValue": "x"}}

    _served_spec(monkeypatch, constant_value)
    assert _kfp(tmp_path, kfp_server, "submit") == 0
    ((run_id, (violation,)),) = kfp_server.doomed.items()
    assert run_id in kfp_server.runs and violation.rule == "constant-parameter"


# ---- Vertex AI: the objects built for PipelineJob / PipelineJobSchedule, never sent ----

@pytest.fixture(scope="module")
def vertex_specs(specs, tmp_path_factory) -> dict[str, CompiledSpec]:
    out = tmp_path_factory.mktemp("vertex")
    result = {}
    for name, tune in (("clickflow-daily", False), ("clickflow-weekly-tuning", True)):
        path = out / f"{name}.json"
        path.write_text(json.dumps(specs[("vertex", tune)]))
        result[name] = CompiledSpec(path, spec_fingerprint(specs[("vertex", tune)]))
    return result


def test_vertex_pipeline_job_for_a_run(vertex_specs) -> None:
    from google.auth.credentials import AnonymousCredentials

    config = load_cloud_config(EXAMPLE, environ={})
    spec = vertex_specs["clickflow-daily"]
    kwargs = vertex.pipeline_job_kwargs(config, spec, display_name="clickflow-run-1")
    assert kwargs == {
        "display_name": "clickflow-run-1", "template_path": str(spec.path),
        "pipeline_root": "gs://my-clickflow-bucket/pipeline_root", "project": "my-gcp-project",
        "location": "us-central1", "enable_caching": None,
        "labels": {"clickflow-spec": spec.fingerprint}}
    job = vertex.build_pipeline_job(kwargs, credentials=AnonymousCredentials())
    resource = job._gca_resource
    assert resource.display_name == "clickflow-run-1"
    # A run the monitor starts carries its reason as a label of the PipelineJob.
    triggered = vertex.build_pipeline_job(
        vertex.pipeline_job_kwargs(config, spec, display_name="r", trigger_reason="live-auc-min"),
        credentials=AnonymousCredentials())._gca_resource
    assert dict(triggered.labels) == {"clickflow-spec": spec.fingerprint,
                                      "clickflow-trigger": "live-auc-min"}
    assert resource.runtime_config.gcs_output_directory == kwargs["pipeline_root"]
    assert job.pipeline_spec["pipelineInfo"]["name"] == "clickflow"
    tasks = job.pipeline_spec["root"]["dag"]["tasks"]
    assert "Tuner" not in tasks
    # The job sent keeps the compiled per-task cache settings: ExampleGen uncached.
    assert "cachingOptions" not in tasks["BigQueryExampleGen"]
    assert tasks["Trainer"]["cachingOptions"] == {"enableCache": True}


def test_vertex_schedules_carry_cron_time_zone_and_spec(vertex_specs) -> None:
    from google.auth.credentials import AnonymousCredentials

    config = load_cloud_config(EXAMPLE, environ={"CLICKFLOW_WEEKLY_TIME_ZONE": "Europe/Berlin",
                                                 "CLICKFLOW_SERVICE_ACCOUNT":
                                                 "runner@my-gcp-project.iam.gserviceaccount.com"})
    daily, weekly = vertex.schedule_requests(config, vertex_specs)
    assert (daily.display_name, daily.cron) == ("clickflow-daily", "TZ=UTC 0 3 * * *")
    assert (weekly.display_name, weekly.cron) == ("clickflow-weekly-tuning",
                                                  "TZ=Europe/Berlin 0 4 * * 0")
    assert weekly.create_kwargs == {
        "cron": "TZ=Europe/Berlin 0 4 * * 0", "max_concurrent_run_count": 1,
        "service_account": "runner@my-gcp-project.iam.gserviceaccount.com"}
    for request, tune in ((daily, False), (weekly, True)):
        schedule = vertex.build_schedule(request, credentials=AnonymousCredentials())
        resource = schedule._gca_resource
        assert resource.display_name == request.display_name
        job_request = resource.create_pipeline_job_request
        assert job_request.parent == "projects/my-gcp-project/locations/us-central1"
        assert dict(job_request.pipeline_job.labels) == {
            "clickflow-spec": vertex_specs[request.display_name].fingerprint,
            "clickflow-schedule": request.display_name}
        tasks = job_request.pipeline_job.pipeline_spec["root"]["dag"]["tasks"]
        assert ("Tuner" in tasks) is tune


def test_pipeline_image_copies_every_module_the_cloud_steps_import_and_nothing_local() -> None:
    """The image copies only what runs in the cloud (deployment/pipeline/Dockerfile): every
    project module the graph and its user code import, found by reading their imports, must be
    inside a COPY; the local runner, the monitor, the demo and test helpers must not be."""
    from pipelines.cloud.emulator.image import read_image
    from pipelines.local.modules import project_modules

    image = read_image(ROOT)  # the COPY-line parser the emulator stages the image with

    def in_image(path: Path) -> bool:
        return image.copies(path.relative_to(ROOT).as_posix())

    entries = ("pipelines.pipeline", "models.model", "models.preprocessing", "models.tuner",
               "pipelines.components.register_model")
    needed = project_modules(ROOT, entries)
    assert {"pipelines.components.gate", "pipelines.data.source", "models.features",
            "pipelines.common.errors"} <= set(needed)
    missing = sorted(name for name, path in needed.items() if not in_image(path))
    assert not missing, f"the pipeline image lacks {missing}"
    assert in_image(ROOT / "pipelines" / "data" / "sql" / "training_examples.sql")
    for local_only in ("pipelines/local/freshness.py", "pipelines/monitoring/monitor.py",
                       "pipelines/demo/steps.py", "pipelines/testing/small_model.py",
                       "pipelines/data/generator.py", "local_runner.py"):
        assert not in_image(ROOT / local_only), f"the pipeline image copies {local_only}"


@pytest.mark.parametrize("reason", ["Live-AUC", "live auc", "x" * 64, ""])
def test_a_trigger_reason_that_is_no_label_value_is_refused(reason: str, capsys) -> None:
    """Google Cloud label values: at most 63 lowercase letters, digits, '_' or '-'
    (cloud.google.com/resource-manager/docs/labels-overview#requirements); Vertex refuses
    others when the job is created, after the compile, so the flag refuses them first."""
    with pytest.raises(SystemExit) as exit_info:
        kubeflow_runner.build_parser().parse_args(["submit", "--trigger-reason", reason])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--trigger-reason" in err and "lowercase letters, digits" in err
