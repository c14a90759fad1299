"""Tests for the DuckDB ExampleGen: TFX-identical splits, the stored query, a real executor run."""

from __future__ import annotations

import glob
import os
import random
from pathlib import Path

import pytest
import tensorflow as tf
from google.protobuf import json_format
from tfx.components.example_gen import base_example_gen_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.utils import proto_utils
from tfx_bsl.coders import example_coder

from models import features
from pipelines.components import example_gen
from pipelines.data import generator as dg
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
    config_json = json_format.MessageToJson(example_gen._custom_config(query))
    props = {standard_component_specs.CUSTOM_CONFIG_KEY: config_json}
    assert example_gen.query_from_exec_properties(props) == query
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


def test_executor_writes_train_and_eval_splits(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    dg.write_span(data_dir, 1, 300, 7, chunk_rows=100)
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    output_dict = {standard_component_specs.EXAMPLES_KEY: [examples]}
    exec_properties = {
        standard_component_specs.INPUT_BASE_KEY: str(data_dir),
        standard_component_specs.INPUT_CONFIG_KEY: proto_utils.proto_to_json(
            example_gen_pb2.Input(splits=[
                example_gen_pb2.Input.Split(name="single_split", pattern=ds.SPAN_GLOB)])),
        standard_component_specs.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(
            example_gen_pb2.Output(split_config=SPLIT_CONFIG)),
        standard_component_specs.CUSTOM_CONFIG_KEY: proto_utils.proto_to_json(
            example_gen._custom_config(ds.load_query())),
        standard_component_specs.OUTPUT_DATA_FORMAT_KEY: example_gen_pb2.FORMAT_TF_EXAMPLE,
        standard_component_specs.OUTPUT_FILE_FORMAT_KEY: example_gen_pb2.FORMAT_TFRECORDS_GZIP,
    }

    example_gen.Executor().Do({}, output_dict, exec_properties)

    assert examples.split_names == artifact_utils.encode_split_names(["train", "eval"])
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
