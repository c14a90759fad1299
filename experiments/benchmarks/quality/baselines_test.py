"""Tests for the quality benchmark's baselines, on generated data of both modes."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
import pytest

from experiments.benchmarks.quality import baselines, scores
from pipelines.data import generator


def _columns(rows: int, seed: int, mode: str) -> dict[str, np.ndarray]:
    batches = generator.generate_batches(rows, seed, start=datetime(2016, 1, 1), mode=mode)
    table = pa.Table.from_batches(list(batches))
    # As tf.Example decoding gives them: strings as bytes.
    return {name: np.array([v.encode() if isinstance(v, str) else v
                            for v in table[name].to_pylist()], dtype=object)
            if pa.types.is_string(table.schema.field(name).type) else table[name].to_numpy()
            for name in table.column_names}


def test_category_codes_keep_frequent_values_and_pool_the_rest() -> None:
    codes = baselines.CategoryCodes(np.array([b"a", b"b", b"a", b"c", b"b", b"a", b"d", b"d"]),
                                    max_categories=2)
    assert codes.codes == {"a": 0, "b": 1}  # d is seen twice too, but ranks third
    assert codes(np.array([b"a", b"b", b"c", b"d", b"never"])).tolist() == [0, 1, 2, 2, 2]
    assert baselines.CategoryCodes(np.array(["x", "y"])).codes == {}  # each seen once


def test_time_parts() -> None:
    parts = baselines.time_parts(np.array([b"2016-01-04 13:05:00", "2016-01-10 00:00:01"]))
    assert parts.tolist() == [[13.0, 0.0], [0.0, 6.0]]  # a Monday, a Sunday


@pytest.mark.parametrize(("mode", "min_auc"), [("real-like", 0.98), ("default", 0.9)])
def test_baselines_learn_the_numeric_signal(mode: str, min_auc: float) -> None:
    train, evaluation = _columns(3_000, 1, mode), _columns(1_000, 2, mode)
    y = baselines.labels(evaluation)
    for name, fit in baselines.BASELINES.items():
        result = scores.score(y, fit(train)(evaluation))  # >255 cities: no error either
        assert result.auc >= min_auc, (mode, name, result)
        assert result.ece < 0.1, (mode, name, result)


def test_a_missing_column_is_named() -> None:
    train = _columns(200, 0, "default")
    del train["Age"]
    with pytest.raises(ValueError, match="Age"):
        baselines.fit_logistic(train)
