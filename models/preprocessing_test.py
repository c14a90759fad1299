"""Tests for the Transform step: date parts, age bands, topic bags and a real tf.Transform run."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from models import features, model, preprocessing
from pipelines.data import generator as dg


def _parts(*stamps: str) -> dict[str, list[int]]:
    parts = preprocessing.timestamp_parts(tf.constant(list(stamps)))
    return {k: v.numpy().tolist() for k, v in parts.items()}


def test_timestamp_parts_known_dates() -> None:
    parts = _parts("2016-03-27 00:53:11", "2016-01-01 12:00:00", "2024-02-29 23:59:59",
                   "2000-03-01 07:00:00", "1900-02-28 01:02:03")
    # Sunday, Friday, Thursday, Wednesday, Wednesday.
    assert parts["weekday"] == [0, 5, 4, 3, 3]
    assert parts["hour"] == [0, 12, 23, 7, 1]


def test_timestamp_parts_match_python_on_random_dates() -> None:
    rng = random.Random(0)
    start = datetime(1970, 1, 1)
    stamps = [start + timedelta(seconds=rng.randrange(100 * 365 * 86_400)) for _ in range(500)]
    parts = _parts(*(s.strftime(features.TIMESTAMP_FORMAT) for s in stamps))
    assert parts["weekday"] == [s.isoweekday() % 7 for s in stamps]
    assert parts["hour"] == [s.hour for s in stamps]


def test_timestamp_parts_keep_shape() -> None:
    parts = preprocessing.timestamp_parts(tf.constant([["2016-03-27 05:00:00"]] * 3))
    assert parts["hour"].shape == (3, 1) and parts["weekday"].shape == (3, 1)


@pytest.mark.parametrize("dtype", [tf.int64, tf.float32])
def test_age_band_boundaries(dtype: tf.DType) -> None:
    ages = tf.constant([[0], [29], [30], [39], [40], [49], [50], [61]], dtype)
    bands = preprocessing.age_band(ages)
    assert bands.shape == (8, 1)
    assert [b.decode() for b in bands.numpy()[:, 0]] == [
        "<30", "<30", "30-39", "30-39", "40-49", "40-49", "50+", "50+"]


def test_topic_bag() -> None:
    text = tf.constant([["Robust web-enabled alliance"], [""], ["robust WEB-ENABLED Alliance"],
                        ["Total zero-defect hub"], ["hub hub hub"]])
    bag = preprocessing.topic_bag(text).numpy()
    assert bag.shape == (5, features.TOPIC_HASH_BUCKETS) and bag.dtype == np.float32
    assert set(np.unique(bag)) <= {0.0, 1.0}
    assert bag[1].sum() == 0
    np.testing.assert_array_equal(bag[0], bag[2])  # case-insensitive
    assert 1 <= bag[0].sum() <= 3 and 1 <= bag[3].sum() <= 3
    assert bag[4].sum() == 1  # repeats count once
    assert not np.array_equal(bag[0], bag[3])
    assert preprocessing.topic_bag(tf.constant(["a b"]), buckets=8).shape == (1, 8)


def _raw_rows(n: int) -> list[dict[str, list]]:
    batch = next(iter(dg.generate_batches(n, 3, start=dg.FIRST_SPAN_DAY)))
    columns = batch.to_pydict()
    return [{name: [columns[name][i]] for name in features.RAW_COLUMNS} for i in range(n)]


def _raw_metadata() -> dataset_metadata.DatasetMetadata:
    dtypes = {"float": tf.float32, "int": tf.int64, "string": tf.string}
    spec = {name: tf.io.FixedLenFeature([1], dtypes[features.RAW_TYPES[name]])
            for name in features.RAW_COLUMNS}
    return dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))


def test_preprocessing_fn_with_tf_transform(tmp_path: Path) -> None:
    raw = _raw_rows(60)
    for row in raw[:12]:  # one frequent value per vocabulary column; the rest are rare
        row["City"], row["Country"] = ["Lake Nicole"], ["France"]
    with tft_beam.Context(temp_dir=str(tmp_path)):
        (out, out_metadata), _ = (raw, _raw_metadata()) | tft_beam.AnalyzeAndTransformDataset(
            preprocessing.preprocessing_fn)
    assert len(out) == 60
    names = set(out_metadata.schema.feature[i].name
                for i in range(len(out_metadata.schema.feature)))
    assert set(model.MODEL_INPUTS) | {"age_band", features.LABEL_KEY} <= names
    assert set(model.MODEL_INPUTS) | {"age_band", features.LABEL_KEY} <= set(out[0])

    def column(name: str) -> np.ndarray:
        return np.stack([np.asarray(row[name]).reshape(-1) for row in out])

    for key in (*features.FLOAT_FEATURES, "Age"):
        z = column(features.transformed_name(key))[:, 0]
        assert abs(z.mean()) < 1e-4, key
        assert z.std() == pytest.approx(1.0, abs=1e-3), key
    ages = np.array([r["Age"][0] for r in raw])
    z_age = column(features.transformed_name("Age"))[:, 0]
    np.testing.assert_allclose(z_age, (ages - ages.mean()) / ages.std(), atol=1e-4)
    for key in features.VOCAB_FEATURES:
        ids = column(features.transformed_name(key))[:, 0]
        counts = Counter(r[key][0] for r in raw)
        frequent = {v for v, n in counts.items() if n >= features.VOCAB_MIN_COUNT[key]}
        assert len(frequent) == 1, key
        by_value = {}
        for r, i in zip(raw, ids, strict=True):
            assert by_value.setdefault(r[key][0], i) == i, key  # one id per value
            if r[key][0] in frequent:
                assert 0 <= i < len(frequent), key
            else:  # rare: one of the OOV buckets after the vocabulary
                assert len(frequent) <= i < len(frequent) + features.OOV_BUCKETS[key], key
    np.testing.assert_array_equal(
        column(features.transformed_name("Male"))[:, 0], [r["Male"][0] for r in raw])
    np.testing.assert_array_equal(
        column(features.LABEL_KEY)[:, 0], [r[features.LABEL_KEY][0] for r in raw])
    stamps = [datetime.strptime(r["Timestamp"][0], features.TIMESTAMP_FORMAT) for r in raw]
    np.testing.assert_array_equal(column("weekday")[:, 0], [s.isoweekday() % 7 for s in stamps])
    angle = np.array([s.hour for s in stamps]) * 2 * np.pi / 24
    np.testing.assert_allclose(column("hour_sin")[:, 0], np.sin(angle), atol=1e-6)
    np.testing.assert_allclose(column("hour_cos")[:, 0], np.cos(angle), atol=1e-6)
    # Exactly the table's values, whatever the batch (tf.sin's last bit depends on it).
    hours = [s.hour for s in stamps]
    np.testing.assert_array_equal(column("hour_sin")[:, 0],
                                  np.float32(preprocessing.HOUR_SIN)[hours])
    topic = column(model.TOPIC_INPUT)
    assert topic.shape == (60, features.TOPIC_HASH_BUCKETS)
    assert set(np.unique(topic)) <= {0.0, 1.0} and (topic.sum(axis=1) >= 1).all()
    bands = [b.decode() if isinstance(b, bytes) else b for b in column("age_band")[:, 0]]
    expected = ["<30" if a < 30 else "30-39" if a < 40 else "40-49" if a < 50 else "50+"
                for a in ages]
    assert bands == expected
