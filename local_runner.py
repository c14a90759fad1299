"""Runs the clickflow pipeline on this machine: LocalDagRunner, SQLite ML Metadata, DuckDB data.

    python local_runner.py                 # sample data is generated if there is none
    python local_runner.py --data ads.csv  # any CSV/Parquet file with the ad-click columns
    python local_runner.py --help
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from models.bootstrap import bootstrap
from pipelines.common import names, safe_parquet
from pipelines.common.argtypes import positive_int
from pipelines.common.errors import ClickflowError, ConfigError
from pipelines.common.names import DEFAULT_MODEL_NAME, DEFAULT_PIPELINE_NAME
from pipelines.config import DEFAULT_MAX_DROPPED_SHARE, DEFAULT_TRAIN_STEPS
from pipelines.data import inputs
from pipelines.data.source import DataError
from pipelines.local import freshness, preflight, speedups, summary
from pipelines.local.run_lock import RunLockedError


def _rows(value: str) -> int:
    number = positive_int(value)
    if number < 100:
        raise argparse.ArgumentTypeError(f"expected at least 100 rows, got {number}")
    return number


def _fraction(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if not 0.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {number}")
    return number


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {value!r}") from None
    if not 0.0 <= number <= 7 * 24 * 3600:
        raise argparse.ArgumentTypeError(f"expected 0 to 604800 seconds, got {number:g}")
    return number


def _reason(value: str) -> str:
    text = value.strip()
    if not text or len(text) > 1000:
        raise argparse.ArgumentTypeError("expected a non-empty text of at most 1000 characters")
    return text


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Run the clickflow TFX pipeline locally (no cloud account needed).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", type=Path, default=names.DEFAULT_DATA_DIR,
                   help="a .csv/.parquet file with the ad-click columns, or a folder of "
                        "span-NNNNN/ Parquet spans; the default folder gets a generated span "
                        "when it has none")
    p.add_argument("--rows", type=_rows, default=1000,
                   help="rows of sample data to generate when the default data folder is empty")
    p.add_argument("--seed", type=int, default=42, help="seed of the generated sample data")
    p.add_argument("--tune", action="store_true", help="run the Tuner before the Trainer")
    p.add_argument("--trigger-reason", type=_reason, default=None, metavar="TEXT",
                   help="why this run was started (the monitor passes its breached signals); "
                        "recorded in run_summary.json and on the run's ML Metadata context")
    p.add_argument("--max-trials", type=positive_int, default=6, help="Tuner trials with --tune")
    p.add_argument("--train-steps", type=positive_int, default=DEFAULT_TRAIN_STEPS,
                   help="most Trainer steps: the budget grows with the train rows (up to 100 "
                        "passes, early stopping on the eval loss) within this ceiling")
    p.add_argument("--eval-steps", type=positive_int, default=20, help="validation steps")
    p.add_argument("--eval-max-rows", type=positive_int, default=20_000,
                   help="the Evaluator reads at most this many eval rows: a deterministic "
                        "sample of the eval split (all of it when smaller)")
    p.add_argument("--min-auc", type=_fraction, default=0.75,
                   help="the Evaluator blesses only models with at least this eval AUC")
    p.add_argument("--max-auc-drop", type=_fraction, default=0.01,
                   help="...and at most this much below the current blessed model's AUC")
    p.add_argument("--simple-margin", type=_fraction, default=0.01, metavar="AUC",
                   help="a logistic regression on the numeric features is trained beside the "
                        "model; a candidate whose AUC is below it by more than this, overall "
                        "or on any slice, is not blessed")
    p.add_argument("--no-simple-gate", action="store_true",
                   help="train and compare no simple model (the gate above is off)")
    p.add_argument("--max-dropped-share", type=_fraction, default=DEFAULT_MAX_DROPPED_SHARE,
                   help="fail when more than this share of the input rows would be dropped "
                        "(empty label, impossible Timestamp); the run summary counts them")
    p.add_argument("--pipeline-name", default=DEFAULT_PIPELINE_NAME)
    p.add_argument("--model-name", default=DEFAULT_MODEL_NAME,
                   help="name under the serving folder (TF Serving's model name)")
    p.add_argument("--pipeline-root", type=Path, default=names.DEFAULT_PIPELINE_ROOT,
                   help="artifacts, the SQLite ML Metadata store and run_summary.json")
    p.add_argument("--serving-dir", type=Path, default=names.DEFAULT_SERVING_DIR,
                   help="blessed models are pushed to SERVING_DIR/MODEL_NAME/VERSION/")
    p.add_argument("--wait-lock", type=_seconds, default=0.0, metavar="SECONDS",
                   help="when another run holds the pipeline root, wait this long for it "
                        "to finish instead of stopping at once")
    p.add_argument("--no-cache", action="store_true", help="re-run every component")
    p.add_argument("--force", action="store_true",
                   help="run the pipeline even when nothing changed since the last run")
    p.add_argument("--verbose", action="store_true", help="show TFX, Beam and TensorFlow logs")
    return p


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    args = build_parser().parse_args(argv)
    # The whole process, before the data check: the TFX components run in it (CVE-2023-47248).
    safe_parquet.guard()
    try:
        if args.data == names.DEFAULT_DATA_DIR:
            inputs.ensure_sample_data(args.data, args.rows, args.seed)
        data = inputs.resolve_data(args.data, max_dropped_share=args.max_dropped_share)
        from pipelines.config import PipelineConfig

        config = PipelineConfig(
            train_steps=args.train_steps, eval_steps=args.eval_steps, tune=args.tune,
            max_trials=args.max_trials, min_auc=args.min_auc, max_auc_drop=args.max_auc_drop,
            eval_max_rows=args.eval_max_rows, max_dropped_share=args.max_dropped_share,
            simple_model_gate=not args.no_simple_gate, simple_model_margin=args.simple_margin,
            enable_cache=not args.no_cache)
    except (DataError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    root = args.pipeline_root.resolve()
    serving_dir = (args.serving_dir / args.model_name).resolve()
    run_id = summary.run_id()
    try:
        with preflight.held_root(root, serving_dir, pipeline_name=args.pipeline_name,
                                 run_id=run_id, wait_seconds=args.wait_lock) as recovered:
            return _run(args, data, config, root, serving_dir, run_id, recovered, started)
    except RunLockedError as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    except ClickflowError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _run(args, data, config, root, serving_dir, run_id, recovered, started) -> int:
    metadata_path = names.metadata_path(root)
    settings = {"config": config, "pipeline": args.pipeline_name, "serving": str(serving_dir),
                "root": str(root)}
    fingerprint = freshness.fingerprint(data, settings)
    previous = None if (args.force or args.no_cache or recovered) else freshness.up_to_date(
        root, metadata_path, fingerprint)
    if previous:
        return freshness.report_up_to_date(root, previous, started)
    bootstrap(verbose=args.verbose)
    with speedups.imports_without_gc():
        speedups.install()
        from tfx.orchestration import metadata

        from pipelines.config import LOCAL_BEAM_ARGS
        from pipelines.local.dag_runner import NamedRunDagRunner
        from pipelines.pipeline import LocalFiles, create_pipeline

    pipeline = create_pipeline(
        pipeline_name=args.pipeline_name,
        pipeline_root=str(root),
        source=LocalFiles(input_base=data.input_base, file_pattern=data.file_pattern),
        serving_model_dir=str(serving_dir),
        config=config,
        metadata_connection_config=metadata.sqlite_metadata_connection_config(
            str(metadata_path)),
        beam_pipeline_args=list(LOCAL_BEAM_ARGS),
    )
    return summary.run_and_summarize(
        lambda: NamedRunDagRunner(run_id).run(pipeline), root=root,
        metadata_path=metadata_path, pipeline_name=args.pipeline_name, data=data,
        fingerprint=fingerprint, started=started, run_id=run_id, verbose=args.verbose,
        trigger_reason=args.trigger_reason, recovered=recovered)


if __name__ == "__main__":
    speedups.exit_fast(main())
