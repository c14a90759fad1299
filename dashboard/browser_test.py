"""The dashboard in a real browser: Debian's chromium, driven by Playwright, against the app and
the project's model server, both started here. Never downloads a browser."""

from __future__ import annotations

import os
import re
import shutil
import sys

import httpx
import pytest

from dashboard.conftest import MODEL_VERSION, screenshot_dir
from dashboard.schema_form import EXAMPLE_ROW
from pipelines.common.processes import ServiceProcess, free_port

pytestmark = pytest.mark.e2e



@pytest.fixture(scope="module")
def dashboard_url(serving_url: str, tmp_path_factory: pytest.TempPathFactory):
    port = free_port()
    log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    env = dict(os.environ, CLICKFLOW_SERVING_URL=serving_url,
               CLICKFLOW_PIPELINE_ROOT=str(tmp_path_factory.mktemp("no-pipeline")))
    app = ServiceProcess(
        [sys.executable, "-m", "streamlit", "run", "dashboard/app.py",
         "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
         "--client.toolbarMode", "viewer"],
        url=f"http://127.0.0.1:{port}", log_file=log, ready_path="/_stcore/health", env=env,
        name="streamlit", ready_timeout=120)
    with app:
        yield app.url


def test_the_form_in_a_browser_shows_the_served_probability(dashboard_url, serving_url, browser,
                                                            tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(dashboard_url, wait_until="networkidle")
    page.get_by_role("heading", name="Predict a click").wait_for(timeout=90_000)
    page.get_by_role("spinbutton", name="Age (10..110)", exact=True).fill("61")
    # Text, so what is sent is what is shown (dashboard/views/predict.py).
    page.get_by_role("textbox", name="DailyTimeSpentOnSite (0..1440)", exact=True).fill("40.5")
    page.get_by_role("textbox", name="Country", exact=True).fill("Norway")
    page.get_by_role("button", name="Predict").click()
    answered = page.get_by_text("Answered by model")
    answered.wait_for(timeout=60_000)

    metric = page.get_by_test_id("stMetric").filter(has_text="Click probability")
    shown = re.search(r"\d\.\d{4}", metric.inner_text())
    assert shown, metric.inner_text()
    row = dict(EXAMPLE_ROW, Age=61, DailyTimeSpentOnSite=40.5, Country="Norway")  # seconds kept
    response = httpx.post(f"{serving_url}/v1/models/clickflow/versions/{MODEL_VERSION}:predict",
                          json={"instances": [row]}, timeout=30)
    response.raise_for_status()
    expected = response.json()["predictions"][0]["probability"]
    assert shown.group(0) == f"{expected:.4f}"
    assert answered.inner_text() == f"Answered by model clickflow, version {MODEL_VERSION}."
    assert page.get_by_text(f"model version {MODEL_VERSION}").is_visible()

    screenshot = tmp_path / "predict.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000
    shutil.copy(screenshot, screenshot_dir() / screenshot.name)
    page.close()


def test_the_history_page_in_a_browser_says_to_run_the_pipeline(dashboard_url, browser):
    page = browser.new_page()
    page.goto(f"{dashboard_url}/history", wait_until="networkidle")
    page.get_by_text("No pipeline runs yet").wait_for(timeout=90_000)
    assert page.get_by_text("make run").first.is_visible()
    assert not page.get_by_text("Traceback").count()
    page.close()
