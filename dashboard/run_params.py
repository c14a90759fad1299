"""A run's parameters as ML Metadata recorded them: each component's execution properties.

TFX stores a component's exec properties (Trainer's ``train_args``, ``custom_config`` with the
hyperparameters, ExampleGen's ``input_base``, ...) as custom properties of its execution, JSON
for protos and dicts. They are flattened to ``Node.key.sub`` -> short text, so two runs can be
compared row by row as MLflow compares params.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from dashboard import blessing

# Long texts that say nothing in a table row (the SQL query, module paths of user code).
SKIPPED = {"query", "eval_config", "fairness_indicator_thresholds", "input_fingerprint"}
MAX_TEXT = 80


def _value(prop: Any) -> Any:
    which = prop.WhichOneof("value")
    return getattr(prop, which) if which else None


def _leaves(prefix: str, value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        # A google.protobuf.Struct in JSON: {"@type": ..., "value": {...}}.
        if "@type" in value and "value" in value:
            return _leaves(prefix, value["value"])
        out = []
        for key, inner in sorted(value.items()):
            if key not in SKIPPED:
                out.extend(_leaves(f"{prefix}.{key}", inner))
        return out
    if isinstance(value, list):
        value = json.dumps(value)
    return [(prefix, value)]


def threshold_rows(node: str, eval_config: Any) -> list[tuple[str, str]]:
    """The Evaluator's thresholds (what --min-auc / --max-auc-drop set), one row per bound."""
    rows = []
    for t in blessing.thresholds(blessing.camel_case(eval_config)):
        name = f"{node}.{t.metric}" + ("" if t.slice == blessing.OVERALL else f"[{t.slice}]")
        for bound, value in (("lower_bound", t.lower), ("upper_bound", t.upper),
                             ("change", t.change), ("relative_change", t.relative)):
            if value is not None:
                rows.append((f"{name}.{bound}", f"{value:g}"))
    return rows


def flatten(node: str, key: str, value: Any) -> list[tuple[str, str]]:
    """One exec property as (name, text) rows; JSON text is opened into its fields."""
    if key == "eval_config" and isinstance(value, str):
        try:
            return threshold_rows(node, json.loads(value))
        except ValueError:
            return []
    if key in SKIPPED:
        return []
    if isinstance(value, str) and value[:1] in "{[":
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    if value is None or value == "null":
        return []
    rows = []
    for name, leaf in _leaves(f"{node}.{key}", value):
        text = str(leaf)
        rows.append((name, text if len(text) <= MAX_TEXT else text[:MAX_TEXT - 1] + "…"))
    return rows


def parameters(executions: list[Any], node_of: dict[int, str]) -> dict[str, str]:
    """Every component's exec properties of one run, flattened (see ``flatten``)."""
    out: dict[str, str] = {}
    for execution in executions:
        node = node_of.get(execution.id, "unknown")
        for key, prop in sorted(execution.custom_properties.items()):
            for name, text in flatten(node, key, _value(prop)):
                out[name] = text
    return dict(sorted(out.items()))
