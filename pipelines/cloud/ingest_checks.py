"""Checks of data files before BigQuery loads them: the local input checks, plus what a
BigQuery load job reads differently from our DuckDB reader.

The local checks (``pipelines.data.source.column_map``) find missing and mistyped columns,
labels other than 0/1 and impossible Timestamps. A load job is stricter in two ways, and a
file that passes here must load:

- CSV columns are matched by position (``skipLeadingRows=1`` skips the header unread), so the
  header must be the table's columns in the table's order, spelled as the table spells them;
  an INT64 column parses only integers ("1.0" is "Could not parse '1.0' as INT64").
- Parquet columns are matched by name and keep their Parquet type: loading an int64 column
  into a FLOAT64 one fails with "Field X has changed type from FLOAT to INTEGER".
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from models import features
from pipelines.common import safe_parquet
from pipelines.data import csv_text
from pipelines.data import source as data_source

BIGQUERY_TYPES = {"float": "FLOAT", "int": "INTEGER", "string": "STRING"}
_ARROW_OK = {"float": pa.types.is_floating, "int": pa.types.is_integer,
             "string": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t)}
_ARROW_NAME = {"float": "double", "int": "int64", "string": "string"}
_DUCK_INTEGERS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
                  "USMALLINT", "UINTEGER", "UBIGINT"}


def problem(local_path: str, fmt: str) -> str | None:
    """Why BigQuery would refuse (or mis-read) the file, naming the column; None if it loads."""
    found = _csv_layout(local_path) if fmt == "csv" else _parquet_layout(local_path)
    if found:
        return found
    source = data_source.SourceFiles((local_path,), fmt)
    con = data_source.connect()
    try:
        data_source.column_map(source, con)
        if fmt == "csv":
            return _csv_integers(con, source)
    except (data_source.DataError, safe_parquet.UnsafeParquetError) as err:
        return str(err).replace(f"{local_path}: ", "").replace(local_path, "the file")
    finally:
        con.close()
    return None


def _csv_layout(path: str) -> str | None:
    try:
        header = csv_text.header(path)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        return f"cannot read the CSV header ({err})"
    expected = list(features.RAW_COLUMNS)
    if header == expected:
        return None
    for position, (have, want) in enumerate(zip(header, expected, strict=False), start=1):
        if have != want:
            return (f"column {position} is {have!r} but the table's column {position} is "
                    f"{want!r}: BigQuery loads CSV columns by position, so the header must be "
                    f"exactly {', '.join(expected)}")
    if len(header) < len(expected):
        return (f"missing column {expected[len(header)]!r} (column {len(header) + 1}); "
                f"expected the columns {', '.join(expected)}")
    return (f"extra column {header[len(expected)]!r} (column {len(expected) + 1}); BigQuery "
            f"loads CSV columns by position: expected only {', '.join(expected)}")


def _parquet_layout(path: str) -> str | None:
    schema = safe_parquet.read_schema(path)
    names = list(schema.names)
    for column in features.RAW_COLUMNS:
        if column not in names:
            near = [n for n in names if data_source._norm(n) == data_source._norm(column)]
            hint = (f" (found {near[0]!r}: BigQuery matches Parquet columns by their exact "
                    "name)") if near else ""
            return f"missing column {column!r}{hint}"
    extra = [n for n in names if n not in features.RAW_COLUMNS]
    if extra:
        return (f"extra column {extra[0]!r}: the table has only the columns "
                f"{', '.join(features.RAW_COLUMNS)}")
    for column in features.RAW_COLUMNS:
        kind = features.RAW_TYPES[column]
        arrow_type = schema.field(column).type
        if not _ARROW_OK[kind](arrow_type):
            return (f"column {column!r} is {arrow_type} in the Parquet file but "
                    f"{BIGQUERY_TYPES[kind]} in the table; BigQuery loads a Parquet column only "
                    f"into its own type (write it as {_ARROW_NAME[kind]})")
    return None


def _csv_integers(con: duckdb.DuckDBPyConnection, source: data_source.SourceFiles) -> str | None:
    """INT64 columns whose CSV text is not an integer (e.g. 1.0), which BigQuery cannot parse."""
    reader = source.reader_sql()
    types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM "
                             f"{reader})").fetchall())
    for column in features.RAW_COLUMNS:
        if features.RAW_TYPES[column] != "int" or types[column] in _DUCK_INTEGERS:
            continue
        bad = con.execute(f'SELECT "{column}" FROM {reader} WHERE "{column}" IS NOT NULL '
                          "LIMIT 1").fetchone()
        where = data_source.locate(con, source, column, str(bad[0])) if bad else ""
        return (f"column {column!r} should hold integers but has {types[column]} values such as "
                f"{bad[0] if bad else '?'!r}{where}; BigQuery parses INT64 from whole numbers "
                "written without a decimal point")
    return None
