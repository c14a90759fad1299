"""Tests for the small real serving model that other tests build on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from models import features, model, warmup
from pipelines.common.metrics import roc_auc
from pipelines.data import generator as dg
from pipelines.testing import small_model as small_model_lib


@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_model_lib.export_small_model(tmp_path_factory.mktemp("small") / "1")


def _rows(n: int, seed: int) -> dict[str, list]:
    columns = next(iter(dg.generate_batches(n, seed, start=dg.FIRST_SPAN_DAY))).to_pydict()
    return {name: columns[name] for name in features.RAW_COLUMNS}


def _example(row: dict, names: tuple[str, ...] = features.SERVING_FEATURES) -> bytes:
    return warmup.to_example({name: row[name] for name in names})


@pytest.mark.e2e
def test_small_model_signatures_answer_and_learned(small_model: Path) -> None:
    assert (small_model / "saved_model.pb").is_file() and (small_model / "variables").is_dir()
    loaded = tf.saved_model.load(str(small_model))
    assert set(loaded.signatures) == {
        "serving_default", "serving_tf_example", "classification", "transform_features"}

    rows = _rows(300, seed=7)  # unseen rows (trained on seed 0)
    serve = loaded.signatures["serving_default"]
    dtypes = {"float": tf.float32, "int": tf.int64, "string": tf.string}
    raw = {name: tf.constant(rows[name], dtypes[features.RAW_TYPES[name]])
           for name in features.SERVING_FEATURES}
    out = serve(**raw)
    probability = out[model.OUTPUT_KEY].numpy()
    assert probability.shape == (300,) and ((probability > 0) & (probability < 1)).all()
    np.testing.assert_array_equal(out["clicked"].numpy(), (probability >= 0.5).astype(np.int64))
    # Trained, not random: it ranks unseen rows about as well as the true click probability.
    labels = np.array(rows[features.LABEL_KEY])
    assert roc_auc(labels, probability) > 0.8

    examples = tf.constant([_example({k: rows[k][i] for k in rows}) for i in range(5)])
    by_example = loaded.signatures["serving_tf_example"](examples=examples)[model.OUTPUT_KEY]
    np.testing.assert_allclose(by_example.numpy(), probability[:5], rtol=1e-5)
    classified = loaded.signatures["classification"](inputs=examples)
    np.testing.assert_allclose(classified["scores"].numpy()[:, 1], probability[:5], rtol=1e-5)
    assert classified["classes"].numpy().tolist() == [[b"0", b"1"]] * 5
    labelled = tf.constant([_example({k: rows[k][i] for k in rows}, features.RAW_COLUMNS)
                            for i in range(5)])
    transformed = loaded.signatures["transform_features"](examples=labelled)
    assert set(model.MODEL_INPUTS) <= set(transformed)


@pytest.mark.e2e
def test_small_model_is_deterministic(small_model: Path, tmp_path: Path) -> None:
    again = small_model_lib.export_small_model(tmp_path / "1")
    rows = _rows(20, seed=3)
    dtypes = {"float": tf.float32, "int": tf.int64, "string": tf.string}
    raw = {name: tf.constant(rows[name], dtypes[features.RAW_TYPES[name]])
           for name in features.SERVING_FEATURES}
    first = tf.saved_model.load(str(small_model)).signatures["serving_default"](**raw)
    second = tf.saved_model.load(str(again)).signatures["serving_default"](**raw)
    np.testing.assert_allclose(first[model.OUTPUT_KEY].numpy(),
                               second[model.OUTPUT_KEY].numpy(), rtol=1e-6)


def test_export_refuses_an_existing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileExistsError, match=str(tmp_path)):
        small_model_lib.export_small_model(tmp_path)


def test_export_rejects_bad_sizes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rows"):
        small_model_lib.export_small_model(tmp_path / "1", rows=1)
    with pytest.raises(ValueError, match="train_steps"):
        small_model_lib.export_small_model(tmp_path / "2", train_steps=0)
    assert not (tmp_path / "1").exists() and not (tmp_path / "2").exists()
