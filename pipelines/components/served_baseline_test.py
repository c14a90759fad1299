"""ServedBaseline and the Evaluator's reading of it, on real exported models: the second day
(a model served), the first (nothing), a push half copied, a foreign model, the candidate
already served, and KFP handing the ``found`` flag back as a float."""

import shutil

import pytest
import tensorflow as tf
from tfx.types import standard_artifacts

from models import features
from pipelines.components import evaluator, served_baseline
from pipelines.testing import small_model

REQUIRED = f"{features.EVAL_SIGNATURE},{features.TRANSFORM_SIGNATURE}"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Two real clickflow models (different weights) and a foreign SavedModel."""
    root = tmp_path_factory.mktemp("models")
    first = small_model.export_small_model(root / "first", rows=200, train_steps=5)
    second = small_model.export_small_model(root / "second", rows=200, seed=1, train_steps=5)
    module = tf.Module()
    module.f = tf.function(lambda x: {"y": x * 2.0},
                           input_signature=[tf.TensorSpec([None], tf.float32)])
    foreign = root / "foreign"
    tf.saved_model.save(module, str(foreign), signatures={"serving_default": module.f})
    return {"first": first, "second": second, "foreign": foreign}


def _run(tmp_path, serving_dir, candidate_model):
    candidate = standard_artifacts.Model()
    candidate.uri = str(tmp_path / "candidate")
    shutil.copytree(candidate_model, tmp_path / "candidate" / "Format-Serving")
    out = standard_artifacts.Model()
    out.uri = str(tmp_path / "baseline")
    executor = served_baseline.ServedBaseline.EXECUTOR_SPEC.executor_class()
    executor.Do({"candidate": [candidate]}, {"model": [out]},
                {"serving_model_dir": str(serving_dir), "required_signatures": REQUIRED})
    return out


def _serve(serving_dir, version, model_dir):
    shutil.copytree(model_dir, serving_dir / str(version))


def test_first_run_nothing_served_means_no_baseline(tmp_path, models) -> None:
    out = _run(tmp_path, tmp_path / "serving", models["second"])
    assert out.get_int_custom_property(served_baseline.FOUND) == 0
    assert not (tmp_path / "baseline" / "Format-Serving").exists()
    assert evaluator.has_baseline([out]) is False


def test_second_run_copies_the_newest_served_model(tmp_path, models) -> None:
    serving = tmp_path / "serving"
    _serve(serving, 100, models["second"])
    _serve(serving, 200, models["first"])
    out = _run(tmp_path, serving, models["second"])
    assert out.get_int_custom_property(served_baseline.FOUND) == 1
    assert out.get_string_custom_property(served_baseline.SERVED_VERSION) == "200"
    assert out.get_string_custom_property(served_baseline.SERVED_PATH) == str(serving / "200")
    copied = tmp_path / "baseline" / "Format-Serving"
    assert (copied / "saved_model.pb").read_bytes() == (
        models["first"] / "saved_model.pb").read_bytes()
    assert (copied / "variables" / "variables.index").exists()
    assert evaluator.has_baseline([out]) is True


def test_skips_half_copied_foreign_and_candidate_versions(tmp_path, models, caplog) -> None:
    serving = tmp_path / "serving"
    _serve(serving, 10, models["first"])
    _serve(serving, 20, models["foreign"])
    _serve(serving, 30, models["second"])  # the candidate itself, already pushed
    (serving / "40").mkdir()
    (serving / "40" / "saved_model.pb").write_bytes(b"")  # a push still being copied
    (serving / "tmp-upload").mkdir()  # not a version folder at all
    caplog.set_level("INFO")
    out = _run(tmp_path, serving, models["second"])
    assert out.get_string_custom_property(served_baseline.SERVED_VERSION) == "10"
    log = caplog.text
    assert "40: not a complete SavedModel" in log
    assert "30: it is the candidate itself" in log
    assert f"20: no signature {features.EVAL_SIGNATURE}" in log


def test_a_float_found_flag_from_kfp_metadata_is_read_as_a_number(tmp_path, models) -> None:
    serving = tmp_path / "serving"
    _serve(serving, 1, models["first"])
    out = _run(tmp_path, serving, models["second"])
    out.set_float_custom_property(served_baseline.FOUND, 1.0)
    assert evaluator.has_baseline([out]) is True
    out.set_float_custom_property(served_baseline.FOUND, 0.0)
    assert evaluator.has_baseline([out]) is False


def test_a_baseline_marked_found_whose_files_are_gone_fails_loudly(tmp_path, models) -> None:
    serving = tmp_path / "serving"
    _serve(serving, 1, models["first"])
    out = _run(tmp_path, serving, models["second"])
    shutil.rmtree(tmp_path / "baseline" / "Format-Serving")
    with pytest.raises(evaluator.BaselineMissingError, match="found=1 but"):
        evaluator.has_baseline([out])


def test_a_baseline_from_elsewhere_is_taken_as_tfx_would(tmp_path) -> None:
    other = standard_artifacts.Model()
    other.uri = str(tmp_path)
    assert evaluator.has_baseline([other]) is True
    assert evaluator.has_baseline([]) is False


def test_the_same_model_saved_again_in_one_process_is_the_candidate_itself(tmp_path, models
                                                                            ) -> None:
    """A forced rerun in the same process (the local runner's) retrains the very same model,
    but its saved_model.pb differs: traced function names count up per process, so TF's
    saved_model_checksum differs while the graph, signature, object and checkpoint hashes
    do not (tensorflow/core/protobuf/fingerprint.proto)."""
    from tensorflow.core.protobuf import fingerprint_pb2

    again = small_model.export_small_model(tmp_path / "again", rows=200, seed=1, train_steps=5)
    prints = []
    for folder in (models["second"], again):
        fingerprint = fingerprint_pb2.FingerprintDef()
        fingerprint.ParseFromString((folder / "fingerprint.pb").read_bytes())
        prints.append(fingerprint)
    assert prints[0].saved_model_checksum != prints[1].saved_model_checksum
    assert prints[0].checkpoint_hash == prints[1].checkpoint_hash
    assert served_baseline.identity(str(again)) == served_baseline.identity(str(models["second"]))
    assert served_baseline.identity(str(again)) != served_baseline.identity(str(models["first"]))
    serving = tmp_path / "serving"
    _serve(serving, 40, models["second"])
    assert _run(tmp_path, serving, again).get_int_custom_property("found") == 0
