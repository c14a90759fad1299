"""Local ExampleGen: the training SQL on embedded DuckDB, built on TFX's FileBasedExampleGen.

TFX's file-based driver gives us span handling and a fingerprint of the input files (so the
component is re-run when data changes and cached when it does not); this executor only turns
the files matched by the split pattern into serialized tf.Examples by running the same query
that BigQueryExampleGen runs in the cloud.

Before writing anything it counts every row it drops or changes, by reason (row_accounting), and
fails when more than ``max_dropped_share`` of the rows would be dropped; the counts are recorded
on the Examples artifact as the custom property ``row_accounting`` (JSON).
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import os
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import pyarrow as pa
from google.protobuf import json_format, struct_pb2
from tfx.components.example_gen import utils, write_split
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.components.util import examples_utils
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils
from tfx_bsl.coders import example_coder

from pipelines.common import names
from pipelines.config import DEFAULT_MAX_DROPPED_SHARE
from pipelines.data import row_accounting
from pipelines.data import source as data_source

QUERY_KEY = "query"
MAX_DROPPED_SHARE_KEY = "max_dropped_share"


def _custom_config(query: str,
                   max_dropped_share: float = DEFAULT_MAX_DROPPED_SHARE
                   ) -> example_gen_pb2.CustomConfig:
    config = example_gen_pb2.CustomConfig()
    config.custom_config.Pack(struct_pb2.Struct(fields={
        QUERY_KEY: struct_pb2.Value(string_value=query),
        MAX_DROPPED_SHARE_KEY: struct_pb2.Value(number_value=max_dropped_share)}))
    return config


def _custom_fields(exec_properties: dict[str, Any]) -> dict[str, struct_pb2.Value]:
    raw = exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY)
    if not raw:
        raise data_source.DataError("the local ExampleGen was built without a query")
    config = example_gen_pb2.CustomConfig()
    json_format.Parse(raw if isinstance(raw, str) else json.dumps(raw), config)
    struct = struct_pb2.Struct()
    config.custom_config.Unpack(struct)
    return dict(struct.fields)


def query_from_exec_properties(exec_properties: dict[str, Any]) -> str:
    """The query template stored in the component's custom_config."""
    return _custom_fields(exec_properties)[QUERY_KEY].string_value


def max_dropped_share_from_exec_properties(exec_properties: dict[str, Any]) -> float:
    """The share of rows that may be dropped (the default for a config without one)."""
    value = _custom_fields(exec_properties).get(MAX_DROPPED_SHARE_KEY)
    return DEFAULT_MAX_DROPPED_SHARE if value is None else value.number_value


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def partition_key(value: bytes | None) -> bytes:
    """The bytes TFX hashes for ``partition_feature_name``: the serialized Feature.

    A missing value is an empty bytes list, as TFX sees it in a tf.Example.
    """
    if value is None:
        return b"\n\x00"
    bytes_list = b"\n" + _varint(len(value)) + value
    return b"\n" + _varint(len(bytes_list)) + bytes_list


def split_index(value: bytes | None, buckets: list[int]) -> int:
    """Output split of an example whose partition feature is ``value`` (as TFX computes it)."""
    bucket = int(hashlib.sha256(partition_key(value)).hexdigest(), 16) % buckets[-1]
    return bisect.bisect(buckets, bucket)


def partition_query(template: str, column: str, part: int, parts: int) -> str:
    """The query's result rows whose ``column`` hashes to ``part`` of ``parts``: ``parts`` such
    queries together return exactly the query's rows (the filter is on its result, so this
    holds for any deterministic query, aggregations included)."""
    if parts == 1:
        return template
    body = template.strip().rstrip(";")
    quoted = '"' + column.replace('"', '""') + '"'
    return (f"SELECT * FROM (\n{body}\n) AS examples "
            f"WHERE hash(coalesce(CAST({quoted} AS VARCHAR), '')) % {parts} = {part}")


def partitions(beam_pipeline_args: list[str] | None) -> int:
    """How many parts the query runs in: one per Beam worker process of a multi-process run
    (each part is one element, so each worker encodes and writes its own share), else 1."""
    from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions

    options = PipelineOptions(beam_pipeline_args or []).view_as(DirectOptions)
    if options.direct_running_mode != "multi_processing":
        return 1
    return max(1, options.direct_num_workers or os.cpu_count() or 1)


def _query_records(element: tuple[str, int, int], query: str, buckets: list[int],
                   partition_feature: str, mapping: dict[str, str] | None
                   ) -> Iterator[tuple[int, bytes]]:
    """(split index, serialized tf.Example) of each result row of one part of the query."""
    pattern, part, parts = element
    source = data_source.SourceFiles.from_pattern(pattern)
    encoder = example_coder.RecordBatchToExamplesEncoder()
    query = partition_query(query, partition_feature, part, parts)
    for batch in data_source.query_batches(source, query, check_timestamps=False,
                                           mapping=mapping):
        keys = batch.column(partition_feature).cast(pa.binary()).to_pylist()
        for key, record in zip(keys, encoder.encode(data_source.to_example_batch(batch)),
                               strict=True):
            yield split_index(key, buckets), record


class _QueryDoFn(beam.DoFn):
    """Runs (a part of) the query over the matched files; yields (split index, serialized
    tf.Example) for each result row (TFX's GenerateExamplesByBeam contract)."""

    def __init__(self, query: str, buckets: list[int], partition_feature: str,
                 mapping: dict[str, str] | None = None):
        self._args = (query, buckets, partition_feature, mapping)

    def process(self, element: tuple[str, int, int]):
        yield from _query_records(element, *self._args)


def shard_name(part: int, parts: int) -> str:
    """The file of query part ``part`` in each split folder, named as Beam's WriteToTFRecord
    names shards (``data_tfrecord-00000-of-00001.gz``)."""
    return f"{write_split.DEFAULT_FILE_NAME}-{part:05d}-of-{parts:05d}.gz"


class _WriteQueryDoFn(beam.DoFn):
    """Runs (a part of) the query and writes its examples straight to that part's gzipped
    TFRecord file in each split folder (TensorFlow's C++ writer), an empty file for a split
    with no rows; a file appears under its name only once complete. Yields the rows written."""

    def __init__(self, query: str, buckets: list[int], partition_feature: str,
                 split_dirs: list[str], mapping: dict[str, str] | None = None):
        self._args = (query, buckets, partition_feature, mapping)
        self._split_dirs = split_dirs

    def process(self, element: tuple[str, int, int]):
        import tensorflow as tf

        _, part, parts = element
        finals = [os.path.join(d, shard_name(part, parts)) for d in self._split_dirs]
        temps = [os.path.join(os.path.dirname(f), "." + os.path.basename(f) + ".partial")
                 for f in finals]
        for folder in self._split_dirs:
            tf.io.gfile.makedirs(folder)
        writers = [tf.io.TFRecordWriter(t, options="GZIP") for t in temps]
        rows = 0
        try:
            for index, record in _query_records(element, *self._args):
                writers[index].write(record)
                rows += 1
        except BaseException:
            for writer, temp in zip(writers, temps, strict=True):
                writer.close()
                tf.io.gfile.remove(temp)
            raise
        for writer, temp, final in zip(writers, temps, finals, strict=True):
            writer.close()
            tf.io.gfile.rename(temp, final, overwrite=True)
        yield rows


def _pattern(exec_properties: dict[str, Any]) -> str:
    input_config = example_gen_pb2.Input()
    proto_utils.json_to_proto(
        exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config)
    if len(input_config.splits) != 1:
        raise ValueError("DuckDBExampleGen needs one input split")
    return os.path.join(exec_properties[standard_component_specs.INPUT_BASE_KEY],
                        input_config.splits[0].pattern)


def span_names(files: tuple[str, ...]) -> list[str]:
    """The span folders (``span-NNNNN``) that hold the matched files, sorted; [] for files
    outside span folders (a single CSV or Parquet file)."""
    return sorted({os.path.basename(os.path.dirname(f)) for f in files
                   if names.SPAN_DIR_RE.fullmatch(os.path.basename(os.path.dirname(f)))})


def count_rows(exec_properties: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The row accounting of the matched files and their column mapping; DataError when they
    cannot be used or more than max_dropped_share of the rows would be dropped."""
    source = data_source.SourceFiles.from_pattern(_pattern(exec_properties))
    # Impossible Timestamps that get this far (the runner refuses them up front) are dropped
    # and counted, like empty labels, instead of failing the run for one row.
    mapping = data_source.column_map(source, check_timestamps=False)
    con = data_source.open_source(source, mapping=mapping)
    try:
        accounting = row_accounting.count_rows(con, query_from_exec_properties(exec_properties))
    finally:
        con.close()
    row_accounting.check(accounting, max_dropped_share_from_exec_properties(exec_properties),
                         data_source.display_name(source))
    return accounting, mapping


def _configs(exec_properties: dict[str, Any]) -> tuple[example_gen_pb2.Input,
                                                       example_gen_pb2.Output]:
    """The component's input and output configs, from their JSON exec properties."""
    input_config = example_gen_pb2.Input()
    proto_utils.json_to_proto(
        exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config)
    output_config = example_gen_pb2.Output()
    proto_utils.json_to_proto(
        exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config)
    return input_config, output_config


class Executor(BaseExampleGenExecutor):
    """Serialized tf.Examples from the training query over local CSV/Parquet files.

    Splits by a hash of ``partition_feature_name`` exactly as TFX does for tf.Examples, but
    from the Arrow column, without decoding each serialized example again.
    """

    _mapping: dict[str, str] | None = None

    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]],
           exec_properties: dict[str, Any]) -> None:
        """TFX's Do, after counting the rows (and failing before writing anything when too
        many are dropped); records the counts on the Examples artifact, which the launcher
        publishes with the custom properties an executor sets (as TFX's own payload_format)."""
        accounting, self._mapping = count_rows(exec_properties)
        self._generate(output_dict, exec_properties)
        spans = span_names(data_source.SourceFiles.from_pattern(_pattern(exec_properties)).files)
        for artifact in output_dict[standard_component_specs.EXAMPLES_KEY]:
            artifact.set_string_custom_property(row_accounting.ARTIFACT_PROPERTY,
                                                row_accounting.to_json(accounting))
            artifact.set_string_custom_property(names.EXAMPLES_SPANS_PROPERTY, ",".join(spans))

    def _generate(self, output_dict: dict[str, list[Any]],
                  exec_properties: dict[str, Any]) -> None:
        """TFX's ``BaseExampleGenExecutor.Do`` (tfx 1.16: split names, the Beam pipeline, the
        split folders and file names), with the writes done by the query's own DoFn.

        TFX's ``WriteSplit`` puts a ``Reshuffle`` before each write (marked there
        "TODO(jyzhao): make shuffle optional"): a GroupByKey, which Beam's in-process runner
        holds whole in memory until its input is done, every serialized example (~2 GB at 1M
        rows, growing with the rows). And Beam's ``WriteToTFRecord`` frames, checksums and
        compresses each record in Python, one Beam element each: 21 s of 1M rows' ~32 s. Here
        each query part (one per worker process, ``partitions``) writes its rows' examples to
        its own file in each split folder as DuckDB's record batches arrive, with TensorFlow's
        TFRecord writer (7 s for the same rows). The shuffle bought nothing: there is no write
        to balance, and no reader of these files depends on their order (TFX reads splits as
        unordered sets).
        """
        input_config, output_config = _configs(exec_properties)
        examples = output_dict[standard_component_specs.EXAMPLES_KEY]
        split_names = utils.generate_output_split_names(input_config, output_config)
        artifact_utils.get_single_instance(examples).split_names = (
            artifact_utils.encode_split_names(split_names))
        split_dirs = [artifact_utils.get_split_uri(examples, name) for name in split_names]
        with self._make_beam_pipeline() as pipeline:
            _ = (self._query_parts(pipeline, exec_properties)
                 | "WriteSplits" >> beam.ParDo(_WriteQueryDoFn(
                     *self._query_args(exec_properties), split_dirs, self._mapping)))
        payload_format = exec_properties.get(standard_component_specs.OUTPUT_DATA_FORMAT_KEY)
        file_format = exec_properties.get(standard_component_specs.OUTPUT_FILE_FORMAT_KEY)
        for artifact in examples:
            if payload_format:
                examples_utils.set_payload_format(artifact, payload_format)
            if file_format:
                examples_utils.set_file_format(artifact, write_split.to_file_format_str(
                    file_format))

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        raise NotImplementedError("GenerateExamplesByBeam is overridden")

    def _query_args(self, exec_properties: dict[str, Any]) -> tuple[str, list[int], str]:
        input_config, output_config = _configs(exec_properties)
        splits = output_config.split_config
        if len(input_config.splits) != 1 or not splits.partition_feature_name:
            raise ValueError("DuckDBExampleGen needs one input split and output splits by "
                             "partition_feature_name")
        buckets = list(itertools.accumulate(s.hash_buckets for s in splits.splits))
        return query_from_exec_properties(exec_properties), buckets, \
            splits.partition_feature_name

    def _query_parts(self, pipeline: beam.Pipeline, exec_properties: dict[str, Any]) -> Any:
        count = partitions(self._beam_pipeline_args)
        return pipeline | "Pattern" >> beam.Create(
            [(_pattern(exec_properties), part, count) for part in range(count)])

    def GenerateExamplesByBeam(self, pipeline: beam.Pipeline,
                               exec_properties: dict[str, Any]) -> dict[str, Any]:
        """TFX's hook (its own ``Do`` writes what it returns): the examples of each split."""
        input_config, output_config = _configs(exec_properties)
        args = self._query_args(exec_properties)
        names = utils.generate_output_split_names(input_config, output_config)
        parts = (self._query_parts(pipeline, exec_properties)
                 | "RunQuery" >> beam.ParDo(_QueryDoFn(*args, self._mapping))
                 | "SplitData" >> beam.Partition(lambda kv, n: kv[0], len(args[1])))
        return {name: parts[i] | f"Drop{name}Key" >> beam.Values()
                for i, name in enumerate(names)}


class DuckDBExampleGen(FileBasedExampleGen):
    """ExampleGen that runs the training SQL on DuckDB over files under ``input_base``."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(self, input_base: str, file_pattern: str, query: str,
                 output_config: example_gen_pb2.Output,
                 max_dropped_share: float = DEFAULT_MAX_DROPPED_SHARE):
        super().__init__(
            input_base=input_base,
            input_config=example_gen_pb2.Input(splits=[
                example_gen_pb2.Input.Split(name="single_split", pattern=file_pattern)]),
            output_config=output_config,
            custom_config=_custom_config(query, max_dropped_share),
        )
