"""Span storage of example tables: ``<data_dir>/span-NNNNN/part-NNNNN.parquet``.

Any table of the raw example columns (``models.features``) can be stored as a span: generated
data and labelled serving traffic alike. A span is written to a hidden folder and renamed, so a
reader never sees half a span. This module knows nothing of how the rows were made; it only
reads the marker a writer may set in the Parquet schema metadata (``GENERATOR_METADATA_KEY``)
to say that the labels have a known ground truth.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from models import features
from pipelines.common import safe_parquet
from pipelines.common.names import SPAN_DIR_RE
from pipelines.common.request_log import ARROW_TYPES

# Parquet files whose schema metadata has this key set to b"1" hold data with a known ground
# truth (the synthetic generator sets it), so a run can report the best possible AUC.
GENERATOR_METADATA_KEY = b"clickflow.generator"
# The raw example columns, in order, with no metadata: what real (e.g. labelled) examples are.
EXAMPLES_SCHEMA = pa.schema(
    [pa.field(name, ARROW_TYPES[features.RAW_TYPES[name]]) for name in features.RAW_COLUMNS])
ROWS_PER_FILE = 1_000_000
PART_FILE_FORMAT = "part-{:05d}.parquet"


def check_int(name: str, value: int, minimum: int) -> None:
    """Raise ValueError naming ``name`` unless ``value`` is an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def span_dir_name(span: int) -> str:
    """Folder name of span ``span``, e.g. ``span-00001``."""
    check_int("span", span, 1)
    if span > 99_999:
        raise ValueError(f"span must be <= 99999, got {span}")
    return f"span-{span:05d}"


def write_span_batches(
    data_dir: str | os.PathLike[str],
    span: int,
    batches: Iterable[pa.RecordBatch],
    *,
    schema: pa.Schema = EXAMPLES_SCHEMA,
    rows_per_file: int = ROWS_PER_FILE,
) -> Path:
    """Atomically write ``batches`` (columns of ``schema``) as span ``span``.

    The files get ``schema``, metadata included: the default marks nothing as generated. A batch
    whose columns differ from ``schema`` is refused and nothing is left behind.
    """
    name = span_dir_name(span)
    check_int("rows_per_file", rows_per_file, 1)
    data_path = Path(data_dir)
    final = data_path / name
    if final.exists():
        raise FileExistsError(f"span folder {final} already exists; refusing to overwrite it")
    data_path.mkdir(parents=True, exist_ok=True)
    tmp = data_path / f".{name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        _write_parts(tmp, iter(batches), rows_per_file, schema)
        if not any(tmp.iterdir()):
            raise ValueError(f"span {span}: no rows to write")
        if final.exists():
            raise FileExistsError(f"span folder {final} appeared while writing; not replacing it")
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _write_parts(
    folder: Path,
    batches: Iterator[pa.RecordBatch],
    rows_per_file: int,
    schema: pa.Schema,
) -> None:
    """Write ``batches`` to ``folder`` as part files of at most ``rows_per_file`` rows each."""
    part = 0
    writer: pq.ParquetWriter | None = None
    in_file = 0
    try:
        for batch in batches:
            while batch.num_rows:
                if writer is None or in_file == rows_per_file:
                    if writer is not None:
                        writer.close()
                    writer = pq.ParquetWriter(folder / PART_FILE_FORMAT.format(part), schema)
                    part += 1
                    in_file = 0
                take = min(batch.num_rows, rows_per_file - in_file)
                writer.write_batch(batch.slice(0, take))
                in_file += take
                batch = batch.slice(take)
    finally:
        if writer is not None:
            writer.close()


def is_generated(path: str | os.PathLike[str]) -> bool:
    """Whether a Parquet file carries the ground-truth marker (its labels have a known truth).

    Raises ``safe_parquet.UnsafeParquetError`` for a file with a pickled extension type."""
    metadata = safe_parquet.read_schema(path).metadata or {}
    return metadata.get(GENERATOR_METADATA_KEY) == b"1"


def list_spans(data_dir: str | os.PathLike[str]) -> list[int]:
    """Sorted numbers of the complete span folders in ``data_dir`` (empty if it is missing)."""
    data_path = Path(data_dir)
    if not data_path.is_dir():
        return []
    spans = []
    for entry in data_path.iterdir():
        match = SPAN_DIR_RE.fullmatch(entry.name)
        if match and entry.is_dir() and int(match.group(1)) >= 1:
            spans.append(int(match.group(1)))
    return sorted(spans)


def next_span(data_dir: str | os.PathLike[str]) -> int:
    """The number of the span to write next: one after the highest existing, 1 when none."""
    return max(list_spans(data_dir), default=0) + 1
