"""Baseline model for the Evaluator: the latest blessed model that is not the candidate itself.

TFX's LatestBlessedModelStrategy returns the model blessed by the previous run; when nothing
changed, that is the very model the cached Trainer hands to the Evaluator again, so the Evaluator's
inputs change and it (and the Pusher) re-run for nothing. Excluding the candidate keeps an
unchanged rerun fully cached and never compares a model with itself.
"""

from __future__ import annotations

from typing import Any

from tfx.dsl.components.common import resolver

MODEL_KEY = "model"
BLESSING_KEY = "model_blessing"
CANDIDATE_KEY = "candidate"


def latest_blessed_excluding(models: list[Any], blessings: list[Any],
                             candidates: list[Any]) -> tuple[list[Any], list[Any]]:
    """([model], [blessing]) of the newest blessed model not in ``candidates``, or ([], [])."""
    excluded = {c.id for c in candidates}
    blessed = {
        b.get_int_custom_property("current_model_id"): b
        for b in blessings
        if b.get_int_custom_property("blessed") == 1
    }
    for model in sorted(models, key=lambda m: m.id, reverse=True):
        if model.id not in excluded and model.id in blessed:
            return [model], [blessed[model.id]]
    return [], []


class BaselineModelStrategy(resolver.ResolverStrategy):
    """Resolver strategy: inputs ``model``, ``model_blessing`` (all) and ``candidate``."""

    def resolve_artifacts(self, store: Any, input_dict: dict[str, list[Any]]
                          ) -> dict[str, list[Any]] | None:
        del store
        models, blessings = latest_blessed_excluding(
            input_dict.get(MODEL_KEY, []), input_dict.get(BLESSING_KEY, []),
            input_dict.get(CANDIDATE_KEY, []))
        return {MODEL_KEY: models, BLESSING_KEY: blessings,
                CANDIDATE_KEY: list(input_dict.get(CANDIDATE_KEY, []))}

