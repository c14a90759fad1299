"""The model card of a pushed version, as the pipeline's ModelCardGenerator wrote it.

A card is looked for first inside the pushed version (``names.MODEL_CARD_DIR``: it travels with
the model), then in the run's ModelCard artifact (ML Metadata). Only pushed models have one;
a card that cannot be read says why, and which file.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from dashboard.history import RunRecord
from pipelines.common.names import (
    MODEL_CARD_DIR,
    MODEL_CARD_HTML,
    MODEL_CARD_JSON,
    MODEL_CARD_MD,
)

SCHEMA_VERSION = 1
SECTIONS = ("model_details", "model_parameters", "quantitative_analysis", "considerations")


@dataclasses.dataclass(frozen=True)
class Found:
    """A card (``card``) read from ``folder``, or None and the ``reason`` there is none."""

    card: dict[str, Any] | None
    folder: Path | None
    reason: str = ""

    def file(self, name: str) -> bytes | None:
        """model_card.md / .html beside the card's JSON, None when missing."""
        try:
            return (self.folder / name).read_bytes() if self.folder else None
        except OSError:
            return None

    @property
    def markdown(self) -> bytes | None:
        return self.file(MODEL_CARD_MD)

    @property
    def html(self) -> bytes | None:
        return self.file(MODEL_CARD_HTML)


def folders(run: RunRecord) -> list[Path]:
    """Where the card of a run's pushed model may be, in the order they are read."""
    out = []
    if run.pushed_destination:
        out.append(Path(run.pushed_destination) / MODEL_CARD_DIR)
    if run.model_card_uri:
        out.append(Path(run.model_card_uri))
    return out


def read_card(folder: Path) -> dict[str, Any]:
    """The card in ``folder``; ValueError naming the file and what is wrong."""
    path = folder / MODEL_CARD_JSON
    try:
        card = json.loads(path.read_text())
    except OSError as err:
        raise ValueError(f"{path}: cannot be read ({err.strerror or err})") from None
    except ValueError as err:
        raise ValueError(f"{path}: not JSON ({err})") from None
    if not isinstance(card, dict) or card.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"{path}: expected a model card of schema_version {SCHEMA_VERSION}")
    missing = [s for s in SECTIONS if not isinstance(card.get(s), dict)]
    if missing:
        raise ValueError(f"{path}: expected the sections {', '.join(missing)}")
    return card


def find(run: RunRecord) -> Found:
    """The card of a run's pushed model, or why there is none."""
    if not run.pushed_version:
        return Found(None, None, "this run pushed no model; only pushed models get a card")
    problems = []
    for folder in folders(run):
        if not (folder / MODEL_CARD_JSON).exists():
            problems.append(f"{folder / MODEL_CARD_JSON}: not there")
            continue
        try:
            return Found(read_card(folder), folder)
        except ValueError as err:
            problems.append(str(err))
    if not problems:
        return Found(
            None,
            None,
            "ML Metadata records no model card for this run (a run "
            "from before the pipeline wrote cards)",
        )
    return Found(None, None, "; ".join(problems))


# The columns each table leads with (the card's JSON keeps its keys sorted): what a row is
# about first, then its numbers; any other column follows in the card's order.
SPLIT_COLUMNS = ("name", "rows", "first", "last", "positive_rate")
METRIC_COLUMNS = ("slice", "example_count", "auc", "auc_diff", "binary_accuracy",
                  "binary_accuracy_diff")
THRESHOLD_COLUMNS = ("gate", "metric", "slices", "threshold", "overall_value", "passed",
                     "failed_slices")
COMPARISON_COLUMNS = ("metric", "candidate", "baseline", "difference")


def column_order(rows: list[dict[str, Any]], leading: tuple[str, ...]) -> list[str]:
    """``leading`` columns present in ``rows``, then the rest in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return [c for c in leading if c in seen] + [c for c in seen if c not in leading]


def four_decimals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Streamlit column configs showing every float column with 4 decimals (TFMA's diffs carry
    float noise such as -2e-16), counts as they are."""
    import streamlit as st

    floats = {k for row in rows for k, v in row.items()
              if isinstance(v, float) and k != "example_count"}
    return {k: st.column_config.NumberColumn(format="%.4f") for k in sorted(floats)}


def metric_rows(card: dict[str, Any]) -> list[dict[str, Any]]:
    return list(card["quantitative_analysis"].get("performance_metrics", []))


def threshold_rows(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {**t, "failed_slices": ", ".join(t.get("failed_slices", []))}
        for t in card["quantitative_analysis"].get("thresholds", [])
    ]
