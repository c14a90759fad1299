"""The request-log contract: the serving request log and the delayed labels, as Parquet files.

The server writes the request log (``deployment/server/log_writer.py``) and the monitor reads
it, both through this module's schema and layout: ``<log-dir>/date=YYYY-MM-DD/part-<HHMMSS>-
<pid>-<seq>.parquet`` (UTC); labels: ``<labels-dir>/part-*.parquet``. Writers write a
temporary name and rename it, so a reader never sees half a file; readers skip (and report)
temporary, unreadable, malformed and unsafe files (a pickled Arrow type, CVE-2023-47248: see
``safe_parquet``) instead of failing, because one bad file must not stop the monitor. The
writers here produce exactly the server's layout, for tests, the benchmark and the traffic
simulator's labels.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from models import features
from pipelines.common import safe_parquet, storage

ARROW_TYPES = {"float": pa.float64(), "int": pa.int64(), "string": pa.string()}
TIMESTAMP = pa.timestamp("us", tz="UTC")
FEATURE_COLUMNS = features.SERVING_FEATURES
# One row per predicted instance. The server writes exactly these columns; readers cast to them.
LOG_SCHEMA = pa.schema([
    pa.field("request_id", pa.string()),
    pa.field("logged_at", TIMESTAMP),
    pa.field("model_name", pa.string()),
    pa.field("model_version", pa.int64()),
    pa.field("signature", pa.string()),
    *(pa.field(c, ARROW_TYPES[features.RAW_TYPES[c]]) for c in FEATURE_COLUMNS),
    pa.field("probability", pa.float64()),
])
LABEL_SCHEMA = pa.schema([
    pa.field("request_id", pa.string()),
    pa.field(features.LABEL_KEY, pa.int64()),
    pa.field("labelled_at", TIMESTAMP),
])
# Rows without these values cannot be attributed, joined or scored; they are dropped and counted.
LOG_REQUIRED = ("request_id", "logged_at", "model_version", "probability")
# Layout: <log-dir>/date=YYYY-MM-DD/part-<HHMMSS>-<pid>-<seq>.parquet; <labels-dir>/part-*.parquet
DATE_DIR_RE = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
PART_RE = re.compile(r"^part-\d{6}-\d+-\d+\.parquet$")
_LABEL_PART = re.compile(r"part-.*\.parquet")
log = logging.getLogger(__name__)


def date_folder(day: str) -> str:
    """The folder of one UTC day (``YYYY-MM-DD``) of the request log."""
    return f"date={day}"


def part_name(first_logged_at: datetime, seq: int) -> str:
    """A request-log file name: its first record's UTC time, the writer's pid and a sequence."""
    return f"part-{first_logged_at:%H%M%S}-{os.getpid()}-{seq:06d}.parquet"


def utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (a naive one is taken to be UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _atomic_write(table: pa.Table, path: storage.Location) -> storage.Location:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    storage.write_bytes(path, sink.getvalue().to_pybytes())
    return path


def read_parquet(location: storage.Location) -> pa.Table:
    """One Parquet file, local or ``gs://``, through ``safe_parquet`` (CVE-2023-47248)."""
    if storage.is_gcs(location):
        return safe_parquet.read_table_bytes(storage.read_bytes(location), str(location))
    return safe_parquet.read_table(location)


def write_request_log_file(log_dir: storage.Location, table: pa.Table, *,
                           seq: int = 0) -> list[storage.Location]:
    """Write ``table`` (LOG_SCHEMA columns) as the server does: one file per UTC day of
    ``logged_at`` in ``date=YYYY-MM-DD/``, named after its first record's time."""
    table = table.select(LOG_SCHEMA.names).cast(LOG_SCHEMA)
    days = pc.strftime(table["logged_at"], format="%Y-%m-%d")
    paths = []
    for index, day in enumerate(sorted(set(days.to_pylist()))):
        part = table.filter(pc.equal(days, day))
        first = utc(part["logged_at"][0].as_py())
        name = part_name(first, seq * 1000 + index)
        paths.append(_atomic_write(part, storage.join(log_dir, date_folder(day), name)))
    return paths


def write_labels_file(labels_dir: storage.Location, table: pa.Table,
                      name: str) -> storage.Location:
    """Write one labels file ``<labels_dir>/part-<name>.parquet`` (LABEL_SCHEMA columns)."""
    path = storage.join(labels_dir, f"part-{name}.parquet")
    return _atomic_write(table.select(LABEL_SCHEMA.names).cast(LABEL_SCHEMA), path)


def _conform(table: pa.Table, schema: pa.Schema,
             path: storage.Location) -> tuple[pa.Table | None, str]:
    """``table`` cast to ``schema``, or None and why not (missing column, uncastable type)."""
    missing = [name for name in schema.names if name not in table.column_names]
    if missing:
        return None, f"{path}: missing column(s) {missing}; skipped"
    columns = []
    for field in schema:
        column = table[field.name]
        if not column.type.equals(field.type):
            try:
                column = column.cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return None, (f"{path}: column {field.name} is {column.type}, expected "
                              f"{field.type}; skipped")
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema), ""


def _read_files(paths: Sequence[storage.Location], schema: pa.Schema
                ) -> tuple[list[pa.Table], list[str], list[storage.Location]]:
    tables, problems, used = [], [], []
    for path in paths:
        try:
            table = read_parquet(path)
        except safe_parquet.UnsafeParquetError as err:
            problems.append(_unsafe(err))
            continue
        except (OSError, pa.ArrowException) as err:
            problems.append(f"{path}: unreadable Parquet ({_first_line(err)}); skipped")
            continue
        conformed, problem = _conform(table, schema, path)
        if conformed is None:
            problems.append(problem)
            continue
        tables.append(conformed)
        used.append(path)
    return tables, problems, used


def _unsafe(err: safe_parquet.UnsafeParquetError) -> str:
    """The problem line of a refused file, also logged: someone planted it, or a tool of theirs
    wrote a pickled type."""
    log.warning("%s; skipped", err)
    return f"{err}; skipped"


def _first_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0][:200]


def _drop_incomplete(table: pa.Table, columns: Sequence[str], what: str
                     ) -> tuple[pa.Table, list[str]]:
    problems = []
    for name in columns:
        nulls = table[name].null_count
        if nulls:
            table = table.filter(pc.is_valid(table[name]))
            problems.append(f"{nulls} {what} record(s) without {name}; dropped")
    return table, problems


def _files(log_dir: storage.Location, start: datetime | None, end: datetime | None,
           problems: list[str]) -> Iterable[storage.Location]:
    first: date | None = start.date() if start else None
    last: date | None = end.date() if end else None
    for folder in storage.list_dir(log_dir):
        match = DATE_DIR_RE.match(folder.name)
        if not folder.is_dir or not match:
            problems.append(f"{folder.location}: not a date=YYYY-MM-DD folder of the request "
                            "log; skipped")
            continue
        try:
            day = date.fromisoformat(match.group(1))
        except ValueError:
            problems.append(f"{folder.location}: {match.group(1)} is not a date; skipped")
            continue
        if (first and day < first) or (last and day > last):
            continue
        for entry in storage.list_dir(folder.location):
            path = entry.location
            if entry.name.endswith(".tmp"):
                problems.append(f"{path}: incomplete file (being written, or left by a crash); "
                                "skipped")
            elif PART_RE.match(entry.name) and not entry.is_dir:
                yield path
            else:
                problems.append(f"{path}: not a part-<HHMMSS>-<pid>-<seq>.parquet file; skipped")


def read_request_log(log_dir: storage.Location, start: datetime | None = None,
                     end: datetime | None = None) -> tuple[pa.Table, list[str]]:
    """All logged rows with ``start <= logged_at < end`` (naive datetimes are UTC).

    Returns the rows (``LOG_SCHEMA``, sorted by ``logged_at`` then ``request_id``) and a list of
    problems: each file or folder that was skipped (incomplete, unreadable, wrong columns) and
    why. Never raises for a bad file; a missing ``log_dir`` gives no rows and one problem.
    ``log_dir`` may be ``gs://``; a listing that fails (a missing bucket, no access, Cloud
    Storage unreachable) raises the OSError naming it: an unreadable log is not an empty one.
    """
    log_dir = log_dir if storage.is_gcs(log_dir) else Path(log_dir)
    start = utc(start) if start is not None else None
    end = utc(end) if end is not None else None
    problems: list[str] = []
    if not storage.is_dir(log_dir):
        return LOG_SCHEMA.empty_table(), [f"{log_dir}: no request log folder (no request logged "
                                      "yet, or a wrong --request-log-dir)"]
    tables = []
    for path in _files(log_dir, start, end, problems):
        try:
            table = read_parquet(path)
        except safe_parquet.UnsafeParquetError as err:
            problems.append(_unsafe(err))
            continue
        except Exception as err:
            problems.append(f"{path}: unreadable Parquet ({str(err).splitlines()[0]}); skipped")
            continue
        missing = [name for name in LOG_SCHEMA.names if name not in table.column_names]
        if missing:
            problems.append(f"{path}: missing columns {missing}; skipped")
            continue
        try:
            tables.append(table.select(LOG_SCHEMA.names).cast(LOG_SCHEMA))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
            problems.append(f"{path}: columns of unexpected types ({err}); skipped")
    if not tables:
        return LOG_SCHEMA.empty_table(), problems
    table = pa.concat_tables(tables)
    if start is not None:
        table = table.filter(pc.greater_equal(table["logged_at"],
                                              pa.scalar(start, LOG_SCHEMA.field("logged_at").type)))
    if end is not None:
        table = table.filter(pc.less(table["logged_at"],
                                     pa.scalar(end, LOG_SCHEMA.field("logged_at").type)))
    return table.sort_by([("logged_at", "ascending"), ("request_id", "ascending")]), problems


def read_window(log_dir: storage.Location, start: datetime | None = None,
                     end: datetime | None = None) -> tuple[pa.Table, list[str]]:
    """The records a monitor can judge in [start, end): ``read_request_log``'s, less those
    without a request id, time, version or probability (dropped and counted). A missing log
    folder is an empty window, not a problem. Not deduplicated (``live.dedupe_requests``)."""
    table, problems = read_request_log(log_dir, start, end)
    if not table.num_rows and not storage.is_dir(log_dir):
        problems = []  # nothing logged yet is an empty window, not a problem
    table, dropped = _drop_incomplete(table.cast(LOG_SCHEMA), LOG_REQUIRED, "request-log")
    return table, problems + dropped


def read_labels(labels_dir: storage.Location) -> tuple[pa.Table, list[str]]:
    """Every label in ``<labels_dir>/part-*.parquet`` (LABEL_SCHEMA), and the problems met
    (``labels_dir`` may be ``gs://``; a failed listing raises, as in ``read_request_log``)."""
    problems: list[str] = []
    paths: list[storage.Location] = []
    for entry in storage.list_dir(labels_dir):
        if _LABEL_PART.fullmatch(entry.name) and not entry.is_dir:
            paths.append(entry.location)
        elif ".tmp" in entry.name:
            problems.append(f"{entry.location}: temporary file; skipped")
    tables, read_problems, _ = _read_files(paths, LABEL_SCHEMA)
    problems.extend(read_problems)
    table = pa.concat_tables(tables) if tables else LABEL_SCHEMA.empty_table()
    return clean_labels(table, problems)


def clean_labels(table: pa.Table, problems: list[str]) -> tuple[pa.Table, list[str]]:
    """Labels (LABEL_SCHEMA) less those without a value or with a label other than 0/1,
    each kind dropped and counted in ``problems``."""
    table, dropped = _drop_incomplete(table, LABEL_SCHEMA.names, "label")
    bad = pc.sum(pc.invert(pc.is_in(table[features.LABEL_KEY], pa.array([0, 1])))).as_py() or 0
    if bad:
        table = table.filter(pc.is_in(table[features.LABEL_KEY], pa.array([0, 1])))
        problems.append(f"{bad} label(s) with {features.LABEL_KEY} other than 0/1; dropped")
    return table, problems + dropped
