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
from pipelines.data import csv_text

QUERY_FILE = Path(__file__).with_name("sql") / "training_examples.sql"
LOCAL_TABLE = "ad_clicks"  # what the training query reads: rows with a usable Timestamp
READ_VIEW = "ad_clicks_read"  # every row read, columns renamed (what row accounting counts)
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
_STRPTIME = "%Y-%m-%d %H:%M:%S"
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


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def timestamp_ok_sql(expr: str) -> str:
    """SQL that is true when ``expr`` is NULL or a real date and time as YYYY-MM-DD HH:MM:SS
    (so not 2016-02-30 or 25:61:61, which the format alone lets through)."""
    text = f"CAST({expr} AS VARCHAR)"
    return (f"({expr} IS NULL OR (regexp_full_match({text}, '{_TIMESTAMP_RE}') "
            f"AND try_strptime({text}, '{_STRPTIME}') IS NOT NULL))")


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
        raise read_error(source, err) from None
    return {row[0]: row[1] for row in rows}


def read_error(source: SourceFiles, err: duckdb.Error, doing: str = "cannot read") -> DataError:
    """A DataError for DuckDB's error reading ``source``; for text that is not UTF-8, one that
    says where (DuckDB names only a line, not the file, the column or the encoding)."""
    if source.fmt == "csv":
        for path in source.files:
            where = csv_text.not_utf8(path)
            if where:
                return DataError(f"cannot read {where}")
    return DataError(f"{doing} {display_name(source)}: {_first_line(err)}")


def display_name(source: SourceFiles) -> str:
    if len(source.files) == 1:
        return source.files[0]
    return f"{len(source.files)} {source.fmt} files ({source.files[0]}, ...)"


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0]


@dataclass(frozen=True)
class ColumnMatch:
    """The files' columns matched to the expected ones (ignoring case, spaces, underscores)."""

    described: dict[str, str]  # the files' columns -> DuckDB type, in file order (as DuckDB
    # names them: a CSV header's second 'Age' becomes 'Age_1')
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
    """Which file column is each of ``columns`` (required) and ``optional``; DataError when
    the files cannot be read at all, or when two columns match one expected column."""
    described = _describe(con, source)
    wanted = (*columns, *optional)
    _refuse_repeated(source, con, list(described), wanted)
    by_norm = {_norm(name): name for name in described}
    mapping, missing = {}, []
    for column in wanted:
        actual = by_norm.get(_norm(column))
        if actual is not None:
            mapping[column] = actual
        elif column not in optional:
            missing.append(column)
    return ColumnMatch(described, mapping, tuple(missing))


def _file_columns(con: duckdb.DuckDBPyConnection, source: SourceFiles, path: str) -> list[str]:
    """A file's column names as written (DuckDB's DESCRIBE renames repeated ones)."""
    if source.fmt == "csv":
        return csv_text.header(path)
    quoted = "'" + path.replace("'", "''") + "'"
    rows = con.execute(f"SELECT name FROM parquet_schema({quoted}) WHERE num_children IS NULL "
                       "OR num_children = 0").fetchall()
    return [row[0] for row in rows]


def _refuse_repeated(source: SourceFiles, con: duckdb.DuckDBPyConnection,
                     described: list[str], wanted: tuple[str, ...]) -> None:
    """DataError naming both columns when two columns of one file (or of the files together)
    match the same expected column: which one is meant is the user's call, not ours."""
    listings = [(path, _file_columns(con, source, path)) for path in source.files]
    listings.append((display_name(source), described))
    for column in wanted:
        for where, names in listings:
            _refuse_repeated_names(where, names, (column,))


def _refuse_repeated_names(where: str, names: list[str], wanted: tuple[str, ...]) -> None:
    """DataError naming them when two of ``names`` (one file's columns) match one of
    ``wanted``."""
    for column in wanted:
        same = [(i, n) for i, n in enumerate(names) if _norm(n) == _norm(column)]
        if len(same) > 1:
            named = [f"{n!r} (column {i + 1})" for i, n in same]
            both = ", ".join(named[:-1]) + " and " + named[-1]
            raise DataError(
                f"{where}: the columns {both} {'both' if len(same) == 2 else 'all'} match "
                f"the expected column {column!r}; keep one of them (rename or delete the "
                f"{'other' if len(same) == 2 else 'others'})")


def type_problems(con: duckdb.DuckDBPyConnection, source: SourceFiles, match: ColumnMatch,
                  check_timestamps: bool = True) -> dict[str, str]:
    """Expected column -> why its values do not fit its type (the pipeline's wording), for
    each matched column that has a problem; Timestamp values only with ``check_timestamps``."""
    reader = source.reader_sql()
    found = {}
    for column, actual in match.mapping.items():
        problem = _type_problem(con, reader, column, actual, match.described[actual])
        if problem is None and column == features.TIMESTAMP_FEATURE and check_timestamps:
            problem = _timestamp_problem(con, source, column, actual)
        if problem:
            found[column] = problem
    return found


def column_map(source: SourceFiles, con: duckdb.DuckDBPyConnection | None = None,
               columns: tuple[str, ...] = features.RAW_COLUMNS,
               check_timestamps: bool = True) -> dict[str, str]:
    """Maps each expected column to the file's column; DataError on missing/mistyped columns.

    Also checks that there is at least one row, that ``Timestamp`` values are real dates and
    times written ``YYYY-MM-DD HH:MM:SS`` (unless not ``check_timestamps``) and that the label
    holds only 0 and 1 (when among ``columns``).
    """
    con = con or connect()
    empty = [f for f in source.files if os.path.getsize(f) == 0]
    if empty:
        raise DataError(f"{empty[0]} is empty (0 bytes); expected a header and at least one row")
    match = match_columns(con, source, columns)
    if match.missing:
        raise DataError(
            f"{display_name(source)}: {'; '.join(f'missing column {c!r}' for c in match.missing)}. "
            f"Expected columns: {', '.join(columns)} (found: {', '.join(match.described)})"
        )
    try:
        count = con.execute(f"SELECT count(*) FROM {source.reader_sql()}").fetchone()[0]
    except duckdb.Error as err:
        raise read_error(source, err) from None
    if count == 0:
        raise DataError(f"{display_name(source)} has no rows; expected at least one example")
    problems = type_problems(con, source, match, check_timestamps)
    if problems:
        raise DataError(f"{display_name(source)}: " + "; ".join(problems.values()))
    return match.mapping


def _type_problem(con, reader: str, column: str, actual: str, duck_type: str) -> str | None:
    kind = features.RAW_TYPES[column]
    quoted = _quote(actual)
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
    if column == features.LABEL_KEY:
        bad = con.execute(
            f"SELECT {quoted} FROM {reader} WHERE {quoted} NOT IN (0, 1) LIMIT 1"
        ).fetchone()
        if bad:
            return f"label column {column!r} should be 0 or 1 but has values such as {bad[0]!r}"
    return None


def _timestamp_problem(con, source: SourceFiles, column: str, actual: str) -> str | None:
    quoted = _quote(actual)
    text = f"CAST({quoted} AS VARCHAR)"
    written = f"regexp_full_match({text}, '{_TIMESTAMP_RE}')"
    # One scan: values not written YYYY-MM-DD HH:MM:SS, then dates or times that do not exist.
    unwritten, example, impossible, first = con.execute(
        f"SELECT count(*) FILTER (WHERE NOT {written}), min({text}) FILTER (WHERE NOT {written}),"
        f" count(*) FILTER (WHERE NOT {timestamp_ok_sql(quoted)}), "
        f"min({text}) FILTER (WHERE NOT {timestamp_ok_sql(quoted)}) "
        f"FROM {source.reader_sql()} WHERE {quoted} IS NOT NULL"
    ).fetchone()
    if unwritten:
        return (
            f"column {column!r} should be 'YYYY-MM-DD HH:MM:SS' but has values such as "
            f"{example!r}"
        )
    if not impossible:
        return None
    values = "1 value does" if impossible == 1 else f"{impossible:,} values do"
    return (f"column {column!r} should hold real dates and times (YYYY-MM-DD HH:MM:SS) but "
            f"{values} not exist, such as {first!r}{locate(con, source, actual, first)}")


def locate(con: duckdb.DuckDBPyConnection, source: SourceFiles, actual: str, value: str) -> str:
    """Where the first row whose column ``actual`` is ``value`` is: ' on line N' (CSV) or
    ' on row N' (Parquet), with ' of FILE' when there are several files; '' if not found."""
    for path in source.files:
        if source.fmt == "csv":
            line = csv_text.line_of(path, actual, value)
            where = None if line is None else f"line {line}"
        else:
            found = con.execute(
                f"SELECT file_row_number FROM read_parquet(?, file_row_number=true) "
                f"WHERE CAST({_quote(actual)} AS VARCHAR) = ? ORDER BY 1 LIMIT 1",
                [path, value]).fetchone()
            where = None if found is None else f"row {found[0] + 1}"
        if where:
            return f" on {where}" + (f" of {path}" if len(source.files) > 1 else "")
    return ""


def open_source(source: SourceFiles, check_timestamps: bool = True,
                mapping: dict[str, str] | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the files checked and exposed as two views: ``ad_clicks_read``
    (every row, the expected column names) and ``ad_clicks`` (what the training query reads:
    the rows whose Timestamp is empty or a real date and time).

    Without ``check_timestamps`` a file with impossible Timestamps is accepted and those rows
    are left out of ``ad_clicks`` (the ExampleGen counts them as dropped, see row_accounting).
    A ``mapping`` from ``column_map`` skips the checks (the caller has just made them).
    """
    con = connect()
    if mapping is None:
        mapping = column_map(source, con, check_timestamps=check_timestamps)
    select = ", ".join(f"{_quote(actual)} AS {column}" for column, actual in mapping.items())
    con.execute(f"CREATE VIEW {READ_VIEW} AS SELECT {select} FROM {source.reader_sql()}")
    usable = (timestamp_ok_sql(features.TIMESTAMP_FEATURE)
              if features.TIMESTAMP_FEATURE in mapping else "true")
    con.execute(f"CREATE VIEW {LOCAL_TABLE} AS SELECT * FROM {READ_VIEW} WHERE {usable}")
    return con


def query_batches(
    source: SourceFiles, query_template: str, batch_rows: int = 65_536,
    check_timestamps: bool = True, mapping: dict[str, str] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Runs the training query over the files and streams Arrow record batches."""
    con = open_source(source, check_timestamps, mapping)
    query = render_query(query_template, LOCAL_TABLE)
    try:
        reader = con.execute(query).fetch_record_batch(batch_rows)
        yield from reader
    except duckdb.Error as err:
        raise read_error(source, err, "the training query failed on") from None
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


def arrow_kind_problem(column: str, arrow_type: pa.DataType) -> str | None:
    """Why a column of ``arrow_type`` cannot be the expected ``column`` (this module's wording),
    judged from the type alone: for files whose values are not read before use (a schema in
    a Parquet footer or a CSV's first block). Stricter than ``type_problems``, which reads the
    values: a floating-point column is not taken as an integer one here."""
    kind = features.RAW_TYPES[column]
    integer = pa.types.is_integer(arrow_type) or pa.types.is_boolean(arrow_type)
    number = integer or pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type)
    if kind == "string" or (kind == "int" and integer) or (kind == "float" and number):
        return None
    return f"column {column!r} should hold {_EXPECTED[kind]} but has {arrow_type} values"


def arrow_column_map(schema: pa.Schema, where: str,
                     columns: tuple[str, ...] = features.RAW_COLUMNS) -> dict[str, str]:
    """``column_map`` for a file known only by its Arrow schema: each expected column -> the
    file's column (matched as ``match_columns`` matches), DataError on missing, repeated or
    mistyped columns."""
    names = list(schema.names)
    _refuse_repeated_names(where, names, columns)
    by_norm = {_norm(name): name for name in names}
    missing = [c for c in columns if _norm(c) not in by_norm]
    if missing:
        raise DataError(
            f"{where}: {'; '.join(f'missing column {c!r}' for c in missing)}. "
            f"Expected columns: {', '.join(columns)} (found: {', '.join(names)})")
    mapping = {c: by_norm[_norm(c)] for c in columns}
    problems = [p for c, actual in mapping.items()
                if (p := arrow_kind_problem(c, schema.field(actual).type))]
    if problems:
        raise DataError(f"{where}: " + "; ".join(problems))
    return mapping
