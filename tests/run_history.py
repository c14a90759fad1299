"""A pipeline root with the history a user has on the second day, for tests and benchmarks.

Real local runs (``local_runner.main``) on generated spans, one after another on one root:

1. span 1: trained, blessed, pushed; nothing served before, so no baseline;
2. span 2: blessed against the first run's pushed model (TFMA writes two models), pushed;
3. span 3: judged against that baseline with an AUC threshold it cannot reach: not blessed;
4. span 4: ten impossible ages: stopped at the AnomaliesGate, a failed run.

Runs past four repeat 1-2 (new spans, blessed, pushed), as a busy root has. A copy of the root
after the first run is kept too: the one-run history, at no extra run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import shutil
from pathlib import Path

ROWS = 300
TRAIN_STEPS = 150
# The kinds of run, in the order they are made.
BLESSED, NOT_BLESSED, FAILED = "blessed", "not blessed", "failed"
PLAN = (BLESSED, BLESSED, NOT_BLESSED, FAILED)


@dataclasses.dataclass(frozen=True)
class History:
    """What was made: the folders and, per run, its kind and the runner's exit code."""

    work: Path
    data: Path
    root: Path
    serving: Path
    kinds: tuple[str, ...]
    first_run_root: Path  # a copy of the root as it was after run 1: a one-run history

    @property
    def model_base_path(self) -> Path:
        return self.serving / "clickflow"


def corrupt_ages(span_folder: Path, count: int = 10) -> None:
    """Set the first ``count`` ages of a span to 500: outside the curated schema's domain."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    part = next(span_folder.glob("*.parquet"))
    table = pq.read_table(part)
    ages = table.column("Age").to_numpy().copy()
    ages[:count] = 500
    index = table.schema.get_field_index("Age")
    pq.write_table(table.set_column(index, "Age", pa.array(ages.astype(np.int64))), part)


def build(work: Path, runs: int = len(PLAN), *, rows: int = ROWS,
          train_steps: int = TRAIN_STEPS, quiet: bool = True) -> History:
    """``runs`` real pipeline runs on one root under ``work`` (see the module docstring)."""
    import local_runner
    from pipelines.data import generator

    data, root, serving = work / "data", work / "root", work / "serving"
    kinds = []
    for number in range(1, runs + 1):
        kind = PLAN[number - 1] if number <= len(PLAN) else PLAN[(number - 1) % 2]
        span = generator.write_span(data, number, rows, seed=7)
        # A few hundred rows give a noisy AUC: the simple-model margin is
        # relaxed, never skipped, so each run is still judged against the simple model, and a
        # run is not blessed only for the reason its kind names.
        args = ["--data", str(data), "--pipeline-root", str(root), "--serving-dir",
                str(serving), "--train-steps", str(train_steps), "--simple-margin", "0.5"]
        if kind == BLESSED and number > 1:
            # A few hundred rows give a noisy AUC: the change threshold is relaxed, never skipped,
            # so the run is still judged against the served baseline.
            args += ["--max-auc-drop", "0.5"]
        if kind == NOT_BLESSED:
            args += ["--min-auc", "0.9999"]
        if kind == FAILED:
            corrupt_ages(span)
        out = io.StringIO()
        with contextlib.redirect_stdout(out) if quiet else contextlib.nullcontext():
            code = local_runner.main(args)
        expected = 1 if kind == FAILED else 0
        if code != expected:
            raise RuntimeError(f"run {number} ({kind}) exited {code}, expected {expected}:\n"
                               f"{out.getvalue()[-3000:]}")
        if kind == FAILED:
            # The user repairs the span: later runs read it clean.
            shutil.rmtree(span)
            generator.write_span(data, number, rows, seed=7)
        kinds.append(kind)
        if number == 1:
            shutil.copytree(root, work / "after-first-run" / "root")
    return History(work=work, data=data, root=root, serving=serving, kinds=tuple(kinds),
                   first_run_root=work / "after-first-run" / "root")
