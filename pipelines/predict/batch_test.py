"""Streaming batch scoring on a real small model: rows kept, ids kept, inputs checked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from models import features
from pipelines.common import safe_parquet
from pipelines.data import generator
from pipelines.data.source import DataError
from pipelines.predict import batch, model


@pytest.fixture(scope="module")
def scorer(pushed_model: Path) -> model.Scorer:
    return model.Scorer(model.find_version(pushed_model))


def _read(folder: Path) -> pa.Table:
    manifest = json.loads((folder / batch.MANIFEST).read_text())
    return pa.concat_tables(safe_parquet.read_table(folder / s) for s in manifest["shards"])


def _csv_with_ids(path: Path, rows: int) -> pa.Table:
    table = pa.Table.from_batches(
        list(generator.generate_batches(rows, 3, start=generator.FIRST_SPAN_DAY))
    ).drop([features.LABEL_KEY])
    table = table.add_column(0, "request_id", pa.array([f"r-{i}" for i in range(rows)]))
    pacsv.write_csv(table, path)
    return table


def test_span_folder_scored_in_shards_with_every_row_and_column(
    scorer: model.Scorer, tmp_path: Path
):
    data = tmp_path / "data"
    generator.write_span(data, 1, 700, 1, chunk_rows=300)
    generator.write_span(data, 2, 500, 2)
    out = tmp_path / "out"
    manifest = batch.score_to(
        batch.open_input(data, tuple(scorer.inputs)), scorer, out, batch_rows=256, shard_rows=500
    )
    assert manifest["rows"] == manifest["scored"] == 1200
    assert manifest["shards"] == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert manifest["model_version"] == 7
    table = _read(out)
    assert table.num_rows == 1200
    assert table.column("row").to_pylist() == list(range(1200))
    assert set(table.column("model_version").to_pylist()) == {7}
    assert set(features.RAW_COLUMNS) <= set(table.column_names)  # the label kept as it was
    # Each row's score is the model's for that row, whatever batch it came in.
    direct, _ = scorer.score({n: table.column(n).combine_chunks() for n in scorer.inputs})
    np.testing.assert_allclose(table.column("probability").to_numpy(), direct, rtol=1e-6)
    assert not list(tmp_path.glob(".out.partial-*"))


def test_csv_request_ids_kept_next_to_predictions(scorer: model.Scorer, tmp_path: Path):
    source = _csv_with_ids(tmp_path / "requests.csv", 300)
    out = tmp_path / "out"
    batch.score_to(
        batch.open_input(tmp_path / "requests.csv", tuple(scorer.inputs)),
        scorer,
        out,
        batch_rows=128,
    )
    table = _read(out)
    assert table.column("request_id").to_pylist() == source.column("request_id").to_pylist()
    assert table.column("City").to_pylist() == source.column("City").to_pylist()
    assert table.column("clicked").to_pylist() == [
        int(p >= 0.5) for p in table.column("probability").to_pylist()
    ]


def test_rows_with_an_empty_input_get_empty_predictions(scorer: model.Scorer, tmp_path: Path):
    table = _csv_with_ids(tmp_path / "full.csv", 50)
    ages = table.column("Age").to_pylist()
    ages[3] = ages[40] = None
    holed = table.set_column(table.column_names.index("Age"), "Age", pa.array(ages, pa.int64()))
    pq.write_table(holed, tmp_path / "holes.parquet")
    manifest = batch.score_to(
        batch.open_input(tmp_path / "holes.parquet", tuple(scorer.inputs)), scorer, tmp_path / "out"
    )
    assert (manifest["scored"], manifest["unscored_empty_input"]) == (48, 2)
    probability = _read(tmp_path / "out").column("probability").to_pylist()
    assert [i for i, p in enumerate(probability) if p is None] == [3, 40]


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing_column", "missing column 'Country'"),
        ("empty_file", "the file is empty"),
        ("header_only", "has no rows; expected at least one example"),
        ("wrong_type", "column 'Age' should hold an integer"),
        ("bad_timestamp", "should hold real dates and times"),
        ("no_spans", "the folder has no span-NNNNN/\\*.parquet files"),
        ("clash", "'Probability' would be overwritten"),
        ("no_such", "no such file or folder"),
    ],
)
def test_bad_input_is_named_in_one_line(
    scorer: model.Scorer, tmp_path: Path, case: str, expected: str
):
    path = tmp_path / "in.csv"
    table = _csv_with_ids(path, 20)
    if case == "missing_column":
        pacsv.write_csv(table.drop(["Country"]), path)
    elif case == "empty_file":
        path.write_bytes(b"")
    elif case == "header_only":
        path.write_text(path.read_text().splitlines()[0] + "\n")
    elif case == "wrong_type":
        pacsv.write_csv(
            table.set_column(table.column_names.index("Age"), "Age", pa.array(["old"] * 20)), path
        )
    elif case == "bad_timestamp":
        path.write_text(path.read_text().replace("2016-01-01 ", "2016-02-30 ", 1))
    elif case == "no_spans":
        path = tmp_path / "folder"
        path.mkdir()
    elif case == "clash":
        pacsv.write_csv(table.append_column("Probability", pa.array([0.5] * 20)), path)
    elif case == "no_such":
        path = tmp_path / "nothing.csv"
    with pytest.raises(DataError, match=expected) as err:
        batch.open_input(path, tuple(scorer.inputs))
    assert "\n" not in str(err.value)
    assert str(path.name) in str(err.value) or case in ("header_only",)


def test_existing_output_is_never_overwritten(scorer: model.Scorer, tmp_path: Path):
    _csv_with_ids(tmp_path / "in.csv", 10)
    data = batch.open_input(tmp_path / "in.csv", tuple(scorer.inputs))
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier results")
    with pytest.raises(DataError, match="exists and is not an empty folder"):
        batch.score_to(data, scorer, out)
    assert (out / "keep.txt").read_text() == "earlier results"
    batch.score_to(data, scorer, tmp_path / "empty-is-fine")
    assert _read(tmp_path / "empty-is-fine").num_rows == 10


def test_a_failure_midway_leaves_nothing_under_the_output_name(
    scorer: model.Scorer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    generator.write_span(tmp_path / "data", 1, 600, 1)
    data = batch.open_input(tmp_path / "data", tuple(scorer.inputs))
    calls = {"n": 0}
    real = scorer.score

    def fail_second(columns):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        return real(columns)

    monkeypatch.setattr(scorer, "score", fail_second)
    with pytest.raises(OSError):
        batch.score_to(data, scorer, tmp_path / "out", batch_rows=256)
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out.partial-*"))
