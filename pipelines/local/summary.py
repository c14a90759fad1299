"""run_summary.json: what a local run did, read back from ML Metadata, written atomically."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pipelines.common import names
from pipelines.data.inputs import ResolvedData
from pipelines.metadata import store as mlmd_store


def read_summary(pipeline_root: Path) -> dict[str, Any] | None:
    path = names.summary_path(pipeline_root)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_summary(pipeline_root: Path, summary: dict[str, Any]) -> Path:
    """Writes run_summary.json atomically, and a copy under runs/<run id>/ for the history."""
    pipeline_root.mkdir(parents=True, exist_ok=True)
    text = json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n"
    history = pipeline_root / "runs" / str(summary.get("run_id", "unknown"))
    history.mkdir(parents=True, exist_ok=True)
    (history / names.SUMMARY_FILE).write_text(text)
    target = names.summary_path(pipeline_root)
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(text)
    tmp.replace(target)
    return target


def save_summary(pipeline_root: Path, summary: dict[str, Any]) -> tuple[Path | None, str | None]:
    """write_summary, and when the pipeline root cannot take it (a full or read-only disk), a
    copy in the temporary folder: (path written or None, why the root could not take it)."""
    try:
        return write_summary(pipeline_root, summary), None
    except OSError as err:
        problem = f"{err.strerror or err}: {err.filename or pipeline_root}"
    fallback = Path(tempfile.gettempdir()) / f"clickflow-{summary.get('run_id', 'run')}.json"
    try:
        fallback.write_text(json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
        return fallback, problem
    except OSError:
        return None, problem


def run_id() -> str:
    """A sortable id for this invocation (the clock is read when a run starts, not at import)."""
    return time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"


def print_result(summary: dict[str, Any], path: Path) -> None:
    metrics = summary.get("metrics") or {}
    auc = metrics.get("auc")
    best = summary.get("best_possible_auc")
    parts = []
    if auc is not None:
        parts.append(f"eval AUC {auc:.4f}")
    elif summary.get("undefined_metrics"):
        parts.append("eval AUC undefined")
    rows = summary.get("evaluated_rows") or {}
    if auc is not None and rows.get("evaluated") and rows["evaluated"] != rows.get("eval_split"):
        parts[-1] += f" (on a sample of {rows['evaluated']:,} of {rows['eval_split']:,} rows)"
    if best is not None:
        parts.append(f"best possible {best:.4f}")
    if metrics.get("binary_accuracy") is not None:
        parts.append(f"accuracy {metrics['binary_accuracy']:.4f}")
    parts.append("blessed" if summary.get("blessed") else "NOT blessed")
    print("Result: " + ", ".join(parts))
    if summary.get("undefined_metrics"):
        print(f"Note: {summary['undefined_metrics']}")
    if not summary.get("blessed") and summary.get("not_blessed_because"):
        print("Not blessed because: " + "; ".join(summary["not_blessed_because"]))
    if summary.get("rows"):
        from pipelines.data.row_accounting import describe

        print("Rows: " + "; ".join(describe(summary["rows"])))
    baseline = summary.get("baseline")
    if baseline:
        base_auc = (baseline.get("metrics") or {}).get("auc")
        print(f"Baseline: the served version {baseline.get('served_version')}"
              + (f", eval AUC {base_auc:.4f} on the same rows" if base_auc is not None else ""))
    elif summary.get("metrics"):
        print("Baseline: none (nothing served yet): judged by the absolute AUC threshold alone")
    simple = summary.get("simple_model")
    if simple:
        print("Simple model: " + simple_model_line(simple))
    print(f"Pushed model: {summary.get('pushed_model') or 'none'}")
    print(f"Summary: {path}")


def simple_model_line(simple: dict[str, Any]) -> str:
    """"logistic regression on the numeric features, AUC 0.9802 on the same rows; the
    candidate +0.0004 (margin 0.01); within the margin"."""
    overall = (simple.get("slices") or {}).get("Overall") or {}
    parts = ["logistic regression on the numeric features"]
    if overall.get("simple_auc") is not None:
        parts[0] += f", AUC {overall['simple_auc']:.4f} on the same rows"
    if overall.get("auc_change") is not None:
        margin = simple.get("margin")
        parts.append(f"the candidate {overall['auc_change']:+.4f}"
                     + (f" (margin {margin:g})" if margin is not None else ""))
    parts.append("within the margin" if simple.get("blessed")
                 else "worse than the simple model by more than the margin")
    return "; ".join(parts)


def run_and_summarize(run: Any, *, root: Path, metadata_path: Path, pipeline_name: str,
                      data: ResolvedData, fingerprint: str, started: float, run_id: str,
                      verbose: bool = False, trigger_reason: str | None = None,
                      recovered: dict[str, Any] | None = None) -> int:
    """Runs the pipeline with progress output, then writes and prints run_summary.json.

    ``run_id`` names this run's ``pipeline_run`` context in ML Metadata (the runner passes it
    to TFX), so what is read back is this run's own, even if another run wrote the store since.
    ``trigger_reason`` (a run started by the monitor) goes into the summary and onto that
    context as the ``trigger_reason`` property.
    """
    from pipelines.local.logs import ProgressLogging
    from pipelines.local.progress import ComponentProgress

    progress = ComponentProgress()
    summary: dict[str, Any] = {"run_id": run_id, "mlmd_run_context": run_id,
                               "fingerprint": fingerprint, "data": data.describe(),
                               "up_to_date": False, "trigger_reason": trigger_reason}
    if recovered:
        summary["recovered"] = recovered
    print(f"Running pipeline '{pipeline_name}' on {summary['data']['path']} "
          f"({summary['data']['files']} file(s)); artifacts in {root}")
    error: BaseException | None = None
    try:
        with ProgressLogging(progress, verbose):
            run()
    except Exception as err:  # reported below with the failing component; never swallowed
        error = err
    pipeline_failed = error is not None
    summary["component_seconds"] = dict(progress.seconds)
    summary["cached_components"] = sorted(progress.cached)
    try:
        summary.update(collect_outputs(metadata_path, pipeline_name, data, run_id))
        if trigger_reason:
            mark_run(metadata_path, pipeline_name, trigger_reason, run_id=run_id)
    except OSError as err:  # the store on a full or read-only disk: the run's own error first
        error = error or err
    summary["wall_seconds"] = round(time.perf_counter() - started, 2)
    if error is not None:
        return _report_failure(root, summary, error, progress.running, pipeline_failed)
    summary["status"] = "succeeded"
    path, problem = save_summary(root, summary)
    if problem is not None:
        return _report_failure(root, summary, OSError(problem), "writing run_summary.json",
                               pipeline_failed=False)
    print(f"Done in {summary['wall_seconds']:.1f} s.")
    print_result(summary, path)
    return 0


def _report_failure(root: Path, summary: dict[str, Any], error: BaseException,
                    component: str | None, pipeline_failed: bool) -> int:
    """Prints and saves a failure. ``pipeline_failed`` False: the pipeline itself finished and
    only reading its results back or saving the summary failed, so what it pushed still stands
    (the summary keeps it, and it is printed, never "No model was pushed")."""
    from pipelines.local import failures

    summary["status"] = "failed"
    summary["failed_component"] = component
    summary["error"] = failures.explain(error, component=component)
    if pipeline_failed:
        summary["blessed"], summary["pushed_model"] = False, None
    path, problem = save_summary(root, summary)
    print(f"\nFAILED in {component or 'the pipeline'}: {summary['error']}", file=sys.stderr)
    if pipeline_failed:
        print("No model was pushed.", file=sys.stderr)
    elif summary.get("pushed_model"):
        print(f"The pipeline finished: pushed model {summary['pushed_model']}.", file=sys.stderr)
    else:
        print("The pipeline finished; what it pushed is in ML Metadata and the serving folder.",
              file=sys.stderr)
    if problem is not None:
        print(f"The summary could not be written to {root} ({problem}).", file=sys.stderr)
    if path is not None:
        print(f"Summary: {path}", file=sys.stderr)
    else:
        print("Summary (written nowhere, the disks are full or read-only):\n"
              + json.dumps(summary, indent=2, sort_keys=True, default=str), file=sys.stderr)
    return 1


def collect_outputs(metadata_path: Path, pipeline_name: str, data: ResolvedData,
                    run_id: str) -> dict[str, Any]:
    """metrics, blessed, pushed_model, best_possible_auc and artifact URIs of run ``run_id``."""
    from pipelines.metadata import runs as run_summary
    from pipelines.metadata import verdict

    out: dict[str, Any] = {"metrics": {}, "blessed": False, "pushed_model": None,
                           "best_possible_auc": None, "artifacts": {}}
    if not metadata_path.exists():
        return out
    store = mlmd_store.open_store(metadata_path)
    run = run_summary.run_context(store, pipeline_name, run_id)
    if run is None:
        return out
    outputs = run_summary.run_artifacts(store, run)
    for node, by_key in outputs.items():
        for key, artifacts in by_key.items():
            out["artifacts"][f"{node}.{key}"] = artifacts[-1].uri
    evaluation = _first(outputs, "Evaluator", "evaluation")
    if evaluation is not None:
        metrics, out["sliced_metrics"] = run_summary.evaluation_metrics(evaluation.uri)
        out["metrics"] = {k: metrics[k] for k in run_summary.METRIC_KEYS if k in metrics}
        out["baseline"] = _baseline(outputs, evaluation.uri)
        out["not_blessed_because"] = verdict.validation_failures(evaluation.uri)
    blessing = _first(outputs, "Evaluator", "blessing")
    if blessing is not None:
        out["blessed"] = run_summary.custom_int(blessing, "blessed") == 1
    simple = _simple_model(outputs)
    if simple is not None:
        out["simple_model"] = simple
        # The Pusher pushes only what both Evaluators blessed: so does the summary.
        out["blessed"] = out["blessed"] and simple["blessed"]
        out["not_blessed_because"] = [*(out.get("not_blessed_because") or []),
                                      *simple["not_blessed_because"]]
    pushed = _first(outputs, "Pusher", "pushed_model")
    if pushed is not None and run_summary.custom_int(pushed, "pushed") == 1:
        out["pushed_model"] = run_summary.custom_str(pushed, "pushed_destination")
    examples = _first(outputs, "DuckDBExampleGen", "examples")
    if examples is not None:
        from pipelines.data.row_accounting import row_accounting

        out["rows"] = row_accounting(examples)
    sample = _first(outputs, "EvalSample", "sample")
    if sample is not None:
        out["evaluated_rows"] = {"eval_split": run_summary.custom_int(sample, "eval_rows"),
                                 "evaluated": run_summary.custom_int(sample, "sampled_rows")}
        examples = sample  # best_possible_auc on the very rows the Evaluator scored
    if evaluation is not None:
        eval_rows = (out.get("evaluated_rows") or {}).get("evaluated")
        out["undefined_metrics"] = verdict.undefined_metrics(out["metrics"], eval_rows)
        if out["undefined_metrics"]:  # TFMA's 0.0 (or nothing) is no measurement: null
            out["metrics"].update(dict.fromkeys(verdict.RANKING_METRICS))
            out["not_blessed_because"] = ["the AUC could not be measured (see the note)"]
    if data.generated and examples is not None:
        from pipelines.data import generator as data_generator

        columns = run_summary.eval_examples(examples.uri)
        if columns:
            out["best_possible_auc"] = round(data_generator.best_possible_auc(columns), 4)
    return out


def mark_run(metadata_path: Path, pipeline_name: str, trigger_reason: str, *,
             run_id: str) -> str | None:
    """Records why run ``run_id`` was started on its MLMD ``pipeline_run`` context.

    One ``put_contexts`` call on the existing context: other properties are kept as they are.
    Returns the context's name (the TFX run id), or None when the store has no such run.
    """
    from pipelines.metadata import runs as run_summary

    if not metadata_path.exists():
        return None
    store = mlmd_store.open_store(metadata_path, writable=True)
    run = run_summary.run_context(store, pipeline_name, run_id)
    if run is None:
        return None
    run.custom_properties["trigger_reason"].string_value = trigger_reason
    store.put_contexts([run])
    return run.name


def _baseline(outputs: dict[str, dict[str, list[Any]]], evaluation_uri: str
              ) -> dict[str, Any] | None:
    """Which served model the candidate was compared with, and its metrics on the same rows."""
    from pipelines.components import served_baseline
    from pipelines.metadata import runs as run_summary

    _candidate, name = run_summary.evaluation_models(evaluation_uri)
    model = _first(outputs, "ServedBaseline", "model")
    if name is None or model is None:
        return None
    metrics, _sliced = run_summary.evaluation_metrics(evaluation_uri, model_name=name)
    return {"served_version": run_summary.custom_str(model, served_baseline.SERVED_VERSION),
            "served_path": run_summary.custom_str(model, served_baseline.SERVED_PATH),
            "metrics": {k: metrics[k] for k in run_summary.METRIC_KEYS if k in metrics}}


def _simple_model(outputs: dict[str, dict[str, list[Any]]]) -> dict[str, Any] | None:
    """The candidate against the simple model (names.SIMPLE_EVALUATOR's result): the simple
    model's metrics, both AUCs per slice, the margin, the blessing and why it failed."""
    from pipelines.metadata import runs as run_summary
    from pipelines.metadata import verdict

    evaluation = _first(outputs, names.SIMPLE_EVALUATOR, "evaluation")
    blessing = _first(outputs, names.SIMPLE_EVALUATOR, "blessing")
    if evaluation is None or blessing is None:
        return None
    candidate_name, simple_name = run_summary.evaluation_models(evaluation.uri)
    candidate, candidate_sliced = run_summary.evaluation_metrics(evaluation.uri,
                                                                 model_name=candidate_name)
    simple, simple_sliced = run_summary.evaluation_metrics(evaluation.uri,
                                                           model_name=simple_name)
    comparison = verdict.simple_model_comparison(
        evaluation.uri, {verdict.OVERALL: candidate, **candidate_sliced},
        {verdict.OVERALL: simple, **simple_sliced})
    model = _first(outputs, names.SIMPLE_TRAINER, "model")
    return {"blessed": run_summary.custom_int(blessing, "blessed") == 1,
            "metrics": {k: simple[k] for k in run_summary.METRIC_KEYS if k in simple},
            "evaluation": evaluation.uri, "model": None if model is None else model.uri,
            **comparison}


def _first(outputs: dict[str, dict[str, list[Any]]], node: str, key: str) -> Any:
    artifacts = outputs.get(node, {}).get(key) or []
    return artifacts[-1] if artifacts else None
