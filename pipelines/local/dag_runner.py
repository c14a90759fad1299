"""TFX's LocalDagRunner with the run named by the local runner instead of TFX's clock.

TFX names a local run ``datetime.now().isoformat()`` inside ``run_with_ir``, so the runner
could only guess which ``pipeline_run`` context was its own ("the newest"), and two runs that
overlapped read each other's results. The run id parameter is substituted here first (the same
public ``runtime_parameter_utils`` call TFX makes, which then finds nothing left to replace):
run_summary.json, runs/<run id>/ and ML Metadata share one name.
"""

from __future__ import annotations

from typing import Any

from tfx.dsl.compiler import constants
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
from tfx.orchestration.portable import runtime_parameter_utils


class NamedRunDagRunner(LocalDagRunner):
    """``NamedRunDagRunner(run_id).run(pipeline)``: the run's context is named ``run_id``."""

    def __init__(self, run_id: str):
        super().__init__()
        self.run_id = run_id

    def run_with_ir(self, pipeline: Any, run_options: Any = None) -> None:
        runtime_parameter_utils.substitute_runtime_parameter(
            pipeline, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: self.run_id})
        super().run_with_ir(pipeline, run_options=run_options)
