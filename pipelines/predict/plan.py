"""The Beam job's plan, made before the job starts: which files, their schema, each file's first
row, and reading one file in Arrow batches of that schema (what the job's workers do).

A local ``--input`` is checked exactly as ``python -m pipelines.predict`` checks it
(``batch.open_input``: DuckDB reads every value, Timestamps included) and its rows get the types
DuckDB gives them there, so both commands write the same rows. A ``gs://`` input is checked
from each file's schema (a Parquet footer, a CSV's first block: ranged reads, nothing
downloaded whole) with ``source.arrow_column_map``. Rows are numbered as the local command
numbers them: the files in name order, each from the row after the previous file's last.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import itertools
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from models import features
from pipelines.common import safe_parquet, storage
from pipelines.data import source as data_source
from pipelines.predict import batch

CSV_BLOCK_BYTES = 16 << 20  # a CSV is read in blocks of this size (one Arrow batch each)


@dataclasses.dataclass(frozen=True)
class InputFile:
    uri: str
    first_row: int  # the global row index of its first row


@dataclasses.dataclass(frozen=True)
class Plan:
    files: tuple[InputFile, ...]
    fmt: str  # "csv" or "parquet"
    mapping: dict[str, str]  # model input -> the files' column
    schema: pa.Schema  # the input rows as read (the scored rows: batch.output_schema(schema))
    input_name: str  # what predictions.json names as the input


def plan_input(where: storage.Location, model_inputs: tuple[str, ...]) -> Plan:
    """Lists and checks ``--input``; DataError (ModelError for a model of another schema)."""
    if not storage.is_gcs(where):
        data = batch.open_input(Path(where), model_inputs)
        files, fmt = data.source.files, data.source.fmt
        schema, mapping = batch.input_schema(data), data.mapping
        name = data_source.display_name(data.source)
        rows = [_parquet_rows(f) if fmt == "parquet" else 0 for f in files]
    else:
        batch.check_model_inputs(model_inputs)
        files, fmt = _gcs_files(str(where))
        checked = [_checked_schema(f, fmt, model_inputs) for f in files]
        schema = pa.unify_schemas([s for s, _ in checked])
        rows = [n for _, n in checked]
        mapping = data_source.arrow_column_map(schema, str(where), model_inputs)
        name = data_source.display_name(data_source.SourceFiles(files, fmt))
    firsts = itertools.accumulate(rows[:-1], initial=0)  # only Parquet inputs have several
    planned = tuple(InputFile(str(uri), first) for uri, first in zip(files, firsts, strict=True))
    return Plan(planned, fmt, mapping, schema, name)


def _parquet_rows(path: str) -> int:
    with storage.open_read(path) as f:
        return safe_parquet.read_metadata(f, path).num_rows


def _gcs_files(uri: str) -> tuple[tuple[str, ...], str]:
    if storage.is_file(uri):
        return (uri,), data_source.file_format(uri)
    listed = storage.list_files(uri)
    if not listed:
        raise data_source.DataError(
            f"--input {uri}: no such file or folder. Give a .csv/.parquet file with the "
            "ad-click columns, or a folder of span-NNNNN/ Parquet spans"
        )
    spans = tuple(str(e.location) for e in listed if fnmatch.fnmatch(e.name, "span-*/*.parquet"))
    if not spans:
        raise data_source.DataError(
            f"--input {uri}: the folder has no span-NNNNN/*.parquet files. Point --input at a "
            "CSV/Parquet file, or at a folder of spans"
        )
    return spans, "parquet"


def _checked_schema(uri: str, fmt: str, model_inputs: tuple[str, ...]) -> tuple[pa.Schema, int]:
    """One gs:// file's schema, checked, and its rows (a Parquet footer's count; a CSV's first
    block's, for the empty-file check); DataError naming the file."""
    with storage.open_read(uri) as f:
        if f.seek(0, 2) == 0:
            raise data_source.DataError(f"--input {uri}: the file is empty")
        f.seek(0)
        if fmt == "parquet":
            parquet = safe_parquet.parquet_file(f, uri)
            schema, rows = parquet.schema_arrow, parquet.metadata.num_rows
        else:
            reader = pacsv.open_csv(f, read_options=pacsv.ReadOptions(block_size=1 << 20))
            first = next(iter(reader), None)
            schema, rows = reader.schema, 0 if first is None else first.num_rows
            schema = _timestamp_as_text(schema)
    data_source.arrow_column_map(schema, uri, model_inputs)
    batch.refuse_overwritten(uri, schema.names)
    if rows == 0:
        raise data_source.DataError(f"{uri} has no rows; expected at least one example")
    return schema, rows


def _timestamp_as_text(schema: pa.Schema) -> pa.Schema:
    """Timestamp as written, as DuckDB reads it for the local command (never a parsed date)."""
    key = features.TIMESTAMP_FEATURE.lower()
    return pa.schema(
        [pa.field(f.name, pa.string()) if f.name.lower() == key else f for f in schema]
    )


def read_batches(
    file: str, fmt: str, schema: pa.Schema, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """One file's rows in Arrow batches of ``schema`` (at most ``batch_rows`` rows of Parquet, one
    CSV block), streamed: memory is bounded by a row group or a block."""
    with storage.open_read(file) as f:
        if fmt == "parquet":
            parquet = safe_parquet.parquet_file(f, file)
            for part in parquet.iter_batches(batch_size=batch_rows, use_threads=False):
                yield conform(part, schema)
            return
        types = dict(zip(schema.names, schema.types, strict=True))
        reader = pacsv.open_csv(
            f,
            read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True),
        )
        for part in reader:
            yield conform(part, schema)


def conform(part: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``part`` with exactly ``schema``'s columns, in its order and types (a span without a
    column gets nulls, as DuckDB's ``union_by_name`` gives them)."""
    columns = []
    for field in schema:
        index = part.schema.get_field_index(field.name)
        if index < 0:
            columns.append(pa.nulls(part.num_rows, field.type))
        else:
            column = part.column(index)
            columns.append(column if column.type == field.type else column.cast(field.type))
    return pa.RecordBatch.from_arrays(columns, schema=schema)
