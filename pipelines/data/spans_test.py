"""Span storage of any example table: naming, atomic writes, listing, the ground-truth marker."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from models import features
from pipelines.common.request_log import ARROW_TYPES
from pipelines.data import spans


def _examples(rows: int, first: int = 0) -> pa.Table:
    """``rows`` hand-made examples of the raw columns (no generator involved)."""
    ids = range(first, first + rows)
    values = {"float": [i + 0.5 for i in ids], "int": [i % 2 for i in ids],
              "string": [f"value {i}" for i in ids]}
    columns = {name: values[features.RAW_TYPES[name]] for name in features.RAW_COLUMNS}
    columns[features.TIMESTAMP_FEATURE] = [f"2026-03-01 00:00:{i % 60:02d}" for i in ids]
    return pa.table(columns, schema=spans.EXAMPLES_SCHEMA)


def _read_span(path: Path) -> pa.Table:
    return pa.concat_tables(pq.read_table(p) for p in sorted(path.glob("part-*.parquet")))


def test_examples_schema_is_the_raw_columns_without_a_marker() -> None:
    schema = spans.EXAMPLES_SCHEMA
    assert tuple(schema.names) == features.RAW_COLUMNS
    for name in features.RAW_COLUMNS:
        assert schema.field(name).type == ARROW_TYPES[features.RAW_TYPES[name]], name
    assert schema.metadata is None


def test_write_span_batches_is_atomic_and_refuses_overwrite(tmp_path: Path) -> None:
    batches = _examples(250).to_batches(max_chunksize=100)
    path = spans.write_span_batches(tmp_path, 3, batches, rows_per_file=200)
    assert sorted(p.name for p in path.iterdir()) == ["part-00000.parquet", "part-00001.parquet"]
    assert sum(pq.read_metadata(p).num_rows for p in path.iterdir()) == 250
    assert _read_span(path).equals(_examples(250))
    assert not spans.is_generated(path / "part-00000.parquet")
    with pytest.raises(FileExistsError):
        spans.write_span_batches(tmp_path, 3, batches)
    with pytest.raises(ValueError, match="no rows"):
        spans.write_span_batches(tmp_path, 4, [])
    assert spans.list_spans(tmp_path) == [3]
    assert [p.name for p in tmp_path.iterdir()] == ["span-00003"]


def test_write_span_batches_refuses_other_columns_and_leaves_nothing(tmp_path: Path) -> None:
    good = _examples(10).to_batches()
    wrong = _examples(10).drop([features.LABEL_KEY]).to_batches()
    with pytest.raises(ValueError, match="schema"):
        spans.write_span_batches(tmp_path, 1, [*good, *wrong])
    assert list(tmp_path.iterdir()) == []


def test_refusing_an_existing_span_keeps_it(tmp_path: Path) -> None:
    path = spans.write_span_batches(tmp_path, 1, _examples(100).to_batches())
    before = {p.name: p.read_bytes() for p in path.iterdir()}
    with pytest.raises(FileExistsError, match="span-00001"):
        spans.write_span_batches(tmp_path, 1, _examples(200, first=7).to_batches())
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["span-00001"]


def test_list_spans_ignores_temp_and_junk(tmp_path: Path) -> None:
    assert spans.list_spans(tmp_path / "missing") == []
    assert spans.next_span(tmp_path / "missing") == 1
    spans.write_span_batches(tmp_path, 2, _examples(100).to_batches())
    (tmp_path / ".span-00003.tmp-123").mkdir()
    (tmp_path / "span-7").mkdir()
    (tmp_path / "span-00004.bak").mkdir()
    (tmp_path / "span-00005").write_text("not a folder")
    (tmp_path / "notes").mkdir()
    assert spans.list_spans(tmp_path) == [2]
    assert spans.next_span(tmp_path) == 3


def test_is_generated_reads_only_the_marker(tmp_path: Path) -> None:
    table = _examples(5)
    marked = spans.EXAMPLES_SCHEMA.with_metadata({spans.GENERATOR_METADATA_KEY: b"1"})
    other = spans.EXAMPLES_SCHEMA.with_metadata({spans.GENERATOR_METADATA_KEY: b"0"})
    for name, schema, expected in (("plain", spans.EXAMPLES_SCHEMA, False),
                                   ("marked", marked, True), ("other", other, False)):
        path = spans.write_span_batches(tmp_path / name, 1, table.to_batches(), schema=schema)
        assert spans.is_generated(path / "part-00000.parquet") is expected, name


@pytest.mark.parametrize("span", [0, -1, 100_000, True])
def test_span_dir_name_validates(span: int) -> None:
    with pytest.raises(ValueError, match="span"):
        spans.span_dir_name(span)


def test_span_dir_name_and_rows_per_file() -> None:
    assert spans.span_dir_name(1) == "span-00001"
    assert spans.span_dir_name(99_999) == "span-99999"
    with pytest.raises(ValueError, match="rows_per_file"):
        spans.write_span_batches("unused", 1, [], rows_per_file=0)
