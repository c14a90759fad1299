"""The request log's bounds (issue: one client wrote 8 MB of log per request and /healthz said
"ok" while records were dropped): a disk quota and a maximum age enforced oldest first, a
per-record cap, and drops visible in /healthz and the metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
from starlette.testclient import TestClient

from deployment.server import log_retention, log_writer
from deployment.server.log_writer_test import T0, _entry
from deployment.server.metrics import ServerMetrics
from pipelines.common.request_log import read_request_log


def _files(directory) -> list[str]:
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*.parquet"))


def test_the_quota_deletes_the_oldest_files_and_keeps_the_newest(tmp_path) -> None:
    clock = [T0 + 10]  # the first entries fall on the next UTC day: two date folders
    metrics = ServerMetrics()
    writer = log_writer.RequestLogWriter(tmp_path, roll_seconds=3600, roll_records=50,
                                         metrics=metrics, clock=lambda: clock[0],
                                         max_bytes=40_000)
    writer.start()
    for second in range(12):
        writer.submit(_entry(f"r{second}", 50, at=T0 + 2 * second))
        writer.flush()
    writer.close()
    sizes = [p.stat().st_size for p in tmp_path.rglob("*.parquet")]
    assert sum(sizes) <= 40_000 and len(sizes) < 12
    table, problems = read_request_log(tmp_path)
    assert problems == []
    kept = {r.rsplit("-", 1)[0] for r in table["request_id"].to_pylist()}  # "<id>-<row>"
    assert "r11" in kept and "r0" not in kept  # oldest gone first, newest always kept
    assert kept == {f"r{i}" for i in range(12 - len(kept), 12)}
    assert writer.written == 600
    assert metrics.log_pruned._value.get() == 12 - len(sizes)


def test_the_maximum_age_deletes_old_days_but_not_other_files(tmp_path) -> None:
    clock = [T0]
    writer = log_writer.RequestLogWriter(tmp_path, roll_seconds=3600, roll_records=10,
                                         clock=lambda: clock[0], max_age_seconds=3600)
    writer.start()
    writer.submit(_entry("old", 3, at=T0 - 86400))  # a day older than the bound
    writer.flush()
    keep = tmp_path / "labels" / "part-1.parquet"
    keep.parent.mkdir()
    keep.write_bytes(b"labels a user keeps")
    (tmp_path / "date=2026-01-01").mkdir(exist_ok=True)
    stray = tmp_path / "date=2026-01-01" / "notes.txt"
    stray.write_text("mine")
    writer.submit(_entry("new", 3, at=T0))
    writer.flush()
    writer.close()
    assert not list((tmp_path / "date=2026-01-01").glob("*.parquet"))  # the old day's log
    assert len(list((tmp_path / "date=2026-01-02").glob("*.parquet"))) == 1
    assert keep.exists() and stray.exists()  # never anything but the log's own part files
    table, _ = read_request_log(tmp_path)
    assert {r.rsplit("-", 1)[0] for r in table["request_id"].to_pylist()} == {"new"}


def test_prune_never_deletes_the_file_just_written(tmp_path) -> None:
    writer = log_writer.RequestLogWriter(tmp_path, roll_records=100, max_bytes=10)
    writer.start()
    writer.submit(_entry("only", 20))
    writer.close()
    assert len(_files(tmp_path)) == 1  # alone over the quota: kept, the newest records win
    pruned = log_retention.prune(tmp_path, max_bytes=10, max_age_seconds=None, now=T0)
    assert pruned.files == 1 and pruned.kept_bytes == 0


def test_the_same_bounds_hold_on_a_gs_log(tmp_path, gcs) -> None:
    """A gs:// log (the real client against the JSON API fake: ``gcs`` in conftest.py)
    is bounded by the same prune: the old day's objects deleted, nothing else touched."""
    stray = tmp_path / "gcs" / "bucket" / "request_log" / "date=2026-01-01" / "notes.txt"
    stray.parent.mkdir(parents=True)
    stray.write_text("kept")
    writer = log_writer.RequestLogWriter("gs://bucket/request_log", roll_records=2,
                                         max_age_seconds=3600, spool_dir=tmp_path / "spool",
                                         clock=lambda: T0 + 60)
    writer.start()
    writer.submit(_entry("old", 2, at=T0 - 86_400))
    writer.flush()
    assert len(_files(tmp_path / "gcs")) == 1
    writer.submit(_entry("new", 2, at=T0))
    writer.close()
    assert [p.split("/")[-2] for p in _files(tmp_path / "gcs")] == ["date=2026-01-02"]
    assert stray.read_text() == "kept"
    table, _ = read_request_log("gs://bucket/request_log")
    assert table["request_id"].to_pylist() == ["new-0", "new-1"]


def test_an_oversized_record_is_dropped_counted_and_health_says_degraded(tmp_path,
                                                                         make_version) -> None:
    from deployment.server.app import create_app
    from deployment.server.app_test import ROW, _server

    make_version(tmp_path / "models", 1)
    server = _server(tmp_path / "models", tmp_path / "log")
    object.__setattr__(server.request_log, "max_record_bytes", 4096)
    with TestClient(create_app(server)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        huge = {**ROW, "AdTopicLine": "x" * 100_000}
        response = client.post("/v1/models/clickflow:predict",
                               json={"instances": [huge, ROW]})
        assert response.status_code == 200  # the prediction is answered; only logging drops
        server.request_log.flush()
        health = client.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        assert "record_too_large" in health.json()["problems"][0]
        metrics = client.get("/metrics").text
        assert 'clickflow_request_log_dropped_total{reason="record_too_large"} 1.0' in metrics
        assert "clickflow_request_log_bytes " in metrics
    table, _ = read_request_log(tmp_path / "log")
    assert table.num_rows == 1 and table["AdTopicLine"][0].as_py() == ROW["AdTopicLine"]


def test_row_bytes_counts_strings_by_length() -> None:
    import pyarrow as pa

    table = pa.table({"s": ["ab", None, "x" * 10], "n": np.array([1, 2, 3], np.int64)})
    assert log_writer.row_bytes(table).to_pylist() == [10, 8, 18]


# One worker of `--workers N`: its own writer on the shared folder, pruning it as it writes.
_WORKER = """
import json, sys, time
from pathlib import Path
from deployment.server import log_writer
from deployment.server.log_writer_test import _entry
directory, name, files, quota = sys.argv[1:]
writer = log_writer.RequestLogWriter(Path(directory), roll_seconds=3600, roll_records=50,
                                     max_bytes=int(quota))
writer.start()
# Start together (imports take seconds on a loaded machine): the test is of two writers at once.
ready = Path(directory + ".ready")  # beside the log: a reader would report a stray file
ready.mkdir(exist_ok=True)
(ready / name).touch()
deadline = time.monotonic() + 60
while len(list(ready.iterdir())) < 2 and time.monotonic() < deadline:
    time.sleep(0.01)
other = "b" if name == "a" else "a"
for i in range(int(files)):
    writer.submit(_entry(f"{name}{i}", 50, at=time.time()))
    writer.flush()
    # In step with the other writer (at most one file ahead): on a loaded machine one process
    # could otherwise finish before the other starts, and then the other prunes all its files.
    (ready / f"{name}{i}").touch()
    while not (ready / f"{other}{i - 1}").exists() and i and time.monotonic() < deadline + 60:
        time.sleep(0.005)
writer.close()
print(json.dumps({"written": writer.written, "dropped": writer.dropped}))
"""


def test_two_processes_share_one_log_folder_and_its_quota(tmp_path) -> None:
    # Both prune the folder after each of their files while the other is writing: a file is
    # only ever deleted once complete (never the other's .tmp being written), deleting a file
    # the other just deleted is no error, and the names differ by pid.
    quota = 60_000
    workers = [subprocess.Popen([sys.executable, "-c", _WORKER, str(tmp_path), name, "30",
                                 str(quota)], stdout=subprocess.PIPE, text=True,
                                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
               for name in ("a", "b")]
    results = [json.loads(w.communicate(timeout=120)[0]) for w in workers]
    assert [w.returncode for w in workers] == [0, 0]
    assert results == [{"written": 1500, "dropped": 0}] * 2  # no write ever failed
    assert not list(tmp_path.rglob("*.tmp"))
    files = list(tmp_path.rglob("part-*.parquet"))
    pids = {int(f.name.split("-")[2]) for f in files}
    assert pids == {w.pid for w in workers}
    largest = max(f.stat().st_size for f in files)
    assert sum(f.stat().st_size for f in files) <= quota + largest  # the other's newest
    table, problems = read_request_log(tmp_path)
    assert problems == []  # every file left is whole and readable
    kept = {r.rsplit("-", 1)[0] for r in table["request_id"].to_pylist()}
    assert {"a29", "b29"} <= kept and "a0" not in kept and "b0" not in kept
