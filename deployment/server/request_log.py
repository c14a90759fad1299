"""The request log: every prediction, appended to Parquet files that monitoring reads later.

Layout: ``<dir>/date=YYYY-MM-DD/part-<HHMMSS>-<pid>-<seq>.parquet`` (UTC), each file written
under a ``.tmp`` name and renamed, so a reader never sees half a file. One row per instance;
``request_id`` is the request's id (``X-Request-Id`` or a generated one) for a one-instance
request and ``<id>-<index>`` otherwise, which is what delayed labels are joined on.

Writing never slows or fails a response: ``RequestLogWriter.submit`` only puts the entry on a
bounded queue (a full queue drops the entry and counts it); a background thread turns entries
into rows and rolls files every ``roll_seconds`` or ``roll_records``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from models import features

log = logging.getLogger(__name__)

_ARROW = {"float": pa.float64(), "int": pa.int64(), "string": pa.string()}
FEATURE_COLUMNS = features.SERVING_FEATURES
SCHEMA = pa.schema([
    ("request_id", pa.string()),
    ("logged_at", pa.timestamp("us", tz="UTC")),
    ("model_name", pa.string()),
    ("model_version", pa.int64()),
    ("signature", pa.string()),
    *((name, _ARROW[features.RAW_TYPES[name]]) for name in FEATURE_COLUMNS),
    ("probability", pa.float64()),
])
PART_RE = re.compile(r"^part-\d{6}-\d+-\d+\.parquet$")
DATE_DIR_RE = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")


@dataclasses.dataclass(frozen=True)
class LogEntry:
    """One answered request, as the handler hands it over (no conversion on the hot path).

    Features come as ``columns`` (input name -> one value per instance, e.g. numpy arrays),
    ``examples`` (one feature dict per instance) or ``serialized`` tf.Examples.
    """

    request_id: str
    logged_at: float
    model_name: str
    model_version: int
    signature: str
    probability: Sequence[float]
    columns: Mapping[str, Sequence[Any]] | None = None
    examples: Sequence[Mapping[str, Any]] | None = None
    serialized: Sequence[bytes] | None = None

    @property
    def count(self) -> int:
        return len(self.probability)


def _scalar(value: Any, kind: str) -> Any:
    if isinstance(value, list | tuple):
        value = value[0] if len(value) == 1 else None
    if isinstance(value, np.float32):
        return float(str(value))  # 68.95 as sent, not float32's 68.94999694824219
    if hasattr(value, "item"):
        value = value.item()
    if value is None or isinstance(value, dict):
        return None
    try:
        if kind == "string":
            return value.decode() if isinstance(value, bytes) else str(value)
        if kind == "float":
            return float(value)
        return int(value)
    except (TypeError, ValueError, UnicodeDecodeError):
        return None


def _parse_example(serialized: bytes) -> dict[str, Any]:
    from tensorflow.core.example import example_pb2

    try:
        example = example_pb2.Example.FromString(serialized)
    except Exception:
        return {}
    out = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        if kind:
            out[name] = list(getattr(feature, kind).value)
    return out


def entry_rows(entry: LogEntry) -> list[dict[str, Any]]:
    """Rows of the log schema, one per instance of ``entry``."""
    count = entry.count
    logged_at = round(entry.logged_at * 1_000_000)
    if entry.examples is not None:
        per_instance = list(entry.examples)
    elif entry.serialized is not None:
        per_instance = [_parse_example(s) for s in entry.serialized]
    else:
        columns = entry.columns or {}
        per_instance = [{name: values[i] for name, values in columns.items()}
                        for i in range(count)]
    rows = []
    for i in range(count):
        instance = per_instance[i] if i < len(per_instance) else {}
        row = {
            "request_id": entry.request_id if count == 1 else f"{entry.request_id}-{i}",
            "logged_at": logged_at,
            "model_name": entry.model_name,
            "model_version": entry.model_version,
            "signature": entry.signature,
            "probability": _scalar(entry.probability[i], "float"),
        }
        for name in FEATURE_COLUMNS:
            row[name] = _scalar(instance.get(name), features.RAW_TYPES[name])
        rows.append(row)
    return rows


def rows_table(rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    columns = {name: [row[name] for row in rows] for name in SCHEMA.names}
    return pa.Table.from_pydict(columns, schema=SCHEMA)


class _Flush:
    def __init__(self) -> None:
        self.done = threading.Event()


_STOP = object()


class RequestLogWriter:
    """Background writer of the request log (see the module docstring)."""

    def __init__(self, directory: Path, *, roll_seconds: float = 60.0, roll_records: int = 10_000,
                 queue_size: int = 10_000, metrics: Any = None,
                 clock: Callable[[], float] = time.time):
        self.directory = Path(directory)
        self.roll_seconds = roll_seconds
        self.roll_records = roll_records
        self.queue_size = queue_size
        self._metrics = metrics
        self._clock = clock
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._pending = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._seq = 0
        self.dropped = 0
        self.written = 0

    def submit(self, entry: LogEntry) -> bool:
        """Queues ``entry`` without blocking; False (and counted) when the queue is full."""
        with self._lock:
            if self._thread is None or self._pending + entry.count > self.queue_size:
                self.dropped += entry.count
                accepted = False
            else:
                self._pending += entry.count
                accepted = True
        if not accepted:
            if self._metrics is not None:
                self._metrics.log_dropped.labels("queue_full").inc(entry.count)
            return False
        if self._metrics is not None:
            self._metrics.log_queue.set(self._pending)
        self._queue.put(entry)
        return True

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="request-log-writer",
                                            daemon=True)
            self._thread.start()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def flush(self, timeout: float = 30.0) -> None:
        """Writes everything queued so far into files (tests, shutdown)."""
        if self.alive():
            command = _Flush()
            self._queue.put(command)
            command.done.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Writes what is queued and stops the thread."""
        thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout)
            with self._lock:
                self._thread = None

    def _run(self) -> None:
        buffer: list[dict[str, Any]] = []
        started = 0.0
        while True:
            wait = None
            if buffer:
                wait = max(0.01, min(1.0, self.roll_seconds - (self._clock() - started)))
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                item = None
            if item is _STOP:
                self._write(buffer)
                return
            if isinstance(item, _Flush):
                self._write(buffer)
                buffer = []
                item.done.set()
                continue
            if isinstance(item, LogEntry):
                with self._lock:
                    self._pending -= item.count
                try:
                    rows = entry_rows(item)
                except Exception:
                    log.exception("request log: could not convert request %s; dropped",
                                  item.request_id)
                    self._count_dropped("bad_entry", item.count)
                    rows = []
                if rows and not buffer:
                    started = self._clock()
                buffer.extend(rows)
            if buffer and (len(buffer) >= self.roll_records
                           or self._clock() - started >= self.roll_seconds):
                self._write(buffer)
                buffer = []
            if self._metrics is not None:
                self._metrics.log_queue.set(self._pending)

    def _count_dropped(self, reason: str, count: int) -> None:
        with self._lock:
            self.dropped += count
        if self._metrics is not None:
            self._metrics.log_dropped.labels(reason).inc(count)

    def _write(self, rows: list[dict[str, Any]]) -> None:
        for start in range(0, len(rows), self.roll_records):
            chunk = rows[start:start + self.roll_records]
            by_date: dict[str, list[dict[str, Any]]] = {}
            for row in chunk:
                day = datetime.fromtimestamp(row["logged_at"] / 1e6, timezone.utc)
                by_date.setdefault(day.strftime("%Y-%m-%d"), []).append(row)
            for day, day_rows in by_date.items():
                self._write_file(day, day_rows)

    def _write_file(self, day: str, rows: list[dict[str, Any]]) -> None:
        self._seq += 1
        first = datetime.fromtimestamp(rows[0]["logged_at"] / 1e6, timezone.utc)
        folder = self.directory / f"date={day}"
        path = folder / f"part-{first:%H%M%S}-{os.getpid()}-{self._seq:06d}.parquet"
        tmp = path.with_name(path.name + ".tmp")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            table = rows_table(rows)
            with open(tmp, "wb") as f:
                pq.write_table(table, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except Exception as err:
            log.error("request log: writing %s failed (%s); %d records dropped", path, err,
                      len(rows))
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            self._count_dropped("write_error", len(rows))
            return
        self.written += len(rows)
        if self._metrics is not None:
            self._metrics.log_records.inc(len(rows))
            self._metrics.log_files.inc()


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(
        timezone.utc)


def _files(log_dir: Path, start: datetime | None, end: datetime | None,
           problems: list[str]) -> Iterable[Path]:
    first: date | None = start.date() if start else None
    last: date | None = end.date() if end else None
    for folder in sorted(log_dir.iterdir()):
        match = DATE_DIR_RE.match(folder.name)
        if not folder.is_dir() or not match:
            problems.append(f"{folder}: not a date=YYYY-MM-DD folder of the request log; "
                            "skipped")
            continue
        try:
            day = date.fromisoformat(match.group(1))
        except ValueError:
            problems.append(f"{folder}: {match.group(1)} is not a date; skipped")
            continue
        if (first and day < first) or (last and day > last):
            continue
        for path in sorted(folder.iterdir()):
            if path.name.endswith(".tmp"):
                problems.append(f"{path}: incomplete file (being written, or left by a crash); "
                                "skipped")
            elif PART_RE.match(path.name):
                yield path
            else:
                problems.append(f"{path}: not a part-<HHMMSS>-<pid>-<seq>.parquet file; skipped")


def read_request_log(log_dir: str | os.PathLike[str], start: datetime | None = None,
                     end: datetime | None = None) -> tuple[pa.Table, list[str]]:
    """All logged rows with ``start <= logged_at < end`` (naive datetimes are UTC).

    Returns the rows (``SCHEMA``, sorted by ``logged_at`` then ``request_id``) and a list of
    problems: each file or folder that was skipped (incomplete, unreadable, wrong columns) and
    why. Never raises for a bad file; a missing ``log_dir`` gives no rows and one problem.
    """
    log_dir = Path(log_dir)
    start, end = _utc(start), _utc(end)
    problems: list[str] = []
    if not log_dir.is_dir():
        return SCHEMA.empty_table(), [f"{log_dir}: no request log folder (no request logged "
                                      "yet, or a wrong --request-log-dir)"]
    tables = []
    for path in _files(log_dir, start, end, problems):
        try:
            table = pq.read_table(path)
        except Exception as err:
            problems.append(f"{path}: unreadable Parquet ({str(err).splitlines()[0]}); skipped")
            continue
        missing = [name for name in SCHEMA.names if name not in table.column_names]
        if missing:
            problems.append(f"{path}: missing columns {missing}; skipped")
            continue
        try:
            tables.append(table.select(SCHEMA.names).cast(SCHEMA))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
            problems.append(f"{path}: columns of unexpected types ({err}); skipped")
    if not tables:
        return SCHEMA.empty_table(), problems
    table = pa.concat_tables(tables)
    if start is not None:
        table = table.filter(pc.greater_equal(table["logged_at"],
                                              pa.scalar(start, SCHEMA.field("logged_at").type)))
    if end is not None:
        table = table.filter(pc.less(table["logged_at"],
                                     pa.scalar(end, SCHEMA.field("logged_at").type)))
    return table.sort_by([("logged_at", "ascending"), ("request_id", "ascending")]), problems
