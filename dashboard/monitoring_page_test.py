"""The Monitoring page with Streamlit's AppTest on real monitoring reports (``write_reports``
runs the real monitor): four windows, one window, and fifty.

Fifty runs of the monitor would take minutes, so the fifty windows are the four real reports
repeated an hour apart each: the monitor's own JSON, only its times and folder names moved.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from dashboard.app_test import assert_no_traceback, chart_data, page
from dashboard.monitoring_test import WINDOWS, trigger_reason, write_reports
from pipelines.local import summary as local
from pipelines.monitoring.monitor import REPORT_FILE


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Four real monitoring reports, one corrupt report folder, and the run summary of the
    retraining the drifted report triggered."""
    work = tmp_path_factory.mktemp("monitored")
    reports = write_reports(work)
    (work / "monitoring" / "20260302T000000Z").mkdir()
    (work / "monitoring" / "20260302T000000Z" / REPORT_FILE).write_text("{half")
    local.write_summary(work / "pipeline_root", {
        "run_id": "20260301-150100-7", "trigger_reason": trigger_reason(reports["drifted"]),
        "status": "succeeded", "blessed": True, "metrics": {"auc": 0.9312},
        "pushed_model": "/serving/clickflow/1700007200", "up_to_date": False})
    return {**reports, "work": work}


def _moved(text: str, shift: timedelta) -> str:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00")) + shift
    return moment.isoformat()


def fifty_windows(monitored: dict[str, Path], out: Path, count: int = 50) -> list[dict]:
    """``count`` reports: the four real ones in turn, each cycle four hours later."""
    written = []
    for index in range(count):
        source = monitored[WINDOWS[index % 4]]
        report = json.loads((source / REPORT_FILE).read_text())
        shift = timedelta(hours=4 * (index // 4))
        for key in ("generated_at",):
            report[key] = _moved(report[key], shift)
        report["window"] = {k: _moved(v, shift) if k in ("start", "end") else v
                            for k, v in report["window"].items()}
        folder = out / (datetime.fromisoformat(report["window"]["end"]).astimezone(timezone.utc)
                        .strftime("%Y%m%dT%H%M%SZ"))
        folder.mkdir(parents=True)
        (folder / REPORT_FILE).write_text(json.dumps(report))
        written.append(report)
    return written


def layers(chart) -> list[dict]:
    spec = json.loads(chart.proto.spec)
    found = []
    for layer in spec["layer"]:
        found.extend(layer.get("layer", [layer]))
    return found


def test_monitoring_shows_drift_live_accuracy_and_alerts(monitored, monkeypatch):
    monkeypatch.setenv("CLICKFLOW_MONITORING_DIR", str(monitored["work"] / "monitoring"))
    monkeypatch.setenv("CLICKFLOW_PIPELINE_ROOT", str(monitored["work"] / "pipeline_root"))
    at = page("monitoring").run()
    assert_no_traceback(at)
    assert not at.error and not at.info
    (warning,) = at.warning
    assert "1 report folder(s) skipped" in warning.value and "is not valid JSON" in warning.value
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Reports": "4", "Latest decision": "cooldown", "Alerts": "2",
                       "Retraining runs": "1"}

    drift_chart, auc_chart = at.get("vega_lite_chart")
    line, breach, threshold = layers(drift_chart)
    assert (line["mark"]["type"], breach["mark"]["type"], threshold["mark"]["type"]) == (
        "line", "point", "rule")
    assert line["encoding"]["x"]["field"] == "window_end"
    # a breach marker carries its feature in colour and shape; thresholds have their own legend
    assert breach["encoding"]["shape"]["field"] == "feature"
    assert threshold["encoding"]["color"]["field"] == "threshold_of"
    drift, limits = chart_data(drift_chart)
    assert len(drift) == 3 * 8 and set(drift["series"]) == {"drift"}
    # one rule per threshold value, named by the measures using it, in colours of its own
    assert sorted(limits["threshold"]) == sorted(set(drift["threshold"]))
    assert len(limits) == 2 and all("≤" in label for label in limits["threshold_of"])
    colours = threshold["encoding"]["color"]["scale"]["range"]
    assert len(set(colours)) == len(limits)
    drifted = drift[drift["report"] == monitored["drifted"].name]
    assert set(drifted.loc[drifted["breached"], "feature"]) >= {"Age", "DailyTimeSpentOnSite"}

    at.multiselect[0].set_value(["Age", "Male"]).run()
    assert_no_traceback(at)
    (drift, _) = chart_data(at.get("vega_lite_chart")[0])
    assert sorted(set(drift["feature"])) == ["Age", "Male"] and len(drift) == 6

    live, threshold = chart_data(auc_chart)
    assert sorted(set(live["version"])) == ["1700000000", "1700003600"] and len(live) == 5
    assert threshold["live_auc_min"].tolist() == [0.75]
    (auc_line, _) = layers(auc_chart)
    low, high = auc_line["encoding"]["y"]["scale"]["domain"]
    assert low < min(live["auc"].min(), 0.75) and high > live["auc"].max() and high <= 1.0

    alerts = at.dataframe[-1].value
    assert list(alerts.columns[:3]) == ["report", "retraining run", "decision"]
    assert alerts["report"].tolist() == [monitored["cooldown"].name, monitored["drifted"].name]
    cooldown, drifted_alert = alerts.iloc[0], alerts.iloc[1]
    assert cooldown["triggered"] == "cool-down" and cooldown["retraining run"] is None
    assert drifted_alert["triggered"] == "local (exit 0)"
    assert (drifted_alert["retraining run"], drifted_alert["run status"],
            drifted_alert["pushed version"], drifted_alert["eval AUC"]) == (
        "20260301-150100-7", "succeeded", "1700007200", 0.9312)
    # every reason written out in full, not cut to the table cell
    report = json.loads((monitored["drifted"] / REPORT_FILE).read_text())
    written = "\n".join(m.value for m in at.markdown)
    for reason in report["decision"]["reasons"]:
        assert f"- {reason}" in written


def test_one_window_draws_labelled_bars_not_a_time_axis(monitored, monkeypatch, tmp_path):
    shutil.copytree(monitored["drifted"], tmp_path / "monitoring" / monitored["drifted"].name)
    monkeypatch.setenv("CLICKFLOW_MONITORING_DIR", str(tmp_path / "monitoring"))
    monkeypatch.setenv("CLICKFLOW_PIPELINE_ROOT", str(tmp_path / "root"))
    at = page("monitoring").run()
    assert_no_traceback(at)
    assert {m.label: m.value for m in at.metric}["Reports"] == "1"
    drift_chart, auc_chart = at.get("vega_lite_chart")
    marks = [layer["mark"]["type"] for layer in layers(drift_chart)]
    assert marks == ["bar", "text", "rule"]
    assert all(layer["encoding"].get("x", {}).get("type") != "temporal"
               for layer in layers(drift_chart) + layers(auc_chart))
    drift, _ = chart_data(drift_chart)
    report = json.loads((monitored["drifted"] / REPORT_FILE).read_text())
    breached = {f for f, m in report["drift"].items() if m["breached"]}
    assert set(drift.loc[drift["state"] == "breached", "feature"]) == breached
    assert [layer["mark"]["type"] for layer in layers(auc_chart)] == ["bar", "text", "rule"]
    live, _ = chart_data(auc_chart)
    assert sorted(live["version"]) == sorted(report["versions"])


def test_fifty_windows_keep_a_time_axis_and_every_breach(monitored, monkeypatch, tmp_path):
    written = fifty_windows(monitored, tmp_path / "monitoring")
    monkeypatch.setenv("CLICKFLOW_MONITORING_DIR", str(tmp_path / "monitoring"))
    monkeypatch.setenv("CLICKFLOW_PIPELINE_ROOT", str(tmp_path / "root"))
    at = page("monitoring").run()
    assert_no_traceback(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Reports"] == "50"
    drift_chart, auc_chart = at.get("vega_lite_chart")
    line = layers(drift_chart)[0]
    assert line["encoding"]["x"]["type"] == "temporal"
    # about two days: 24-hour UTC labels with the day, distinct at eight ticks
    axis = line["encoding"]["x"]["axis"]
    assert (axis["format"], axis["formatType"]) == ("%m-%d %H:%M", "utc")
    assert line["encoding"]["x"]["scale"]["type"] == "utc"
    drift, _ = chart_data(drift_chart)
    assert len(drift) == sum(len(r.get("drift") or {}) for r in written)
    assert drift["breached"].sum() == sum(m["breached"] for r in written
                                          for m in (r.get("drift") or {}).values())
    live, _ = chart_data(auc_chart)
    assert live["window_end"].nunique() == 50
    alerts = at.dataframe[-1].value
    assert len(alerts) == sum(1 for r in written if r["decision"]["action"] in
                              ("retrain", "cooldown") or r["decision"]["breached"])
