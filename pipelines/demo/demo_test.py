"""The drift demo: its pure parts (folder safety, windows, summary, label delivery) fast, and
the whole loop end to end (marked e2e: two real pipeline runs, the real server)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.common.request_log import LABEL_SCHEMA, TIMESTAMP, write_labels_file
from pipelines.demo import demo
from pipelines.metadata.store import open_store

T0 = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
REPO_ROOT = Path(__file__).resolve().parents[2]


def test_new_or_empty_folder_becomes_a_demo_folder(tmp_path: Path) -> None:
    paths = demo.prepare_workdir(tmp_path / "new" / "demo", fresh=False)
    assert (paths.root / demo.MARKER).is_file()
    (tmp_path / "empty").mkdir()
    assert (demo.prepare_workdir(tmp_path / "empty", fresh=True).root / demo.MARKER).is_file()


def test_a_folder_that_is_not_a_demo_is_never_touched(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    for fresh in (False, True):
        with pytest.raises(demo.DemoError, match="not a demo folder"):
            demo.prepare_workdir(tmp_path, fresh=fresh)
    assert (tmp_path / "precious.txt").read_text() == "keep me"
    (tmp_path / "file").write_text("")
    with pytest.raises(demo.DemoError, match="not a folder"):
        demo.prepare_workdir(tmp_path / "file", fresh=True)


def test_an_earlier_demo_is_deleted_only_with_fresh(tmp_path: Path) -> None:
    paths = demo.prepare_workdir(tmp_path / "d", fresh=False)
    (paths.root / "data").mkdir()
    with pytest.raises(demo.DemoError, match="pass --fresh"):
        demo.prepare_workdir(paths.root, fresh=False)
    assert (paths.root / "data").is_dir()
    demo.prepare_workdir(paths.root, fresh=True)
    assert sorted(p.name for p in paths.root.iterdir()) == [demo.MARKER]


def test_judged_window_makes_the_previous_window_cover_the_normal_phase() -> None:
    for normal, drifted in ((30, 10), (10, 30), (20, 20)):
        before = T0
        between = before + timedelta(seconds=normal)
        after = between + timedelta(seconds=drifted)
        window = demo.judged_window(before, between, after)
        previous_start = window.start - (window.end - window.start)
        assert window.start == between and window.end >= after
        assert previous_start <= before


def _facts() -> demo.DemoFacts:
    return demo.DemoFacts(
        versions=[demo.VersionFacts(1700000000, "span 1 (2,000 generated rows)", 0.9512,
                                    live_auc_normal=0.9533, live_auc_drifted=0.4321),
                  demo.VersionFacts(1700000300, "2 spans (+2,000 drifted)", 0.8123,
                                    live_auc_drifted=0.6789)],
        drift_breaches=["Age", "Male"], skew_breaches=["v1700000000/Age"], decision="retrain",
        decision_after="cooldown", retrain_run_id="20260301-120000-42",
        trigger_reason="monitor: skew, drift (report r)", mlmd_run_context="ctx-1",
        best_auc_normal=0.96, best_auc_drifted=0.7765,
        step_seconds={"1. Train": 48.0, "2. Serve": 6.0})


def test_summary_table_compares_the_versions() -> None:
    lines = demo.summary_lines(_facts())
    header, rule, old, new, best = lines[:5]
    assert header.split()[:2] == ["version", "trained"]
    assert set(rule.replace(" ", "")) == {"-"}
    assert old.split()[0] == "1700000000" and old.split()[-3:] == ["0.9512", "0.9533", "0.4321"]
    assert new.split()[-3:] == ["0.8123", "-", "0.6789"]
    assert best.startswith("best possible") and best.split()[-2:] == ["0.9600", "0.7765"]
    columns = {line.index("live AUC drifted") if "drifted" in line else None
               for line in lines[:1]}
    assert old.rindex("0.4321") == new.rindex("0.6789") == columns.pop()  # aligned
    text = "\n".join(lines)
    assert "v1700000000 0.4321 -> v1700000300 0.6789 (+0.2468)" in text
    assert "Drift (vs the normal window): Age, Male" in text
    assert "Decision: retrain; after retraining: cooldown" in text
    assert "Retraining run: 20260301-120000-42 (MLMD run context ctx-1)" in text
    assert "Trigger reason: monitor: skew, drift (report r)" in text
    assert "Time: 54 s (1. Train 48 s, 2. Serve 6 s)" in text


def test_summary_of_an_unfinished_demo_says_none() -> None:
    text = "\n".join(demo.summary_lines(demo.DemoFacts()))
    assert "Retraining run: none" in text and "Drift (vs the normal window): none" in text
    assert "Live AUC on drifted traffic" not in text


def test_labels_arrive_moves_every_pending_file(tmp_path: Path) -> None:
    for name, rows in (("a", 3), ("b", 5)):
        table = pa.Table.from_arrays([pa.array([f"{name}{i}" for i in range(rows)]),
                                      pa.array([1] * rows, pa.int64()),
                                      pa.array([T0] * rows, TIMESTAMP)], schema=LABEL_SCHEMA)
        write_labels_file(tmp_path / "inbox", table, name)
    assert demo.move_labels(tmp_path / "inbox", tmp_path / "labels") == 8
    assert sorted(p.name for p in (tmp_path / "labels").iterdir()) == [
        "part-a.parquet", "part-b.parquet"]
    assert list((tmp_path / "inbox").iterdir()) == []


def test_tail_shows_appended_lines_including_an_unfinished_last_one(tmp_path: Path) -> None:
    out = io.StringIO()
    steps = demo.Steps(demo.DemoFacts(), out)
    log = tmp_path / "trigger.log"
    tail = demo.Tail(log, steps)
    tail.start()
    time.sleep(0.2)  # the file does not exist yet: nothing to show, no error
    log.write_text("Running pipeline\n  ▶ Trainer ...\n")
    time.sleep(0.8)
    with log.open("a") as f:
        f.write("Done in 1.0 s.")
    tail.stop()
    assert out.getvalue().splitlines() == [
        f"{demo._INDENT}| Running pipeline", f"{demo._INDENT}|   ▶ Trainer ...",
        f"{demo._INDENT}| Done in 1.0 s."]


@pytest.mark.parametrize(("argv", "message"), [
    (["--rows", "50"], "--rows must be at least 200"),
    (["--train-rows", "100"], "--train-rows must be at least 500"),
    (["--train-steps", "0"], "--train-steps must be at least 1"),
    (["--port", "70000"], "--port must be 0"),
])
def test_bad_flags_are_clear_errors(argv: list[str], message: str, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.cli(["--workdir", str(tmp_path / "d"), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_refused_workdir_is_an_error_without_a_server(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("x")
    assert demo.cli(["--workdir", str(tmp_path), "--fresh"]) == 1
    err = capsys.readouterr().err
    assert "not a demo folder" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.e2e
def test_the_whole_loop_on_small_data(tmp_path: Path) -> None:
    """Serve, drift, detect, retrain on the labelled traffic, hot-load, recover: for real."""
    workdir = tmp_path / "demo"
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.demo", "--workdir", str(workdir),
         "--rows", "800", "--train-rows", "1000", "--train-steps", "150", "--seed", "3"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    facts = json.loads((workdir / demo.SUMMARY_FILE).read_text())
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
    assert not _process_exists(facts["server"]["pid"])
    assert "[10/10] Summary" in result.stdout and "server stopped" in result.stdout
