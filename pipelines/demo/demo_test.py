"""The drift demo's command line: flag errors and a refused folder are one line and start
nothing, and the whole loop end to end (marked e2e: two real pipeline runs, the real server).
The parts have their tests beside them (options_test.py, report_test.py, ...)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.common.processes import process_exists
from pipelines.demo.cli import cli
from pipelines.demo.options import SUMMARY_FILE
from pipelines.metadata.store import open_store


@pytest.mark.parametrize(("argv", "message"), [
    (["--rows", "50"], "--rows must be at least 200"),
    (["--train-rows", "100"], "--train-rows must be at least 500"),
    (["--train-steps", "0"], "--train-steps must be at least 1"),
    (["--port", "70000"], "--port must be 0"),
])
def test_bad_flags_are_clear_errors(argv: list[str], message: str, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["--workdir", str(tmp_path / "d"), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_refused_workdir_is_an_error_without_a_server(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("x")
    assert cli(["--workdir", str(tmp_path), "--fresh"]) == 1
    err = capsys.readouterr().err
    assert "not a demo folder" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.e2e
def test_the_whole_loop_on_small_data(drift_demo) -> None:
    """Serve, drift, detect, retrain on the labelled traffic, hot-load, recover: for real
    (the session's one demo run, conftest.py's ``drift_demo``)."""
    workdir, result = drift_demo
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    facts = json.loads((workdir / SUMMARY_FILE).read_text())
    assert facts["completed"]
    assert facts["decision"] == "retrain"
    assert {"Age", "Male", "Country"} <= set(facts["drift_breaches"])
    old, new = facts["versions"]
    assert new["version"] > old["version"] and facts["loaded_version"] == new["version"]
    assert old["live_auc_normal"] > 0.85
    assert old["live_auc_drifted"] < old["eval_auc"] - 0.2  # the monitor saw the AUC fall
    assert any("below the eval AUC" in r or "live_auc_min" in r for r in facts["reasons"])
    assert new["live_auc_drifted"] > old["live_auc_drifted"] + 0.1  # and it recovered
    # the Evaluator compared both models on the new eval split, and the new one won
    assert facts["baseline_auc_new_eval"] < new["eval_auc"]
    assert facts["trigger_reason"].startswith("monitor: ")
    summary = json.loads((workdir / "pipeline_root" / "run_summary.json").read_text())
    assert summary["run_id"] == facts["retrain_run_id"] and summary["blessed"]
    assert summary["trigger_reason"] == facts["trigger_reason"]
    assert summary["data"]["spans"] == ["span-00001", "span-00002"]

    store = open_store(workdir / "pipeline_root" / "metadata.sqlite")
    run = store.get_context_by_type_and_name("pipeline_run", facts["mlmd_run_context"])
    assert run.custom_properties["trigger_reason"].string_value == facts["trigger_reason"]
    assert (workdir / "serving_model" / "clickflow" / str(new["version"])).is_dir()

    assert facts["server"]["exit_code"] is not None
    assert not process_exists(facts["server"]["pid"])
    assert "[10/10] Summary" in result.stdout and "server stopped" in result.stdout
