"""Cloud settings: file + environment, typed, and each bad setting named with what is expected."""

from pathlib import Path

import pytest

from pipelines.cloud.config import CloudConfig, load_cloud_config
from pipelines.common import names
from pipelines.common.errors import ConfigError

EXAMPLE = names.REPO_ROOT / "configs" / "cloud.example.yaml"
VALID = {
    "project": "my-project",
    "region": "europe-west4",
    "bucket": "clickflow-bucket",
    "bigquery_table": "my-project.ads.clicks",
    "pipeline_image": "europe-west4-docker.pkg.dev/my-project/repo/pipeline:1.2.3",
}


def _write(tmp_path, text: str) -> Path:
    path = tmp_path / "cloud.yaml"
    path.write_text(text)
    return path


def test_example_file_is_valid_and_derives_paths_from_the_bucket() -> None:
    c = load_cloud_config(EXAMPLE, environ={})
    assert c.resolved_pipeline_root == "gs://my-clickflow-bucket/pipeline_root"
    assert c.resolved_serving_model_base_path == "gs://my-clickflow-bucket/serving_model/clickflow"
    assert c.resolved_temp_location == "gs://my-clickflow-bucket/dataflow/tmp"
    assert (c.accelerator_type, c.accelerator_count) == ("NVIDIA_TESLA_T4", 1)


def test_environment_overrides_the_file_with_typed_values() -> None:
    c = load_cloud_config(EXAMPLE, environ={
        "CLICKFLOW_ACCELERATOR_COUNT": "0", "CLICKFLOW_REGISTER_MODEL": "yes",
        "CLICKFLOW_MIN_AUC": "0.8", "CLICKFLOW_BUCKET": "gs://other-bucket/",
        "CLICKFLOW_SERVING_MODEL_BASE_PATH": "gs://models/clickflow", "PATH": "/usr/bin"})
    assert c.accelerator_count == 0 and c.register_model is True and c.min_auc == 0.8
    assert c.bucket == "other-bucket"
    assert c.resolved_pipeline_root == "gs://other-bucket/pipeline_root"
    assert c.resolved_serving_model_base_path == "gs://models/clickflow"


def test_environment_alone_is_enough() -> None:
    env = {f"CLICKFLOW_{k.upper()}": v for k, v in VALID.items()}
    assert load_cloud_config(None, environ=env).project == "my-project"


def test_all_missing_required_settings_are_named_at_once() -> None:
    with pytest.raises(ConfigError) as err:
        load_cloud_config(None, environ={})
    for key in VALID:
        assert f"{key} is not set" in str(err.value)


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("project", "My_Project", "project='My_Project' is invalid"),
    ("region", "central", "region='central' is invalid: expected a region"),
    ("bucket", "gs://b/folder/x", "bucket='b/folder/x' is invalid"),
    ("bigquery_table", "ads.clicks", "expected project.dataset.table"),
    ("pipeline_image", "gcr.io/p/pipeline", "pinned version tag"),
    ("pipeline_image", "gcr.io/p/pipeline:latest", "not 'latest'"),
    ("target", "airflow", "target='airflow' is invalid: expected one of vertex, kfp"),
    ("serving_model_base_path", "/models/clickflow", "expected a gs://bucket/path"),
    ("pipeline_root", "s3://x/root", "pipeline_root='s3://x/root' is invalid"),
    ("accelerator_count", -1, "accelerator_count=-1 is invalid: expected a whole number >= 0"),
    ("accelerator_type", "tesla t4", "NVIDIA_TESLA_T4"),
    ("dataflow_max_workers", 0, "dataflow_max_workers=0"),
    ("daily_cron", "0 3 * *", "expected 5 fields"),
    ("weekly_cron", "TZ=UTC 0 4 * * 0", "expected 5 fields"),
    ("daily_time_zone", "Mars/Olympus", "expected an IANA time zone"),
    ("kfp_host", "localhost:8080", "kfp_host='localhost:8080' is invalid: expected an http"),
    ("min_auc", 1.5, "min_auc=1.5 must be between 0 and 1"),
    ("train_steps", 0, "train_steps=0 must be >= 1"),
    ("service_account", "robot", "expected a service account e-mail"),
])
def test_each_invalid_setting_is_named_with_what_is_expected(key, value, expected) -> None:
    with pytest.raises(ConfigError) as err:
        load_cloud_config(None, environ={}, **{**VALID, key: value})
    assert expected in str(err.value)
    assert str(err.value).count("\n  ") == 1, "only the one bad setting is reported"


@pytest.mark.parametrize(("key", "raw", "expected"), [
    ("accelerator_count", "two", "accelerator_count (from environment variable "
                                 "CLICKFLOW_ACCELERATOR_COUNT): expected a whole number"),
    ("register_model", "maybe", "expected true or false"),
    ("min_auc", "high", "expected a number"),
])
def test_mistyped_environment_values_name_the_variable(key, raw, expected) -> None:
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        load_cloud_config(EXAMPLE, environ={f"CLICKFLOW_{key.upper()}": raw})


def test_unknown_file_key_suggests_the_near_miss(tmp_path) -> None:
    path = _write(tmp_path, "project: my-project\naccelerator_cnt: 2\n")
    with pytest.raises(ConfigError, match=r"unknown setting 'accelerator_cnt'.*did you mean "
                                          "'accelerator_count'"):
        load_cloud_config(path, environ={})


def test_misspelt_environment_variable_is_an_error_other_prefixed_ones_are_not() -> None:
    with pytest.raises(ConfigError, match=r"CLICKFLOW_PIPELINE_IMAGES.*'pipeline_image'"):
        load_cloud_config(EXAMPLE, environ={"CLICKFLOW_PIPELINE_IMAGES": "x"})
    assert load_cloud_config(EXAMPLE, environ={"CLICKFLOW_REQUEST_LOG_DIR": "/x"}).project


@pytest.mark.parametrize(("text", "expected"), [
    ("project: [unclosed", "is not valid YAML"),
    ("- a\n- b\n", "expected a mapping of settings"),
    ("project: {a: 1}\n", "project (from"),
])
def test_malformed_files_are_reported(tmp_path, text, expected) -> None:
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(")):
        load_cloud_config(_write(tmp_path, text), environ={})


def test_missing_file_is_named(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"config file .*nope\.yaml does not exist"):
        load_cloud_config(tmp_path / "nope.yaml", environ={})


def test_schedules_daily_without_and_weekly_with_tuning() -> None:
    daily, weekly = CloudConfig(**VALID, weekly_time_zone="Europe/Berlin").schedules
    assert (daily.name, daily.cron, daily.time_zone, daily.tune) == (
        "clickflow-daily", "0 3 * * *", "UTC", False)
    assert (weekly.name, weekly.cron, weekly.time_zone, weekly.tune) == (
        "clickflow-weekly-tuning", "0 4 * * 0", "Europe/Berlin", True)


def test_kfp_host_is_required_only_when_used() -> None:
    c = CloudConfig(**VALID)
    with pytest.raises(ConfigError, match=r"kfp_host is not set .*CLICKFLOW_KFP_HOST"):
        c.require_kfp_host()


def test_the_per_machine_cloud_config_is_git_ignored() -> None:
    """configs/cloud.example.yaml tells users to copy it to configs/cloud.yaml, which holds
    their project and accounts: git must ignore that file (and the example must stay tracked)."""
    import shutil
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("not a git checkout")

    def ignored(path: str) -> bool:
        return subprocess.run(["git", "check-ignore", "-q", "--no-index", path],
                              cwd=root).returncode == 0

    assert ignored("configs/cloud.yaml")
    assert not ignored("configs/cloud.example.yaml")
    assert "git-ignored" in (root / "configs" / "cloud.example.yaml").read_text()
