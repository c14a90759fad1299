"""Dashboard settings: defaults, environment overrides and readable errors."""

from pathlib import Path

import pytest

from dashboard.config import (
    DEFAULT_MONITORING_DIR,
    DEFAULT_PIPELINE_ROOT,
    DashboardConfig,
    DashboardConfigError,
)


def test_defaults_point_at_the_local_server_and_workspace():
    cfg = DashboardConfig.from_env({})
    assert cfg.serving_url == "http://127.0.0.1:8501"
    assert cfg.model_name == "clickflow"
    assert cfg.pipeline_name == "clickflow"
    assert cfg.metadata_path == DEFAULT_PIPELINE_ROOT / "metadata.sqlite"
    assert cfg.monitoring_dir == DEFAULT_MONITORING_DIR
    assert DEFAULT_MONITORING_DIR.parts[-2:] == ("workspace", "monitoring")


def test_environment_overrides(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = DashboardConfig.from_env({
        "CLICKFLOW_SERVING_URL": "https://serving.example.com:8501/",
        "CLICKFLOW_MODEL_NAME": "ads_v2",
        "CLICKFLOW_PIPELINE_ROOT": "roots/here",
        "CLICKFLOW_PIPELINE_NAME": "other",
    })
    assert cfg.serving_url == "https://serving.example.com:8501"
    assert cfg.model_name == "ads_v2"
    assert cfg.pipeline_root == Path(tmp_path, "roots", "here").resolve()
    assert cfg.metadata_path.name == "metadata.sqlite"
    assert cfg.pipeline_name == "other"


@pytest.mark.parametrize("url", ["localhost:8501", "ftp://host", "http://", "8501"])
def test_a_serving_url_without_scheme_or_host_names_the_variable(url):
    with pytest.raises(DashboardConfigError, match=r"CLICKFLOW_SERVING_URL=.*http\(s\) URL"):
        DashboardConfig.from_env({"CLICKFLOW_SERVING_URL": url})


def test_a_serving_url_with_a_query_is_rejected():
    with pytest.raises(DashboardConfigError, match="query or fragment"):
        DashboardConfig(serving_url="http://host:8501/?x=1")


def test_every_bad_setting_is_reported_at_once():
    with pytest.raises(DashboardConfigError) as err:
        DashboardConfig(serving_url="nope", model_name="bad name/1", pipeline_name=" ")
    message = str(err.value)
    for variable in ("CLICKFLOW_SERVING_URL", "CLICKFLOW_MODEL_NAME", "CLICKFLOW_PIPELINE_NAME"):
        assert variable in message


def test_the_monitoring_dir_comes_from_its_variable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = DashboardConfig.from_env({"CLICKFLOW_MONITORING_DIR": "~/../reports"})
    assert cfg.monitoring_dir == (Path.home().parent / "reports").resolve()
    cfg = DashboardConfig.from_env({"CLICKFLOW_MONITORING_DIR": "mon"})
    assert cfg.monitoring_dir == Path(tmp_path, "mon").resolve()
    assert DashboardConfig.from_env({"CLICKFLOW_MONITORING_DIR": ""}).monitoring_dir == \
        DEFAULT_MONITORING_DIR


def test_the_request_log_dir_is_the_servers_default_unless_set(tmp_path, monkeypatch):
    from pipelines.common.names import DEFAULT_REQUEST_LOG_DIR

    monkeypatch.chdir(tmp_path)
    assert DashboardConfig.from_env({}).request_log_dir == DEFAULT_REQUEST_LOG_DIR
    cfg = DashboardConfig.from_env({"CLICKFLOW_REQUEST_LOG_DIR": "logs/requests"})
    assert cfg.request_log_dir == Path(tmp_path, "logs", "requests").resolve()


def test_the_report_and_log_folders_may_be_gs_uris():
    cfg = DashboardConfig.from_env({"CLICKFLOW_MONITORING_DIR": "gs://my-bucket/monitoring/",
                                    "CLICKFLOW_REQUEST_LOG_DIR": "gs://my-bucket/request_log"})
    assert cfg.monitoring_dir == "gs://my-bucket/monitoring"  # kept a URI, not a Path
    assert cfg.request_log_dir == "gs://my-bucket/request_log"
    with pytest.raises(DashboardConfigError, match=r"CLICKFLOW_REQUEST_LOG_DIR: .*bucket name"):
        DashboardConfig.from_env({"CLICKFLOW_REQUEST_LOG_DIR": "gs://Bad_Bucket/x"})
