"""tf.Example TFRecord files read by TensorFlow's C++ reader, for the ``fast_tfrecord_source``
patch (``pipelines.local.speedups``).

tfx_bsl's ``TFExampleRecord.BeamSource`` (StatisticsGen, Transform and the Evaluator
use it) reads with Beam's ``ReadFromTFRecord``: one Python call per
record (framing, CRC and a Beam element each), then ``BatchElements`` groups the records again
before they are decoded into Arrow. Here each matched file is one element, read whole by
``tf.data.TFRecordDataset`` in batches of serialized records, and the batches go to tfx_bsl's
own decoder DoFn, so the RecordBatches hold the same rows, columns and types.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam

# Records per batch when the caller names none (tfx_bsl then lets Beam tune it, up to 1,000).
DEFAULT_BATCH_ROWS = 4_096
READ_BUFFER_BYTES = 8 << 20


def matched_files(patterns: list[str]) -> list[str]:
    """Every file the patterns match, sorted, each once."""
    import tensorflow as tf

    return sorted({path for pattern in patterns for path in tf.io.gfile.glob(pattern)})


class ReadRecordBatches(beam.DoFn):
    """A file path -> lists of at most ``rows`` serialized records, in file order."""

    def __init__(self, rows: int) -> None:
        self._rows = rows

    def process(self, path: str) -> Iterator[list[bytes]]:
        import tensorflow as tf

        compression = "GZIP" if path.endswith(".gz") else ""
        dataset = tf.data.TFRecordDataset(
            path, compression_type=compression, buffer_size=READ_BUFFER_BYTES
        ).batch(self._rows)
        for batch in dataset.as_numpy_iterator():
            yield batch.tolist()


def beam_source(tfxio: Any, batch_size: int | None, files: list[str]) -> beam.PTransform:
    """What ``tfxio.BeamSource(batch_size)`` returns, reading ``files``."""
    from tfx_bsl.tfxio import tf_example_record

    decode = tf_example_record._DecodeBatchExamplesDoFn(
        tfxio._GetSchemaForDecoding(), tfxio.raw_record_column_name
    )
    rows = batch_size or DEFAULT_BATCH_ROWS

    @beam.typehints.with_input_types(Any)
    @beam.typehints.with_output_types(Any)
    def read(pcoll_or_pipeline: Any) -> Any:
        return (
            pcoll_or_pipeline
            | "Files" >> beam.Create(files)
            | "Spread" >> beam.Reshuffle()
            | "ReadBatches" >> beam.ParDo(ReadRecordBatches(rows))
            | "Decode" >> beam.ParDo(decode)
        )

    return beam.ptransform_fn(read)()
