"""Typed configuration of the pipeline: one place, no cloud auth and no clock at import time."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from pipelines.common.errors import ConfigError

# Locally Beam runs in process with its defaults (DirectRunner, in memory, one worker). Pass no
# flags here: any Beam flag without a dependency flag makes every TFX Beam executor build and
# attach an ephemeral sdist of TFX for remote workers (~1.7 s per component, for nothing locally).
# In process, Beam's Parquet reads are armed by local_runner's safe_parquet.guard() (CVE-2023-
# 47248); --direct_running_mode=multi_processing would start worker interpreters that are not.
LOCAL_BEAM_ARGS: tuple[str, ...] = ()
# The share of input rows the ExampleGen may drop (empty label, impossible Timestamp) and go on.
DEFAULT_MAX_DROPPED_SHARE = 0.05
# Most Trainer steps: a ceiling, since the Trainer's budget grows with the rows (models.budget).
DEFAULT_TRAIN_STEPS = 20_000


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """What the graph does, identical for every environment."""

    train_steps: int = DEFAULT_TRAIN_STEPS
    eval_steps: int = 20
    tune: bool = False
    max_trials: int = 6
    min_auc: float = 0.75
    max_auc_drop: float = 0.01
    train_buckets: int = 4
    eval_buckets: int = 1
    eval_max_rows: int = 20_000
    max_dropped_share: float = DEFAULT_MAX_DROPPED_SHARE
    # The simple-baseline gate: a logistic regression is trained beside the model, and a
    # candidate whose AUC is below the simple model's by more than the margin, overall or on
    # any slice, is not pushed. False: neither is trained nor evaluated.
    simple_model_gate: bool = True
    simple_model_margin: float = 0.01
    enable_cache: bool = True
    hparams: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        checks = {
            "train_steps": self.train_steps >= 1,
            "eval_steps": self.eval_steps >= 1,
            "max_trials": self.max_trials >= 1,
            "min_auc": 0.0 <= self.min_auc <= 1.0,
            "max_auc_drop": 0.0 <= self.max_auc_drop <= 1.0,
            "train_buckets": self.train_buckets >= 1,
            "eval_buckets": self.eval_buckets >= 1,
            "eval_max_rows": self.eval_max_rows >= 1,
            "max_dropped_share": (isinstance(self.max_dropped_share, (int, float))
                                  and 0.0 <= self.max_dropped_share <= 1.0),
            "simple_model_gate": isinstance(self.simple_model_gate, bool),
            "simple_model_margin": (isinstance(self.simple_model_margin, (int, float))
                                    and not isinstance(self.simple_model_margin, bool)
                                    and 0.0 <= self.simple_model_margin <= 1.0),
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            expected = {
                "train_steps": ">= 1", "eval_steps": ">= 1", "max_trials": ">= 1",
                "min_auc": "between 0 and 1", "max_auc_drop": "between 0 and 1",
                "train_buckets": ">= 1", "eval_buckets": ">= 1", "eval_max_rows": ">= 1",
                "max_dropped_share": "a number between 0 and 1",
                "simple_model_gate": "true or false",
                "simple_model_margin": "an AUC margin between 0 and 1",
            }
            raise ConfigError("; ".join(
                f"{name}={getattr(self, name)!r} must be {expected[name]}" for name in bad))
        if self.hparams:
            from models.model import HParams

            try:
                HParams.from_dict(self.hparams)
            except (TypeError, ValueError) as err:
                raise ConfigError(f"hparams: {err}") from None
