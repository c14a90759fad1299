"""The local runner's parts that need no TFX: input checks, up-to-date check, run summary."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

from pipelines import beam_memo, data_source

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKSPACE = REPO_ROOT / "workspace"
SUMMARY_FILE = "run_summary.json"
CODE_GLOBS = ("models/*.py", "pipelines/*.py", "pipelines/sql/*.sql", "schema/*.pbtxt",
              "local_runner.py", "requirements.txt", "constraints.txt")


@dataclasses.dataclass(frozen=True)
class ResolvedData:
    """The input a run reads: TFX's input_base + file pattern, and what to report about it."""

    input_base: str
    file_pattern: str
    kind: str  # "spans", "csv" or "parquet"
    files: tuple[str, ...]
    generated: bool

    def describe(self) -> dict[str, Any]:
        spans = sorted({Path(f).parent.name for f in self.files}) if self.kind == "spans" else []
        return {
            "path": self.input_base if self.kind == "spans" else self.files[0],
            "kind": self.kind,
            "files": len(self.files),
            "bytes": sum(os.path.getsize(f) for f in self.files),
            "spans": spans,
            "generated": self.generated,
        }


def resolve_data(path: Path) -> ResolvedData:
    """Checks a --data path (file or span folder) before any TFX work; DataError if unusable."""
    from pipelines import data_generator

    if not path.exists():
        raise data_source.DataError(
            f"--data {path}: no such file or folder. Give a .csv/.parquet file with the ad-click "
            "columns, or a folder of span-NNNNN/ Parquet spans (make data writes one)")
    if path.is_dir():
        pattern = data_source.SPAN_GLOB
        source = _spans_source(path)
        kind = "spans"
        input_base = str(path.resolve())
    else:
        fmt = data_source.file_format(path)
        if not os.access(path, os.R_OK):
            raise data_source.DataError(f"--data {path}: the file is not readable")
        if path.stat().st_size == 0:
            raise data_source.DataError(f"--data {path}: the file is empty")
        source = data_source.SourceFiles((str(path.resolve()),), fmt)
        pattern, kind, input_base = path.name, fmt, str(path.resolve().parent)
    data_source.column_map(source)
    generated = source.fmt == "parquet" and all(
        data_generator.is_generated(f) for f in source.files)
    return ResolvedData(input_base, pattern, kind, source.files, generated)


def _spans_source(path: Path) -> data_source.SourceFiles:
    try:
        return data_source.SourceFiles.from_pattern(data_source.spans_pattern(path))
    except data_source.DataError:
        raise data_source.DataError(
            f"--data {path}: the folder has no span-NNNNN/*.parquet files. Point --data at a "
            "CSV/Parquet file, or add a span with `make data`") from None


def fingerprint(data: ResolvedData, settings: dict[str, Any]) -> str:
    """Hash of everything a run depends on: data files, code, schema, settings, pinned set."""
    digest = hashlib.sha256()
    for path in data.files:
        stat = os.stat(path)
        digest.update(f"{path}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    for pattern in CODE_GLOBS:
        for path in sorted(REPO_ROOT.glob(pattern)):
            digest.update(str(path.relative_to(REPO_ROOT)).encode())
            digest.update(path.read_bytes())
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def read_summary(pipeline_root: Path) -> dict[str, Any] | None:
    path = pipeline_root / SUMMARY_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def up_to_date(pipeline_root: Path, metadata_path: Path, fp: str) -> dict[str, Any] | None:
    """The last summary if it succeeded with the same fingerprint and its outputs still exist."""
    last = read_summary(pipeline_root)
    if not last or last.get("fingerprint") != fp or last.get("status") != "succeeded":
        return None
    if not metadata_path.exists():
        return None
    pushed = last.get("pushed_model")
    if pushed and not Path(pushed).exists():
        return None
    return last


def write_summary(pipeline_root: Path, summary: dict[str, Any]) -> Path:
    """Writes run_summary.json atomically, and a copy under runs/<run id>/ for the history."""
    pipeline_root.mkdir(parents=True, exist_ok=True)
    text = json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n"
    history = pipeline_root / "runs" / str(summary.get("run_id", "unknown"))
    history.mkdir(parents=True, exist_ok=True)
    (history / SUMMARY_FILE).write_text(text)
    target = pipeline_root / SUMMARY_FILE
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(text)
    tmp.replace(target)
    return target


def run_id() -> str:
    """A sortable id for this invocation (the clock is read when a run starts, not at import)."""
    return time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"


def ensure_sample_data(data_dir: Path, rows: int, seed: int) -> None:
    """Writes span 1 of generated data into the default folder when it has no span yet."""
    from pipelines import data_generator

    if data_generator.list_spans(data_dir):
        return
    path = data_generator.write_span(data_dir, 1, rows, seed)
    print(f"No data yet: generated {rows:,} sample rows into {path}")


def quiet_logs(verbose: bool) -> None:
    """Keeps TensorFlow, Beam and cloud-library chatter out of the console unless --verbose."""
    import logging
    import warnings

    if verbose:
        logging.getLogger().setLevel(logging.INFO)
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    # TFMA divides by zero for thresholds no prediction reaches; the metrics are still right.
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="tensorflow_model_analysis")


@contextlib.contextmanager
def imports_without_gc() -> Iterator[None]:
    """Pauses Python's cyclic garbage collector while TFX and its libraries are imported.

    Importing TensorFlow, TFX, Beam and TFMA creates ~600,000 objects that live as long as the
    process, and the collector, triggered by that many allocations, walks all of them again and
    again: nine full collections, ~1.4 s of a 1k-row run. Imports make little cyclic garbage.
    With collection paused, the imported objects are then frozen (moved where collections no
    longer look; ``gc.freeze``) and the collector resumes for the run itself.
    """
    import gc

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def trim_library_overheads() -> None:
    """Removes fixed costs of the libraries TFX loads, before TFX is imported (~15 s a run).

    - TFX's InfraValidator imports the Kubernetes client, whose ``kubernetes.dynamic`` imports
      ``kubernetes_validate`` when it is installed (it is: `make test` validates our manifests
      with it), which imports jsonschema's format checkers and builds a URI grammar: ~2 s for a
      feature the pipeline never calls. The client is imported once with that optional module
      hidden, then the module is importable again for anyone else in the process.
    - Beam pickles every DoFn of every component's Beam pipeline with dill (whose logger's
      level it also resets after each pickle, clearing the cache of thousands of loggers); its
      other supported pickler, cloudpickle (``--pickle_library=cloudpickle``), is ~4 s
      faster over a 1k-row run. It is made Beam's default rather than passed as that flag,
      because any Beam flag makes TFX build an ephemeral sdist of itself per component.
    - Beam inspects the signature of every DoFn method each time it touches a DoFn (~165,000
      ``inspect.signature`` calls, ~7 s over a 1k-row run) and re-parses its flags for each
      options view it asks for (~2 s). Those answers are memoized (``pipelines/beam_memo.py``).
    - Beam's in-process runner keeps a cross-bundle state cache that its own comments call a
      testing aid ("disabled in production for other runners"); it measures every side input
      it caches with a deep object walk (~1 s over a 1k-row run). It runs as production runners
      do, without it: side inputs are read once per bundle instead.
    """
    import sys

    if "kubernetes.dynamic" not in sys.modules and "kubernetes_validate" not in sys.modules:
        sys.modules["kubernetes_validate"] = None  # type: ignore[assignment]
        try:
            import kubernetes.dynamic  # noqa: F401
        except ImportError:
            pass
        finally:
            del sys.modules["kubernetes_validate"]

    from apache_beam.internal import pickler

    pickler.DEFAULT_PICKLE_LIB = pickler.USE_CLOUDPICKLE
    beam_memo.install()
    from apache_beam.runners.portability.fn_api_runner import worker_handlers

    worker_handlers.STATE_CACHE_SIZE_MB = 0


def report_up_to_date(root: Path, previous: dict[str, Any], started: float) -> int:
    """Prints that nothing changed and refreshes the summary's timing; no TFX import needed."""
    summary = dict(previous)
    summary["up_to_date"] = True
    summary["reused_run_id"] = previous.get("run_id")
    summary["run_id"] = run_id()
    summary["component_seconds"] = {}
    summary["wall_seconds"] = round(time.perf_counter() - started, 2)
    path = write_summary(root, summary)
    print(f"Up to date: data, code, schema and settings are unchanged since run "
          f"{previous.get('run_id')} (use --force to run anyway).")
    _print_result(summary, path)
    return 0


def _print_result(summary: dict[str, Any], path: Path) -> None:
    metrics = summary.get("metrics") or {}
    auc = metrics.get("auc")
    best = summary.get("best_possible_auc")
    parts = []
    if auc is not None:
        parts.append(f"eval AUC {auc:.4f}")
    rows = summary.get("evaluated_rows") or {}
    if auc is not None and rows.get("evaluated") and rows["evaluated"] != rows.get("eval_split"):
        parts[-1] += f" (on a sample of {rows['evaluated']:,} of {rows['eval_split']:,} rows)"
    if best is not None:
        parts.append(f"best possible {best:.4f}")
    if metrics.get("binary_accuracy") is not None:
        parts.append(f"accuracy {metrics['binary_accuracy']:.4f}")
    parts.append("blessed" if summary.get("blessed") else "NOT blessed")
    print("Result: " + ", ".join(parts))
    print(f"Pushed model: {summary.get('pushed_model') or 'none'}")
    print(f"Summary: {path}")


class ProgressLogging:
    """Routes TFX's per-component log lines to a handler while the pipeline runs.

    LocalDagRunner announces each component through absl at INFO level, and some executors
    (Transform) lower absl's level mid-run, which would silence the progress lines: the absl
    logger's level is held at INFO until the run ends. Without --verbose every other handler
    shows errors only.
    """

    def __init__(self, handler: Any, verbose: bool):
        self.handler, self.verbose = handler, verbose

    def __enter__(self) -> Any:
        import logging

        root = logging.getLogger()
        self._root_level = root.level
        root.setLevel(logging.INFO)
        root.addHandler(self.handler)
        if not self.verbose:
            logging.getLogger("tensorflow").setLevel(logging.ERROR)
            for other in root.handlers:
                if other is not self.handler:
                    other.setLevel(logging.ERROR)
        self._absl = logging.getLogger("absl")
        self._absl.setLevel(logging.INFO)
        self._absl.setLevel = lambda level: None
        return self.handler

    def __exit__(self, *exc: Any) -> None:
        import logging

        del self._absl.setLevel
        logging.getLogger().removeHandler(self.handler)
        logging.getLogger().setLevel(self._root_level)


def ignore_tf_shutdown_noise() -> None:
    """Hides one known TensorFlow 2.16 message at interpreter exit, and only that one.

    TF functions still referenced from module globals are freed during shutdown, after those
    globals are cleared, and ``AtomicFunction.__del__`` then fails on ``None``: Python prints
    "Exception ignored in ... TypeError" with a traceback after every successful run. The
    hook drops exactly that case (during finalization, from that ``__del__``) and hands every
    other unraisable exception to Python's default hook.
    """
    default = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        source = getattr(unraisable.object, "__qualname__", "")
        if sys.is_finalizing() and source == "AtomicFunction.__del__":
            return
        default(unraisable)

    sys.unraisablehook = hook


def exit_fast(code: int) -> NoReturn:
    """Ends the runner's process as soon as its results are written (~4 s sooner).

    A normal exit tears down every module and object that TensorFlow, Beam and TFX created,
    tens of thousands of them, several with C++ destructors: ~4 s on a 2-core machine after
    the result is printed, with the user still waiting for the prompt. Everything the run
    produces is already on disk by then (TFX artifacts, ML Metadata's SQLite commits,
    run_summary.json), so this does the parts of an exit that can matter, in Python's order:
    waits for non-daemon threads (as the interpreter does), runs the atexit handlers (logging
    shutdown, AutoGraph's temporary files), flushes stdout and stderr, and skips the teardown.
    """
    import atexit
    import threading

    threading._shutdown()  # type: ignore[attr-defined]  # what Py_FinalizeEx calls first
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed or broken stream
            stream.flush()
    os._exit(code)


def run_and_summarize(run: Any, *, root: Path, metadata_path: Path, pipeline_name: str,
                      data: ResolvedData, fingerprint: str, started: float,
                      verbose: bool = False, trigger_reason: str | None = None) -> int:
    """Runs the pipeline with progress output, then writes and prints run_summary.json.

    ``trigger_reason`` (a run started by the monitor) goes into the summary and onto the run's
    ``pipeline_run`` context in ML Metadata as the ``trigger_reason`` property.
    """
    from pipelines.progress import ComponentProgress

    progress = ComponentProgress()
    summary: dict[str, Any] = {"run_id": run_id(), "fingerprint": fingerprint,
                               "data": data.describe(), "up_to_date": False,
                               "trigger_reason": trigger_reason}
    print(f"Running pipeline '{pipeline_name}' on {summary['data']['path']} "
          f"({summary['data']['files']} file(s)); artifacts in {root}")
    error: BaseException | None = None
    try:
        with ProgressLogging(progress, verbose):
            run()
    except Exception as err:  # reported below with the failing component; never swallowed
        error = err
    summary["component_seconds"] = dict(progress.seconds)
    summary["cached_components"] = sorted(progress.cached)
    summary.update(collect_outputs(metadata_path, pipeline_name, data))
    if trigger_reason:
        summary["mlmd_run_context"] = mark_run(metadata_path, pipeline_name, trigger_reason)
    summary["wall_seconds"] = round(time.perf_counter() - started, 2)
    if error is not None:
        summary["status"] = "failed"
        summary["failed_component"] = progress.running
        summary["error"] = _error_text(error)
        summary["blessed"], summary["pushed_model"] = False, None
        path = write_summary(root, summary)
        print(f"\nFAILED in {progress.running or 'the pipeline'}: {summary['error']}",
              file=sys.stderr)
        print("No model was pushed.", file=sys.stderr)
        print(f"Summary: {path}", file=sys.stderr)
        return 1
    summary["status"] = "succeeded"
    path = write_summary(root, summary)
    print(f"Done in {summary['wall_seconds']:.1f} s.")
    _print_result(summary, path)
    return 0


def _error_text(error: BaseException) -> str:
    from pipelines.gate import DataValidationError

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, (DataValidationError, data_source.DataError)):
            return str(current)
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0] if len(text) > 2000 else text


def collect_outputs(metadata_path: Path, pipeline_name: str, data: ResolvedData
                    ) -> dict[str, Any]:
    """metrics, blessed, pushed_model, best_possible_auc and artifact URIs of the newest run."""
    from pipelines import run_summary

    out: dict[str, Any] = {"metrics": {}, "blessed": False, "pushed_model": None,
                           "best_possible_auc": None, "artifacts": {}}
    if not metadata_path.exists():
        return out
    store = _metadata_store(metadata_path, writable=False)
    outputs = run_summary.latest_run_artifacts(store, pipeline_name)
    for node, by_key in outputs.items():
        for key, artifacts in by_key.items():
            out["artifacts"][f"{node}.{key}"] = artifacts[-1].uri
    evaluation = _first(outputs, "Evaluator", "evaluation")
    if evaluation is not None:
        metrics, out["sliced_metrics"] = run_summary.evaluation_metrics(evaluation.uri)
        out["metrics"] = {k: metrics[k] for k in run_summary.METRIC_KEYS if k in metrics}
    blessing = _first(outputs, "Evaluator", "blessing")
    if blessing is not None:
        out["blessed"] = run_summary.custom_int(blessing, "blessed") == 1
    pushed = _first(outputs, "Pusher", "pushed_model")
    if pushed is not None and run_summary.custom_int(pushed, "pushed") == 1:
        out["pushed_model"] = run_summary.custom_str(pushed, "pushed_destination")
    examples = _first(outputs, "DuckDBExampleGen", "examples")
    sample = _first(outputs, "EvalSample", "sample")
    if sample is not None:
        out["evaluated_rows"] = {"eval_split": run_summary.custom_int(sample, "eval_rows"),
                                 "evaluated": run_summary.custom_int(sample, "sampled_rows")}
        examples = sample  # best_possible_auc on the very rows the Evaluator scored
    if data.generated and examples is not None:
        from pipelines import data_generator

        columns = run_summary.eval_examples(examples.uri)
        if columns:
            out["best_possible_auc"] = round(data_generator.best_possible_auc(columns), 4)
    return out


def mark_run(metadata_path: Path, pipeline_name: str, trigger_reason: str) -> str | None:
    """Records why the newest run was started on its MLMD ``pipeline_run`` context.

    One ``put_contexts`` call on the existing context: other properties are kept as they are.
    Returns the context's name (the TFX run id), or None when the store has no run.
    """
    from pipelines import run_summary

    if not metadata_path.exists():
        return None
    store = _metadata_store(metadata_path, writable=True)
    run = run_summary.latest_run_context(store, pipeline_name)
    if run is None:
        return None
    run.custom_properties["trigger_reason"].string_value = trigger_reason
    store.put_contexts([run])
    return run.name


def _metadata_store(metadata_path: Path, *, writable: bool) -> Any:
    """An ML Metadata store over the pipeline's SQLite file (never creates one)."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    modes = metadata_store_pb2.SqliteMetadataSourceConfig
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(metadata_path)
    config.sqlite.connection_mode = modes.READWRITE if writable else modes.READONLY
    return metadata_store.MetadataStore(config)


def _first(outputs: dict[str, dict[str, list[Any]]], node: str, key: str) -> Any:
    artifacts = outputs.get(node, {}).get(key) or []
    return artifacts[-1] if artifacts else None
