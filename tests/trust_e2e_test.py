"""Runs an operator can trust: a second run at once, a run killed at the Pusher, a full disk and
read-only folders, each tried for real (a real SIGKILL, a real tmpfs filled up or mounted
read-only), never simulated inside the code under test."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import local_runner
from pipelines.common import names
from pipelines.data import generator as data_generator

pytestmark = pytest.mark.e2e

REPO = names.REPO_ROOT
UNSHARE = shutil.which("unshare")


def _args(tmp_path: Path, data: Path, *extra: str) -> list[str]:
    return ["--data", str(data), "--pipeline-root", str(tmp_path / "root"),
            "--serving-dir", str(tmp_path / "serving"), "--train-steps", "20",
            # Runs an operator can trust, not model quality: 20 steps are always blessed.
            "--min-auc", "0", "--no-simple-gate", *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "TF_USE_LEGACY_KERAS": "1", "PYTHONPATH": str(REPO)}


# The killed run: the real runner, with the Pusher's last step (marking the PushedModel, which
# TFX then records in ML Metadata) replaced by a SIGKILL of the process. By then the version
# folder is complete, as it is when a real kill lands between the copy and the record.
_KILLED_AT_PUSH = """
import os, signal, sys
from pipelines.components import pusher
pusher.Executor._MarkPushed = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
import local_runner
sys.exit(local_runner.main({args!r}))
"""


def _wait_for_lock_holder(root: Path, pid: int, process: subprocess.Popen) -> dict:
    lock = root / ".clickflow-run.lock"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            holder = json.loads(lock.read_text())
            if holder.get("pid") == pid:
                return holder
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"the run (pid {pid}) never took the lock; exit {process.poll()}")


def _store(root: Path):
    from pipelines.metadata import store as mlmd_store

    return mlmd_store.open_store(names.metadata_path(root))


def test_a_second_run_waits_its_turn_and_a_run_killed_at_the_pusher_is_recovered(
        tmp_path: Path, capsys) -> None:
    from ml_metadata.proto import metadata_store_pb2 as pb

    from dashboard import history
    from pipelines.monitoring import lineage

    data = tmp_path / "data"
    data_generator.write_span(data, 1, 300, seed=21)
    args = _args(tmp_path, data)
    killed = subprocess.Popen([sys.executable, "-c", _KILLED_AT_PUSH.format(args=args)],
                              cwd=REPO, env=_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    holder = _wait_for_lock_holder(tmp_path / "root", killed.pid, killed)

    # Finding 1: a second run on the same root while the first runs is refused, naming it.
    assert local_runner.main(args) == 3
    err = capsys.readouterr().err
    assert f"is in use by run {holder['run_id']} (pid {killed.pid}" in err
    assert "--wait-lock" in err and "--pipeline-root" in err

    output, _ = killed.communicate(timeout=300)
    assert killed.returncode == -9, output
    (version_dir,) = [p for p in (tmp_path / "serving" / "clickflow").iterdir()]
    assert (version_dir / "saved_model.pb").is_file()
    record = json.loads((version_dir / names.PUSH_RECORD).read_text())
    assert record["pipeline_run_id"] == holder["run_id"]
    store = _store(tmp_path / "root")
    running = [e for t in store.get_execution_types() for e in
               store.get_executions_by_type(t.name) if e.last_known_state == pb.Execution.RUNNING]
    assert len(running) == 1  # the Pusher, left RUNNING by the kill
    assert lineage.model_lineage(store, int(version_dir.name)) is None  # served, no record

    # Finding 2: the next run takes the dead run's lock over, records its push and marks
    # what it left running as abandoned, then runs; the served model is not pushed twice.
    assert local_runner.main(args) == 0
    out = capsys.readouterr().out
    assert f"the last run {holder['run_id']} (pid {killed.pid}" in out
    assert f"Recovered: version {version_dir.name}" in out
    summary = json.loads((tmp_path / "root" / names.SUMMARY_FILE).read_text())
    assert summary["status"] == "succeeded"
    assert summary["recovered"]["recorded_pushes"][0]["version"] == version_dir.name
    assert summary["pushed_model"] == str(version_dir)
    assert sorted(p.name for p in version_dir.parent.iterdir()) == [version_dir.name]

    store = _store(tmp_path / "root")
    states = [e.last_known_state for t in store.get_execution_types()
              for e in store.get_executions_by_type(t.name)]
    assert pb.Execution.RUNNING not in states and pb.Execution.NEW not in states
    found = lineage.model_lineage(store, int(version_dir.name))
    assert found is not None and found.model.uri == record["model_uri"]
    assert found.train_statistics_uri is not None

    abandoned = json.loads((tmp_path / "root" / "runs" / holder["run_id"] /
                            names.SUMMARY_FILE).read_text())
    assert abandoned["status"] == "abandoned" and abandoned["failed_component"] == "Pusher"
    runs = {r.run_id: r for r in history.list_runs(names.metadata_path(tmp_path / "root"),
                                                   "clickflow")}
    assert runs[holder["run_id"]].status == "abandoned"
    assert runs[holder["run_id"]].pushed_version == version_dir.name
    assert runs[summary["run_id"]].status == "succeeded"
    assert summary["mlmd_run_context"] == summary["run_id"] != holder["run_id"]


def _unshare_works() -> bool:
    if UNSHARE is None:
        return False
    probe = subprocess.run([UNSHARE, "-rm", "sh", "-c", "mount -t tmpfs tmpfs /tmp"],
                           capture_output=True)
    return probe.returncode == 0


needs_mounts = pytest.mark.skipif(not _unshare_works(),
                                  reason="needs unshare -rm (user and mount namespaces)")


def _on_tmpfs(mount: Path, options: str, command: list[str]) -> subprocess.CompletedProcess:
    """Runs ``command`` with a fresh tmpfs (``options``) mounted on ``mount``, in its own user
    and mount namespace: no privileges needed, nothing left mounted afterwards."""
    mount.mkdir(parents=True, exist_ok=True)
    script = textwrap.dedent("""\
        mount -t tmpfs -o "$1" tmpfs "$2" || exit 99
        shift 2
        exec "$@"
    """)
    return subprocess.run([UNSHARE, "-rm", "sh", "-c", script, "sh", options, str(mount),
                           *command], cwd=REPO, env=_env(), capture_output=True, text=True,
                          timeout=600)


@needs_mounts
def test_a_full_disk_ends_in_one_paragraph_and_a_summary_written_elsewhere(tmp_path: Path
                                                                           ) -> None:
    data = tmp_path / "data"
    data_generator.write_span(data, 1, 300, seed=22)
    root = tmp_path / "root"
    run = " ".join([sys.executable, "local_runner.py", *_args(tmp_path, data)])
    # The summary is read inside the namespace: the tmpfs goes with it.
    result = _on_tmpfs(root, "size=900k", ["sh", "-c", f"{run}; rc=$?; echo '==SUMMARY=='; "
                                                        f"cat {root}/run_summary.json; exit $rc"])
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "Warning: only 0.9 MB free on the disk holding" in result.stdout
    failed = result.stderr.split("FAILED in ", 1)[1]
    component = failed.split(":", 1)[0]
    assert "the disk is full" in failed and "No space left on device" in failed
    assert "Free some space" in failed and "No model was pushed." in failed
    assert f"Summary: {root}/run_summary.json" in failed
    summary = json.loads(result.stdout.split("==SUMMARY==", 1)[1])
    assert summary["status"] == "failed" and summary["failed_component"] == component
    assert "the disk is full" in summary["error"]
    assert summary["component_seconds"]  # the components that finished before it
    assert not (tmp_path / "serving").exists() or not any((tmp_path / "serving").rglob("*.pb"))


def test_a_summary_that_does_not_fit_is_written_to_the_temporary_folder(tmp_path: Path,
                                                                        capsys) -> None:
    from pipelines.data.inputs import resolve_data
    from pipelines.local import summary as local_summary

    data = tmp_path / "data"
    data_generator.write_span(data, 1, 100, seed=24)
    root = tmp_path / "root"
    root.mkdir()
    (root / "runs").write_text("not a folder: the summary's history copy cannot go here")

    def run() -> None:
        raise OSError(28, "No space left on device", str(root / "Transform" / "x"))

    code = local_summary.run_and_summarize(
        run, root=root, metadata_path=root / "metadata.sqlite", pipeline_name="clickflow",
        data=resolve_data(data), fingerprint="f", started=time.perf_counter(), run_id="r-1")
    assert code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"the disk is full: in the pipeline, writing ({root}/Transform/x)" in err
    assert f"The summary could not be written to {root}" in err
    fallback = Path(err.split("Summary: ", 1)[1].split()[0])
    assert json.loads(fallback.read_text())["error"].startswith("the disk is full")
    fallback.unlink()


@needs_mounts
@pytest.mark.parametrize("flag", ["--pipeline-root", "--serving-dir"])
def test_a_read_only_folder_is_refused_before_any_work(tmp_path: Path, flag: str) -> None:
    data = tmp_path / "data"
    data_generator.write_span(data, 1, 300, seed=23)
    folder = tmp_path / ("root" if flag == "--pipeline-root" else "serving")
    started = time.monotonic()
    result = _on_tmpfs(folder, "ro,size=1m",
                       [sys.executable, "local_runner.py", *_args(tmp_path, data)])
    assert result.returncode == 2, result.stdout + result.stderr
    assert time.monotonic() - started < 30  # no TFX import, no component ran
    assert result.stderr.startswith(f"error: {flag} ")
    assert "cannot write there (Read-only file system" in result.stderr
    assert "Traceback" not in result.stderr and "Running pipeline" not in result.stdout


def test_a_summary_write_that_fails_after_a_push_does_not_deny_the_push(tmp_path: Path,
                                                                         capsys, monkeypatch
                                                                         ) -> None:
    """The pipeline finished and pushed; only saving run_summary.json failed (a full disk)."""
    from pipelines.data.inputs import resolve_data
    from pipelines.local import summary as local_summary

    data = tmp_path / "data"
    data_generator.write_span(data, 1, 100, seed=25)
    pushed = str(tmp_path / "serving" / "clickflow" / "1700000000")
    monkeypatch.setattr(local_summary, "collect_outputs", lambda *a: {
        "metrics": {"auc": 0.9}, "blessed": True, "pushed_model": pushed})

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "root" / "runs"))

    monkeypatch.setattr(local_summary, "write_summary", full)
    code = local_summary.run_and_summarize(
        lambda: None, root=tmp_path / "root", metadata_path=tmp_path / "m.sqlite",
        pipeline_name="clickflow", data=resolve_data(data), fingerprint="f",
        started=time.perf_counter(), run_id="r-2")
    assert code == 1
    err = capsys.readouterr().err
    assert "FAILED in writing run_summary.json: the disk is full" in err
    assert f"The pipeline finished: pushed model {pushed}." in err
    assert "No model was pushed" not in err
    fallback = Path(err.split("Summary: ", 1)[1].split()[0])
    saved = json.loads(fallback.read_text())
    assert saved["pushed_model"] == pushed and saved["blessed"] is True
    fallback.unlink()
