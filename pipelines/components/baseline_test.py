"""Tests for the Evaluator's baseline: the latest blessed model that is not the candidate."""

from __future__ import annotations

from tfx.types import standard_artifacts

from pipelines.components import baseline


def _model(model_id: int) -> standard_artifacts.Model:
    model = standard_artifacts.Model()
    model.id = model_id
    model.uri = f"/models/{model_id}"
    return model


def _blessing(blessing_id: int, model_id: int, blessed: bool) -> standard_artifacts.ModelBlessing:
    blessing = standard_artifacts.ModelBlessing()
    blessing.id = blessing_id
    blessing.set_int_custom_property("blessed", int(blessed))
    blessing.set_int_custom_property("current_model_id", model_id)
    return blessing


def _ids(artifacts: list) -> list[int]:
    return [a.id for a in artifacts]


def test_newest_blessed_model_is_chosen() -> None:
    models_ = [_model(3), _model(7), _model(5)]
    blessings = [_blessing(13, 3, True), _blessing(17, 7, True), _blessing(15, 5, True)]
    chosen, blessing = baseline.latest_blessed_excluding(models_, blessings, [_model(9)])
    assert _ids(chosen) == [7] and _ids(blessing) == [17]


def test_unblessed_models_are_skipped() -> None:
    models_ = [_model(3), _model(5), _model(7)]
    blessings = [_blessing(13, 3, True), _blessing(15, 5, True), _blessing(17, 7, False)]
    chosen, blessing = baseline.latest_blessed_excluding(models_, blessings, [])
    assert _ids(chosen) == [5] and _ids(blessing) == [15]


def test_models_without_any_blessing_are_skipped() -> None:
    models_ = [_model(3), _model(8)]
    chosen, blessing = baseline.latest_blessed_excluding(models_, [_blessing(13, 3, True)], [])
    assert _ids(chosen) == [3] and _ids(blessing) == [13]


def test_candidate_is_excluded_even_when_blessed_and_newest() -> None:
    models_ = [_model(3), _model(7)]
    blessings = [_blessing(13, 3, True), _blessing(17, 7, True)]
    chosen, blessing = baseline.latest_blessed_excluding(models_, blessings, [_model(7)])
    assert _ids(chosen) == [3] and _ids(blessing) == [13]


def test_nothing_blessed_gives_empty_lists() -> None:
    models_ = [_model(3), _model(7)]
    blessings = [_blessing(13, 3, False), _blessing(17, 7, False)]
    assert baseline.latest_blessed_excluding(models_, blessings, []) == ([], [])
    assert baseline.latest_blessed_excluding([], [], []) == ([], [])
    only_candidate = baseline.latest_blessed_excluding(
        [_model(7)], [_blessing(17, 7, True)], [_model(7)])
    assert only_candidate == ([], [])


def test_resolve_artifacts_returns_three_keys() -> None:
    candidate = _model(7)
    input_dict = {
        baseline.MODEL_KEY: [_model(3), _model(5), candidate],
        baseline.BLESSING_KEY: [_blessing(13, 3, True), _blessing(15, 5, False),
                                _blessing(17, 7, True)],
        baseline.CANDIDATE_KEY: [candidate],
    }
    result = baseline.BaselineModelStrategy().resolve_artifacts(None, input_dict)
    assert set(result) == {"model", "model_blessing", "candidate"}
    assert _ids(result["model"]) == [3]
    assert _ids(result["model_blessing"]) == [13]
    assert result["candidate"] == [candidate]


def test_resolve_artifacts_with_empty_inputs() -> None:
    result = baseline.BaselineModelStrategy().resolve_artifacts(None, {})
    assert result == {"model": [], "model_blessing": [], "candidate": []}
