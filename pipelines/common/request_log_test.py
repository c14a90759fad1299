"""Reading the request log: windows, bad files skipped and reported, no record lost or doubled."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.common import request_log as rl
from pipelines.testing.traffic import generated, logged_requests

T0 = datetime(2026, 3, 1, 23, 0, tzinfo=timezone.utc)


def _write(log_dir: Path, rows: int = 600, files: int = 3) -> pa.Table:
    log, _ = logged_requests(generated(rows, 1), version=7, start=T0, seconds=7200,
                             id_prefix="r")
    per = rows // files
    for i in range(files):
        rl.write_request_log_file(log_dir, log.slice(i * per, per), seq=i)
    return log


def test_round_trip_reads_every_record_exactly_once(tmp_path: Path) -> None:
    log = _write(tmp_path)
    table, problems = rl.read_window(tmp_path)
    assert problems == []
    assert sorted(table["request_id"].to_pylist()) == sorted(log["request_id"].to_pylist())
    assert table.schema.equals(rl.LOG_SCHEMA)


@pytest.mark.parametrize(("start_min", "end_min", "count"), [(30, 90, 300), (30, 60, 150)])
def test_window_is_half_open_across_midnight(
        tmp_path: Path, start_min: int, end_min: int, count: int) -> None:
    log = _write(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["date=2026-03-01", "date=2026-03-02"]
    start, end = T0 + timedelta(minutes=start_min), T0 + timedelta(minutes=end_min)
    table, _ = rl.read_window(tmp_path, start, end)
    times = log["logged_at"].to_pylist()
    expected = [i for i, t in zip(log["request_id"].to_pylist(), times, strict=True)
                if start <= t < end]
    assert sorted(table["request_id"].to_pylist()) == sorted(expected)
    assert len(expected) == count


def test_corrupt_partial_and_temporary_files_are_skipped_and_reported(tmp_path: Path) -> None:
    log = _write(tmp_path)
    day = tmp_path / "date=2026-03-02"
    good = sorted(day.glob("part-*.parquet"))[0]
    (day / "part-000000-1-99.parquet").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (day / "part-000000-1-98.parquet").write_bytes(b"not parquet at all")
    (day / "part-000001-1-97.parquet.tmp").write_bytes(good.read_bytes())
    pq.write_table(pa.table({"request_id": ["x"]}), day / "part-000002-1-96.parquet")
    table, problems = rl.read_window(tmp_path)
    assert table.num_rows == log.num_rows  # nothing lost, nothing read twice
    assert sorted(table["request_id"].to_pylist()) == sorted(log["request_id"].to_pylist())
    assert len(problems) == 4
    assert any("part-000000-1-99.parquet: unreadable" in p for p in problems)
    assert any("part-000000-1-98.parquet: unreadable" in p for p in problems)
    assert any(".tmp: incomplete file" in p for p in problems)
    assert any("missing columns" in p and "logged_at" in p for p in problems)


def test_castable_types_are_accepted_and_incomplete_rows_counted(tmp_path: Path) -> None:
    log, _ = logged_requests(generated(10, 2), version=3, start=T0, seconds=60, id_prefix="c")
    narrow = log.set_column(log.schema.get_field_index("Age"), "Age", log["Age"].cast(pa.int32()))
    ids = narrow["request_id"].to_pylist()
    ids[0] = None
    narrow = narrow.set_column(0, "request_id", pa.array(ids, pa.string()))
    day = tmp_path / "date=2026-03-01"
    day.mkdir()
    pq.write_table(narrow, day / "part-230000-1-000000.parquet")
    table, problems = rl.read_window(tmp_path)
    assert table.num_rows == 9
    assert problems == ["1 request-log record(s) without request_id; dropped"]


def test_missing_log_dir_is_an_empty_window(tmp_path: Path) -> None:
    table, problems = rl.read_window(tmp_path / "nope", T0, T0 + timedelta(hours=1))
    assert table.num_rows == 0 and problems == []


def test_labels_bad_values_and_files_reported(tmp_path: Path) -> None:
    _, labels = logged_requests(generated(20, 3), version=1, start=T0, seconds=60,
                                id_prefix="l")
    values = labels["ClickedOnAd"].to_pylist()
    values[0] = 5
    rl.write_labels_file(tmp_path, labels.set_column(1, "ClickedOnAd", pa.array(values)), "a")
    (tmp_path / "part-b.parquet").write_bytes(b"junk")
    table, problems = rl.read_labels(tmp_path)
    assert table.num_rows == 19
    assert any("other than 0/1" in p for p in problems)
    assert any("part-b.parquet: unreadable" in p for p in problems)


@pytest.mark.parametrize("moment", [datetime(2026, 1, 1, 12), datetime(2026, 1, 1, 13,
                                                                        tzinfo=timezone(
                                                                            timedelta(hours=1)))])
def test_utc_normalizes(moment: datetime) -> None:
    assert rl.utc(moment) == datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
