"""Tests for the DuckDB data source: column matching, input checks, the training query."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from models import features
from pipelines.data import generator as dg
from pipelines.data import source as ds

KAGGLE_HEADER = (
    "Daily Time Spent on Site",
    "Age",
    "Area Income",
    "Daily Internet Usage",
    "Ad Topic Line",
    "City",
    "Male",
    "Country",
    "Timestamp",
    "Clicked on Ad",
)
QUERY_TYPES = {"float": pa.float64(), "int": pa.int64(), "string": pa.string()}


def _rows(tmp_path: Path, n: int = 20, seed: int = 1) -> list[list[str]]:
    """Header + ``n`` rows of good generated data, as CSV text fields."""
    good = dg.write_csv(tmp_path / "generated" / "good.csv", n, seed)
    return list(csv.reader(io.StringIO(good.read_text())))


def _write(path: Path, rows: list[list[str]]) -> Path:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path.write_text(out.getvalue())
    return path


def _with_value(tmp_path: Path, column: str, value: str, row: int = 3) -> Path:
    rows = _rows(tmp_path)
    rows[row][rows[0].index(column)] = value
    return _write(tmp_path / f"bad-{column}.csv", rows)


def _source(path: Path | str) -> ds.SourceFiles:
    return ds.SourceFiles.from_pattern(str(path))


def _query_table(source: ds.SourceFiles, batch_rows: int = 65_536) -> pa.Table:
    batches = list(ds.query_batches(source, ds.load_query(), batch_rows=batch_rows))
    return pa.Table.from_batches(batches)


# --- column matching ---------------------------------------------------------------------------


def test_column_map_identity_on_generated_csv(tmp_path: Path) -> None:
    path = dg.write_csv(tmp_path / "ads.csv", 50, 0)
    assert ds.column_map(_source(path)) == {c: c for c in features.RAW_COLUMNS}


def test_column_map_matches_kaggle_header(tmp_path: Path) -> None:
    rows = _rows(tmp_path)
    rows[0] = list(KAGGLE_HEADER)
    path = _write(tmp_path / "advertising.csv", rows)
    mapping = ds.column_map(_source(path))
    assert mapping == dict(zip(features.RAW_COLUMNS, KAGGLE_HEADER, strict=True))


def test_column_map_ignores_case_and_underscores_in_parquet(tmp_path: Path) -> None:
    table = pa.Table.from_batches(list(dg.generate_batches(30, 2, start=dg.FIRST_SPAN_DAY)))
    odd = ["daily_time_spent_on_site", "AGE", "area_income", "DAILY internet USAGE",
           "ad_topic_line", "city", "MALE", "country", "time_stamp", "clicked_on_ad"]
    pq.write_table(table.rename_columns(odd), tmp_path / "odd.parquet")
    mapping = ds.column_map(_source(tmp_path / "odd.parquet"))
    assert mapping == dict(zip(features.RAW_COLUMNS, odd, strict=True))


def test_query_renames_kaggle_columns(tmp_path: Path) -> None:
    rows = _rows(tmp_path, n=20)
    expected_ages = [int(r[1]) for r in rows[1:]]
    rows[0] = list(KAGGLE_HEADER)
    table = _query_table(_source(_write(tmp_path / "advertising.csv", rows)))
    assert tuple(table.column_names) == features.RAW_COLUMNS
    assert table["Age"].to_pylist() == expected_ages


# --- bad inputs --------------------------------------------------------------------------------


def test_missing_column_is_named(tmp_path: Path) -> None:
    rows = [r[:-1] for r in _rows(tmp_path)]  # drop ClickedOnAd
    path = _write(tmp_path / "no-label.csv", rows)
    with pytest.raises(ds.DataError) as err:
        ds.column_map(_source(path))
    message = str(err.value)
    assert str(path) in message
    assert "missing column 'ClickedOnAd'" in message
    assert "missing column 'Age'" not in message


def test_column_map_checks_only_the_columns_asked_for(tmp_path: Path) -> None:
    rows = [r[:-1] for r in _rows(tmp_path)]  # no label: what a file to score looks like
    path = _write(tmp_path / "to-score.csv", rows)
    assert ds.column_map(_source(path), columns=features.SERVING_FEATURES) == {
        c: c for c in features.SERVING_FEATURES}
    expected = r"missing column 'Age'\. Expected columns: Age \(found: City\)$"
    with pytest.raises(ds.DataError, match=expected):
        ds.column_map(_source(_write(tmp_path / "city.csv", [["City"], ["Oslo"]])),
                      columns=("Age",))


def test_match_columns_lists_what_is_missing_optional_and_unmatched(tmp_path: Path) -> None:
    path = _write(tmp_path / "part.csv", [["age", "Clicked On Ad", "Note"], ["abc", "2", "x"]])
    source = _source(path)
    con = ds.connect()
    match = ds.match_columns(con, source, columns=("Age", "City"),
                             optional=(features.LABEL_KEY, "Country"))
    assert match.mapping == {"Age": "age", features.LABEL_KEY: "Clicked On Ad"}
    assert match.missing == ("City",) and match.unmatched == ("Note",)
    assert ds.type_problems(con, source, match) == {
        "Age": "column 'Age' should hold an integer but has VARCHAR values such as 'abc'",
        features.LABEL_KEY: "label column 'ClickedOnAd' should be 0 or 1 but has values such "
                            "as 2"}


def test_text_in_numeric_column(tmp_path: Path) -> None:
    path = _with_value(tmp_path, "Age", "abc")
    with pytest.raises(ds.DataError, match=r"column 'Age' should hold an integer.*'abc'") as err:
        ds.column_map(_source(path))
    assert str(path) in str(err.value)


def test_fraction_in_int_column(tmp_path: Path) -> None:
    path = _with_value(tmp_path, "Age", "35.5")
    with pytest.raises(ds.DataError, match=r"column 'Age' should hold an integer") as err:
        ds.column_map(_source(path))
    assert str(path) in str(err.value)


def test_integral_floats_in_int_column_are_accepted(tmp_path: Path) -> None:
    path = _with_value(tmp_path, "Age", "35.0", row=3)
    source = _source(path)
    assert ds.column_map(source)["Age"] == "Age"
    table = _query_table(source)
    assert table.schema.field("Age").type == pa.int64()
    assert table["Age"][2].as_py() == 35


def test_text_in_float_column(tmp_path: Path) -> None:
    path = _with_value(tmp_path, "AreaIncome", "lots")
    with pytest.raises(ds.DataError, match=r"column 'AreaIncome' should hold a number.*'lots'"):
        ds.column_map(_source(path))


def test_header_only_csv_has_no_rows(tmp_path: Path) -> None:
    path = _write(tmp_path / "empty.csv", _rows(tmp_path)[:1])
    with pytest.raises(ds.DataError, match="has no rows") as err:
        ds.column_map(_source(path))
    assert str(path) in str(err.value)


@pytest.mark.parametrize("name", ["zero.csv", "zero.parquet"])
def test_zero_byte_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(ds.DataError) as err:
        ds.column_map(_source(path))
    assert str(path) in str(err.value)


def test_garbage_parquet_cannot_be_read(tmp_path: Path) -> None:
    path = tmp_path / "garbage.parquet"
    path.write_bytes(b"PAR1 this is not a parquet file at all")
    with pytest.raises(ds.DataError, match="cannot read") as err:
        ds.column_map(_source(path))
    assert str(path) in str(err.value)


def test_garbage_csv_cannot_be_read(tmp_path: Path) -> None:
    path = tmp_path / "garbage.csv"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ds.DataError, match="cannot read") as err:
        ds.column_map(_source(path))
    assert str(path) in str(err.value)


def test_unsupported_suffix(tmp_path: Path) -> None:
    path = tmp_path / "ads.txt"
    path.write_text("Age\n1\n")
    with pytest.raises(ds.DataError, match=r"unsupported file type '\.txt'") as err:
        _source(path)
    assert str(path) in str(err.value)
    with pytest.raises(ds.DataError, match=r"unsupported file type '\(none\)'"):
        ds.file_format(tmp_path / "README")
    assert ds.file_format("x/Y.PQ") == "parquet" and ds.file_format("a.CSV") == "csv"


@pytest.mark.parametrize("value", ["03/27/2016 00:53", "2016-03-27 00:53:11.5"])
def test_bad_timestamp_format(tmp_path: Path, value: str) -> None:
    path = _with_value(tmp_path, "Timestamp", value)
    with pytest.raises(ds.DataError, match="'Timestamp' should be 'YYYY-MM-DD HH:MM:SS'") as err:
        ds.column_map(_source(path))
    assert str(path) in str(err.value) and value in str(err.value)


@pytest.mark.parametrize("value", ["27/03/16 0:53", "2016/03/27 00:53:11"])
def test_bad_timestamp_sniffed_as_a_date(tmp_path: Path, value: str) -> None:
    path = _with_value(tmp_path, "Timestamp", value)
    with pytest.raises(ds.DataError, match="'Timestamp' should be 'YYYY-MM-DD HH:MM:SS'") as err:
        ds.column_map(_source(path))
    assert value in str(err.value)


@pytest.mark.parametrize("value", ["2016-02-30 25:61:61", "2015-02-29 10:00:00",
                                   "2016-01-01 24:00:00", "2016-13-01 00:00:00"])
def test_impossible_timestamp_is_refused_with_its_line(tmp_path: Path, value: str) -> None:
    path = _with_value(tmp_path, "Timestamp", value, row=3)
    with pytest.raises(ds.DataError) as err:
        ds.column_map(_source(path))
    assert str(err.value) == (
        f"{path}: column 'Timestamp' should hold real dates and times (YYYY-MM-DD HH:MM:SS) "
        f"but 1 value does not exist, such as {value!r} on line 4")


def test_impossible_timestamps_in_parquet_name_the_file_and_row(tmp_path: Path) -> None:
    for name, seed in (("a", 1), ("b", 2)):
        table = pa.Table.from_batches(list(dg.generate_batches(10, seed, start=dg.FIRST_SPAN_DAY)))
        stamps = table["Timestamp"].to_pylist()
        if name == "b":
            stamps[6] = stamps[8] = "2016-04-31 12:00:00"
        table = table.set_column(table.column_names.index("Timestamp"), "Timestamp",
                                 pa.array(stamps))
        pq.write_table(table, tmp_path / f"{name}.parquet")
    with pytest.raises(ds.DataError, match=r"but 2 values do not exist, such as "
                       r"'2016-04-31 12:00:00' on row 7 of \S*b\.parquet$"):
        ds.column_map(_source(tmp_path / "*.parquet"))


def test_impossible_timestamps_are_left_out_when_not_checked(tmp_path: Path) -> None:
    """What the ExampleGen does with rows that got past the runner: it drops (and counts)."""
    path = _with_value(tmp_path, "Timestamp", "2016-02-30 10:00:00", row=3)
    table = pa.Table.from_batches(list(ds.query_batches(_source(path), ds.load_query(),
                                                        check_timestamps=False)))
    assert table.num_rows == 19
    assert "2016-02-30 10:00:00" not in table["Timestamp"].to_pylist()


@pytest.mark.parametrize(("extra", "first"), [("age", "'Age' (column 2)"),
                                              ("Age", "'Age' (column 2)"),
                                              ("A G E", "'Age' (column 2)")])
def test_two_columns_for_one_expected_column_are_refused(tmp_path: Path, extra: str,
                                                         first: str) -> None:
    rows = _rows(tmp_path)
    rows[0].append(extra)
    for row in rows[1:]:
        row.append("44")
    path = _write(tmp_path / "twice.csv", rows)
    with pytest.raises(ds.DataError) as err:
        ds.column_map(_source(path))
    assert str(err.value) == (
        f"{path}: the columns {first} and {extra!r} (column 11) both match the expected column "
        "'Age'; keep one of them (rename or delete the other)")


def test_repeated_parquet_column_is_refused(tmp_path: Path) -> None:
    table = pa.Table.from_batches(list(dg.generate_batches(5, 0, start=dg.FIRST_SPAN_DAY)))
    table = table.append_column("City", table["City"])
    pq.write_table(table, tmp_path / "twice.parquet")
    with pytest.raises(ds.DataError, match=r"the columns 'City' \(column 6\) and 'City' "
                                           r"\(column 11\) both match the expected column 'City'"):
        ds.column_map(_source(tmp_path / "twice.parquet"))


def test_latin1_csv_names_the_line_column_and_encoding(tmp_path: Path) -> None:
    rows = _rows(tmp_path)
    rows[2][rows[0].index("City")] = "Montréal"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path = tmp_path / "ads.csv"
    path.write_bytes(out.getvalue().encode("latin-1"))
    with pytest.raises(ds.DataError) as err:
        ds.column_map(_source(path))
    assert str(err.value) == (
        f"cannot read {path} line 3, column 'City': bytes 0xe9 are not UTF-8; save the file as "
        f"UTF-8 (from Latin-1: iconv -f latin1 -t utf-8 {path} > {tmp_path / 'ads-utf8.csv'})")
    path.write_text(out.getvalue(), encoding="utf-8")
    assert _query_table(_source(path))["City"][1].as_py() == "Montréal"


def test_label_not_zero_or_one(tmp_path: Path) -> None:
    path = _with_value(tmp_path, "ClickedOnAd", "2")
    pattern = r"label column 'ClickedOnAd' should be 0 or 1.* 2$"
    with pytest.raises(ds.DataError, match=pattern) as err:
        ds.column_map(_source(path))
    assert str(path) in str(err.value)


def test_several_problems_are_all_reported(tmp_path: Path) -> None:
    rows = _rows(tmp_path)
    rows[2][rows[0].index("Age")] = "abc"
    rows[4][rows[0].index("ClickedOnAd")] = "7"
    path = _write(tmp_path / "two.csv", rows)
    with pytest.raises(ds.DataError) as err:
        ds.column_map(_source(path))
    assert "'Age'" in str(err.value) and "'ClickedOnAd'" in str(err.value)


# --- query -------------------------------------------------------------------------------------


def test_render_query() -> None:
    assert ds.render_query("SELECT * FROM {source_table} x", "t") == "SELECT * FROM t x"
    assert "{source_table}" not in ds.render_query(ds.load_query(), "`p.d.t`")
    assert "`p.d.t`" in ds.render_query(ds.load_query(), "`p.d.t`")
    with pytest.raises(ds.DataError, match="source_table"):
        ds.render_query("SELECT * FROM ad_clicks", "t")


def test_query_on_spans_returns_raw_columns_in_order(tmp_path: Path) -> None:
    dg.write_span(tmp_path, 1, 120, 3, chunk_rows=50)
    dg.write_span(tmp_path, 2, 80, 3)
    source = _source(ds.spans_pattern(tmp_path))
    assert source.fmt == "parquet" and len(source.files) == 2
    table = _query_table(source, batch_rows=64)
    assert tuple(table.column_names) == features.RAW_COLUMNS
    for name in features.RAW_COLUMNS:
        assert table.schema.field(name).type == QUERY_TYPES[features.RAW_TYPES[name]], name
    assert table.num_rows == 200
    expected = pa.concat_tables(pq.read_table(f) for f in source.files)

    def rows(t: pa.Table) -> list[tuple]:
        return sorted(zip(*(t[c].to_pylist() for c in features.RAW_COLUMNS), strict=True))

    assert rows(table) == rows(expected)


def test_query_drops_rows_with_null_label(tmp_path: Path) -> None:
    table = pa.Table.from_batches(list(dg.generate_batches(40, 4, start=dg.FIRST_SPAN_DAY)))
    labels = table[features.LABEL_KEY].to_pylist()
    labels[0] = labels[7] = None
    table = table.set_column(table.column_names.index(features.LABEL_KEY), features.LABEL_KEY,
                             pa.array(labels, pa.int64()))
    pq.write_table(table, tmp_path / "nulls.parquet")
    result = _query_table(_source(tmp_path / "nulls.parquet"))
    assert result.num_rows == 38
    assert result[features.LABEL_KEY].null_count == 0


def test_query_keeps_rows_with_other_nulls(tmp_path: Path) -> None:
    path = _with_value(tmp_path, "City", "", row=5)
    result = _query_table(_source(path))
    assert result.num_rows == 20
    assert result["City"].null_count == 1 and result["City"][4].as_py() is None


def test_broken_query_is_a_data_error(tmp_path: Path) -> None:
    path = dg.write_csv(tmp_path / "ads.csv", 10, 0)
    with pytest.raises(ds.DataError, match="training query failed") as err:
        list(ds.query_batches(_source(path), "SELECT NoSuchColumn FROM {source_table}"))
    assert str(path) in str(err.value)


# --- Arrow -> tf.Example batches ---------------------------------------------------------------


def test_to_example_batch_types_and_nulls() -> None:
    batch = pa.RecordBatch.from_arrays(
        [
            pa.array([1.5, None, 3.25], pa.float64()),
            pa.array([35, 40, None], pa.int64()),
            pa.array(["a b", None, "c"], pa.string()),
            pa.array([1, 0, 1], pa.int64()),
        ],
        ["AreaIncome", "Age", "City", features.LABEL_KEY],
    )
    out = ds.to_example_batch(batch)
    assert out.schema.names == ["AreaIncome", "Age", "City", features.LABEL_KEY]
    assert out.schema.field("AreaIncome").type == pa.list_(pa.float32())
    assert out.schema.field("Age").type == pa.list_(pa.int64())
    assert out.schema.field("City").type == pa.list_(pa.binary())
    assert out.column("AreaIncome").to_pylist() == [[1.5], [], [3.25]]
    assert out.column("Age").to_pylist() == [[35], [40], []]
    assert out.column("City").to_pylist() == [[b"a b"], [], [b"c"]]
    assert out.column(features.LABEL_KEY).to_pylist() == [[1], [0], [1]]


def test_to_example_batch_of_query_output(tmp_path: Path) -> None:
    path = dg.write_csv(tmp_path / "ads.csv", 30, 5)
    batch = next(iter(ds.query_batches(_source(path), ds.load_query())))
    out = ds.to_example_batch(batch)
    assert out.num_rows == 30
    for name in features.RAW_COLUMNS:
        value_type = out.schema.field(name).type.value_type
        expected = {"float": pa.float32(), "int": pa.int64(), "string": pa.binary()}
        assert value_type == expected[features.RAW_TYPES[name]], name
    np.testing.assert_allclose(
        [v[0] for v in out.column("AreaIncome").to_pylist()],
        batch.column("AreaIncome").to_numpy(), rtol=1e-6)


# --- file patterns -----------------------------------------------------------------------------


def test_from_pattern_no_match(tmp_path: Path) -> None:
    with pytest.raises(ds.DataError, match="no input files match"):
        _source(tmp_path / "*.csv")


def test_from_pattern_mixed_formats(tmp_path: Path) -> None:
    dg.write_csv(tmp_path / "a.csv", 5, 0)
    batches = list(dg.generate_batches(5, 0, start=dg.FIRST_SPAN_DAY))
    pq.write_table(pa.Table.from_batches(batches), tmp_path / "b.parquet")
    with pytest.raises(ds.DataError, match="mixes CSV and Parquet"):
        _source(tmp_path / "*")


def test_from_pattern_sorts_and_reads_many_csv_files(tmp_path: Path) -> None:
    dg.write_csv(tmp_path / "b.csv", 7, 1)
    dg.write_csv(tmp_path / "a.csv", 5, 0)
    source = _source(tmp_path / "*.csv")
    assert source.files == (str(tmp_path / "a.csv"), str(tmp_path / "b.csv"))
    assert source.fmt == "csv"
    assert _query_table(source).num_rows == 12


def test_file_names_with_quotes(tmp_path: Path) -> None:
    path = dg.write_csv(tmp_path / "it's.csv", 6, 0)
    assert _query_table(_source(path)).num_rows == 6

