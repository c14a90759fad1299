"""The local stand-in for BigQuery: the training query run by embedded DuckDB over local files.

Input is either a folder of spans (``span-00001/*.parquet``, see ``pipelines.data.generator``)
or any CSV/Parquet file with the ad-click columns that a user brings. Column names are matched
ignoring case, spaces and underscores ("Daily Time Spent on Site" is ``DailyTimeSpentOnSite``).
Everything here is plain Python + DuckDB + Arrow so that the runner can check a file before any
TFX work starts, and the ExampleGen executor reads data through exactly the same code.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from models import features
from pipelines.common.errors import ClickflowError

QUERY_FILE = Path(__file__).with_name("sql") / "training_examples.sql"
LOCAL_TABLE = "ad_clicks"
SPAN_GLOB = "span-*/*.parquet"
SUPPORTED_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}

_INTEGER_TYPES = {
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "BOOLEAN",
}
_FLOAT_TYPES = {"FLOAT", "DOUBLE", "REAL"}
_TIMESTAMP_RE = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"
_EXPECTED = {"float": "a number", "int": "an integer", "string": "text"}


class DataError(ClickflowError, ValueError):
    """Input data that cannot be used, with a message naming the file, column and fix."""


def load_query() -> str:
    """The training query template, with ``{source_table}`` still in it."""
    return QUERY_FILE.read_text()


def render_query(template: str, table: str) -> str:
    """Puts a table reference into the query template."""
    if "{source_table}" not in template:
        raise DataError(f"the training query in {QUERY_FILE} has no {{source_table}} placeholder")
    return template.replace("{source_table}", table)


def _norm(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def file_format(path: str | os.PathLike) -> str:
    """'csv' or 'parquet' from a file name, or a DataError naming what is supported."""
    suffix = Path(path).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DataError(
            f"{path}: unsupported file type {suffix or '(none)'!r}; expected a .csv or .parquet "
            "file with the ad-click columns, or a folder of span-NNNNN/ Parquet spans"
        )
    return SUPPORTED_SUFFIXES[suffix]


@dataclass(frozen=True)
class SourceFiles:
    """Files that one run reads, all of one format."""

    files: tuple[str, ...]
    fmt: str

    @classmethod
    def from_pattern(cls, pattern: str) -> SourceFiles:
        files = tuple(sorted(glob.glob(pattern)))
        if not files:
            raise DataError(f"no input files match {pattern!r}")
        formats = {file_format(f) for f in files}
        if len(formats) > 1:
            raise DataError(f"{pattern!r} mixes CSV and Parquet files; use one format")
        return cls(files, formats.pop())

    def reader_sql(self) -> str:
        """A DuckDB table function reading every file."""
        listing = ", ".join("'" + f.replace("'", "''") + "'" for f in self.files)
        if self.fmt == "csv":
            # Text, not a guessed date type, for Timestamp: its format is checked as written.
            return (f"read_csv([{listing}], header=true, union_by_name=true, sample_size=-1, "
                    "auto_type_candidates=['BOOLEAN', 'BIGINT', 'DOUBLE', 'VARCHAR'])")
        return f"read_parquet([{listing}], union_by_name=true)"


def spans_pattern(data_dir: str | os.PathLike) -> str:
    """Glob of every complete span's Parquet files under a data folder."""
    return os.path.join(os.fspath(data_dir), SPAN_GLOB)


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection that also knows BigQuery's type names."""
    con = duckdb.connect(":memory:")
    # BigQuery spells DOUBLE as FLOAT64; DuckDB already knows INT64 and STRING.
    con.execute("CREATE TYPE FLOAT64 AS DOUBLE")
    return con


def _describe(con: duckdb.DuckDBPyConnection, source: SourceFiles) -> dict[str, str]:
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {source.reader_sql()}").fetchall()
    except duckdb.Error as err:
        raise DataError(f"cannot read {_name(source)}: {_first_line(err)}") from None
    return {row[0]: row[1] for row in rows}


def _name(source: SourceFiles) -> str:
    if len(source.files) == 1:
        return source.files[0]
    return f"{len(source.files)} {source.fmt} files ({source.files[0]}, ...)"


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0]


@dataclass(frozen=True)
class ColumnMatch:
    """The files' columns matched to the expected ones (ignoring case, spaces, underscores)."""

    described: dict[str, str]  # the files' columns -> DuckDB type, in file order
    mapping: dict[str, str]  # expected column -> the files' column, for each one found
    missing: tuple[str, ...]  # required columns the files lack

    @property
    def unmatched(self) -> tuple[str, ...]:
        """The files' columns that no expected column matched (ignored when read)."""
        used = set(self.mapping.values())
        return tuple(c for c in self.described if c not in used)


def match_columns(con: duckdb.DuckDBPyConnection, source: SourceFiles,
                  columns: tuple[str, ...] = features.RAW_COLUMNS,
                  optional: tuple[str, ...] = ()) -> ColumnMatch:
    """Which file column is each of ``columns`` (required) and ``optional``; DataError only
    when the files cannot be read at all."""
    described = _describe(con, source)
    by_norm = {_norm(name): name for name in described}
    mapping, missing = {}, []
    for column in (*columns, *optional):
        actual = by_norm.get(_norm(column))
        if actual is not None:
            mapping[column] = actual
        elif column not in optional:
            missing.append(column)
    return ColumnMatch(described, mapping, tuple(missing))


def type_problems(con: duckdb.DuckDBPyConnection, source: SourceFiles, match: ColumnMatch
                  ) -> dict[str, str]:
    """Expected column -> why its values do not fit its type (the pipeline's wording), for
    each matched column that has a problem."""
    reader = source.reader_sql()
    found = {}
    for column, actual in match.mapping.items():
        problem = _type_problem(con, reader, column, actual, match.described[actual])
        if problem:
            found[column] = problem
    return found


def column_map(source: SourceFiles, con: duckdb.DuckDBPyConnection | None = None,
               columns: tuple[str, ...] = features.RAW_COLUMNS) -> dict[str, str]:
    """Maps each expected column to the file's column; DataError on missing/mistyped columns.

    Also checks that there is at least one row, that ``Timestamp`` values look like
    ``YYYY-MM-DD HH:MM:SS`` and that the label holds only 0 and 1 (when among ``columns``).
    """
    con = con or connect()
    empty = [f for f in source.files if os.path.getsize(f) == 0]
    if empty:
        raise DataError(f"{empty[0]} is empty (0 bytes); expected a header and at least one row")
    match = match_columns(con, source, columns)
    if match.missing:
        raise DataError(
            f"{_name(source)}: {'; '.join(f'missing column {c!r}' for c in match.missing)}. "
            f"Expected columns: {', '.join(columns)} (found: {', '.join(match.described)})"
        )
    try:
        count = con.execute(f"SELECT count(*) FROM {source.reader_sql()}").fetchone()[0]
    except duckdb.Error as err:
        raise DataError(f"cannot read {_name(source)}: {_first_line(err)}") from None
    if count == 0:
        raise DataError(f"{_name(source)} has no rows; expected at least one example")
    problems = type_problems(con, source, match)
    if problems:
        raise DataError(f"{_name(source)}: " + "; ".join(problems.values()))
    return match.mapping


def _type_problem(con, reader: str, column: str, actual: str, duck_type: str) -> str | None:
    kind = features.RAW_TYPES[column]
    quoted = '"' + actual.replace('"', '""') + '"'
    base = duck_type.split("(")[0].upper()
    ok = (
        kind == "string"
        or (kind == "int" and base in _INTEGER_TYPES)
        or (kind == "float" and (base in _INTEGER_TYPES | _FLOAT_TYPES or base == "DECIMAL"))
    )
    if not ok and kind == "int" and (base in _FLOAT_TYPES or base == "DECIMAL"):
        bad = con.execute(
            f"SELECT {quoted} FROM {reader} WHERE {quoted} <> round({quoted}) LIMIT 1"
        ).fetchone()
        if bad is not None:
            return (f"column {column!r} should hold {_EXPECTED[kind]} but has {duck_type} "
                    f"values such as {bad[0]!r}")
        ok = True
    if not ok:
        target = "BIGINT" if kind == "int" else "DOUBLE"
        bad = con.execute(
            f"SELECT {quoted} FROM {reader} WHERE {quoted} IS NOT NULL "
            f"AND TRY_CAST({quoted} AS {target}) IS NULL LIMIT 1"
        ).fetchone()
        example = f" such as {bad[0]!r}" if bad else ""
        return (
            f"column {column!r} should hold {_EXPECTED[kind]} but has {duck_type} values{example}"
        )
    if column == features.TIMESTAMP_FEATURE:
        bad = con.execute(
            f"SELECT CAST({quoted} AS VARCHAR) FROM {reader} WHERE {quoted} IS NOT NULL AND NOT "
            f"regexp_full_match(CAST({quoted} AS VARCHAR), '{_TIMESTAMP_RE}') LIMIT 1"
        ).fetchone()
        if bad:
            return (
                f"column {column!r} should be 'YYYY-MM-DD HH:MM:SS' but has values such as "
                f"{bad[0]!r}"
            )
    if column == features.LABEL_KEY:
        bad = con.execute(
            f"SELECT {quoted} FROM {reader} WHERE {quoted} NOT IN (0, 1) LIMIT 1"
        ).fetchone()
        if bad:
            return f"label column {column!r} should be 0 or 1 but has values such as {bad[0]!r}"
    return None


def open_source(source: SourceFiles) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the files checked and exposed as the view ``ad_clicks``."""
    con = connect()
    mapping = column_map(source, con)
    select = ", ".join(
        '"' + actual.replace('"', '""') + f'" AS {column}' for column, actual in mapping.items()
    )
    con.execute(f"CREATE VIEW {LOCAL_TABLE} AS SELECT {select} FROM {source.reader_sql()}")
    return con


def query_batches(
    source: SourceFiles, query_template: str, batch_rows: int = 65_536
) -> Iterator[pa.RecordBatch]:
    """Runs the training query over the files and streams Arrow record batches."""
    con = open_source(source)
    query = render_query(query_template, LOCAL_TABLE)
    try:
        reader = con.execute(query).fetch_record_batch(batch_rows)
        yield from reader
    except duckdb.Error as err:
        raise DataError(
            f"the training query failed on {_name(source)}: {_first_line(err)}"
        ) from None
    finally:
        con.close()


def to_example_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Arrow columns -> the list-typed columns tf.Example encoding needs (nulls become empty)."""
    arrays, names = [], []
    for name in batch.schema.names:
        column = batch.column(name)
        kind = features.RAW_TYPES.get(name)
        if kind == "float":
            column = column.cast(pa.float32())
        elif kind == "int":
            column = column.cast(pa.int64())
        elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            column = column.cast(pa.binary())
        arrays.append(_as_list(column))
        names.append(name)
    return pa.RecordBatch.from_arrays(arrays, names)


def _as_list(column: pa.Array) -> pa.Array:
    valid = (
        np.ones(len(column), dtype=bool)
        if column.null_count == 0
        else ~np.asarray(column.is_null(), dtype=bool)
    )
    offsets = np.zeros(len(column) + 1, dtype=np.int32)
    np.cumsum(valid, out=offsets[1:])
    values = column.filter(pa.array(valid)) if column.null_count else column
    return pa.ListArray.from_arrays(pa.array(offsets), values)

