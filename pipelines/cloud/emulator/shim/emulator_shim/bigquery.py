"""BigQuery, as TFX's BigQueryExampleGen executor uses it, answered by DuckDB over a local
file: the executor (TFX's own) still runs the query text from the spec, asks for its schema
(``bigquery.Client().query(...).result().schema``) and reads the rows
(``utils.ReadFromBigQuery``); only those two calls are answered here.

Each backticked ``project.dataset.table`` of the query must be one of the emulator's tables
(settings ``tables``: table -> local CSV/Parquet file); the file is read by the same code the
local ExampleGen uses (``pipelines.data.source``, copied into the image).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import ModuleType, SimpleNamespace
from typing import Any

from emulator_shim.hooks import settings

_TABLE_RE = re.compile(r"`([^`]+)`")
_COMMENT_RE = re.compile(r"--[^\n]*")
# DuckDB type -> the legacy BigQuery type name the executor's row_to_example expects.
_TYPES = {"BIGINT": "INTEGER", "INTEGER": "INTEGER", "SMALLINT": "INTEGER", "TINYINT": "INTEGER",
          "HUGEINT": "INTEGER", "UBIGINT": "INTEGER", "DOUBLE": "FLOAT", "FLOAT": "FLOAT",
          "REAL": "FLOAT", "DECIMAL": "FLOAT", "VARCHAR": "STRING", "BOOLEAN": "BOOLEAN"}


class EmulatedBigQueryError(RuntimeError):
    """The query names a table the emulator has no file for, or DuckDB refused it."""


def _connect(query: str):
    from pipelines.data import source

    tables = settings().get("tables", {})
    query = _COMMENT_RE.sub("", query)  # a comment may name a table too
    named = set(_TABLE_RE.findall(query))
    unknown = named - set(tables)
    if unknown:
        raise EmulatedBigQueryError(
            f"the query reads {sorted(unknown)}, but the emulator maps only {sorted(tables)} "
            "to local files (--rows / --data)")
    if len(named) != 1:
        raise EmulatedBigQueryError(f"expected one backticked table in the query, got "
                                    f"{sorted(named)}")
    (table,) = named
    con = source.open_source(source.SourceFiles.from_pattern(tables[table]))
    return con, query.replace(f"`{table}`", source.LOCAL_TABLE)


@dataclass(frozen=True)
class _Field:
    name: str
    field_type: str


def _bq_type(duck_type: str) -> str:
    base = duck_type.split("(")[0].upper()
    if base not in _TYPES:
        raise EmulatedBigQueryError(f"DuckDB type {duck_type} has no BigQuery equivalent here")
    return _TYPES[base]


class Client:
    """``google.cloud.bigquery.Client`` as the executor calls it: ``query(sql).result()``."""

    def __init__(self, project: str | None = None, **_: Any) -> None:
        self.project = project

    def query(self, sql: str) -> SimpleNamespace:
        con, local_sql = _connect(sql)
        try:
            rows = con.execute(f"DESCRIBE {local_sql}").fetchall()
        finally:
            con.close()
        schema = [_Field(r[0], _bq_type(r[1])) for r in rows]
        return SimpleNamespace(result=lambda: SimpleNamespace(schema=schema))


def read_rows(query: str) -> list[dict[str, Any]]:
    """The query's rows as dicts, as Beam's ReadFromBigQuery yields them."""
    con, local_sql = _connect(query)
    try:
        cursor = con.execute(local_sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def patch_executor(module: ModuleType) -> None:
    """The executor's ``bigquery`` module, with only ``Client`` answered by DuckDB."""
    module.bigquery = SimpleNamespace(Client=Client)


def patch_utils(module: ModuleType) -> None:
    """``utils.ReadFromBigQuery``: the rows DuckDB returns for the same query."""
    import apache_beam as beam

    @beam.ptransform_fn
    def ReadFromBigQuery(pipeline, query, big_query_custom_config=None):
        del big_query_custom_config  # BigQuery read options (export format, ...)
        return pipeline | "ReadFromBigQuery" >> beam.Create(read_rows(query))

    module.ReadFromBigQuery = ReadFromBigQuery
