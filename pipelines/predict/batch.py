"""Streaming batch scoring: input rows in Arrow batches -> the model -> Parquet shards.

Memory is bounded by one batch (``batch_rows``) and one open shard's row group, whatever the
input's size: DuckDB streams the files (``fetch_record_batch``), each batch is scored by the
model's ``serving_default`` and appended to the current shard at once.

The input is checked as the local runner checks its ``--data`` (``pipelines.data.inputs`` and
``pipelines.data.source``: the same file and folder rules, column matching, types, real
Timestamps, at least one row), except that the label is optional. Every input row is written
with all its columns as they were (a request or row id among them is kept), its position in
the input (``row``, from 0 in the order the files are read) and ``probability``, ``clicked``
and ``model_version``; a row with an empty model input gets empty predictions and is counted.

Output goes to a hidden sibling folder that is renamed to ``--output`` when every shard is
written: an interrupted run leaves no half-written output under that name, and an existing,
non-empty ``--output`` is refused rather than overwritten.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from models import features
from pipelines.common import storage
from pipelines.data import inputs
from pipelines.data import source as data_source
from pipelines.predict.model import ModelError, Scorer

# The columns scoring adds after the input's own, with their types (the Beam job's Parquet
# sink needs the schema before the first row).
ADDED_FIELDS = (
    pa.field("row", pa.int64()),
    pa.field("probability", pa.float32()),
    pa.field("clicked", pa.int64()),
    pa.field("model_version", pa.int64()),
)
ADDED = tuple(f.name for f in ADDED_FIELDS)
MANIFEST = "predictions.json"
BATCH_ROWS = 65_536
SHARD_ROWS = 1_000_000


@dataclasses.dataclass(frozen=True)
class Input:
    """The checked input: its files, and which file column feeds each model input."""

    source: data_source.SourceFiles
    mapping: dict[str, str]  # model input -> the files' column


def check_model_inputs(model_inputs: tuple[str, ...]) -> None:
    """ModelError when the model takes an input that is not an ad-click column."""
    unknown = [name for name in model_inputs if name not in features.RAW_TYPES]
    if unknown:
        raise ModelError(
            f"the model's {', '.join(unknown)} input(s) are not ad-click columns "
            f"({', '.join(features.RAW_COLUMNS)}); this command scores models "
            "of that schema"
        )


def refuse_overwritten(where: object, names: list[str]) -> None:
    """DataError when an input column has the name of a column scoring adds."""
    clash = [c for c in names if c.lower() in ADDED]
    if clash:
        raise data_source.DataError(
            f"--input {where}: the column(s) {', '.join(map(repr, clash))} would be overwritten "
            f"by the predictions ({', '.join(ADDED)}); rename them"
        )


def open_input(path: Path, model_inputs: tuple[str, ...]) -> Input:
    """Checks ``--input`` like the runner checks ``--data`` (label optional); DataError."""
    check_model_inputs(model_inputs)
    source, _where = inputs.resolve_source(path, flag="--input")
    mapping = data_source.column_map(source, columns=model_inputs)
    con = data_source.connect()
    try:
        described = data_source.match_columns(con, source, model_inputs).described
    finally:
        con.close()
    refuse_overwritten(path, list(described))
    return Input(source, mapping)


def output_schema(input_schema: pa.Schema) -> pa.Schema:
    """The scored rows' schema: the input's columns as they are, then ``ADDED_FIELDS``."""
    return pa.schema([*input_schema, *ADDED_FIELDS])


def input_schema(data: Input) -> pa.Schema:
    """The Arrow schema ``batches`` yields for ``data`` (DuckDB's types for the files)."""
    con = data_source.connect()
    try:
        return con.execute(f"SELECT * FROM {data.source.reader_sql()} LIMIT 0").arrow().schema
    finally:
        con.close()


def build_manifest(
    *,
    model: object,
    model_version: int,
    input_name: str,
    rows: int,
    unscored: int,
    shards: list[str],
    seconds: float,
) -> dict[str, Any]:
    """What ``predictions.json`` holds; the local loop and the Beam job write the same."""
    return {
        "model": str(model),
        "model_version": model_version,
        "input": input_name,
        "rows": rows,
        "scored": rows - unscored,
        "unscored_empty_input": unscored,
        "shards": shards,
        "seconds": round(seconds, 2),
    }


def batches(data: Input, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """Every input row, every column as the files have it, ``batch_rows`` at a time."""
    con = data_source.connect()
    try:
        reader = con.execute(f"SELECT * FROM {data.source.reader_sql()}").fetch_record_batch(
            batch_rows
        )
        yield from reader
    except Exception as err:
        import duckdb

        if isinstance(err, duckdb.Error):
            raise data_source.read_error(data.source, err) from None
        raise
    finally:
        con.close()


def predict_batch(
    batch: pa.RecordBatch, mapping: dict[str, str], scorer: Scorer, first_row: int
) -> tuple[pa.RecordBatch, int]:
    """``batch`` with the added columns (rows numbered from ``first_row``), and how many of its
    rows could not be scored (an empty model input). ``mapping``: model input -> the batch's
    column. Pure: the local loop and the Beam job's DoFn call it alike."""
    columns = {name: batch.column(actual) for name, actual in mapping.items()}
    valid = np.ones(batch.num_rows, dtype=bool)
    for column in columns.values():
        if column.null_count:
            valid &= np.asarray(column.is_valid(), dtype=bool)
    probability = np.zeros(batch.num_rows, dtype=np.float32)
    clicked = np.zeros(batch.num_rows, dtype=np.int64)
    if valid.any():
        chosen = (
            columns
            if valid.all()
            else {name: pc.filter(column, pa.array(valid)) for name, column in columns.items()}
        )
        probability[valid], clicked[valid] = scorer.score(chosen)
    missing = None if valid.all() else ~valid
    added = [
        pa.array(np.arange(first_row, first_row + batch.num_rows, dtype=np.int64)),
        pa.array(probability, mask=missing),
        pa.array(clicked, mask=missing),
        pa.array(np.full(batch.num_rows, scorer.model.version, dtype=np.int64)),
    ]
    out = pa.RecordBatch.from_arrays([*batch.columns, *added], schema=output_schema(batch.schema))
    return out, int((~valid).sum())


class ShardWriter:
    """Parquet files ``part-NNNNN.parquet`` of at most ``shard_rows`` rows each, in a folder."""

    def __init__(self, folder: Path, shard_rows: int = SHARD_ROWS):
        self.folder, self.shard_rows = folder, shard_rows
        self.shards: list[str] = []
        self._writer: pq.ParquetWriter | None = None
        self._rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        start = 0
        while start < batch.num_rows:
            if self._writer is None or self._rows >= self.shard_rows:
                self._open(batch.schema)
            take = min(batch.num_rows - start, self.shard_rows - self._rows)
            self._writer.write_table(pa.Table.from_batches([batch.slice(start, take)]))
            self._rows += take
            start += take

    def _open(self, schema: pa.Schema) -> None:
        self.close()
        name = f"part-{len(self.shards):05d}.parquet"
        self._writer = pq.ParquetWriter(str(self.folder / name), schema, compression="snappy")
        self.shards.append(name)
        self._rows = 0

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def check_output(output: storage.Location) -> None:
    """DataError when ``output`` exists and is not an empty folder (never overwritten); on
    ``gs://``, when any object is stored under it or an object has its name."""
    if storage.is_gcs(output):
        if storage.is_file(output) or storage.list_files(output):
            raise data_source.DataError(
                f"--output {output}: objects exist under it; give a new prefix (the "
                "predictions of an earlier run are never overwritten)"
            )
        return
    output = Path(output)
    if output.exists() and not (output.is_dir() and not any(output.iterdir())):
        raise data_source.DataError(
            f"--output {output}: exists and is not an empty folder; give a new folder (the "
            "predictions of an earlier run are never overwritten)"
        )
    parent = output.resolve().parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise data_source.DataError(
            f"--output {output}: cannot create it in {parent} (no such folder, or not writable)"
        )


def score_to(
    data: Input,
    scorer: Scorer,
    output: Path,
    *,
    batch_rows: int = BATCH_ROWS,
    shard_rows: int = SHARD_ROWS,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Scores every input row into Parquet shards under ``output``; returns the manifest."""
    check_output(output)
    started = time.perf_counter()
    staging = output.resolve().parent / f".{output.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    writer = ShardWriter(staging, shard_rows)
    rows = unscored = 0
    try:
        for batch in batches(data, batch_rows):
            out, missing = predict_batch(batch, data.mapping, scorer, rows)
            writer.write(out)
            rows += batch.num_rows
            unscored += missing
            if progress:
                progress(rows)
        writer.close()
        manifest = build_manifest(
            model=scorer.model.path,
            model_version=scorer.model.version,
            input_name=data_source.display_name(data.source),
            rows=rows,
            unscored=unscored,
            shards=writer.shards,
            seconds=time.perf_counter() - started,
        )
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        if output.exists():
            output.rmdir()  # empty, checked above
        staging.rename(output)
    except BaseException:
        writer.close()
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest
