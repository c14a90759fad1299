"""The Serving health and Monitoring pages with Streamlit's AppTest, against the project's real
model server and real monitoring reports (``write_reports``: the monitor's own output).

Streamlit runs a ``st.fragment`` inline during each script run (streamlit/runtime/fragment.py:
the fragment's body executes when it is first called), and AppTest reruns the whole script on
``run()``, so two runs are two samples of the server's metrics.
"""

from __future__ import annotations

import json
import sys
import time

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.app_test import assert_no_traceback, chart_data, page
from dashboard.conftest import MODEL_VERSION
from dashboard.schema_form import EXAMPLE_ROW
from pipelines.common.processes import ServiceProcess, free_port

BATCH = 40


def send(url: str, rows: int) -> None:
    response = httpx.post(f"{url}/v1/models/clickflow:predict",
                          json={"instances": [EXAMPLE_ROW] * rows}, timeout=30)
    response.raise_for_status()


def live_rows(at: AppTest):
    """The interval table of the section sampled while the page is open."""
    frames = [d.value for d in at.dataframe]
    return next(f for f in frames if "p50_ms" in f.columns)


@pytest.mark.e2e
def test_latency_while_open_separates_one_row_and_batch_requests(serving_url, monkeypatch):
    monkeypatch.setenv("CLICKFLOW_SERVING_URL", serving_url)
    at = page("health").run()
    assert_no_traceback(at)
    assert not at.error
    assert any("after the next sample" in i.value for i in at.info)
    for _ in range(3):
        send(serving_url, 1)
    send(serving_url, BATCH)
    send(serving_url, BATCH)
    bad = httpx.post(f"{serving_url}/v1/models/clickflow:predict",
                     json={"instances": [{"Age": "old"}]}, timeout=30)
    assert bad.status_code == 400
    time.sleep(1.1)  # the page keeps at most one sample a second
    at.run()
    assert_no_traceback(at)
    rows = live_rows(at)
    by_size = rows.set_index("size")
    # exactly what was sent between the two samples, split by size (the size label is the
    # server's own: deployment/server/app.py AccessLog)
    assert by_size.loc["one-row", "latency_requests"] == 3
    assert by_size.loc["batch", "latency_requests"] == 2
    assert (rows["p50_ms"] > 0).all()
    assert (rows["errors_per_minute"] > 0).all()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["p50 one-row"].endswith(" ms") and metrics["p50 batch"].endswith(" ms")
    assert float(metrics["Failed predictions"].replace(",", "")) >= 1  # the bad predict
    (latency,) = [frames[0] for frames in map(chart_data, at.get("vega_lite_chart"))
                  if "p50_ms" in frames[0].columns]
    assert set(latency["size"]) == {"one-row", "batch"}


@pytest.fixture(scope="module")
def labelled_server(history_root, tmp_path_factory):
    """The project's server on the four-run history's served versions, every version loaded,
    labels stable (oldest) and canary (newest), logging requests to a known folder."""
    pushed = sorted(int(p.name) for p in history_root.model_base_path.iterdir()
                    if p.name.isdigit())
    assert len(pushed) == 2, pushed
    work = tmp_path_factory.mktemp("labelled")
    config = work / "models.config"
    base, stable, canary = history_root.model_base_path, pushed[0], pushed[-1]
    config.write_text(
        f'model_config_list {{ config {{ name: "clickflow" base_path: "{base}" '
        'model_platform: "tensorflow" model_version_policy { all {} } '
        f'version_labels {{ key: "stable" value: {stable} }} '
        f'version_labels {{ key: "canary" value: {canary} }} }} }}')
    port = free_port()
    server = ServiceProcess(
        [sys.executable, "-m", "deployment.server", "--model-config-file", str(config),
         "--host", "127.0.0.1", "--port", str(port), "--grpc-port", "off",
         "--request-log-dir",
         str(work / "request_log"), "--request-log-roll-seconds", "0.2"],
        url=f"http://127.0.0.1:{port}", log_file=work / "server.log", ready_path="/readyz",
        name="the labelled model server")
    with server:
        yield {"url": server.url, "log": work / "request_log", "versions": pushed,
               "history": history_root}


@pytest.mark.e2e
def test_versions_show_labels_push_time_and_run_and_the_log_splits_by_size(
        labelled_server, monkeypatch):
    url, history = labelled_server["url"], labelled_server["history"]
    old, new = labelled_server["versions"]
    for _ in range(4):
        send(url, 1)
    send(url, BATCH)
    log = labelled_server["log"]
    deadline = time.time() + 30
    while sum(1 for _ in log.glob("date=*/part-*.parquet")) < 1 and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # the writer rolls every 0.2 s: let the last request's file land
    monkeypatch.setenv("CLICKFLOW_SERVING_URL", url)
    monkeypatch.setenv("CLICKFLOW_PIPELINE_ROOT", str(history.root))
    monkeypatch.setenv("CLICKFLOW_REQUEST_LOG_DIR", str(log))
    at = page("health").run()
    assert_no_traceback(at)
    assert not at.error

    table = at.dataframe[0].value.set_index("version")
    assert list(table.index) == [new, old]
    assert table.loc[new, "labels"] == "canary" and table.loc[old, "labels"] == "stable"
    for version in (old, new):
        record = json.loads((history.model_base_path / str(version) / "assets.extra"
                             / "clickflow_push.json").read_text())
        row = table.loc[version]
        assert row["state"] == "AVAILABLE" and row["push time from"] == "push record"
        assert row["run"] == record["pipeline_run_id"]
        assert row["pushed at"].strftime("%Y-%m-%dT%H:%M:%SZ") == record["pushed_at"]
        assert bool(row["blessed"])
    assert table.loc[new, "pushed at"] > table.loc[old, "pushed at"]

    # all requests fall in one time bucket: labelled bars per size, not a one-point time axis
    (requests_chart,) = [c for c in at.get("vega_lite_chart") if '"requests"' in c.proto.spec]
    spec = json.loads(requests_chart.proto.spec)
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["bar", "text"]
    (data,) = chart_data(requests_chart)[:1]
    counts = dict(zip(data["size"], data["requests"], strict=True))
    assert counts == {"one-row": 4, "batch": 1}
    assert any("5 prediction requests logged (4 one-row, 1 batch; 44 rows)" in c.value
               for c in at.caption)


def test_versions_fall_back_to_the_run_start_without_a_reachable_push_record():
    from datetime import datetime

    from dashboard import versions
    from dashboard.history import RunRecord
    from dashboard.serving_client import VersionStatus

    run = RunRecord(run_id="r1", started=datetime(2026, 3, 1, 10), status="succeeded",
                    component_states={}, blessed=True, pushed_version=str(MODEL_VERSION),
                    pushed_destination="/nowhere/clickflow/1700000000")
    statuses = [VersionStatus(MODEL_VERSION, "AVAILABLE"), VersionStatus(5, "LOADING")]
    records = versions.push_records(statuses, [run])
    assert records == {MODEL_VERSION: None, 5: None}
    rows = versions.version_rows(statuses, {"stable": MODEL_VERSION}, [run], records)
    assert [r["version"] for r in rows] == [MODEL_VERSION, 5]
    assert rows[0]["run"] == "r1" and rows[0]["push time from"] == "run start"
    assert rows[0]["pushed at"].isoformat() == "2026-03-01T10:00:00+00:00"
    assert rows[0]["labels"] == "stable"
    assert rows[1]["run"] is None and rows[1]["pushed at"] is None and rows[1]["labels"] == ""


def test_health_without_a_server_still_shows_the_request_log(monkeypatch, tmp_path):
    from pipelines.common.processes import free_port as port

    monkeypatch.setenv("CLICKFLOW_SERVING_URL", f"http://127.0.0.1:{port()}")
    monkeypatch.setenv("CLICKFLOW_REQUEST_LOG_DIR", str(tmp_path / "nothing"))
    at = page("health").run()
    assert_no_traceback(at)
    (banner,) = at.error
    assert "not reachable" in banner.value
    assert any(str(tmp_path / "nothing") in i.value and "CLICKFLOW_REQUEST_LOG_DIR" in i.value
               for i in at.info)
    assert not at.metric



@pytest.mark.e2e
def test_an_unreadable_store_still_shows_the_versions(serving_url, monkeypatch, tmp_path):
    (tmp_path / "metadata.sqlite").write_text("not a database")
    monkeypatch.setenv("CLICKFLOW_SERVING_URL", serving_url)
    monkeypatch.setenv("CLICKFLOW_PIPELINE_ROOT", str(tmp_path))
    at = page("health").run()
    assert_no_traceback(at)
    assert any(str(tmp_path / "metadata.sqlite") in w.value for w in at.warning)
    versions = at.dataframe[0].value
    assert versions["version"].tolist() == [MODEL_VERSION] and versions["run"].isna().all()
