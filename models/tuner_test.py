"""Tests for the Tuner's search space and its defaults-first random search."""

from __future__ import annotations

import keras_tuner
import pytest

from models import model, tuner


def test_search_space_contains_the_defaults() -> None:
    hp = tuner.hyperparameters()
    defaults = model.HParams.from_dict(hp.values)  # each Choice's default
    assert defaults == model.HParams()


def test_a_space_without_the_default_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(tuner.SEARCH_SPACE, "dropout", [0.0, 0.3])
    with pytest.raises(ValueError, match=r"dropout .* lacks the default 0.1"):
        tuner.hyperparameters()


def test_first_trial_is_the_defaults_then_random_distinct_ones(tmp_path) -> None:
    oracle = tuner.DefaultsFirstOracle(
        objective=keras_tuner.Objective("val_auc", "max"), max_trials=4,
        hyperparameters=tuner.hyperparameters(), seed=42)
    oracle._set_project_dir(str(tmp_path), "test")
    seen = []
    for _ in range(4):
        trial = oracle.create_trial("tuner0")
        seen.append(dict(trial.hyperparameters.values))
        oracle.update_trial(trial.trial_id, {"val_auc": 0.5})
        oracle.end_trial(trial)
    assert model.HParams.from_dict(seen[0]) == model.HParams()
    assert len({tuple(sorted(v.items())) for v in seen}) == 4
