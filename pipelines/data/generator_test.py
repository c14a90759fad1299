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
from pipelines.common.metrics import roc_auc
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


# sha256 of write_csv(500 rows, seed 4, chunk_rows=200) before the real-like mode existed: the
# default mode's rows must stay the same, byte for byte, for every seed users already rely on.
DEFAULT_CSV_SHA256 = "881c0b58d368a22ed4299546cecf57ec82ad24696b86e1da0bab976407dd4865"


def test_default_mode_output_is_unchanged(tmp_path: Path) -> None:
    import hashlib

    out = dg.write_csv(tmp_path / "ads.csv", 500, 4, chunk_rows=200)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == DEFAULT_CSV_SHA256
    explicit = dg.write_csv(tmp_path / "explicit.csv", 500, 4, chunk_rows=200,
                            mode=dg.DEFAULT_MODE)
    assert explicit.read_bytes() == out.read_bytes()


def test_unknown_mode_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode must be one of default, real-like"):
        next(iter(dg.generate_batches(10, 0, start=START, mode="realistic")))
    with pytest.raises(ValueError, match="mode"):
        dg.write_csv(tmp_path / "x.csv", 10, 0, mode="")
    assert not (tmp_path / "x.csv").exists()


@pytest.fixture(scope="module")
def real() -> dict[str, np.ndarray]:
    return _columns(_table(20_000, 11, chunk_rows=5_000, mode=dg.REAL_LIKE_MODE))


def _encoded_auc(column: np.ndarray, label: np.ndarray) -> float:
    """Held-out AUC of a per-value click-rate lookup learned on the other half of the rows."""
    half = column.size // 2
    rates: dict[str, list[int]] = {}
    for value, y in zip(column[:half], label[:half], strict=True):
        rates.setdefault(value, []).append(int(y))
    score = np.array([np.mean(rates[v]) if v in rates else 0.5 for v in column[half:]])
    return roc_auc(label[half:], score)


def test_real_like_is_deterministic_and_seeded() -> None:
    a = _table(1_500, 5, chunk_rows=600, mode=dg.REAL_LIKE_MODE)
    assert a.equals(_table(1_500, 5, chunk_rows=600, mode=dg.REAL_LIKE_MODE))
    assert not a.equals(_table(1_500, 6, chunk_rows=600, mode=dg.REAL_LIKE_MODE))
    assert not a.equals(_table(1_500, 5, chunk_rows=600))


def test_real_like_schema_has_no_ground_truth_marker(tmp_path: Path) -> None:
    table = _table(100, 0, mode=dg.REAL_LIKE_MODE)
    assert tuple(table.column_names) == features.RAW_COLUMNS
    for name in features.RAW_COLUMNS:
        assert table.schema.field(name).type == ARROW_TYPES[features.RAW_TYPES[name]], name
    path = dg.write_span(tmp_path, 1, 200, 3, mode=dg.REAL_LIKE_MODE)
    assert not spans.is_generated(path / "part-00000.parquet")
    assert spans.is_generated(dg.write_span(tmp_path, 2, 200, 3) / "part-00000.parquet")


def test_real_like_cardinalities_match_the_public_data() -> None:
    rows = _columns(_table(1_000, 2, mode=dg.REAL_LIKE_MODE))
    assert 950 <= len(np.unique(rows["City"])) <= 1_000  # ~970 in the public data
    assert len(np.unique(rows["AdTopicLine"])) == 1_000  # one per row
    assert 200 <= len(np.unique(rows["Country"])) <= len(vocab.COUNTRIES)
    words = np.array([len(line.split()) for line in rows["AdTopicLine"]])
    assert words.min() >= 3 and words.max() <= 4


def test_real_like_signal_is_in_the_numeric_columns(real: dict[str, np.ndarray]) -> None:
    y = real[features.LABEL_KEY]
    assert 0.47 <= y.mean() <= 0.53
    # Per-class means of the public data set (clicked vs not).
    clicked, other = y == 1, y == 0
    assert real["DailyTimeSpentOnSite"][clicked].mean() == pytest.approx(53.15, abs=1.0)
    assert real["DailyTimeSpentOnSite"][other].mean() == pytest.approx(76.85, abs=1.0)
    assert real["Age"][clicked].mean() == pytest.approx(40.33, abs=1.0)
    assert real["AreaIncome"][other].mean() == pytest.approx(61_385, abs=700)
    assert real["DailyInternetUsage"][clicked].mean() == pytest.approx(145.49, abs=1.5)
    z = {k: (real[k] - real[k].mean()) / real[k].std() for k in
         ("DailyTimeSpentOnSite", "Age", "AreaIncome", "DailyInternetUsage")}
    score = z["Age"] - z["DailyTimeSpentOnSite"] - z["AreaIncome"] - z["DailyInternetUsage"]
    assert roc_auc(y, score) >= 0.98


def test_real_like_strings_carry_no_or_little_signal(real: dict[str, np.ndarray]) -> None:
    y = real[features.LABEL_KEY]
    assert abs(_encoded_auc(real["City"], y) - 0.5) < 0.03
    assert abs(_encoded_auc(real["AdTopicLine"], y) - 0.5) < 0.01  # nothing seen twice
    assert 0.5 <= _encoded_auc(real["Country"], y) < 0.6  # a little
