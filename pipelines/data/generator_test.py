"""Tests for the synthetic ad-click data generator."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from models import features
from pipelines.data import generator as dg
from pipelines.data import spans
from pipelines.data import vocabulary as vocab

START = datetime(2016, 1, 1)
ARROW_TYPES = {"float": pa.float64(), "int": pa.int64(), "string": pa.string()}


def _table(rows: int, seed: int, **kwargs: object) -> pa.Table:
    kwargs.setdefault("start", START)
    return pa.Table.from_batches(list(dg.generate_batches(rows, seed, **kwargs)), dg.SCHEMA)


def _columns(table: pa.Table) -> dict[str, np.ndarray]:
    return {name: table[name].to_numpy() for name in table.column_names}


@pytest.fixture(scope="module")
def big() -> dict[str, np.ndarray]:
    return _columns(_table(20_000, 11, chunk_rows=5_000))


def test_same_arguments_give_identical_data() -> None:
    assert _table(3_000, 5, chunk_rows=700).equals(_table(3_000, 5, chunk_rows=700))


def test_different_seed_gives_different_data() -> None:
    a, b = _columns(_table(500, 1)), _columns(_table(500, 2))
    assert not np.array_equal(a["AreaIncome"], b["AreaIncome"])
    assert not np.array_equal(a["City"], b["City"])


def test_batches_have_chunk_sizes() -> None:
    sizes = [b.num_rows for b in dg.generate_batches(250, 0, start=START, chunk_rows=100)]
    assert sizes == [100, 100, 50]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"rows": 0}, "rows"),
        ({"chunk_rows": 0}, "chunk_rows"),
        ({"seed": -1}, "seed"),
        ({"days": 0.0}, "days"),
        ({"start": datetime(2016, 1, 1, 0, 0, 0, 5)}, "start"),
    ],
)
def test_generate_batches_validates_arguments(kwargs: dict[str, object], name: str) -> None:
    args: dict[str, object] = {"rows": 10, "seed": 0, "start": START, **kwargs}
    with pytest.raises(ValueError, match=name):
        next(iter(dg.generate_batches(**args)))  # type: ignore[arg-type]


def test_schema_matches_features() -> None:
    table = _table(100, 0)
    assert tuple(table.column_names) == features.RAW_COLUMNS
    for name in features.RAW_COLUMNS:
        assert table.schema.field(name).type == ARROW_TYPES[features.RAW_TYPES[name]], name
    assert table.num_rows == 100
    assert all(table[name].null_count == 0 for name in table.column_names)


def test_value_ranges(big: dict[str, np.ndarray]) -> None:
    assert big["Age"].min() >= 19 and big["Age"].max() <= 61
    assert 33 <= big["Age"].mean() <= 39
    assert big["DailyTimeSpentOnSite"].min() >= 30 and big["DailyTimeSpentOnSite"].max() <= 92
    assert big["AreaIncome"].min() >= 14_000 and big["AreaIncome"].max() <= 80_000
    assert 50_000 <= big["AreaIncome"].mean() <= 60_000
    assert np.median(big["AreaIncome"]) > big["AreaIncome"].mean()  # left-skewed
    assert big["DailyInternetUsage"].min() >= 100 and big["DailyInternetUsage"].max() <= 270
    assert set(np.unique(big["Male"])) == {0, 1}
    assert set(np.unique(big[features.LABEL_KEY])) == {0, 1}
    for name in features.FLOAT_FEATURES:
        np.testing.assert_array_equal(big[name], np.round(big[name], 2))


def test_cardinalities_and_text(big: dict[str, np.ndarray]) -> None:
    assert len(vocab.CITIES) == len(set(vocab.CITIES)) == vocab.N_CITIES
    assert 900 <= len(np.unique(big["City"])) <= vocab.N_CITIES
    assert 200 <= len(np.unique(big["Country"])) <= len(vocab.COUNTRIES) <= 250
    assert set(np.unique(big["Country"])) <= set(vocab.COUNTRIES)
    words = np.array([len(line.split()) for line in big["AdTopicLine"][:2_000]])
    assert words.min() >= 3 and words.max() <= 4
    assert len(np.unique(big["AdTopicLine"])) > 10_000


def test_timestamps_parse_and_fall_inside_the_window(big: dict[str, np.ndarray]) -> None:
    stamps = [datetime.strptime(s, features.TIMESTAMP_FORMAT) for s in big["Timestamp"][:3_000]]
    assert min(stamps) >= START and max(stamps) < START + timedelta(days=1)
    assert len({s.hour for s in stamps}) == 24
    two_days = _columns(_table(2_000, 3, days=2.0))["Timestamp"]
    last = max(datetime.strptime(s, features.TIMESTAMP_FORMAT) for s in two_days)
    assert START + timedelta(days=1) <= last < START + timedelta(days=2)


def test_click_rate_is_balanced(big: dict[str, np.ndarray]) -> None:
    assert 0.4 <= big[features.LABEL_KEY].mean() <= 0.6


def test_best_possible_auc_is_high_but_not_perfect(big: dict[str, np.ndarray]) -> None:
    assert 0.93 <= dg.best_possible_auc(big) <= 0.985


def test_labels_follow_click_probability(big: dict[str, np.ndarray]) -> None:
    p = dg.click_probability(big)
    y = big[features.LABEL_KEY]
    assert y[p > 0.8].mean() > 0.8 > 0.2 > y[p < 0.2].mean()
    for low, high in [(0.0, 0.2), (0.2, 0.5), (0.5, 0.8), (0.8, 1.0)]:
        bucket = (p >= low) & (p < high)
        assert abs(y[bucket].mean() - p[bucket].mean()) < 0.04, (low, high)


def test_click_probability_directions() -> None:
    base = {
        "DailyTimeSpentOnSite": np.array([65.0]),
        "Age": np.array([36]),
        "AreaIncome": np.array([55_000.0]),
        "DailyInternetUsage": np.array([180.0]),
        "Male": np.array([0]),
        "City": np.array(["Lake Nicole"]),
    }
    p0 = dg.click_probability(base)[0]
    for name, delta, up in [
        ("DailyTimeSpentOnSite", 10.0, False),
        ("Age", 10, True),
        ("AreaIncome", 10_000.0, False),
        ("DailyInternetUsage", 30.0, False),
    ]:
        p = dg.click_probability({**base, name: base[name] + delta})[0]
        assert (p > p0) == up, name
    assert dg.click_probability({**base, "City": np.array(["West Jodi"])})[0] == p0


def _read_span(path: Path) -> pa.Table:
    return pa.concat_tables(pq.read_table(p) for p in sorted(path.glob("part-*.parquet")))


def test_append_span_twice(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert spans.list_spans(data_dir) == []
    span1, path1 = dg.append_span(data_dir, 300, 7, chunk_rows=100)
    span2, path2 = dg.append_span(data_dir, 300, 7, chunk_rows=100)
    assert (span1, span2) == (1, 2)
    assert path1 == data_dir / "span-00001" and path2 == data_dir / "span-00002"
    assert spans.list_spans(data_dir) == [1, 2]
    first, second = _read_span(path1), _read_span(path2)
    assert first.schema.equals(dg.SCHEMA, check_metadata=False)
    assert spans.is_generated(path1 / "part-00000.parquet")  # its labels have a known truth
    assert first.num_rows == 300 and not first.equals(second)
    assert pq.ParquetFile(path1 / "part-00000.parquet").metadata.num_row_groups == 3
    days = {s[:10] for s in second["Timestamp"].to_pylist()}
    assert days == {"2016-01-02"}


def test_write_span_is_reproducible(tmp_path: Path) -> None:
    a = dg.write_span(tmp_path / "a", 3, 250, 9, chunk_rows=100)
    b = dg.write_span(tmp_path / "b", 3, 250, 9, chunk_rows=100)
    assert _read_span(a).equals(_read_span(b))
    assert (a / "part-00000.parquet").read_bytes() == (b / "part-00000.parquet").read_bytes()
    assert {s[:10] for s in _read_span(a)["Timestamp"].to_pylist()} == {"2016-01-03"}


def test_write_span_splits_part_files(tmp_path: Path) -> None:
    path = dg.write_span(tmp_path, 1, 250, 0, chunk_rows=40, rows_per_file=100)
    parts = sorted(p.name for p in path.iterdir())
    assert parts == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert [pq.ParquetFile(path / p).metadata.num_rows for p in parts] == [100, 100, 50]
    expected = _table(250, dg.span_seed(0, 1), chunk_rows=40)
    assert _read_span(path).equals(expected)


def test_write_span_refuses_existing_span(tmp_path: Path) -> None:
    path = dg.write_span(tmp_path, 1, 100, 0)
    before = {p.name: p.read_bytes() for p in path.iterdir()}
    with pytest.raises(FileExistsError, match="span-00001"):
        dg.write_span(tmp_path, 1, 200, 5)
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["span-00001"]


def test_failure_mid_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = dg.generate_batches

    def failing(*args: object, **kwargs: object) -> Iterator[pa.RecordBatch]:
        batches = real(*args, **kwargs)  # type: ignore[arg-type]
        yield next(batches)
        raise OSError("disk full")

    monkeypatch.setattr(dg, "generate_batches", failing)
    with pytest.raises(OSError, match="disk full"):
        dg.write_span(tmp_path, 1, 300, 0, chunk_rows=100)
    assert list(tmp_path.iterdir()) == []
    assert spans.list_spans(tmp_path) == []


def test_write_csv_matches_batches(tmp_path: Path) -> None:
    out = dg.write_csv(tmp_path / "sub" / "ads.csv", 300, 4, chunk_rows=128)
    header = out.read_text().splitlines()[0].replace('"', "").split(",")
    assert tuple(header) == features.RAW_COLUMNS
    convert = pacsv.ConvertOptions(column_types=dg.SCHEMA)
    table = pacsv.read_csv(out, convert_options=convert)
    assert table.equals(_table(300, 4, chunk_rows=128))
    assert sorted(os.listdir(out.parent)) == ["ads.csv"]
