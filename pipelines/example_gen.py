"""Local ExampleGen: the training SQL on embedded DuckDB, built on TFX's FileBasedExampleGen.

TFX's file-based driver gives us span handling and a fingerprint of the input files (so the
component is re-run when data changes and cached when it does not); this executor only turns
the files matched by the split pattern into serialized tf.Examples by running the same query
that BigQueryExampleGen runs in the cloud.
"""

from __future__ import annotations

import json
import os
from typing import Any

import apache_beam as beam
from google.protobuf import json_format, struct_pb2
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs
from tfx_bsl.coders import example_coder

from pipelines import data_source

QUERY_KEY = "query"


def _custom_config(query: str) -> example_gen_pb2.CustomConfig:
    config = example_gen_pb2.CustomConfig()
    config.custom_config.Pack(struct_pb2.Struct(fields={QUERY_KEY: struct_pb2.Value(
        string_value=query)}))
    return config


def query_from_exec_properties(exec_properties: dict[str, Any]) -> str:
    """The query template stored in the component's custom_config."""
    raw = exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY)
    if not raw:
        raise data_source.DataError("the local ExampleGen was built without a query")
    config = example_gen_pb2.CustomConfig()
    json_format.Parse(raw if isinstance(raw, str) else json.dumps(raw), config)
    struct = struct_pb2.Struct()
    config.custom_config.Unpack(struct)
    return struct.fields[QUERY_KEY].string_value


class _QueryDoFn(beam.DoFn):
    """Runs the query over the matched files and yields serialized tf.Examples."""

    def __init__(self, query: str):
        self._query = query

    def process(self, pattern: str):
        source = data_source.SourceFiles.from_pattern(pattern)
        encoder = example_coder.RecordBatchToExamplesEncoder()
        for batch in data_source.query_batches(source, self._query):
            yield from encoder.encode(data_source.to_example_batch(batch))


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(bytes)
def _QueryToExample(pipeline: beam.Pipeline, exec_properties: dict[str, Any],
                    split_pattern: str) -> beam.pvalue.PCollection:
    pattern = os.path.join(exec_properties[standard_component_specs.INPUT_BASE_KEY], split_pattern)
    query = query_from_exec_properties(exec_properties)
    return (pipeline
            | "Pattern" >> beam.Create([pattern])
            | "RunQuery" >> beam.ParDo(_QueryDoFn(query)))


class Executor(BaseExampleGenExecutor):
    """Serialized tf.Examples from the training query over local CSV/Parquet files."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _QueryToExample


class DuckDBExampleGen(FileBasedExampleGen):
    """ExampleGen that runs the training SQL on DuckDB over files under ``input_base``."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(self, input_base: str, file_pattern: str, query: str,
                 output_config: example_gen_pb2.Output):
        super().__init__(
            input_base=input_base,
            input_config=example_gen_pb2.Input(splits=[
                example_gen_pb2.Input.Split(name="single_split", pattern=file_pattern)]),
            output_config=output_config,
            custom_config=_custom_config(query),
        )
