"""Every page of the dashboard in a real browser, as a user finds it on the second day.

Debian's chromium (Playwright) opens each page listed in the sidebar at a desktop and a phone
width, on a pipeline root with four real runs (one with a baseline, one not blessed, one failed at
the gate), the monitoring reports of the real drift demo, and the project's model server serving
that root's pushed models after a few real requests. A page fails on any exception block or a
horizontal scroll of the page; each is kept as a screenshot with its load time.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import httpx
import pytest

from dashboard.conftest import screenshot_dir
from dashboard.schema_form import EXAMPLE_ROW
from pipelines.common.processes import ServiceProcess, free_port

pytestmark = pytest.mark.e2e

WIDTHS = (1400, 420)
HEIGHT = 1600
# Pages the walk must find in the sidebar (their url paths; "" is the default page).
EXPECTED_PAGES = {"", "score", "history", "data", "health", "monitoring"}
SETTLE_SECONDS = 1.5  # the status widget stays away this long: the script run is over
PAGE_TIMEOUT = 150.0


@pytest.fixture(scope="module")
def served(history_root, tmp_path_factory: pytest.TempPathFactory):
    """The model server on the history root's pushed models, with a request log."""
    port = free_port()
    logs = tmp_path_factory.mktemp("walk-server")
    server = ServiceProcess(
        [sys.executable, "-m", "deployment.server", "--model-base-path",
         str(history_root.model_base_path), "--host", "127.0.0.1", "--port", str(port),
         "--grpc-port", "off",
         "--request-log-dir", str(logs / "request_log"), "--request-log-roll-seconds", "0.2"],
        url=f"http://127.0.0.1:{port}", log_file=logs / "server.log", ready_path="/readyz",
        name="the model server")
    with server:
        predict = f"{server.url}/v1/models/clickflow:predict"
        for size in (1, 1, 1, 25):  # one-row and batch requests, as the dashboard sends
            httpx.post(predict, json={"instances": [EXAMPLE_ROW] * size},
                       timeout=30).raise_for_status()
        time.sleep(1.0)  # written to the log within its roll interval: the health page shows it
        yield server.url, logs / "request_log"


@pytest.fixture(scope="module")
def app_url(served, history_root, drift_demo, tmp_path_factory: pytest.TempPathFactory):
    demo, result = drift_demo
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    serving_url, request_log = served
    port = free_port()
    env = dict(os.environ, CLICKFLOW_SERVING_URL=serving_url,
               CLICKFLOW_PIPELINE_ROOT=str(history_root.root),
               CLICKFLOW_MONITORING_DIR=str(demo / "monitoring"),
               CLICKFLOW_REQUEST_LOG_DIR=str(request_log))
    app = ServiceProcess(
        [sys.executable, "-m", "streamlit", "run", "dashboard/app.py",
         "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
         "--client.toolbarMode", "viewer"],
        url=f"http://127.0.0.1:{port}", log_file=tmp_path_factory.mktemp("walk") / "app.log",
        ready_path="/_stcore/health", env=env, name="streamlit", ready_timeout=120)
    with app:
        yield app.url


def settle(page) -> None:
    """Wait until Streamlit's script run is over: its status widget gone for a while."""
    deadline = time.monotonic() + PAGE_TIMEOUT
    page.get_by_test_id("stApp").wait_for(timeout=PAGE_TIMEOUT * 1000)
    quiet_since = None
    while time.monotonic() < deadline:
        running = page.get_by_test_id("stStatusWidget").count() or \
            page.get_by_test_id("stSkeleton").count()
        if running:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= SETTLE_SECONDS:
            return
        page.wait_for_timeout(200)
    raise AssertionError(f"{page.url} was still running after {PAGE_TIMEOUT:.0f} s")


def sidebar_pages(browser, url: str) -> dict[str, str]:
    """url path -> title of every page in the sidebar's navigation."""
    page = browser.new_page(viewport={"width": WIDTHS[0], "height": HEIGHT})
    page.goto(url, wait_until="domcontentloaded")
    links = page.get_by_test_id("stSidebarNavLink")
    links.first.wait_for(timeout=PAGE_TIMEOUT * 1000)
    found = {}
    for index in range(links.count()):
        link = links.nth(index)
        path = (link.get_attribute("href") or "").removeprefix(url).strip("/")
        found[path] = link.inner_text().strip()
    page.close()
    return found


def overflow(page) -> int:
    """How many pixels the page scrolls sideways (the document or Streamlit's main view)."""
    return page.evaluate("""() => Math.max(0, ...[document.documentElement,
        document.querySelector('[data-testid="stMain"]'),
        document.querySelector('[data-testid="stAppViewContainer"]')]
        .filter(Boolean).map(e => e.scrollWidth - e.clientWidth))""")


def detects_overflow(page) -> bool:
    """The check can fail: a block wider than the page is seen as a sideways scroll."""
    page.evaluate("""() => { const wide = document.createElement('div');
        wide.id = 'walk-wide'; wide.style.width = '5000px'; wide.style.height = '1px';
        document.querySelector('[data-testid="stMainBlockContainer"]').appendChild(wide); }""")
    seen = overflow(page) > 1
    page.evaluate("() => document.getElementById('walk-wide').remove()")
    return seen and overflow(page) <= 1


def full_height(page, width: int) -> None:
    """Grow the viewport to the page's content: Streamlit scrolls inside its main view, so a
    full-page screenshot would otherwise stop at the window's height."""
    height = page.evaluate("""() => { const main = document.querySelector('[data-testid="stMain"]');
        return main ? main.scrollHeight : document.documentElement.scrollHeight; }""")
    page.set_viewport_size({"width": width, "height": max(HEIGHT, min(int(height), 16000))})
    page.wait_for_timeout(500)


def test_every_page_at_both_widths_without_an_exception_or_sideways_scroll(app_url, browser):
    pages = sidebar_pages(browser, app_url)
    keep, timings, problems = screenshot_dir(), {}, []
    for width in WIDTHS:
        for path, title in pages.items():
            page = browser.new_page(viewport={"width": width, "height": HEIGHT})
            started = time.monotonic()
            page.goto(f"{app_url}/{path}", wait_until="domcontentloaded")
            settle(page)
            seconds = time.monotonic() - started
            name = f"walk-{path or 'predict'}-{width}"
            timings[name] = round(seconds, 1)
            if len(timings) == 1:
                assert detects_overflow(page), "the sideways-scroll check sees nothing"
            errors = page.get_by_test_id("stException")
            if errors.count():
                problems.append(f"{title} at {width} px: {errors.first.inner_text()[:500]}")
            if (sideways := overflow(page)) > 1:
                problems.append(f"{title} at {width} px scrolls {sideways} px sideways")
            full_height(page, width)
            page.screenshot(path=str(keep / f"{name}.png"), full_page=True)
            page.close()
    (keep / "walk-timings.json").write_text(json.dumps(timings, indent=1))
    print("page load seconds:", json.dumps(timings))
    assert not problems, "\n".join(problems)
    assert set(pages) >= EXPECTED_PAGES, pages
    assert all(Path(keep / f"{n}.png").stat().st_size > 5_000 for n in timings)
