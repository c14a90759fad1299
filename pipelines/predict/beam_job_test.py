"""The Beam job (DirectRunner) against the local command on the same input and the same real
small model: the same rows, columns and manifest; bad input, model and output refused early."""

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
from pipelines.predict import __main__ as local_command
from pipelines.predict import batch, beam_job

SAME_FIELDS = ("model", "model_version", "input", "rows", "scored", "unscored_empty_input")


def _read(folder: Path) -> tuple[pa.Table, dict]:
    manifest = json.loads((folder / batch.MANIFEST).read_text())
    shards = [safe_parquet.read_table(folder / s) for s in manifest["shards"]]
    assert sorted(p.name for p in folder.iterdir()) == sorted([*manifest["shards"], batch.MANIFEST])
    return pa.concat_tables(shards).sort_by("row"), manifest


def _both(data: Path, model: Path, tmp_path: Path, *beam_flags: str,
          beam_input: str | None = None) -> tuple:
    """The local command on ``data`` and the Beam job on ``beam_input`` (default: the same
    files): each output read back."""
    local_out, beam_out = tmp_path / "local", tmp_path / "beam"
    common = ["--model", str(model), "--batch-rows", "128"]
    assert local_command.main([*common, "--input", str(data), "--output", str(local_out)]) == 0
    assert beam_job.main([*common, "--input", beam_input or str(data), "--output",
                          str(beam_out), *beam_flags]) == 0
    assert not list(tmp_path.glob(".beam.partial-*"))
    return _read(local_out), _read(beam_out)


def _assert_same(local: pa.Table, beamed: pa.Table) -> None:
    assert beamed.schema == local.schema
    assert beamed.num_rows == local.num_rows
    for name in local.column_names:
        if name == "probability":
            np.testing.assert_allclose(
                beamed.column(name).to_numpy(), local.column(name).to_numpy(), rtol=1e-6
            )
        else:
            assert beamed.column(name).to_pylist() == local.column(name).to_pylist(), name


def test_span_folder_gives_the_rows_and_manifest_of_the_local_command(
    pushed_model: Path, tmp_path: Path
):
    data = tmp_path / "data"
    generator.write_span(data, 1, 700, 1, chunk_rows=300)  # row groups
    generator.write_span(data, 2, 500, 2)  # a second file: its rows are numbered from 700
    (local, local_manifest), (beamed, beam_manifest) = _both(
        data, pushed_model, tmp_path, "--direct_num_workers=2", "--direct_running_mode=in_memory"
    )
    assert local.num_rows == 1200
    assert beamed.column("row").to_pylist() == list(range(1200))
    _assert_same(local, beamed)
    assert {k: beam_manifest[k] for k in SAME_FIELDS} == {k: local_manifest[k] for k in SAME_FIELDS}
    assert beam_manifest["model_version"] == 7 and beam_manifest["rows"] == 1200


def test_csv_with_ids_and_empty_inputs_matches_the_local_command(
    pushed_model: Path, tmp_path: Path
):
    table = pa.Table.from_batches(
        list(generator.generate_batches(300, 3, start=generator.FIRST_SPAN_DAY))
    ).drop([features.LABEL_KEY])
    ages = table.column("Age").to_pylist()
    ages[5] = ages[250] = None
    table = table.set_column(table.column_names.index("Age"), "Age", pa.array(ages, pa.int64()))
    ids = [f"r-{i}" for i in range(300)]
    ids[9] = None  # an empty text field: null in both (DuckDB reads it so)
    table = table.add_column(0, "request_id", pa.array(ids))
    pacsv.write_csv(table, tmp_path / "requests.csv")
    (local, local_manifest), (beamed, beam_manifest) = _both(
        tmp_path / "requests.csv", pushed_model, tmp_path
    )
    _assert_same(local, beamed)
    assert beamed.column("request_id").to_pylist() == ids
    assert beam_manifest["unscored_empty_input"] == local_manifest["unscored_empty_input"] == 2
    assert {k: beam_manifest[k] for k in SAME_FIELDS} == {k: local_manifest[k] for k in SAME_FIELDS}


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing_column", "missing column 'Country'"),
        ("empty_file", "the file is empty"),
        ("no_model", "no such folder"),
        ("output_not_empty", "exists and is not an empty folder"),
        ("local_on_dataflow", "a local path, but the job runs on Dataflow"),
    ],
)
def test_bad_input_model_or_output_exits_2_before_the_job(
    pushed_model: Path, tmp_path: Path, capsys, case: str, expected: str
):
    data, model, out = tmp_path / "in.parquet", pushed_model, tmp_path / "out"
    rows = pa.Table.from_batches(
        [next(generator.generate_batches(20, 1, start=generator.FIRST_SPAN_DAY))]
    )
    pq.write_table(rows.drop(["Country"]) if case == "missing_column" else rows, data)
    if case == "empty_file":
        data.write_bytes(b"")
    if case == "no_model":
        model = tmp_path / "no-model"
    if case == "output_not_empty":
        out.mkdir()
        (out / "keep.txt").write_text("earlier results")
    before = sorted(p.name for p in tmp_path.iterdir())
    flags = ["--runner", "DataflowRunner"] if case == "local_on_dataflow" else []
    rc = beam_job.main(["--input", str(data), "--output", str(out), "--model", str(model), *flags])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("error: ") and expected in err and err.count("\n") == 1
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
    if case == "output_not_empty":
        assert [p.name for p in out.iterdir()] == ["keep.txt"]
