"""Compiles, submits and schedules the clickflow pipeline on Vertex AI Pipelines or Kubeflow
Pipelines 2.x: the same create_pipeline() as local_runner.py, fed by BigQuery.

    python kubeflow_runner.py compile --config configs/cloud.yaml --output build/pipeline.json
    python kubeflow_runner.py submit --config configs/cloud.yaml [--target kfp] [--tune]
    python kubeflow_runner.py schedule --config configs/cloud.yaml [--target kfp]
    python kubeflow_runner.py predict --config configs/cloud.yaml --input gs://B/in \
        --output gs://B/predictions [--model gs://B/serving_model/clickflow] [--compile-only]
    python kubeflow_runner.py SUBCOMMAND --help

``predict`` runs batch scoring on Dataflow: a one-task pipeline whose container runs
``python -m pipelines.predict.beam_job`` with the DataflowRunner (pipelines/cloud/predict_job.py).

Settings come from the YAML file, then CLICKFLOW_<SETTING> environment variables.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

from models.bootstrap import bootstrap
from pipelines.cloud.config import TARGETS, CloudConfig, load_cloud_config
from pipelines.common.errors import ClickflowError

DEFAULT_OUTPUT = Path("build") / "pipeline.json"
DEFAULT_SPEC_DIR = Path("build")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path,
                        help="YAML file of cloud settings (see configs/cloud.example.yaml); "
                             "CLICKFLOW_<SETTING> environment variables override it")
    common.add_argument("--target", choices=TARGETS,
                        help="vertex: Vertex AI Pipelines; kfp: Kubeflow Pipelines 2.x "
                             "(default: the config's 'target', else vertex)")
    common.add_argument("--verbose", action="store_true", help="show TFX and client logs")
    p = argparse.ArgumentParser(
        description="Compile, run and schedule the clickflow pipeline on Vertex AI Pipelines "
                    "or Kubeflow Pipelines 2.x.")
    sub = p.add_subparsers(dest="command", required=True,
                           metavar="{compile,submit,schedule,predict}")
    c = sub.add_parser("compile", parents=[common],
                       help="write the KFP v2 pipeline spec (offline, no credentials)")
    c.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                   help="spec file to write, .json, .yaml or .yml (default: build/pipeline.json)")
    c.add_argument("--tune", action="store_true", help="compile the variant with the Tuner")
    s = sub.add_parser("submit", parents=[common],
                       help="compile and start one run; prints the run's URL")
    s.add_argument("--tune", action="store_true", help="run the Tuner before the Trainer")
    s.add_argument("--run-name", help="name of the run (default: pipeline name and UTC time)")
    s.add_argument("--trigger-reason", type=_label_value, metavar="REASON",
                   help="why the run starts (the monitor passes its breached signals, e.g. "
                        "live-auc-min): a label clickflow-trigger=REASON on a Vertex run; KFP "
                        "runs take no labels, so name the run after it too (--run-name)")
    s.add_argument("--spec-dir", type=Path, default=DEFAULT_SPEC_DIR,
                   help="where the compiled spec is written (default: build)")
    r = sub.add_parser("schedule", parents=[common],
                       help="create or update the daily run and the weekly run with tuning "
                            "(idempotent)")
    r.add_argument("--spec-dir", type=Path, default=DEFAULT_SPEC_DIR,
                   help="where the compiled specs are written (default: build)")
    b = sub.add_parser("predict", parents=[common],
                       help="score gs:// data with a pushed model on Dataflow: compile a "
                            "one-task pipeline and start it; prints the run's URL")
    b.add_argument("--input", required=True,
                   help="gs:// .csv/.parquet file, or folder of span-NNNNN/ Parquet spans")
    b.add_argument("--output", required=True,
                   help="a new gs:// prefix for part-NNNNN.parquet and predictions.json")
    b.add_argument("--model",
                   help="the Pusher's gs:// folder or one version folder (default: the "
                        "config's serving_model_base_path)")
    b.add_argument("--run-name", help="name of the run (default: pipeline name and UTC time)")
    b.add_argument("--compile-only", action="store_true",
                   help="write the spec and start nothing")
    b.add_argument("--spec", type=Path,
                   help="spec file to write, .json or .yaml (default: build/<name>.json, "
                        ".yaml for kfp)")
    return p


def _label_value(text: str) -> str:
    from pipelines.cloud.vertex import LABEL_VALUE_RE

    if not LABEL_VALUE_RE.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected 1 to 63 lowercase letters, digits, '_' or '-' (a Google "
            "Cloud label value), e.g. live-auc-min")
    return text


def _quiet(verbose: bool) -> None:
    bootstrap(verbose=verbose, autograph=False)  # compiles the graph; never trains
    if verbose:
        return
    import logging

    logging.getLogger().setLevel(logging.ERROR)
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)


def _compile(config: CloudConfig, target: str, tune: bool, output: Path):
    from pipelines.cloud import compile as cloud_pipeline
    from pipelines.cloud.kfp_client import CompiledSpec

    spec = cloud_pipeline.compile_spec(config, target=target, tune=tune)
    path = cloud_pipeline.write_spec(spec, output)
    return CompiledSpec(path=path, fingerprint=cloud_pipeline.spec_fingerprint(spec))


def _client_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OSError]
    try:
        from kfp_server_api.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        errors += [ApiException, HTTPError]
    except ImportError:
        pass
    try:
        from google.api_core.exceptions import GoogleAPIError
        from google.auth.exceptions import GoogleAuthError

        errors += [GoogleAPIError, GoogleAuthError]
    except ImportError:
        pass
    return tuple(errors)


def _start(config: CloudConfig, target: str, spec, run_name: str,
           trigger_reason: str | None = None) -> str:
    """Starts one run of a compiled spec on ``target``; returns its URL."""
    from pipelines.cloud import kfp_client, vertex

    if target == "vertex":
        return vertex.submit(config, spec, run_name, trigger_reason=trigger_reason)
    return kfp_client.submit(kfp_client.connect(config), config, spec, run_name)


def _run_name(name: str, given: str | None) -> str:
    return given or f"{name}-{datetime.datetime.now(datetime.timezone.utc):%Y%m%d-%H%M%S}"


def _predict(args: argparse.Namespace, config: CloudConfig, target: str) -> int:
    from pipelines.cloud import predict_job

    compiled = predict_job.compile_to(config, target=target, input_uri=args.input,
                                      output_uri=args.output, model_uri=args.model,
                                      spec_path=args.spec, spec_dir=DEFAULT_SPEC_DIR)
    if args.compile_only:
        print(f"Wrote the {target} batch-scoring spec (fingerprint {compiled.fingerprint}) to "
              f"{compiled.path}")
        return 0
    run_name = _run_name(predict_job.display_name(config), args.run_name)
    url = _start(config, target, compiled, run_name)
    print(f"Started batch scoring {run_name!r} on {target} (Dataflow): {url}")
    return 0


def run(args: argparse.Namespace, config: CloudConfig) -> int:
    target = args.target or config.target
    if args.command == "predict":
        return _predict(args, config, target)
    if args.command == "compile":
        spec = _compile(config, target, args.tune, args.output)
        print(f"Wrote the {target} pipeline spec ({'with' if args.tune else 'without'} tuning, "
              f"fingerprint {spec.fingerprint}) to {spec.path}")
        return 0
    if target == "kfp":
        config.require_kfp_host()
    from pipelines.cloud import compile as cloud_pipeline
    from pipelines.cloud import kfp_client, vertex

    # The kfp client reads a spec file only as YAML (or an archive of one).
    suffix = ".yaml" if target == "kfp" else ".json"
    if args.command == "submit":
        name = cloud_pipeline.display_name(config, tune=args.tune)
        spec = _compile(config, target, args.tune, args.spec_dir / f"{name}{suffix}")
        run_name = _run_name(name, args.run_name)
        url = _start(config, target, spec, run_name, args.trigger_reason)
        print(f"Started run {run_name!r} on {target}: {url}")
        return 0
    specs = {s.name: _compile(config, target, s.tune, args.spec_dir / f"{s.name}{suffix}")
             for s in config.schedules}
    if target == "vertex":
        results = vertex.schedule(config, specs)
    else:
        results = kfp_client.schedule(kfp_client.connect(config), config, specs)
    for result in results:
        print(f"{result.name}: {result.action} (cron '{result.cron}', "
              f"id {result.recurring_run_id})")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet(args.verbose)
    try:
        config = load_cloud_config(args.config)
        return run(args, config)
    except ClickflowError as err:  # ConfigError, CompileError, kfp_rules.KfpSpecError
        hint = "" if args.config else (
            "\n(no --config given: settings came from CLICKFLOW_* environment variables only)")
        print(f"error: {err}{hint}", file=sys.stderr)
        return 2
    except _client_errors() as err:
        from pipelines.cloud.kfp_client import error_summary

        target = args.target or "the pipelines service"
        print(f"error: the request to {target} failed: {type(err).__name__}: "
              f"{error_summary(err)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
