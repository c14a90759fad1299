"""Batch scoring's gs:// side through the real google-cloud-storage client, pointed at the JSON
API fake (pipelines.testing.fake_gcs): the input planned from Parquet footers and read in ranged
requests, the model version found, a used output prefix refused, the shards finalized."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from pipelines.common import storage
from pipelines.data import generator
from pipelines.data.source import DataError
from pipelines.predict import batch, beam_job, model, plan
from pipelines.predict.beam_job_test import SAME_FIELDS, _assert_same, _both
from pipelines.testing import fake_bigquery


@pytest.fixture
def bucket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The local folder that is gs://bucket."""
    root = tmp_path / "gcs"
    (root / "bucket").mkdir(parents=True)
    with fake_bigquery.serving(root) as server:
        monkeypatch.setenv(storage.EMULATOR_ENV, server.endpoint)
        yield root / "bucket"


def test_gcs_spans_are_scored_as_the_same_files_locally(pushed_model, tmp_path, bucket):
    generator.write_span(bucket / "data", 1, 700, 1, chunk_rows=300)
    generator.write_span(bucket / "data", 2, 500, 2)
    (local, local_manifest), (beamed, beam_manifest) = _both(
        bucket / "data", pushed_model, tmp_path, beam_input="gs://bucket/data"
    )
    _assert_same(local, beamed)
    assert beamed.column("row").to_pylist() == list(range(1200))
    same = [k for k in SAME_FIELDS if k != "input"]
    assert {k: beam_manifest[k] for k in same} == {k: local_manifest[k] for k in same}
    assert beam_manifest["input"].startswith("2 parquet files (gs://bucket/data/span-00001/")


def test_gcs_plan_numbers_rows_across_files(bucket):
    generator.write_span(bucket / "data", 1, 700, 1)
    generator.write_span(bucket / "data", 2, 500, 2)
    generator.write_span(bucket / "data", 3, 10, 3)
    planned = plan.plan_input("gs://bucket/data", ("Age", "City"))
    assert [f.first_row for f in planned.files] == [0, 700, 1200]
    assert planned.fmt == "parquet" and planned.mapping == {"Age": "Age", "City": "City"}


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing_column", "missing column 'Country'"),
        ("mistyped", "column 'Age' should hold an integer but has string values"),
        ("empty_file", "the file is empty"),
        ("no_rows", "has no rows"),
        ("no_spans", "the folder has no span-NNNNN/*.parquet files"),
        ("no_such", "no such file or folder"),
        ("clash", "'Probability' would be overwritten"),
    ],
)
def test_bad_gcs_input_exits_2_before_the_job(
    pushed_model, tmp_path, bucket, capsys, case, expected
):
    rows = pa.Table.from_batches(
        [next(generator.generate_batches(20, 1, start=generator.FIRST_SPAN_DAY))]
    )
    uri, path = "gs://bucket/in.parquet", bucket / "in.parquet"
    if case == "missing_column":
        pq.write_table(rows.drop(["Country"]), path)
    elif case == "mistyped":
        pq.write_table(
            rows.set_column(rows.column_names.index("Age"), "Age", pa.array(["old"] * 20)), path
        )
    elif case == "empty_file":
        path.write_bytes(b"")
    elif case == "no_rows":
        pq.write_table(rows.slice(0, 0), path)
    elif case == "no_spans":
        (bucket / "folder").mkdir()
        (bucket / "folder" / "notes.txt").write_text("no spans here")
        uri = "gs://bucket/folder"
    elif case == "no_such":
        uri = "gs://bucket/nothing"
    elif case == "clash":
        pq.write_table(rows.append_column("Probability", pa.array([0.5] * 20)), path)
    out = tmp_path / "out"
    rc = beam_job.main(["--input", uri, "--output", str(out), "--model", str(pushed_model)])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert expected in err
    assert not out.exists() and not list(tmp_path.glob(".out.partial-*"))


def _fake_version(bucket: Path, name: str, complete: bool = True) -> None:
    folder = bucket / "models" / name / "variables"
    folder.mkdir(parents=True)
    (folder / ("variables.index" if complete else "variables.data-00000-of-00001")).write_bytes(
        b"x"
    )
    if complete:
        (folder.parent / "saved_model.pb").write_bytes(b"x")


def test_gcs_model_version_and_output_checks(bucket):
    for name, complete in (("9", True), ("10", True), ("11", False)):
        _fake_version(bucket, name, complete)
    found = model.find_version("gs://bucket/models")
    assert (found.path, found.version) == ("gs://bucket/models/10", 10)
    assert model.find_version("gs://bucket/models/9").version == 9
    with pytest.raises(model.ModelError, match="no such folder"):
        model.find_version("gs://bucket/nothing")
    _fake_version(bucket / "other", "3", complete=False)
    with pytest.raises(
        model.ModelError,
        match=r"no complete model version in it \(incomplete "
        r"versions: 3\)",
    ):
        model.find_version("gs://bucket/other/models")
    batch.check_output("gs://bucket/new-prefix")  # nothing there: fine
    with pytest.raises(DataError, match="objects exist under it"):
        batch.check_output("gs://bucket/models")


def test_gcs_finalize_renames_shards_and_writes_the_manifest_last(bucket):
    staging = "gs://bucket/.preds.partial-1"
    for i in (1, 0):
        storage.write_bytes(f"{staging}/shard-0000{i}-of-00002.parquet", f"shard {i}".encode())
    manifest = beam_job.finalize(staging, "gs://bucket/preds", {"rows": 3, "shards": []})
    assert manifest["shards"] == ["part-00000.parquet", "part-00001.parquet"]
    assert (bucket / "preds" / "part-00000.parquet").read_bytes() == b"shard 0"
    assert (bucket / "preds" / "part-00001.parquet").read_bytes() == b"shard 1"
    assert json.loads((bucket / "preds" / batch.MANIFEST).read_text()) == manifest
    assert storage.list_files(staging) == []


def test_a_gcs_csv_is_scored_as_the_same_file_locally(pushed_model, tmp_path, bucket):
    table = pa.Table.from_batches(
        list(generator.generate_batches(300, 3, start=generator.FIRST_SPAN_DAY))
    )
    table = table.add_column(0, "request_id", pa.array([f"r-{i}" for i in range(300)]))
    pacsv.write_csv(table, bucket / "requests.csv")
    (local, _), (beamed, manifest) = _both(
        bucket / "requests.csv", pushed_model, tmp_path, beam_input="gs://bucket/requests.csv"
    )
    _assert_same(local, beamed)
    assert manifest["input"] == "gs://bucket/requests.csv" and manifest["rows"] == 300


def test_a_model_with_inputs_of_another_schema_is_refused_on_gcs_too(bucket):
    generator.write_span(bucket / "data", 1, 50, 1)
    with pytest.raises(model.ModelError, match="the model's Clicks input"):
        plan.plan_input("gs://bucket/data", ("Age", "Clicks"))
