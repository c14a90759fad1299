"""The Pusher's second blessing: nothing is pushed unless both Evaluators blessed the model.

Blessings are TFX ModelBlessing artifacts with the ``blessed`` custom property the Evaluator
writes and TFX's own check reads (tfx/components/util/model_utils.py, ``is_model_blessed``).
"""

from __future__ import annotations

import json

import pytest
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.utils import proto_utils

from pipelines.components import pusher


def _blessing(tmp_path, name: str, blessed: int) -> standard_artifacts.ModelBlessing:
    artifact = standard_artifacts.ModelBlessing()
    artifact.uri = str(tmp_path / name)
    artifact.set_int_custom_property("blessed", blessed)
    return artifact


def _push(tmp_path, main: int, simple: int | None):
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "model")
    (tmp_path / "model" / "Format-Serving").mkdir(parents=True, exist_ok=True)
    (tmp_path / "model" / "Format-Serving" / "saved_model.pb").write_bytes(b"model")
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed")
    inputs = {
        standard_component_specs.MODEL_KEY: [model],
        standard_component_specs.MODEL_BLESSING_KEY: [_blessing(tmp_path, "main", main)],
    }
    if simple is not None:
        inputs[pusher.SIMPLE_MODEL_BLESSING_KEY] = [_blessing(tmp_path, "simple", simple)]
    destination = pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=str(tmp_path / "serving"))
    )
    pusher.Executor().Do(
        inputs,
        {standard_component_specs.PUSHED_MODEL_KEY: [pushed]},
        {
            standard_component_specs.PUSH_DESTINATION_KEY: proto_utils.proto_to_json(destination),
            standard_component_specs.CUSTOM_CONFIG_KEY: json.dumps(None),
        },
    )
    return pushed


@pytest.mark.parametrize(("main", "simple"), [(1, 0), (0, 1), (0, 0)])
def test_nothing_is_pushed_unless_both_blessings_hold(tmp_path, main, simple) -> None:
    pushed = _push(tmp_path, main, simple)
    assert pushed.get_int_custom_property("pushed") == 0
    assert not (tmp_path / "serving").exists()


def test_the_second_blessing_is_optional_and_read_by_tfx_rule(tmp_path) -> None:
    assert pusher.simple_model_blessed({}) is True
    assert (
        pusher.simple_model_blessed(
            {pusher.SIMPLE_MODEL_BLESSING_KEY: [_blessing(tmp_path, "b", 1)]}
        )
        is True
    )
    assert (
        pusher.simple_model_blessed(
            {pusher.SIMPLE_MODEL_BLESSING_KEY: [_blessing(tmp_path, "b", 0)]}
        )
        is False
    )
    # A blessing without the property is not blessed (TFX: is_model_blessed reads 'blessed').
    bare = standard_artifacts.ModelBlessing()
    bare.uri = str(tmp_path / "bare")
    assert pusher.simple_model_blessed({pusher.SIMPLE_MODEL_BLESSING_KEY: [bare]}) is False


def test_the_component_declares_the_second_blessing_as_an_optional_model_blessing() -> None:
    spec = pusher.PusherSpec.INPUTS[pusher.SIMPLE_MODEL_BLESSING_KEY]
    assert spec.type is standard_artifacts.ModelBlessing and spec.optional
    # Everything TFX's Pusher takes is still there.
    assert set(standard_component_specs.PusherSpec.INPUTS) < set(pusher.PusherSpec.INPUTS)
