"""How the demo judges: the monitor's window, the monitor itself, live AUC per version from the
request log and the labels, the best AUC any model could reach, and the Evaluator's baseline."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pipelines.common.names import DEFAULT_MODEL_NAME, DEFAULT_PIPELINE_NAME, SCHEMA_FILE
from pipelines.demo.children import runner_args
from pipelines.demo.options import DemoOptions, Paths


@dataclasses.dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


def judged_window(before: datetime, between: datetime, after: datetime) -> Window:
    """The window to judge the traffic sent in [between, after), chosen so that the monitor's
    previous window (same length, ending at ``between``) covers all of [before, between)."""
    length = max(after - between, between - before) + timedelta(milliseconds=1)
    return Window(between, between + length)


def monitor(options: DemoOptions, paths: Paths, window: Window, trigger_mode: str,
            on_judged: Callable[[dict[str, Any], Path], None], now: datetime) -> dict[str, Any]:
    """``python -m pipelines.monitoring run`` in process, on the demo's folders; its report."""
    from pipelines.monitoring.config import MonitorConfig, PolicyConfig
    from pipelines.monitoring.monitor import MonitorSettings, run_monitor
    from pipelines.monitoring.monitor import Window as MonitorWindow

    rows = options.rows
    config = MonitorConfig(policy=PolicyConfig(min_requests=min(1000, rows),
                                               min_labelled=min(500, rows // 2)))
    settings = MonitorSettings(
        log_dir=paths.request_log, labels_dir=paths.labels,
        window=MonitorWindow(window.start, window.end), out_dir=paths.monitoring,
        pipeline_root=paths.pipeline_root, schema_path=SCHEMA_FILE,
        pipeline_name=DEFAULT_PIPELINE_NAME, model_name=DEFAULT_MODEL_NAME, config=config,
        trigger_mode=trigger_mode, data_dir=paths.data,
        runner_args=runner_args(options, paths))
    return run_monitor(settings, now=now, on_judged=on_judged).report


def live_by_version(paths: Paths, window: Window, now: datetime) -> dict[int, dict[str, Any]]:
    """Live metrics per model version of the requests in ``window`` that have labels."""
    from pipelines.common import request_log
    from pipelines.monitoring import live

    table, _ = request_log.read_window(paths.request_log, window.start, window.end)
    labels, _ = request_log.read_labels(paths.labels)
    joined = live.join_labels(live.dedupe_requests(table).table, labels, now)
    return live.metrics_by_version(joined.table)


def true_auc(rows: int, seed: int, drift: Any, start: datetime) -> float:
    """AUC of the generator's true click probability on the traffic it generated: the best
    any model can reach on it."""
    import numpy as np
    import pyarrow as pa

    from pipelines.common.metrics import roc_auc
    from pipelines.data import drift as data_drift
    from pipelines.data import generator as dg
    from pipelines.monitoring.simulate import traffic

    table = pa.Table.from_batches(list(traffic(rows, seed, drift, start)))
    columns = {name: table[name].to_numpy() for name in (*dg.COEFFICIENTS, "Male")}
    probability = (dg.click_probability(columns) if drift is None
                   else data_drift.drifted_click_probability(columns, drift))
    return roc_auc(np.asarray(table["ClickedOnAd"].to_numpy()), probability)


def baseline_auc(summary: dict[str, Any]) -> float | None:
    """The baseline model's AUC in a run's Evaluator output (candidate AUC minus TFMA's
    ``auc_diff``), or None when the run had no baseline."""
    from pipelines.metadata import runs as run_summary

    uri = (summary.get("artifacts") or {}).get("Evaluator.evaluation")
    if not uri:
        return None
    overall, _ = run_summary.evaluation_metrics(uri)
    if "auc" not in overall or "auc_diff" not in overall:
        return None
    return overall["auc"] - overall["auc_diff"]
