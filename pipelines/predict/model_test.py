"""Choosing the version to score with, and the real model's serving_default called on Arrow."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from models import features
from pipelines.data import generator
from pipelines.predict import model


def _fake_version(folder: Path, complete: bool = True) -> Path:
    (folder / "variables").mkdir(parents=True)
    if complete:
        (folder / "saved_model.pb").write_bytes(b"")
        (folder / "variables" / "variables.index").write_bytes(b"")
    return folder


def test_newest_complete_version_is_chosen(tmp_path: Path):
    _fake_version(tmp_path / "9")
    _fake_version(tmp_path / "10")
    _fake_version(tmp_path / "11", complete=False)  # the Pusher copies saved_model.pb last
    (tmp_path / "tmp-copy").mkdir()
    found = model.find_version(tmp_path)
    assert (found.path, found.version) == (tmp_path / "10", 10)  # 10 > 9 as numbers
    assert model.find_version(tmp_path / "9").version == 9


@pytest.mark.parametrize(
    "layout, expected",
    [
        ("missing", "no such folder"),
        ("empty", "no complete model version in it;"),
        ("incomplete", "incomplete versions: 3"),
        ("unversioned", "not in a numeric version folder"),
    ],
)
def test_unusable_model_paths_are_named(tmp_path: Path, layout: str, expected: str):
    base = tmp_path / "clickflow"
    if layout != "missing":
        base.mkdir()
    if layout == "incomplete":
        _fake_version(base / "3", complete=False)
    if layout == "unversioned":
        (base / "saved_model.pb").write_bytes(b"")
    with pytest.raises(model.ModelError, match=expected) as err:
        model.find_version(base)
    assert str(base) in str(err.value) and "\n" not in str(err.value)


def test_a_broken_saved_model_is_a_model_error(tmp_path: Path):
    folder = _fake_version(tmp_path / "4")
    (folder / "saved_model.pb").write_bytes(b"not a protobuf")
    with pytest.raises(model.ModelError, match="cannot load the SavedModel"):
        model.Scorer(model.find_version(tmp_path))


def test_scores_match_the_tf_example_signature(pushed_model: Path, tmp_path: Path):
    """serving_default fed from Arrow gives what the model's serving_tf_example signature (the
    Evaluator's, a separate input path: serialized tf.Examples) gives for the same rows."""
    import tensorflow as tf

    scorer = model.Scorer(model.find_version(pushed_model))
    assert set(scorer.inputs) == set(features.SERVING_FEATURES)
    rows = next(generator.generate_batches(300, 5, start=generator.FIRST_SPAN_DAY))
    probability, clicked = scorer.score({n: rows.column(n) for n in scorer.inputs})
    assert probability.shape == clicked.shape == (rows.num_rows,)
    assert np.array_equal(clicked, (probability >= 0.5).astype(np.int64))

    from pipelines.data import source

    examples = pa.RecordBatch.from_arrays(
        [source.to_example_batch(rows).column(n) for n in features.SERVING_FEATURES],
        list(features.SERVING_FEATURES),
    )
    from tfx_bsl.coders import example_coder

    serialized = example_coder.RecordBatchToExamplesEncoder().encode(examples)
    loaded = tf.saved_model.load(str(pushed_model / "7"))
    expected = loaded.signatures[features.EVAL_SIGNATURE](examples=tf.constant(serialized))[
        "probability"
    ].numpy()
    np.testing.assert_allclose(probability, expected, rtol=1e-5, atol=1e-6)
    assert probability.min() > 0.0 and probability.max() < 1.0 and len(set(probability)) > 50


def test_a_model_without_serving_default_is_refused(pushed_model: Path, tmp_path: Path):
    import tensorflow as tf

    module = tf.Module()
    module.f = tf.function(lambda x: {"y": x}, input_signature=[tf.TensorSpec([None])])
    tf.saved_model.save(module, str(tmp_path / "1"), signatures={"other": module.f})
    with pytest.raises(model.ModelError, match=r"has no 'serving_default' signature .*other"):
        model.Scorer(model.find_version(tmp_path))
    shutil.rmtree(tmp_path / "1")
