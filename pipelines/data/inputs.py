"""The data a local run reads: a --data path checked before any TFX work, and sample data."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from pipelines.common import safe_parquet
from pipelines.data import source as data_source


@dataclasses.dataclass(frozen=True)
class ResolvedData:
    """The input a run reads: TFX's input_base + file pattern, and what to report about it."""

    input_base: str
    file_pattern: str
    kind: str  # "spans", "csv" or "parquet"
    files: tuple[str, ...]
    generated: bool
    rows: int | None = None  # rows read, when the check counted them

    def describe(self) -> dict[str, Any]:
        spans = sorted({Path(f).parent.name for f in self.files}) if self.kind == "spans" else []
        return {
            "path": self.input_base if self.kind == "spans" else self.files[0],
            "kind": self.kind,
            "files": len(self.files),
            "bytes": sum(os.path.getsize(f) for f in self.files),
            "spans": spans,
            "generated": self.generated,
        }


def resolve_data(path: Path, max_dropped_share: float | None = None) -> ResolvedData:
    """Checks a --data path (file or span folder) before any TFX work; DataError if unusable.

    With ``max_dropped_share``, also when the training query would drop more than that share
    of the rows (the ExampleGen's own check, made early: one aggregate query).
    """
    from pipelines.data import spans

    source, (input_base, pattern, kind) = resolve_source(path)
    con = data_source.open_source(source)
    rows = None
    try:
        if max_dropped_share is not None:
            from pipelines.data import row_accounting

            accounting = row_accounting.count_rows(con, data_source.load_query())
            row_accounting.check(accounting, max_dropped_share, data_source.display_name(source))
            rows = accounting["read"]
    finally:
        con.close()
    try:
        generated = source.fmt == "parquet" and all(
            spans.is_generated(f) for f in source.files)
    except safe_parquet.UnsafeParquetError as err:
        named = err.reason if kind != "spans" else f"{err.path}: {err.reason}"
        raise data_source.DataError(f"--data {path}: {named}") from None
    return ResolvedData(input_base, pattern, kind, source.files, generated, rows)


def resolve_source(path: Path, flag: str = "--data"
                   ) -> tuple[data_source.SourceFiles, tuple[str, str, str]]:
    """The files a --data (or ``flag``) path names, a file or a folder of spans, and TFX's
    (input_base, file pattern, kind); DataError naming ``flag`` when there are none. Their
    columns and values are not checked here (``data_source.column_map`` does)."""
    if not path.exists():
        raise data_source.DataError(
            f"{flag} {path}: no such file or folder. Give a .csv/.parquet file with the "
            "ad-click columns, or a folder of span-NNNNN/ Parquet spans (make data writes one)")
    if path.is_dir():
        return _spans_source(path, flag), (str(path.resolve()), data_source.SPAN_GLOB, "spans")
    fmt = data_source.file_format(path)
    if not os.access(path, os.R_OK):
        raise data_source.DataError(f"{flag} {path}: the file is not readable")
    if path.stat().st_size == 0:
        raise data_source.DataError(f"{flag} {path}: the file is empty")
    source = data_source.SourceFiles((str(path.resolve()),), fmt)
    return source, (str(path.resolve().parent), path.name, fmt)


def _spans_source(path: Path, flag: str = "--data") -> data_source.SourceFiles:
    try:
        return data_source.SourceFiles.from_pattern(data_source.spans_pattern(path))
    except data_source.DataError:
        raise data_source.DataError(
            f"{flag} {path}: the folder has no span-NNNNN/*.parquet files. Point {flag} at a "
            "CSV/Parquet file, or add a span with `make data`") from None


def ensure_sample_data(data_dir: Path, rows: int, seed: int) -> None:
    """Writes span 1 of generated data into the default folder when it has no span yet."""
    from pipelines.data import generator as data_generator
    from pipelines.data import spans

    if spans.list_spans(data_dir):
        return
    path = data_generator.write_span(data_dir, 1, rows, seed)
    print(f"No data yet: generated {rows:,} sample rows into {path}")
