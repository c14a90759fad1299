"""A small but real serving model for tests: the pipeline's own Transform, model and export.

``export_small_model`` runs, in process and in seconds, what Transform + Trainer do in the
pipeline: tf.Transform analyzes generated rows with the real ``preprocessing_fn`` (Beam, TF1
compat like the pipeline's Transform), the real ``build_model`` trains briefly on the
transformed rows, and the real ``export_serving_model`` writes a TF Serving version directory.
Tests of serving, monitoring and the dashboard use it instead of a hand-written stand-in, so a
change to the features or the signatures shows up in their tests too.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import apache_beam as beam
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io

from models import features, model, preprocessing
from pipelines.common import names
from pipelines.data import generator as dg

# Small and quick to train: the point is a real graph with the real signatures, not accuracy.
SMALL_HPARAMS = model.HParams(learning_rate=0.01, hidden_units=(8,), dropout=0.0,
                              embedding_dim=2, batch_size=32)


def curated_schema(path: Path = names.SCHEMA_FILE) -> schema_pb2.Schema:
    """The curated schema the pipeline's Transform receives from ImportSchemaGen."""
    return text_format.Parse(path.read_text(), schema_pb2.Schema())


def generated_instances(rows: int, seed: int) -> list[dict[str, list]]:
    """Rows of ``pipelines.data.generator`` as tf.Transform instance dicts (one value lists)."""
    columns: dict[str, list] = {name: [] for name in features.RAW_COLUMNS}
    for batch in dg.generate_batches(rows, seed, start=dg.FIRST_SPAN_DAY):
        for name, values in batch.to_pydict().items():
            columns[name].extend(values)
    return [{name: [columns[name][i]] for name in features.RAW_COLUMNS} for i in range(rows)]


def analyze(instances: list[dict[str, list]], transform_output_dir: Path,
            temp_dir: Path) -> tft.TFTransformOutput:
    """Runs tf.Transform's analysis of ``preprocessing_fn`` and writes the transform output."""
    metadata = dataset_metadata.DatasetMetadata(curated_schema())
    with beam.Pipeline() as pipeline, tft_beam.Context(temp_dir=str(temp_dir),
                                                       force_tf_compat_v1=True):
        raw = pipeline | "Rows" >> beam.Create(instances, reshuffle=False)
        transform_fn = (raw, metadata) | tft_beam.AnalyzeDataset(preprocessing.preprocessing_fn)
        _ = transform_fn | tft_beam.WriteTransformFn(str(transform_output_dir))
    # Transform writes the raw metadata beside the transform graph; TFTransformOutput reads it.
    metadata_io.write_metadata(
        metadata, str(transform_output_dir / tft.TFTransformOutput.RAW_METADATA_DIR))
    return tft.TFTransformOutput(str(transform_output_dir))


def _columns(instances: list[dict[str, list]], raw_spec: dict) -> dict[str, tf.Tensor]:
    """Instance dicts -> one [rows, 1] tensor per raw feature, with the schema's dtypes."""
    return {
        name: tf.constant(np.array([row[name] for row in instances]), dtype=spec.dtype)
        for name, spec in raw_spec.items()
    }


def export_small_model(export_dir: Path, rows: int = 400, seed: int = 0,
                       train_steps: int = 60) -> Path:
    """Trains a small model on ``rows`` generated rows and exports it to ``export_dir``.

    ``export_dir`` becomes a TF Serving version directory (``saved_model.pb`` + ``variables/``)
    with the four signatures of ``models.model.export_serving_model``; it must not exist yet, so
    a test never mixes two models. Deterministic for given arguments on one machine.
    """
    export_dir = Path(export_dir)
    if export_dir.exists():
        raise FileExistsError(f"export_dir {export_dir} already exists; pass a new directory")
    if rows < 2 or train_steps < 1:
        raise ValueError(f"rows must be >= 2 and train_steps >= 1, got {rows} and {train_steps}")
    instances = generated_instances(rows, seed)
    with tempfile.TemporaryDirectory(prefix="clickflow-small-model-") as work:
        tf_transform_output = analyze(instances, Path(work) / "transform_output",
                                      Path(work) / "tmp")
        raw = _columns(instances, tf_transform_output.raw_feature_spec())
        transformed = tf_transform_output.transform_features_layer()(raw)
        inputs = {name: transformed[name] for name in model.MODEL_INPUTS}
        labels = tf.cast(tf.reshape(transformed[features.LABEL_KEY], [-1, 1]), tf.float32)

        tf.keras.backend.clear_session()
        tf.keras.utils.set_random_seed(seed)
        net = model.build_model(SMALL_HPARAMS, tf_transform_output.transformed_feature_spec())
        dataset = (tf.data.Dataset.from_tensor_slices((inputs, labels))
                   .shuffle(rows, seed=seed).repeat().batch(SMALL_HPARAMS.batch_size))
        net.fit(dataset, epochs=1, steps_per_epoch=train_steps, verbose=0)
        model.export_serving_model(net, tf_transform_output, str(export_dir))
    return export_dir
