"""dashboard.statistics on real StatisticsGen output (four real runs) and hand-built protos.

The distances are checked against TFDV's own drift comparators: ``validate_statistics`` with
``previous_statistics`` records each compared feature's measurement in ``drift_skew_info``
(tensorflow_data_validation/api/validation_api.py, ``validate_statistics``' docstring).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard import history, statistics
from dashboard.statistics import BINARY, CATEGORICAL, NUMERIC


def proto_feature(uri: str, split: str, name: str):
    """The raw FeatureNameStatistics of a feature, read without the module under test."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    stats = statistics_pb2.DatasetFeatureStatisticsList()
    stats.ParseFromString((Path(uri) / f"Split-{split}" / "FeatureStats.pb").read_bytes())
    return next(f for f in stats.datasets[0].features if f.path.step[0] == name)


@pytest.fixture(scope="module")
def measured(history_root) -> list[history.RunRecord]:
    """The four runs' records, oldest first (all four computed statistics)."""
    runs = history.list_runs(history_root.root / "metadata.sqlite", "clickflow")
    return [r for r in reversed(runs) if r.statistics_uri]


def test_every_run_has_both_splits_with_the_proto_values(measured):
    assert len(measured) == 4
    for run in measured:
        splits = statistics.read_splits(run.statistics_uri)
        assert set(splits) == {"train", "eval"}
        for split, features in splits.items():
            age, raw = features["Age"], proto_feature(run.statistics_uri, split, "Age")
            assert age.kind == NUMERIC and age.type == "INT"
            assert (age.count, age.mean, age.max) == (raw.num_stats.common_stats.num_non_missing,
                                                      raw.num_stats.mean, raw.num_stats.max)
            assert features["City"].kind == CATEGORICAL
            assert features["City"].unique == proto_feature(run.statistics_uri, split,
                                                            "City").string_stats.unique


def test_a_0_1_feature_is_two_exact_counts_not_a_histogram(measured):
    run = measured[-1]
    for name in ("Male", "ClickedOnAd"):
        feature = statistics.read_splits(run.statistics_uri)["train"][name]
        raw = proto_feature(run.statistics_uri, "train", name).num_stats
        assert feature.kind == BINARY
        assert dict(feature.values) == {"0": raw.num_zeros,
                                        "1": raw.common_stats.num_non_missing - raw.num_zeros}
        bars = statistics.overlay(feature, feature, ("a", "b"))
        assert [(r["value"], round(r["share"], 6)) for r in bars if r["dataset"] == "a"] == \
            [("0", round(raw.num_zeros / feature.count, 6)),
             ("1", round(1 - raw.num_zeros / feature.count, 6))]


def test_distances_are_those_of_tfdvs_drift_comparators(measured):
    import tensorflow_data_validation as tfdv

    previous, failed = (measured[2].statistics_uri, measured[3].statistics_uri)
    train = [tfdv.load_stats_binary(str(Path(uri) / "Split-train" / "FeatureStats.pb"))
             for uri in (previous, failed)]
    schema = tfdv.infer_schema(train[0])
    for feature in schema.feature:
        comparator = feature.drift_comparator
        if feature.name in ("Age", "AreaIncome", "DailyTimeSpentOnSite", "DailyInternetUsage"):
            comparator.jensen_shannon_divergence.threshold = 1.0
        elif feature.name in ("City", "Country", "AdTopicLine", "Timestamp"):
            comparator.infinity_norm.threshold = 1.0
    found = tfdv.validate_statistics(train[1], schema, previous_statistics=train[0])
    theirs = {info.path.step[0]: info.drift_measurements[0].value
              for info in found.drift_skew_info}
    assert len(theirs) == 8
    ours = statistics.read_splits(failed)["train"], statistics.read_splits(previous)["train"]
    for name, value in theirs.items():
        assert statistics.distance(ours[0][name], ours[1][name])[0] == pytest.approx(value)


def test_the_impossible_ages_are_the_most_changed_feature(measured):
    previous, failed = (statistics.read_splits(r.statistics_uri)["train"] for r in measured[2:])
    rows = statistics.table(failed, previous, ("failed", "previous"))
    assert rows[0]["feature"] == "Age" and rows[0]["max"] == 500
    assert rows[0]["measure"] == "Jensen-Shannon" and rows[0]["distance"] > 0.05
    assert [r["distance"] for r in rows] == sorted((r["distance"] for r in rows), reverse=True)


def test_a_numeric_overlay_is_shares_on_common_bins(measured):
    splits = statistics.read_splits(measured[0].statistics_uri)
    bars = statistics.overlay(splits["train"]["Age"], splits["eval"]["Age"], ("train", "eval"))
    for label in ("train", "eval"):
        mine = [r for r in bars if r["dataset"] == label]
        assert len(mine) == statistics.BINS
        assert sum(r["share"] for r in mine) == pytest.approx(1.0)
    bins = {(r["low"], r["high"]) for r in bars}
    assert len(bins) == statistics.BINS  # both datasets on the same bins


# Hand-built protos for what a real run rarely writes.

def dataset(num_examples: int, *features: str):
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import statistics_pb2

    text = f"num_examples: {num_examples} " + " ".join(f"features {{ {f} }}" for f in features)
    return text_format.Parse(text, statistics_pb2.DatasetFeatureStatistics())


def numeric(name: str, present: int, missing: int = 0, buckets: str = "") -> str:
    return (f'path {{ step: "{name}" }} type: FLOAT num_stats {{ common_stats {{ '
            f"num_non_missing: {present} num_missing: {missing} tot_num_values: {present} }} "
            f"mean: 2.0 min: 1.0 max: 3.0 {buckets} }}")


def text(name: str, *values: tuple[str, int]) -> str:
    buckets = " ".join(f'buckets {{ label: "{v}" sample_count: {c} }}' for v, c in values)
    present = sum(c for _, c in values)
    return (f'path {{ step: "{name}" }} type: STRING string_stats {{ common_stats {{ '
            f"num_non_missing: {present} tot_num_values: {present} }} unique: {len(values)} "
            f"rank_histogram {{ {buckets} }} }}")


HISTOGRAM = ("histograms { type: STANDARD buckets { low_value: 1 high_value: 2 sample_count: 3 }"
             " buckets { low_value: 2 high_value: 3 sample_count: 1 } }")


def test_an_empty_split_has_no_features_and_every_row_says_so():
    empty = statistics.summarize(dataset(0))
    full = statistics.summarize(dataset(4, numeric("x", 4, buckets=HISTOGRAM)))
    assert empty == {}
    (row,) = statistics.table(full, empty, ("train", "eval"))
    assert row["distance"] is None and row["note"] == "only in train" and row["count"] == 4
    (row,) = statistics.table(empty, full, ("train", "eval"))
    assert row["note"] == "only in eval" and row["count"] is None
    assert statistics.overlay(None, full["x"], ("train", "eval"))[0]["dataset"] == "eval"


def test_an_all_missing_feature_has_no_made_up_mean_and_no_chart():
    features = statistics.summarize(dataset(5, numeric("x", 0, missing=5)))
    x = features["x"]
    assert (x.count, x.missing, x.missing_share, x.mean, x.max) == (0, 5, 1.0, None, None)
    (row,) = statistics.table(features, features, ("a", "b"))
    assert row["distance"] is None and row["note"] == "no values" and row["missing %"] == 100
    assert statistics.overlay(x, x, ("a", "b")) == []


def test_a_feature_in_one_split_only_comes_after_the_compared_ones():
    a = statistics.summarize(dataset(4, text("c", ("x", 3), ("y", 1)), text("new", ("z", 4))))
    b = statistics.summarize(dataset(4, text("c", ("x", 1), ("y", 3))))
    rows = statistics.table(a, b, ("train", "eval"))
    assert [(r["feature"], r["distance"], r["note"]) for r in rows] == [
        ("c", pytest.approx(0.5), ""), ("new", None, "only in train")]
    assert rows[0]["top value"] == "x" and rows[0]["top frequency"] == 3


def test_rebinning_keeps_the_mass_and_a_constant_lands_in_one_bin():
    x = statistics.summarize(dataset(4, numeric("x", 4, buckets=HISTOGRAM)))["x"]
    assert statistics.rebin(x.buckets, [1.0, 1.5, 2.0, 3.0]) == pytest.approx([0.375, 0.375,
                                                                                0.25])
    constant = ((5.0, 5.0, 10.0),)
    assert statistics.rebin(constant, [0.0, 5.0, 10.0]) == [0.0, 1.0]
    assert statistics.rebin(constant, [4.0, 5.0]) == [1.0]  # the last edge is inside


def test_the_distances_are_0_for_equal_and_1_for_disjoint():
    assert statistics.jensen_shannon([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert statistics.jensen_shannon([1.0, 0.0], [0.0, 1.0]) == pytest.approx(1.0)
    assert statistics.l_infinity({"a": 1.0}, {"b": 1.0}) == 1.0
    assert statistics.l_infinity({"a": 0.5, "b": 0.5}, {"a": 0.5, "b": 0.5}) == 0.0


def test_a_corrupt_statistics_file_names_the_file(tmp_path):
    bad = tmp_path / "Split-train" / "FeatureStats.pb"
    bad.parent.mkdir()
    bad.write_bytes(b"\xff\xff not a proto")
    with pytest.raises(statistics.StatisticsError, match=f"{bad} is not a TFDV"):
        statistics.read_splits(tmp_path)
    assert statistics.read_splits(tmp_path / "missing") == {}
