"""Tests for the request log: rolling files, reading back, bad files, a full queue."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from deployment.server import log_writer
from deployment.server.metrics import ServerMetrics
from models import features
from pipelines.common import request_log as contract

ROW = {"DailyTimeSpentOnSite": 68.95, "Age": 35, "AreaIncome": 61833.9,
       "DailyInternetUsage": 256.09, "AdTopicLine": "Cloned orchestration", "City": "Paris",
       "Male": 0, "Country": "France", "Timestamp": "2016-03-27 00:53:11"}
# 2026-01-02 23:59:58 UTC: two seconds before midnight, so entries can straddle two dates.
T0 = datetime(2026, 1, 2, 23, 59, 58, tzinfo=timezone.utc).timestamp()


def _entry(request_id: str, count: int, at: float = T0, version: int = 7) -> log_writer.LogEntry:
    columns = {name: np.array([value] * count, dtype=object if isinstance(value, str) else
                              (np.float32 if isinstance(value, float) else np.int64))
               for name, value in ROW.items()}
    columns["AdTopicLine"] = np.array([v.encode() for v in columns["AdTopicLine"]], dtype=object)
    return log_writer.LogEntry(request_id=request_id, logged_at=at, model_name="clickflow",
                                model_version=version, signature="serving_default",
                                probability=np.linspace(0.1, 0.9, count).astype(np.float32),
                                columns=columns)


def test_entry_rows_ids_and_types() -> None:
    rows = log_writer.entry_rows(_entry("req", 3))
    assert [r["request_id"] for r in rows] == ["req-0", "req-1", "req-2"]
    assert log_writer.entry_rows(_entry("solo", 1))[0]["request_id"] == "solo"
    row = rows[0]
    assert row["DailyTimeSpentOnSite"] == 68.95  # float32 input logged as sent
    assert row["AdTopicLine"] == "Cloned orchestration" and row["Age"] == 35
    assert row["probability"] == pytest.approx(0.1)
    table = log_writer.rows_table(rows)
    assert table.schema == contract.LOG_SCHEMA


def test_columnar_conversion_matches_row_by_row() -> None:
    """The writer's column-at-a-time path stores exactly what the row-by-row path does."""
    two_d = _entry("wide", 2)
    two_d.columns["Age"] = np.array([[35], [36]], dtype=np.int64)  # (n, 1) inputs
    missing = _entry("gap", 1)
    del missing.columns["City"]  # a signature without this input: logged as null
    examples = log_writer.LogEntry("ex", T0, "clickflow", 1, "classification", [0.25],
                                    examples=[{**ROW, "Age": [40]}])
    entries = [_entry("a", 1), _entry("b", 3), two_d, examples, missing]
    expected = log_writer.rows_table(
        [row for entry in entries for row in log_writer.entry_rows(entry)])
    got = log_writer.entries_table(entries)
    assert got.schema == contract.LOG_SCHEMA
    assert got.to_pylist() == expected.to_pylist()
    assert got["DailyTimeSpentOnSite"][0].as_py() == 68.95  # float32 input logged as sent
    assert log_writer.entries_table([]).num_rows == 0


def test_examples_and_serialized_entries() -> None:
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    example.features.feature["Age"].int64_list.value.append(44)
    example.features.feature["City"].bytes_list.value.append(b"Rome")
    entry = log_writer.LogEntry("s", T0, "clickflow", 1, "serving_tf_example", [0.5],
                                 serialized=[example.SerializeToString()])
    row = log_writer.entry_rows(entry)[0]
    assert row["Age"] == 44 and row["City"] == "Rome" and row["Country"] is None
    entry = log_writer.LogEntry("c", T0, "clickflow", 1, "classification", [0.5],
                                 examples=[{**ROW, "Age": [36]}])
    assert log_writer.entry_rows(entry)[0]["Age"] == 36


def test_writer_rolls_and_reader_returns_every_record_once(tmp_path: Path) -> None:
    metrics = ServerMetrics()
    writer = log_writer.RequestLogWriter(tmp_path, roll_seconds=3600, roll_records=5,
                                          metrics=metrics)
    writer.start()
    ids = []
    for i in range(6):  # 3 instances each, 18 records; crosses midnight after entry 2
        assert writer.submit(_entry(f"r{i}", 3, at=T0 + i))
        ids += [f"r{i}-{j}" for j in range(3)]
    writer.close()
    files = sorted(tmp_path.rglob("*.parquet"))
    assert {f.parent.name for f in files} == {"date=2026-01-02", "date=2026-01-03"}
    assert all(pq.read_metadata(f).num_rows <= 5 for f in files)
    assert not list(tmp_path.rglob("*.tmp"))
    table, problems = contract.read_request_log(tmp_path)
    assert problems == []
    assert sorted(table["request_id"].to_pylist()) == sorted(ids)  # none lost, none twice
    assert table.schema == contract.LOG_SCHEMA
    assert table["model_version"].to_pylist() == [7] * 18
    assert writer.written == 18 and writer.dropped == 0
    exposition = metrics.exposition().decode()
    assert "clickflow_request_log_records_total 18.0" in exposition
    assert f"clickflow_request_log_files_total {float(len(files))}" in exposition


def test_writer_rolls_by_time(tmp_path: Path) -> None:
    writer = log_writer.RequestLogWriter(tmp_path, roll_seconds=0.05, roll_records=1000)
    writer.start()
    writer.submit(_entry("a", 1))
    deadline = time.monotonic() + 10
    while not list(tmp_path.rglob("*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(list(tmp_path.rglob("*.parquet"))) == 1  # written without close or flush
    writer.close()


def test_reader_filters_by_time(tmp_path: Path) -> None:
    writer = log_writer.RequestLogWriter(tmp_path, roll_records=2)
    writer.start()
    for i in range(5):
        writer.submit(_entry(f"t{i}", 1, at=T0 + i))
    writer.close()
    start = datetime.fromtimestamp(T0 + 1, timezone.utc)
    end = datetime.fromtimestamp(T0 + 3, timezone.utc).replace(tzinfo=None)  # naive = UTC
    table, _ = contract.read_request_log(tmp_path, start=start, end=end)
    assert table["request_id"].to_pylist() == ["t1", "t2"]


def test_reader_skips_and_reports_bad_files(tmp_path: Path) -> None:
    writer = log_writer.RequestLogWriter(tmp_path, roll_records=2)
    writer.start()
    for i in range(4):
        writer.submit(_entry(f"g{i}", 1))
    writer.close()
    day = tmp_path / "date=2026-01-02"
    good = sorted(day.glob("*.parquet"))
    assert len(good) == 2
    # A truncated copy of a good file, a crash leftover, a file with other columns, a stray.
    data = good[0].read_bytes()
    (day / "part-000000-1-999999.parquet").write_bytes(data[: len(data) // 2])
    (day / "part-000001-1-000001.parquet.tmp").write_bytes(data)
    pq.write_table(pa.table({"x": [1]}), day / "part-000002-1-000002.parquet")
    (tmp_path / "notes.txt").write_text("hi")
    table, problems = contract.read_request_log(tmp_path)
    assert sorted(table["request_id"].to_pylist()) == ["g0", "g1", "g2", "g3"]
    text = "\n".join(problems)
    assert len(problems) == 4
    assert "part-000000-1-999999.parquet: unreadable Parquet" in text
    assert "part-000001-1-000001.parquet.tmp: incomplete file" in text
    assert "part-000002-1-000002.parquet: missing columns" in text
    assert "notes.txt" in text


def test_missing_log_dir_is_a_problem_not_an_error(tmp_path: Path) -> None:
    table, problems = contract.read_request_log(tmp_path / "none")
    assert table.num_rows == 0 and table.schema == contract.LOG_SCHEMA
    assert problems and "no request log folder" in problems[0]


def test_full_queue_drops_and_counts_without_blocking(tmp_path: Path) -> None:
    metrics = ServerMetrics()
    writer = log_writer.RequestLogWriter(tmp_path, queue_size=4, metrics=metrics)
    assert not writer.submit(_entry("before-start", 1))  # not running: dropped, counted
    writer.start()
    started = time.perf_counter()
    assert not writer.submit(_entry("big", 5))  # more records than the queue holds
    assert time.perf_counter() - started < 0.05
    assert writer.submit(_entry("fits", 4))
    writer.close()
    assert writer.dropped == 6 and writer.written == 4
    assert 'clickflow_request_log_dropped_total{reason="queue_full"} 6.0' in \
        metrics.exposition().decode()
    table, _ = contract.read_request_log(tmp_path)
    assert table["request_id"].to_pylist() == [f"fits-{i}" for i in range(4)]


def test_write_error_is_counted_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    metrics = ServerMetrics()
    writer = log_writer.RequestLogWriter(blocker, metrics=metrics)
    writer.start()
    assert writer.submit(_entry("x", 2))
    writer.close()
    assert writer.dropped == 2 and writer.written == 0
    assert 'reason="write_error"} 2.0' in metrics.exposition().decode()


def test_schema_matches_the_shared_interface() -> None:
    schema = contract.LOG_SCHEMA
    assert schema.names[:5] == ["request_id", "logged_at", "model_name", "model_version",
                                "signature"]
    assert schema.field("logged_at").type == pa.timestamp("us", tz="UTC")
    assert schema.names[5:-1] == list(features.SERVING_FEATURES)
    assert schema.field("probability").type == pa.float64()
    assert schema.field("Age").type == pa.int64() and schema.field("City").type == pa.string()


# --- a gs:// request log, against the JSON API fake (the ``gcs`` fixture, conftest.py).
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: connection refused at once


def _objects(tmp_path: Path) -> list[str]:
    root = tmp_path / "gcs" / "bucket"
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_a_gs_log_is_rolled_locally_then_uploaded_whole(tmp_path: Path, gcs) -> None:
    metrics = ServerMetrics()
    writer = log_writer.RequestLogWriter("gs://bucket/request_log", roll_records=3,
                                         metrics=metrics, spool_dir=tmp_path / "spool")
    writer.start()
    for i in range(4):
        assert writer.submit(_entry(f"r{i}", 2, at=T0 + 3 * i))  # straddles midnight
    writer.flush()
    objects = _objects(tmp_path)
    assert {o.split("/")[1] for o in objects} == {"date=2026-01-02", "date=2026-01-03"}
    assert all(contract.PART_RE.match(o.rsplit("/", 1)[1]) for o in objects)
    table, problems = contract.read_request_log("gs://bucket/request_log")
    assert problems == [] and table.num_rows == 8 and writer.written == 8
    assert sorted(table["request_id"].to_pylist()) == sorted(
        f"r{i}-{j}" for i in range(4) for j in range(2))
    assert not list((tmp_path / "spool").rglob("*.parquet"))  # uploaded files leave the spool
    writer.close()
    assert writer.dropped == 0 and writer.recent_drops() is None
    assert f"clickflow_request_log_files_total {len(objects)}.0" in metrics.exposition().decode()


def test_a_failing_upload_never_blocks_is_retried_and_reported(tmp_path: Path, gcs,
                                                               monkeypatch) -> None:
    from pipelines.common import storage

    monkeypatch.setenv(storage.EMULATOR_ENV, UNREACHABLE)
    metrics = ServerMetrics()
    writer = log_writer.RequestLogWriter("gs://bucket/request_log", roll_records=2,
                                         metrics=metrics, spool_dir=tmp_path / "spool")
    writer.start()
    started = time.perf_counter()
    for i in range(5):
        assert writer.submit(_entry(f"r{i}", 2))
    assert time.perf_counter() - started < 0.05  # submit only queues
    writer.flush(timeout=1.0)
    assert _objects(tmp_path) == []
    health = writer.recent_drops()
    assert health and "cannot upload to gs://bucket/request_log" in health, health
    assert "5 file(s), 10 records waiting" in health
    failures = 'clickflow_request_log_upload_failures_total'
    assert f"{failures} 0.0" not in metrics.exposition().decode()
    monkeypatch.setenv(storage.EMULATOR_ENV, gcs.endpoint)  # Cloud Storage is back
    writer.flush(timeout=10.0)
    assert len(_objects(tmp_path)) == 5 and writer.written == 10 and writer.dropped == 0
    assert writer.recent_drops() is None
    writer.close()


def test_an_upload_outage_drops_only_past_the_quota(tmp_path: Path, gcs, monkeypatch) -> None:
    from pipelines.common import storage

    monkeypatch.setenv(storage.EMULATOR_ENV, UNREACHABLE)
    metrics = ServerMetrics()
    writer = log_writer.RequestLogWriter("gs://bucket/request_log", roll_records=2,
                                         metrics=metrics)  # a fresh temporary spool
    writer.start()
    for i in range(3):
        assert writer.submit(_entry(f"r{i}", 2, at=T0 - 10 + i))
        writer.flush(timeout=0.5)  # waits it out: nothing can be uploaded
        if i == 0:  # the quota: one spooled file and a half
            (first,) = Path(writer.spool_dir).rglob("*.parquet")
            writer.max_bytes = first.stat().st_size * 3 // 2
            assert writer.dropped == 0
    assert writer.dropped == 4  # the two oldest files, deleted unsent
    assert len(list(Path(writer.spool_dir).rglob("*.parquet"))) == 1
    writer.close(timeout=0.5)  # still unreachable, and the spool dies with the process
    assert writer.dropped == 6 and writer.written == 0
    assert 'reason="upload_error"} 6.0' in metrics.exposition().decode()


def test_a_kept_spool_is_uploaded_by_the_next_writer(tmp_path: Path, gcs, monkeypatch) -> None:
    """--request-log-spool-dir (a pod's emptyDir): files a stopped or crashed writer could not
    upload are adopted and uploaded by the next one; a live writer's files are left alone."""
    from pipelines.common import storage

    spool = tmp_path / "spool"
    monkeypatch.setenv(storage.EMULATOR_ENV, UNREACHABLE)
    first = log_writer.RequestLogWriter("gs://bucket/request_log", roll_records=2,
                                        spool_dir=spool)
    live = log_writer.RequestLogWriter("gs://bucket/request_log", roll_records=2,
                                       spool_dir=spool)
    first.start()
    live.start()
    first.submit(_entry("lost-in-outage", 2))
    live.submit(_entry("live", 2))
    first.flush(timeout=0.3)
    live.flush(timeout=0.3)
    first.close(timeout=0.3)  # Cloud Storage still down: kept, not dropped
    assert first.dropped == 0 and _objects(tmp_path) == []
    (spool / "writer-999-crashed" / "date=2026-01-02").mkdir(parents=True)
    (spool / "writer-999-crashed" / "date=2026-01-02" / "part-235958-999-000001.parquet"
     ).write_bytes(b"half a file")  # unreadable: kept where it is, named in the log
    monkeypatch.setenv(storage.EMULATOR_ENV, gcs.endpoint)
    after = log_writer.RequestLogWriter("gs://bucket/request_log", roll_records=2,
                                        spool_dir=spool)
    after.start()
    after.flush(timeout=10)
    table, _ = contract.read_request_log("gs://bucket/request_log")
    assert {"lost-in-outage-0", "lost-in-outage-1"} <= set(table["request_id"].to_pylist())
    assert after.written == 2
    assert (spool / "writer-999-crashed" / "date=2026-01-02").is_dir()
    after.close()
    live.close(timeout=10)  # its own file, uploaded by itself now that Cloud Storage is back
    table, _ = contract.read_request_log("gs://bucket/request_log")
    # Same pid, sequence and second as the adopted file: uploaded under a new name, since
    # uploads are create-only, instead of one overwriting the other.
    assert sorted(table["request_id"].to_pylist()) == [
        "live-0", "live-1", "lost-in-outage-0", "lost-in-outage-1"]
    assert len(_objects(tmp_path)) == 2
