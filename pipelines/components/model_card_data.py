"""What a model card says about the data: spans, rows and date range per split, the input
features the curated schema describes, and the categorical values seen too rarely to learn.

Rows per split come from StatisticsGen (TFDV's ``num_examples``); the date range from the
``Timestamp`` of the examples themselves (TFDV keeps no minimum or maximum of a string
feature). Rare values are read from the train split's rank histogram, which TFDV keeps for the
most frequent values (1,000 by default): a value TFDV did not list is rarer than every listed
one, so it is counted as rare when the least frequent listed value already is.
"""

from __future__ import annotations

import os
from typing import Any

from models import features
from pipelines.common import names
from pipelines.common.names import EXAMPLES_SPANS_PROPERTY as SPANS_PROPERTY
from pipelines.data import row_accounting

SPLITS = ("train", "eval")
EXAMPLES_SHOWN = 5  # rare values named per feature


def read_statistics(statistics_uri: str) -> dict[str, Any]:
    """Split -> TFDV DatasetFeatureStatistics (the first dataset of FeatureStats.pb)."""
    import tensorflow as tf
    from tensorflow_metadata.proto.v0 import statistics_pb2

    out = {}
    for split in SPLITS:
        path = os.path.join(statistics_uri, f"Split-{split}", names.STATISTICS_FILE)
        if not tf.io.gfile.exists(path):
            continue
        stats = statistics_pb2.DatasetFeatureStatisticsList()
        with tf.io.gfile.GFile(path, "rb") as f:
            stats.ParseFromString(f.read())
        if stats.datasets:
            out[split] = stats.datasets[0]
    return out


def _feature(dataset: Any, name: str) -> Any:
    return next(
        (f for f in dataset.features if (f.path.step[0] if f.path.step else f.name) == name), None
    )


def date_range(examples_uri: str, split: str) -> tuple[str, str] | None:
    """(first, last) ``Timestamp`` of one split of an Examples artifact, None when empty.
    Timestamps are "YYYY-MM-DD HH:MM:SS", whose text order is time order."""
    import tensorflow as tf

    from pipelines.components.eval_sample import split_files

    paths = split_files(examples_uri, split)
    if not paths:
        return None
    spec = {features.TIMESTAMP_FEATURE: tf.io.VarLenFeature(tf.string)}
    first = last = None
    dataset = tf.data.TFRecordDataset(paths, compression_type="GZIP").batch(4096)
    for batch in dataset.map(
        lambda records: tf.io.parse_example(records, spec)[features.TIMESTAMP_FEATURE].values
    ).as_numpy_iterator():
        if len(batch):
            low, high = min(batch), max(batch)  # TF has no min/max of strings
            first = low if first is None else min(first, low)
            last = high if last is None else max(last, high)
    return None if first is None else (first.decode(), last.decode())


def rare_values(train: Any) -> list[dict[str, Any]]:
    """Per vocabulary feature: unique values, how many were seen fewer than its
    ``VOCAB_MIN_COUNT`` times in the train split (no vocabulary entry of their own), and a few
    of them."""
    out = []
    for name, min_count in features.VOCAB_MIN_COUNT.items():
        feature = _feature(train, name)
        if feature is None or feature.WhichOneof("stats") != "string_stats":
            continue
        stats = feature.string_stats
        listed = [(b.label, b.sample_count) for b in stats.rank_histogram.buckets]
        rare = [label for label, count in listed if count < min_count]
        # Values TFDV did not list are rarer than the least frequent listed one.
        unlisted = max(0, stats.unique - len(listed))
        rare_count = len(rare) + (unlisted if listed and listed[-1][1] < min_count else 0)
        # Above this many values TFDV's sketch counts are upper bounds: more may be rare.
        at_least = stats.unique > names.TFDV_SKETCH_EXACT_VALUES
        out.append(
            {
                "feature": name,
                "unique": int(stats.unique),
                "min_count": min_count,
                "rare": int(rare_count),
                "rare_at_least": at_least,
                "examples": rare[-EXAMPLES_SHOWN:][::-1],
            }
        )
    return out


def data_section(statistics_uri: str, examples: Any) -> dict[str, Any]:
    """Spans, row accounting, and rows and date range of each split."""
    stats = read_statistics(statistics_uri)
    splits = []
    for split in SPLITS:
        found = date_range(examples.uri, split)
        label = _feature(stats[split], features.LABEL_KEY) if split in stats else None
        splits.append(
            {
                "name": split,
                "rows": int(stats[split].num_examples) if split in stats else None,
                "first": found[0] if found else None,
                "last": found[1] if found else None,
                "positive_rate": (
                    label.num_stats.mean
                    if label is not None and label.WhichOneof("stats") == "num_stats"
                    else None
                ),
            }
        )
    firsts = [s["first"] for s in splits if s["first"]]
    lasts = [s["last"] for s in splits if s["last"]]
    spans = str(examples.get_custom_property(SPANS_PROPERTY) or "")
    return {
        "examples_uri": examples.uri,
        "span": examples.span if examples.has_property("span") else None,
        "spans": [s for s in spans.split(",") if s],
        "row_accounting": row_accounting.row_accounting(examples),
        "splits": splits,
        "first": min(firsts) if firsts else None,
        "last": max(lasts) if lasts else None,
        "rare_values": rare_values(stats["train"]) if "train" in stats else [],
    }


def schema_features(schema_uri: str) -> list[dict[str, Any]]:
    """Each feature of the curated schema: name, type, domain and its annotation text."""
    import tensorflow as tf
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    path = os.path.join(schema_uri, "schema.pbtxt")
    schema = schema_pb2.Schema()
    with tf.io.gfile.GFile(path) as f:
        text_format.Parse(f.read(), schema)
    out = []
    for feature in schema.feature:
        domain = ""
        which = feature.WhichOneof("domain_info")
        if which == "int_domain":
            domain = f"{feature.int_domain.min} to {feature.int_domain.max}"
        elif which == "float_domain":
            domain = f"{feature.float_domain.min:,.10g} to {feature.float_domain.max:,.10g}"
        elif which == "domain":
            domain = f"values of {feature.domain}"
        out.append(
            {
                "name": feature.name,
                "type": schema_pb2.FeatureType.Name(feature.type),
                "domain": domain,
                "description": " ".join(feature.annotation.tag),
            }
        )
    return out
