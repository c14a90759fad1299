"""Tests for the DuckDB ExampleGen: TFX-identical splits, the stored query, a real executor run."""

from __future__ import annotations

import csv
import glob
import io
import json
import os
import random
from pathlib import Path

import pytest
import tensorflow as tf
from google.protobuf import json_format, struct_pb2
from tfx.components.example_gen import base_example_gen_executor
from tfx.orchestration.portable import data_types, python_executor_operator
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.utils import proto_utils
from tfx_bsl.coders import example_coder

from models import features
from pipelines.components import example_gen
from pipelines.data import generator as dg
from pipelines.data import row_accounting as ra
from pipelines.data import source as ds

BUCKETS = [4, 5]
SPLIT_CONFIG = example_gen_pb2.SplitConfig(
    splits=[
        example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=4),
        example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1),
    ],
    partition_feature_name=features.TIMESTAMP_FEATURE,
)


def _tfx_split(example: tf.train.Example, buckets: list[int] = BUCKETS) -> int:
    return base_example_gen_executor._PartitionFn(example, len(buckets), buckets, SPLIT_CONFIG)


def _example(timestamp: bytes) -> tf.train.Example:
    example = tf.train.Example()
    example.features.feature[features.TIMESTAMP_FEATURE].bytes_list.value.append(timestamp)
    example.features.feature["Age"].int64_list.value.append(35)
    return example


def test_varint_matches_protobuf() -> None:
    for n in (0, 1, 127, 128, 300, 16_383, 16_384, 2**21 + 5):
        feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"x" * n]))
        serialized = feature.SerializeToString(deterministic=True)
        assert example_gen.partition_key(b"x" * n) == serialized, n
    assert example_gen._varint(300) == b"\xac\x02"


def test_split_index_matches_tfx_for_random_timestamps() -> None:
    rng = random.Random(0)
    seen = set()
    for _ in range(200):
        stamp = (f"20{rng.randint(10, 29)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} "
                 f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}")
        value = stamp.encode()
        index = example_gen.split_index(value, BUCKETS)
        assert index == _tfx_split(_example(value)), stamp
        seen.add(index)
    assert seen == {0, 1}


@pytest.mark.parametrize("buckets", [[4, 5], [1, 2], [10, 50, 80], [3]])
def test_split_index_matches_tfx_for_odd_values_and_buckets(buckets: list[int]) -> None:
    config = example_gen_pb2.SplitConfig(
        splits=[example_gen_pb2.SplitConfig.Split(name=f"s{i}", hash_buckets=1)
                for i in range(len(buckets))],
        partition_feature_name=features.TIMESTAMP_FEATURE)
    rng = random.Random(len(buckets))
    for length in (0, 1, 126, 127, 128, 129, 300, 20_000):
        value = bytes(rng.randrange(256) for _ in range(length))
        expected = base_example_gen_executor._PartitionFn(
            _example(value), len(buckets), buckets, config)
        assert example_gen.split_index(value, buckets) == expected, length


def test_split_index_matches_tfx_on_encoded_query_output(tmp_path: Path) -> None:
    """The Arrow column the executor hashes is the feature TFX would hash in the tf.Example."""
    path = dg.write_csv(tmp_path / "ads.csv", 150, 3)
    batch = next(iter(ds.query_batches(ds.SourceFiles.from_pattern(str(path)), ds.load_query())))
    encoded = example_coder.RecordBatchToExamplesEncoder().encode(ds.to_example_batch(batch))
    stamps = batch.column(features.TIMESTAMP_FEATURE).to_pylist()
    for stamp, record in zip(stamps, encoded, strict=True):
        example = tf.train.Example.FromString(record)
        assert example_gen.split_index(stamp.encode(), BUCKETS) == _tfx_split(example)


def test_query_round_trips_through_exec_properties() -> None:
    query = ds.load_query()
    config_json = json_format.MessageToJson(example_gen._custom_config(query, 0.25))
    props = {standard_component_specs.CUSTOM_CONFIG_KEY: config_json}
    assert example_gen.query_from_exec_properties(props) == query
    assert example_gen.max_dropped_share_from_exec_properties(props) == 0.25
    as_dict = json_format.MessageToDict(example_gen._custom_config("SELECT 1 -- é"))
    props = {standard_component_specs.CUSTOM_CONFIG_KEY: as_dict}
    assert example_gen.query_from_exec_properties(props) == "SELECT 1 -- é"


@pytest.mark.parametrize("value", [None, ""])
def test_query_missing_from_exec_properties(value: str | None) -> None:
    with pytest.raises(ds.DataError, match="without a query"):
        example_gen.query_from_exec_properties({standard_component_specs.CUSTOM_CONFIG_KEY: value})


def _read_split(uri: str, split: str) -> list[tf.train.Example]:
    files = sorted(glob.glob(os.path.join(uri, f"Split-{split}", "*.gz")))
    assert files, f"no files in Split-{split}"
    return [tf.train.Example.FromString(r.numpy())
            for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def test_max_dropped_share_defaults_for_a_config_without_one() -> None:
    config = example_gen_pb2.CustomConfig()
    config.custom_config.Pack(struct_pb2.Struct(fields={
        example_gen.QUERY_KEY: struct_pb2.Value(string_value="SELECT 1")}))
    props = {standard_component_specs.CUSTOM_CONFIG_KEY: json_format.MessageToJson(config)}
    assert example_gen.max_dropped_share_from_exec_properties(props) == 0.05


def _exec_properties(input_base: Path, pattern: str, max_dropped_share: float = 0.05
                     ) -> dict[str, object]:
    return {
        standard_component_specs.INPUT_BASE_KEY: str(input_base),
        standard_component_specs.INPUT_CONFIG_KEY: proto_utils.proto_to_json(
            example_gen_pb2.Input(splits=[
                example_gen_pb2.Input.Split(name="single_split", pattern=pattern)])),
        standard_component_specs.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(
            example_gen_pb2.Output(split_config=SPLIT_CONFIG)),
        standard_component_specs.CUSTOM_CONFIG_KEY: proto_utils.proto_to_json(
            example_gen._custom_config(ds.load_query(), max_dropped_share)),
        standard_component_specs.OUTPUT_DATA_FORMAT_KEY: example_gen_pb2.FORMAT_TF_EXAMPLE,
        standard_component_specs.OUTPUT_FILE_FORMAT_KEY: example_gen_pb2.FORMAT_TFRECORDS_GZIP,
    }


def _examples(tmp_path: Path) -> standard_artifacts.Examples:
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    return examples


def test_executor_writes_train_and_eval_splits(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    dg.write_span(data_dir, 1, 300, 7, chunk_rows=100)
    examples = _examples(tmp_path)
    output_dict = {standard_component_specs.EXAMPLES_KEY: [examples]}
    exec_properties = _exec_properties(data_dir, ds.SPAN_GLOB)

    example_gen.Executor().Do({}, output_dict, exec_properties)

    assert examples.split_names == artifact_utils.encode_split_names(["train", "eval"])
    assert ra.row_accounting(examples) == {"read": 300, "kept": 300, "dropped": {},
                                           "changed": {}, "changed_rows": 0}
    assert examples.get_string_custom_property("spans") == "span-00001"  # the model card's
    train, evaluation = _read_split(examples.uri, "train"), _read_split(examples.uri, "eval")
    assert len(train) + len(evaluation) == 300
    assert 0.72 <= len(train) / 300 <= 0.88
    expected_kind = {"float": "float_list", "int": "int64_list", "string": "bytes_list"}
    for example in train[:20] + evaluation[:20]:
        feature = example.features.feature
        assert set(feature) == set(features.RAW_COLUMNS)
        for name in features.RAW_COLUMNS:
            assert feature[name].WhichOneof("kind") == expected_kind[features.RAW_TYPES[name]]
            assert len(getattr(feature[name], expected_kind[features.RAW_TYPES[name]]).value) == 1
    for index, records in enumerate((train, evaluation)):
        for example in records:
            assert _tfx_split(example) == index
    stamps = sorted(e.features.feature["Timestamp"].bytes_list.value[0].decode()
                    for e in train + evaluation)
    assert all(s.startswith("2016-01-01 ") for s in stamps)
    labels = {e.features.feature[features.LABEL_KEY].int64_list.value[0] for e in train}
    assert labels == {0, 1}


def _csv_with(tmp_path: Path, edits: dict[tuple[int, str], str], n: int = 60) -> Path:
    rows = list(csv.reader(io.StringIO(dg.write_csv(tmp_path / "good.csv", n, 4).read_text())))
    for (row, column), value in edits.items():
        rows[row + 1][rows[0].index(column)] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path = tmp_path / "in" / "ads.csv"
    path.parent.mkdir()
    path.write_text(out.getvalue())
    return path


def test_executor_drops_counts_and_records_rows_on_the_artifact(tmp_path: Path) -> None:
    """Empty labels and impossible Timestamps (which the runner refuses up front, but files can
    change) are dropped and counted; TFX's launcher publishes what Do sets on the artifact."""
    path = _csv_with(tmp_path, {(3, "ClickedOnAd"): "", (8, "Timestamp"): "2016-02-30 25:61:61",
                                (10, "Age"): ""})
    examples = _examples(tmp_path)
    info = data_types.ExecutionInfo(
        input_dict={}, output_dict={standard_component_specs.EXAMPLES_KEY: [examples]},
        exec_properties=_exec_properties(path.parent, path.name, 0.05),
        execution_output_uri=str(tmp_path / "executor_output.pb"))

    output = python_executor_operator.run_with_executor(info, example_gen.Executor())

    (published,) = output.output_artifacts[standard_component_specs.EXAMPLES_KEY].artifacts
    expected = {"read": 60, "kept": 58,
                "dropped": {"label ClickedOnAd is empty": 1,
                            "Timestamp is not a real date and time": 1},
                "changed": {"Age is empty (left missing)": 1}, "changed_rows": 1}
    assert ra.row_accounting(published) == expected
    assert published.custom_properties["spans"].string_value == ""  # one CSV: no span folder
    assert json.loads(published.custom_properties[ra.ARTIFACT_PROPERTY].string_value) == expected
    written = _read_split(examples.uri, "train") + _read_split(examples.uri, "eval")
    assert len(written) == 58
    assert b"2016-02-30 25:61:61" not in {
        e.features.feature["Timestamp"].bytes_list.value[0] for e in written}


def test_executor_fails_before_writing_when_too_many_rows_are_dropped(tmp_path: Path) -> None:
    path = _csv_with(tmp_path, {(i, "ClickedOnAd"): "" for i in range(4)})
    examples = _examples(tmp_path)
    with pytest.raises(ds.DataError) as err:
        example_gen.Executor().Do({}, {standard_component_specs.EXAMPLES_KEY: [examples]},
                                  _exec_properties(path.parent, path.name, 0.05))
    assert str(err.value) == (
        f"{path}: 4 of 60 rows (6.7%) would be dropped, more than the 5.0% allowed: label "
        "ClickedOnAd is empty: 4. Fix or remove those rows, or allow more with "
        "--max-dropped-share (now 0.05)")
    assert not glob.glob(os.path.join(examples.uri, "Split-*"))


def _canonical(uri: str, split: str) -> list[bytes]:
    """A split's records as sets are compared: sorted by their canonical bytes (the feature
    map's entries sorted; ExampleGen's bytes order the map differently in each process)."""
    from pipelines.components.eval_sample import example_key, read_records, split_files

    return sorted(example_key(r) for r in read_records(split_files(uri, split)))


class _StockWrite(example_gen.Executor):
    """Our executor writing its splits through TFX's own BaseExampleGenExecutor.Do (its
    WriteSplit, Reshuffle included): what the executor wrote before it streamed its writes."""

    def _generate(self, output_dict, exec_properties) -> None:
        base_example_gen_executor.BaseExampleGenExecutor.Do(self, {}, output_dict,
                                                            exec_properties)


def test_streamed_writes_hold_the_same_examples_as_tfx_write_split(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    dg.write_span(data_dir, 1, 500, 3, chunk_rows=128)
    dg.write_span(data_dir, 2, 300, 4)
    props = _exec_properties(data_dir, ds.SPAN_GLOB)
    ours, stock = _examples(tmp_path / "ours"), _examples(tmp_path / "stock")
    example_gen.Executor().Do({}, {standard_component_specs.EXAMPLES_KEY: [ours]}, props)
    _StockWrite().Do({}, {standard_component_specs.EXAMPLES_KEY: [stock]}, props)

    for split in ("train", "eval"):
        ours_records, stock_records = _canonical(ours.uri, split), _canonical(stock.uri, split)
        assert ours_records and ours_records == stock_records
        assert ([os.path.basename(p) for p in glob.glob(f"{ours.uri}/Split-{split}/*")]
                == [os.path.basename(p) for p in glob.glob(f"{stock.uri}/Split-{split}/*")]
                == ["data_tfrecord-00000-of-00001.gz"])
    assert len(_canonical(ours.uri, "train")) + len(_canonical(ours.uri, "eval")) == 800
    for key in ("split_names", ):
        assert getattr(ours, key) == getattr(stock, key)
    for prop in ("payload_format", "file_format", ra.ARTIFACT_PROPERTY):
        assert ours.get_string_custom_property(prop) == stock.get_string_custom_property(prop)
    assert ours.get_string_custom_property("payload_format") == "FORMAT_TF_EXAMPLE"


def test_query_parts_together_return_exactly_the_query_rows(tmp_path: Path) -> None:
    dg.write_span(tmp_path, 1, 400, 9)
    source = ds.SourceFiles.from_pattern(str(tmp_path / ds.SPAN_GLOB))

    def rows(template: str) -> list[tuple]:
        return sorted(r for b in ds.query_batches(source, template)
                      for r in zip(*b.to_pydict().values(), strict=True))

    template = ds.load_query()
    whole = rows(template)
    parts = [rows(example_gen.partition_query(template, "Timestamp", k, 3)) for k in range(3)]
    assert sorted(r for part in parts for r in part) == whole and len(whole) == 400
    assert all(40 < len(part) < 220 for part in parts)  # a real split, not all in one
    assert example_gen.partition_query(template, "Timestamp", 0, 1) == template


def test_query_parts_follow_the_beam_workers() -> None:
    assert example_gen.partitions([]) == 1
    assert example_gen.partitions(["--direct_num_workers=4"]) == 1  # in memory: one process
    assert example_gen.partitions(["--direct_running_mode=multi_processing",
                                   "--direct_num_workers=3"]) == 3


def test_examples_written_in_parts_are_the_same_examples(tmp_path: Path, monkeypatch) -> None:
    data_dir = tmp_path / "data"
    dg.write_span(data_dir, 1, 500, 3)
    props = _exec_properties(data_dir, ds.SPAN_GLOB)
    whole, parted = _examples(tmp_path / "whole"), _examples(tmp_path / "parted")
    example_gen.Executor().Do({}, {standard_component_specs.EXAMPLES_KEY: [whole]}, props)
    monkeypatch.setattr(example_gen, "partitions", lambda args: 3)
    example_gen.Executor().Do({}, {standard_component_specs.EXAMPLES_KEY: [parted]}, props)
    for split in ("train", "eval"):
        assert _canonical(parted.uri, split) == _canonical(whole.uri, split)
    assert ra.row_accounting(parted) == ra.row_accounting(whole)


@pytest.mark.e2e
def test_executor_in_beam_worker_processes(tmp_path: Path, monkeypatch) -> None:
    """The executor with the local runner's multi-process flags: real worker interpreters
    unpickle and run the query parts, and the splits hold the same examples."""
    from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor

    from pipelines.local import beam_workers

    monkeypatch.setenv("PYTHONPATH", beam_workers.worker_environment({})["PYTHONPATH"])
    data_dir = tmp_path / "data"
    dg.write_span(data_dir, 1, 400, 5)
    props = _exec_properties(data_dir, ds.SPAN_GLOB)
    single, multi = _examples(tmp_path / "single"), _examples(tmp_path / "multi")
    example_gen.Executor().Do({}, {standard_component_specs.EXAMPLES_KEY: [single]}, props)
    context = BaseBeamExecutor.Context(beam_pipeline_args=beam_workers.beam_args(2))
    example_gen.Executor(context).Do({}, {standard_component_specs.EXAMPLES_KEY: [multi]}, props)
    for split in ("train", "eval"):
        assert _canonical(multi.uri, split) == _canonical(single.uri, split)


def test_a_failed_query_part_leaves_no_file_and_an_empty_split_gets_one(tmp_path: Path,
                                                                        monkeypatch) -> None:
    # Each query part writes its own file per split; a reader globbing the split folder must
    # never see a half-written one, and TFX expects a (possibly empty) file in every split.
    dirs = [str(tmp_path / "Split-train"), str(tmp_path / "Split-eval")]

    def some_rows_then_fail(element, *args):
        yield 0, b"one"
        yield 0, b"two"
        raise OSError("disk full")

    monkeypatch.setattr(example_gen, "_query_records", some_rows_then_fail)
    write = example_gen._WriteQueryDoFn("q", [9, 10], "Timestamp", dirs)
    with pytest.raises(OSError, match="disk full"):
        list(write.process(("pattern", 1, 3)))
    assert [os.listdir(d) for d in dirs] == [[], []]

    monkeypatch.setattr(example_gen, "_query_records",
                        lambda element, *args: iter([(0, b"a"), (0, b"b")]))
    assert list(write.process(("pattern", 1, 3))) == [2]
    assert [os.listdir(d) for d in dirs] == [["data_tfrecord-00001-of-00003.gz"]] * 2
    import tensorflow as tf

    def records(d):
        return [r.numpy() for r in tf.data.TFRecordDataset(
            os.path.join(d, "data_tfrecord-00001-of-00003.gz"), compression_type="GZIP")]
    assert records(dirs[0]) == [b"a", b"b"] and records(dirs[1]) == []
