"""The Transform step: raw ad-click columns -> model-ready tensors.

The same graph is embedded in the exported model, so serving applies identical preprocessing.
"""

from __future__ import annotations

import math

import tensorflow as tf
import tensorflow_transform as tft

from models import features

# Days-of-week offsets for Sakamoto's method, month by month.
_MONTH_OFFSETS = (0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4)
AGE_BANDS = (30, 40, 50)
# sin and cos of each hour's angle, computed once in Python. tf.sin / tf.cos give results that
# differ in the last bit depending on where a value falls in a vectorized batch (Eigen's packet
# vs scalar paths), and Beam's batches differ between runs: a lookup makes Transform's output,
# and so the trained model, identical on every run.
HOUR_SIN = tuple(math.sin(2.0 * math.pi * h / 24.0) for h in range(24))
HOUR_COS = tuple(math.cos(2.0 * math.pi * h / 24.0) for h in range(24))


def _dense(x: tf.Tensor | tf.SparseTensor, default) -> tf.Tensor:
    """[batch, 1] dense tensor from a dense or sparse input."""
    if isinstance(x, tf.SparseTensor):
        x = tf.sparse.to_dense(tf.sparse.reset_shape(x, [x.dense_shape[0], 1]), default)
    return tf.reshape(x, [-1, 1])


def timestamp_parts(timestamp: tf.Tensor) -> dict[str, tf.Tensor]:
    """Hour of day (0-23) and weekday (0 = Sunday) of 'YYYY-MM-DD HH:MM:SS' strings."""

    def number(pos: int, length: int) -> tf.Tensor:
        return tf.strings.to_number(tf.strings.substr(timestamp, pos, length), tf.int32)

    year, month, day, hour = number(0, 4), number(5, 2), number(8, 2), number(11, 2)
    year = year - tf.cast(month < 3, tf.int32)
    offset = tf.gather(tf.constant(_MONTH_OFFSETS, tf.int32), month - 1)
    weekday = (year + year // 4 - year // 100 + year // 400 + offset + day) % 7
    return {"hour": hour, "weekday": weekday}


def age_band(age: tf.Tensor) -> tf.Tensor:
    """'<30', '30-39', '40-49', '50+' — a slicing key for evaluation."""
    labels = tf.constant(["<30", "30-39", "40-49", "50+"])
    index = tf.reduce_sum(
        tf.cast(age[..., tf.newaxis] >= tf.constant(AGE_BANDS, age.dtype), tf.int32), axis=-1)
    return tf.gather(labels, index)


def topic_bag(text: tf.Tensor, buckets: int = features.TOPIC_HASH_BUCKETS) -> tf.Tensor:
    """Multi-hot [batch, buckets] of hashed lower-cased words of the ad topic line."""
    words = tf.strings.split(tf.strings.lower(tf.reshape(text, [-1])))
    ids = tf.strings.to_hash_bucket_fast(words, buckets)
    counts = tf.reduce_sum(tf.one_hot(ids, buckets, dtype=tf.float32), axis=1)
    return tf.ensure_shape(tf.minimum(counts, 1.0), [None, buckets])


def preprocessing_fn(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """tf.Transform callback: scales numbers, builds vocabularies and time/text features."""
    out = {}
    for key in (*features.FLOAT_FEATURES, "Age"):
        value = tf.cast(_dense(inputs[key], 0), tf.float32)
        out[features.transformed_name(key)] = tft.scale_to_z_score(value)
    out[features.transformed_name("Male")] = tf.cast(_dense(inputs["Male"], 0), tf.float32)
    for key in features.VOCAB_FEATURES:
        out[features.transformed_name(key)] = tft.compute_and_apply_vocabulary(
            _dense(inputs[key], ""),
            top_k=features.VOCAB_SIZE[key],
            frequency_threshold=features.VOCAB_MIN_COUNT[key],
            num_oov_buckets=features.OOV_BUCKETS[key],
            vocab_filename=key,
        )
    parts = timestamp_parts(_dense(inputs[features.TIMESTAMP_FEATURE], "2016-01-01 00:00:00"))
    hour = tf.clip_by_value(parts["hour"], 0, 23)
    out["hour_sin"] = tf.gather(tf.constant(HOUR_SIN, tf.float32), hour)
    out["hour_cos"] = tf.gather(tf.constant(HOUR_COS, tf.float32), hour)
    out["weekday"] = tf.cast(parts["weekday"], tf.int64)
    out[features.transformed_name(features.TEXT_FEATURE)] = topic_bag(
        _dense(inputs[features.TEXT_FEATURE], ""))
    out["age_band"] = age_band(_dense(inputs["Age"], 0))
    out[features.LABEL_KEY] = _dense(inputs[features.LABEL_KEY], 0)
    return out
