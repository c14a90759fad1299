"""Tests for run_summary's reading of an Examples artifact's eval split."""

from pathlib import Path

from tensorflow.core.example import example_pb2

from pipelines.components import eval_sample
from pipelines.metadata import runs as run_summary


def _example(age: int, city: str) -> bytes:
    example = example_pb2.Example()
    example.features.feature["Age"].int64_list.value.append(age)
    example.features.feature["City"].bytes_list.value.append(city.encode())
    return example.SerializeToString()


def test_eval_examples_reads_every_file_of_the_split_in_order(tmp_path: Path) -> None:
    split = tmp_path / "Split-eval"
    eval_sample.write_records(str(split / "a.gz"), [_example(30, "x"), _example(31, "y")])
    eval_sample.write_records(str(split / "b.gz"), [])  # an empty file is skipped
    eval_sample.write_records(str(split / "c.gz"), [_example(32, "z")])
    eval_sample.write_records(str(tmp_path / "Split-train" / "a.gz"), [_example(99, "t")])
    columns = run_summary.eval_examples(str(tmp_path))
    assert columns["Age"].tolist() == [30, 31, 32]
    assert [c.decode() for c in columns["City"]] == ["x", "y", "z"]
    assert run_summary.eval_examples(str(tmp_path), split="missing") == {}
