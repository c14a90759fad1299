"""The dashboard's pages run with Streamlit's AppTest: error paths, and the happy paths against
the project's real model server and a real pipeline run (those are marked e2e)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from pipelines.common.processes import free_port

PAGES = Path(__file__).resolve().parent / "views"
APP = Path(__file__).resolve().parent / "app.py"
TIMEOUT = 120  # the first history page loads TensorFlow Model Analysis


def page(name: str) -> AppTest:
    return AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=TIMEOUT)


@pytest.fixture
def server_down(monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("CLICKFLOW_SERVING_URL", url)
    return url


def texts(elements) -> str:
    return "\n".join(e.value for e in elements)


def assert_no_traceback(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


@pytest.mark.parametrize("name", ["predict", "health"])
def test_a_page_shows_a_banner_not_a_traceback_when_the_server_is_down(server_down, name):
    at = page(name).run()
    assert_no_traceback(at)
    (banner,) = at.error
    assert f"The model server is not reachable at {server_down}" in banner.value
    assert "make serve" in banner.value and "CLICKFLOW_SERVING_URL" in banner.value
    assert not at.metric


def test_the_predict_form_is_not_shown_without_a_server(server_down):
    at = page("predict").run()
    assert not at.number_input and not at.text_input


def test_invalid_settings_are_one_readable_error(monkeypatch):
    monkeypatch.setenv("CLICKFLOW_SERVING_URL", "localhost:8501")
    for name in ("predict", "score", "history", "health", "monitoring"):
        at = page(name).run()
        assert_no_traceback(at)
        (error,) = at.error
        assert "CLICKFLOW_SERVING_URL='localhost:8501' must be an http(s) URL" in error.value


def test_history_without_a_store_says_to_run_the_pipeline(monkeypatch, tmp_path):
    monkeypatch.setenv("CLICKFLOW_PIPELINE_ROOT", str(tmp_path / "nothing"))
    at = page("history").run()
    assert_no_traceback(at)
    (info,) = at.info
    assert "No pipeline runs yet" in info.value and "make run" in info.value
    assert "no ML Metadata store at" in info.value
    assert not at.dataframe


def test_history_with_an_empty_store_says_to_run_the_pipeline(monkeypatch, empty_store):
    monkeypatch.setenv("CLICKFLOW_PIPELINE_ROOT", str(empty_store.parent))
    at = page("history").run()
    assert_no_traceback(at)
    (info,) = at.info
    assert "the metadata store has no run of pipeline 'clickflow'" in info.value
    assert "make run" in info.value


def test_the_app_navigates_between_pages(server_down, monkeypatch, tmp_path):
    monkeypatch.setenv("CLICKFLOW_PIPELINE_ROOT", str(tmp_path))
    monkeypatch.setenv("CLICKFLOW_MONITORING_DIR", str(tmp_path / "monitoring"))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert_no_traceback(at)
    assert at.title[0].value == "Predict a click"
    assert server_down in texts(at.sidebar.markdown) + texts(at.sidebar.caption)
    for path, title in [("views/score.py", "Score a file"), ("views/history.py", "Model history"),
                        ("views/health.py", "Serving health"),
                        ("views/monitoring.py", "Monitoring")]:
        at.switch_page(path).run()
        assert_no_traceback(at)
        assert at.title[0].value == title


def test_monitoring_without_reports_says_to_run_the_monitor(monkeypatch, tmp_path):
    monkeypatch.setenv("CLICKFLOW_MONITORING_DIR", str(tmp_path / "monitoring"))
    at = page("monitoring").run()
    assert_no_traceback(at)
    (info,) = at.info
    assert "No monitoring reports yet" in info.value and "make monitor" in info.value
    assert str(tmp_path / "monitoring") in info.value
    assert "CLICKFLOW_MONITORING_DIR" in info.value
    assert not at.warning and not at.metric and not at.get("vega_lite_chart")


def chart_data(chart) -> list[pd.DataFrame]:
    import pyarrow as pa

    return [pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in chart.proto.datasets]
