"""Tests for EvalSample: a deterministic, order-independent, capped sample of the eval split."""

import json
import os
import random
from pathlib import Path

import pytest
from tfx.types import standard_artifacts

from pipelines.components import eval_sample


def _records(count: int, seed: int = 0) -> list[bytes]:
    rng = random.Random(seed)
    return [f"row-{i}-{rng.random()}".encode() for i in range(count)]


def test_small_splits_are_kept_whole_and_in_order() -> None:
    records = _records(50)
    kept, total = eval_sample.sample_records(records, 50)
    assert kept == records and total == 50
    assert eval_sample.sample_records([], 10) == ([], 0)


def test_the_sample_is_capped_deterministic_and_independent_of_order() -> None:
    records = _records(5000)
    kept, total = eval_sample.sample_records(records, 300)
    assert total == 5000 and len(kept) == 300 and len(set(kept)) == 300
    assert set(kept) <= set(records)
    shuffled = records[:]
    random.Random(1).shuffle(shuffled)
    again, _ = eval_sample.sample_records(shuffled, 300)
    assert set(again) == set(kept)  # the same rows whatever the file order
    positions = [records.index(record) for record in kept]
    assert positions == sorted(positions)  # kept in input order
    # Not picked by position: the sample reaches across the whole input.
    assert min(positions) < 500 and max(positions) > 4500


def test_max_rows_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_rows must be >= 1"):
        eval_sample.sample_records(_records(3), 0)


def _run(tmp_path: Path, splits: dict[str, list[bytes]], max_rows: int
         ) -> standard_artifacts.Examples:
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    examples.split_names = json.dumps(sorted(splits))
    examples.span, examples.version = 3, 1
    for split, records in splits.items():
        half = len(records) // 2  # two files, as ExampleGen writes shards
        for i, part in enumerate((records[:half], records[half:])):
            eval_sample.write_records(
                os.path.join(examples.uri, f"Split-{split}", f"data-{i}.gz"), part)
    sample = standard_artifacts.Examples()
    sample.uri = str(tmp_path / "sample")
    executor = eval_sample.EvalSample.EXECUTOR_SPEC.executor_class()
    executor.Do({"examples": [examples]}, {"sample": [sample]}, {"max_rows": max_rows})
    return sample


def test_the_component_writes_an_eval_split_the_evaluator_can_read(tmp_path: Path) -> None:
    records = _records(400)
    sample = _run(tmp_path, {"train": _records(100, 5), "eval": records}, max_rows=120)
    assert json.loads(sample.split_names) == ["eval"]
    assert (sample.span, sample.version) == (3, 1)
    assert sample.get_int_custom_property("eval_rows") == 400
    assert sample.get_int_custom_property("sampled_rows") == 120
    files = eval_sample.split_files(sample.uri)
    assert [os.path.basename(f) for f in files] == [eval_sample.OUTPUT_FILE]
    written = list(eval_sample.read_records(files))
    assert written == eval_sample.sample_records(records, 120)[0]


def test_examples_without_an_eval_split_are_named_in_the_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no 'eval' split"):
        _run(tmp_path, {"train": _records(10)}, max_rows=5)


def test_a_row_has_one_key_whatever_order_its_features_were_written_in() -> None:
    from tensorflow.core.example import example_pb2, feature_pb2

    values = {"Age": 35, "City": b"Paris", "Male": 1}

    def entry(name: str) -> bytes:
        """One serialized map entry of Features (field 1), as a writer emits it."""
        features = feature_pb2.Features()
        feature = features.feature[name]
        if isinstance(values[name], bytes):
            feature.bytes_list.value.append(values[name])
        else:
            feature.int64_list.value.append(values[name])
        return features.SerializeToString()

    def example(order: list[str]) -> bytes:
        # The map entries in exactly this order: protobuf's own map serialization order is
        # not fixed (it changes from one process to the next), so the test writes the wire
        # format itself.
        features = b"".join(entry(name) for name in order)
        return b"\x0a" + _varint(len(features)) + features  # Example.features, field 1

    one, other = example(["Age", "City", "Male"]), example(["Male", "City", "Age"])
    assert one != other
    assert example_pb2.Example.FromString(one) == example_pb2.Example.FromString(other)
    assert eval_sample.example_key(one) == eval_sample.example_key(other)
    assert eval_sample.sample_records([one], 1)[0] == [one]


def test_the_wire_format_key_matches_protobufs_deterministic_form() -> None:
    """Two records are the same row for the fast key exactly when protobuf says so."""
    from tensorflow.core.example import example_pb2

    rows = []
    for i in range(30):
        proto = example_pb2.Example()
        proto.features.feature["Age"].int64_list.value.append(20 + i % 7)
        proto.features.feature["City"].bytes_list.value.append(b"Paris" if i % 2 else b"Rome")
        proto.features.feature["Income"].float_list.value.append(1000.5 * (i % 5))
        rows.append(proto.SerializeToString())
    fast = [eval_sample.example_key(r) for r in rows]
    slow = [example_pb2.Example.FromString(r).SerializeToString(deterministic=True)
            for r in rows]
    assert all(key != row for key, row in zip(fast, rows, strict=True))  # the fast path ran
    assert [fast.index(k) for k in fast] == [slow.index(k) for k in slow]
    assert eval_sample.example_key(b"\x0a\x05ab") == b"\x0a\x05ab"  # truncated: as it is


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)
