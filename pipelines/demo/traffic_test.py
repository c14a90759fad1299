"""Label delivery: every pending file moves to the labels folder."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from pipelines.common.request_log import LABEL_SCHEMA, TIMESTAMP, write_labels_file
from pipelines.demo.traffic import move_labels

T0 = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)


def test_labels_arrive_moves_every_pending_file(tmp_path: Path) -> None:
    for name, rows in (("a", 3), ("b", 5)):
        table = pa.Table.from_arrays([pa.array([f"{name}{i}" for i in range(rows)]),
                                      pa.array([1] * rows, pa.int64()),
                                      pa.array([T0] * rows, TIMESTAMP)], schema=LABEL_SCHEMA)
        write_labels_file(tmp_path / "inbox", table, name)
    assert move_labels(tmp_path / "inbox", tmp_path / "labels") == 8
    assert sorted(p.name for p in (tmp_path / "labels").iterdir()) == [
        "part-a.parquet", "part-b.parquet"]
    assert list((tmp_path / "inbox").iterdir()) == []
