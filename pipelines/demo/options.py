"""What the demo is asked to do (``DemoOptions``), where it writes (``Paths``), and the rule that
it only ever deletes a folder it made itself (``prepare_workdir``)."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pipelines.common.errors import ClickflowError
from pipelines.common.names import DEFAULT_MODEL_NAME

MARKER = ".clickflow-demo"
SUMMARY_FILE = "demo_summary.json"
DRIFT = "both"  # the features move AND the click mechanism changes
STEPS = 10
MIN_ROWS, MIN_TRAIN_ROWS = 200, 500
LABEL_DELAY = timedelta(seconds=1)  # labelled_at = sent + this; labels are delivered later


class DemoError(ClickflowError, RuntimeError):
    """A step that could not complete; the message says which step and why."""


@dataclasses.dataclass(frozen=True)
class DemoOptions:
    workdir: Path
    rows: int = 2000  # traffic rows per phase
    train_rows: int = 2000  # rows of the generated span the first model is trained on
    train_steps: int = 300
    seed: int = 7
    port: int = 0  # 0: a free port
    fresh: bool = False
    batch_size: int = 16  # instances per :predict request
    ready_timeout: float = 240.0  # server start, TensorFlow import included
    load_timeout: float = 180.0  # hot-load of the retrained version

    def __post_init__(self) -> None:
        if self.rows < MIN_ROWS:
            raise ValueError(f"--rows must be at least {MIN_ROWS} (the monitor needs that many "
                             f"requests per window), got {self.rows}")
        if self.train_rows < MIN_TRAIN_ROWS:
            raise ValueError(f"--train-rows must be at least {MIN_TRAIN_ROWS}, got "
                             f"{self.train_rows}")
        if self.train_steps < 1:
            raise ValueError(f"--train-steps must be at least 1, got {self.train_steps}")
        if self.seed < 0:
            raise ValueError(f"--seed must be >= 0, got {self.seed}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"--port must be 0 (a free port) or 1-65535, got {self.port}")


@dataclasses.dataclass(frozen=True)
class Paths:
    """The demo folder's layout (``Paths.of(root)``)."""

    root: Path
    data: Path
    pipeline_root: Path
    serving_dir: Path
    model_dir: Path
    request_log: Path
    labels_inbox: Path  # labels the simulator knows but that have not arrived
    labels: Path
    monitoring: Path
    logs: Path

    @classmethod
    def of(cls, root: Path) -> Paths:
        serving_dir = root / "serving_model"
        return cls(root=root, data=root / "data", pipeline_root=root / "pipeline_root",
                   serving_dir=serving_dir, model_dir=serving_dir / DEFAULT_MODEL_NAME,
                   request_log=root / "request_log", labels_inbox=root / "labels_pending",
                   labels=root / "labels", monitoring=root / "monitoring", logs=root / "logs")


def prepare_workdir(root: Path, *, fresh: bool) -> Paths:
    """A new or empty folder becomes a demo folder; an earlier demo folder is deleted only with
    ``fresh``; any other folder is refused (the demo never deletes what it did not create)."""
    root = root.resolve()
    marker = root / MARKER
    if root.exists() and not root.is_dir():
        raise DemoError(f"--workdir {root}: exists and is not a folder")
    if root.is_dir() and any(root.iterdir()):
        if not marker.is_file():
            raise DemoError(
                f"--workdir {root}: the folder is not empty and is not a demo folder (it has no "
                f"{MARKER} file); refusing to touch it. Give a new or empty folder")
        if not fresh:
            raise DemoError(
                f"--workdir {root}: holds an earlier demo run ({marker.read_text().strip()}); "
                "pass --fresh to delete it and start over")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"clickflow demo started {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} "
                      "UTC; `python -m pipelines.demo --fresh` deletes this folder\n")
    return Paths.of(root)
