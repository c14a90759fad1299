"""Command line: ``python -m pipelines.monitoring run|simulate``.

    python -m pipelines.monitoring run --last 1h
    python -m pipelines.monitoring run --start 2026-01-01T00:00 --end 2026-01-02T00:00 \\
        --trigger local
    python -m pipelines.monitoring simulate --rows 2000 --drift covariate
    python -m pipelines.monitoring run --log-dir gs://BUCKET/request_log \\
        --labels-dir gs://BUCKET/labels --out-dir gs://BUCKET/monitoring --no-metadata \\
        --trigger cloud --cloud-config /etc/clickflow/cloud.yaml
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pipelines.common import names, storage
from pipelines.common.argtypes import positive_int
from pipelines.common.names import DEFAULT_MODEL_NAME, DEFAULT_PIPELINE_NAME, SCHEMA_FILE

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def duration(text: str) -> timedelta:
    """'90m', '1h', '1.5d', '2w' -> timedelta (argparse type)."""
    match = _DURATION.fullmatch(text.strip().lower())
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(
            f"expected a positive duration like 30m, 1h, 2d or 1w, got {text!r}")
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def instant(text: str) -> datetime:
    """ISO 8601 date/time (UTC unless it has an offset) -> aware datetime (argparse type)."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 time like 2026-01-31T12:00 or 2026-01-31T12:00:00+01:00, "
            f"got {text!r}") from None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def _labels_table(text: str) -> str:
    from pipelines.monitoring.labels_table import LabelsTableError, check_table

    try:
        return check_table(text)
    except LabelsTableError as err:
        raise argparse.ArgumentTypeError(str(err).split(": ", 1)[1]) from None


def build_parser() -> argparse.ArgumentParser:
    from pipelines.data import drift as data_drift

    parser = argparse.ArgumentParser(
        prog="python -m pipelines.monitoring",
        description="Monitor the served model (skew, drift, live accuracy), decide whether to "
                    "retrain, and simulate traffic for demos.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{run,simulate}")
    run = sub.add_parser(
        "run", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="judge one window of the request log and write a monitoring report",
        description="Judge one time window of the serving request log: TFDV skew (against "
                    "the served version's training statistics) and drift (against the "
                    "previous window of the same length), live AUC/accuracy/calibration from "
                    "the delayed labels, then the retraining policy. Writes "
                    "OUT_DIR/<time>/monitoring_report.json, anomalies.pbtxt and SVG plots, "
                    "and records the report in ML Metadata. The log, labels and out folders "
                    "may be gs://BUCKET/PREFIX (the cool-down state is then kept there too).")
    when = run.add_argument_group("window (UTC; default: the last 24 hours)")
    when.add_argument("--start", type=instant, help="window start, ISO 8601 (inclusive)")
    when.add_argument("--end", type=instant, help="window end, ISO 8601 (exclusive; default: "
                                                  "now, or START + --last)")
    when.add_argument("--last", type=duration,
                      help="window length ending at --end, e.g. 1h, 30m, 7d (default 24h)")
    run.add_argument("--log-dir", type=storage.location, default=names.DEFAULT_REQUEST_LOG_DIR,
                     help="the server's --request-log-dir (a folder or gs://BUCKET/PREFIX)")
    run.add_argument("--labels-dir", type=storage.location, default=names.DEFAULT_LABELS_DIR,
                     help="delayed labels: part-*.parquet with request_id, ClickedOnAd, "
                          "labelled_at")
    run.add_argument("--labels-table", type=_labels_table, metavar="PROJECT.DATASET.TABLE",
                     help="read the delayed labels from this BigQuery table (request_id, "
                          "ClickedOnAd, labelled_at) instead of --labels-dir")
    run.add_argument("--labels-cutoff", type=instant,
                     help="labels stamped later have not arrived yet (default: now); makes a "
                          "re-run of an old window reproducible")
    run.add_argument("--pipeline-root", type=Path, default=names.DEFAULT_PIPELINE_ROOT,
                     help="holds metadata.sqlite (ML Metadata) of the training runs")
    run.add_argument("--serving-model-dir", type=storage.location,
                     default=names.DEFAULT_SERVING_DIR,
                     help="the served versions (the server's --model-base-path, a folder or "
                          "gs://BUCKET/PREFIX): skew is measured against the training "
                          "statistics each pushed version carries when ML Metadata has none")
    run.add_argument("--pipeline-name", default=DEFAULT_PIPELINE_NAME)
    run.add_argument("--model-name", default=DEFAULT_MODEL_NAME,
                     help="judge only requests to this model")
    run.add_argument("--schema", type=Path, default=SCHEMA_FILE,
                     help="curated schema; the thresholds are written into a copy of it")
    run.add_argument("--config", type=Path,
                     help="YAML of thresholds and policy (see pipelines/monitoring/config.py)")
    run.add_argument("--out-dir", type=storage.location, default=names.DEFAULT_MONITORING_DIR,
                     help="reports go to OUT_DIR/<UTC time>/; OUT_DIR/trigger_state.json keeps "
                          "the cool-down")
    run.add_argument("--no-metadata", action="store_true",
                     help="do not record the report in ML Metadata (in the cloud: the "
                          "pipeline's metadata is Vertex's or KFP's service, which the monitor "
                          "does not write; the report in OUT_DIR and the run it names are the "
                          "record)")
    run.add_argument("--trigger", choices=("none", "local", "cloud"), default="none",
                     help="what a breach does: none (report the decision only), local "
                          "(labelled traffic becomes a new span, then local_runner.py runs), "
                          "cloud (kubeflow_runner.py submit)")
    run.add_argument("--data-dir", type=Path, default=names.DEFAULT_DATA_DIR,
                     help="span folder the local trigger adds labelled traffic to")
    run.add_argument("--cloud-target", choices=("vertex", "kfp"), default="vertex")
    run.add_argument("--cloud-config", type=Path,
                     help="kubeflow_runner.py --config for the cloud trigger")
    run.add_argument("--cloud-endpoint", metavar="URL",
                     help="send the BigQuery and Cloud Storage calls (gs:// reads and writes, "
                          "the trigger's ingestion) to this emulator or fake instead of Google "
                          "Cloud (sets STORAGE_EMULATOR_HOST for this run)")

    sim = sub.add_parser(
        "simulate", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="send generated traffic to the server and write its delayed labels",
        description="Send generated rows (optionally drifted) to a TF Serving REST :predict "
                    "endpoint with an X-Request-Id per request, and write the rows' labels "
                    "(the generator's ground truth) to LABELS_DIR for the monitor to join.")
    sim.add_argument("--url", default="http://127.0.0.1:8501", help="server base URL")
    sim.add_argument("--model-name", default=DEFAULT_MODEL_NAME)
    sim.add_argument("--rows", type=positive_int, default=2000, help="rows to send")
    sim.add_argument("--seed", type=int, default=7, help="generator seed")
    sim.add_argument("--drift", choices=sorted(data_drift.DRIFT_PRESETS), default="none",
                     help="covariate: features shift; concept: the click mechanism changes; "
                          "both")
    sim.add_argument("--batch-size", type=positive_int, default=16,
                     help="instances per :predict request")
    sim.add_argument("--label-delay", type=duration, default=timedelta(seconds=1),
                     help="labelled_at = time sent + this delay")
    sim.add_argument("--labels-dir", type=storage.location, default=names.DEFAULT_LABELS_DIR,
                     help="a folder or gs://BUCKET/PREFIX")
    sim.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    return parser


def _window(args: argparse.Namespace, now: datetime):
    from pipelines.monitoring.monitor import Window

    last = args.last
    if args.start and args.end and last:
        raise ValueError("give at most two of --start, --end and --last")
    if args.start and args.end:
        return Window(args.start, args.end)
    last = last or timedelta(hours=24)
    if args.start:
        return Window(args.start, args.start + last)
    return Window((args.end or now) - last, args.end or now)


def _run(args: argparse.Namespace) -> int:
    from pipelines.monitoring.config import MonitorConfig, MonitorConfigError
    from pipelines.monitoring.monitor import MonitorSettings, run_monitor

    now = datetime.now(timezone.utc)
    try:
        window = _window(args, now)
        config = MonitorConfig.from_yaml(args.config) if args.config else MonitorConfig()
        if not args.schema.is_file():
            raise ValueError(f"--schema {args.schema}: no such file")
        for flag, where in (("--log-dir", args.log_dir), ("--labels-dir", args.labels_dir),
                            ("--out-dir", args.out_dir)):
            if not storage.is_gcs(where) and where.exists() and not where.is_dir():
                raise ValueError(f"{flag} {where}: not a folder")
        if args.cloud_endpoint and not args.cloud_endpoint.startswith(("http://", "https://")):
            raise ValueError(f"--cloud-endpoint {args.cloud_endpoint!r}: expected a URL like "
                             "http://127.0.0.1:9023")
    except (ValueError, MonitorConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args.cloud_endpoint:
        os.environ[storage.EMULATOR_ENV] = args.cloud_endpoint
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    settings = MonitorSettings(
        log_dir=args.log_dir, labels_dir=args.labels_dir, window=window, out_dir=args.out_dir,
        pipeline_root=args.pipeline_root, schema_path=args.schema,
        pipeline_name=args.pipeline_name, model_name=args.model_name, config=config,
        labels_cutoff=args.labels_cutoff, record_metadata=not args.no_metadata,
        trigger_mode=args.trigger, data_dir=args.data_dir, cloud_config=args.cloud_config,
        cloud_target=args.cloud_target, cloud_endpoint=args.cloud_endpoint,
        labels_table=args.labels_table, serving_model_dir=args.serving_model_dir)
    try:
        outcome = run_monitor(settings, now=now)
    except (ValueError, OSError) as err:  # unreadable schema/state/bucket: named in it
        print(f"error: {err}", file=sys.stderr)
        return 2
    print_summary(outcome.report)
    trigger = outcome.report.get("trigger")
    return 1 if trigger and trigger["returncode"] not in (0, None) else 0


def print_summary(report: dict) -> None:
    log, labels = report["request_log"], report["labels"]
    window = report["window"]
    print(f"Window {window['start']} .. {window['end']}: {log['requests']:,} request(s) "
          f"({log['duplicates']} duplicate record(s) dropped), {labels['labelled']:,} "
          f"labelled, {labels['pending']:,} pending")
    for problem in log["problems"] + labels["problems"]:
        print(f"  problem: {problem}")
    for name, m in report["drift"].items():
        if m["breached"]:
            print(f"  drift  {name}: {m['measure']} {m['value']:.4f} > {m['threshold']}")
    for version, entry in report["versions"].items():
        for name, m in entry.get("skew", {}).items():
            if m["breached"]:
                print(f"  skew   v{version} {name}: {m['measure']} {m['value']:.4f} > "
                      f"{m['threshold']}")
        if entry.get("skew_unavailable"):
            print(f"  skew   v{version}: not measured ({entry['skew_unavailable']})")
        live = entry.get("live") or {}
        if live.get("auc") is not None:
            print(f"  live   v{version}: AUC {live['auc']:.4f}, accuracy {live['accuracy']:.4f}"
                  f", calibration {live['calibration']:.3f} on {live['labelled']:,} labels")
    decision = report["decision"]
    print(f"Decision: {decision['action']}")
    for reason in decision["reasons"]:
        print(f"  - {reason}")
    if report.get("trigger"):
        t = report["trigger"]
        print(f"Triggered {t['mode']} retraining: exit status {t['returncode']} "
              f"(log {t['log_file']})")
    elif decision["action"] == "retrain":
        print("Not triggered (--trigger none): run again with --trigger local or cloud.")
    print(f"Report: {report['files'].get('monitoring_report.json')}")


def _simulate(args: argparse.Namespace) -> int:
    import httpx

    from pipelines.data import drift as data_drift
    from pipelines.monitoring.simulate import simulate

    drift = None if args.drift == "none" else data_drift.DRIFT_PRESETS[args.drift]
    now = datetime.now(timezone.utc)
    with httpx.Client(timeout=args.timeout) as client:
        result = simulate(
            client, url=args.url, model_name=args.model_name, rows=args.rows, seed=args.seed,
            drift=drift, labels_dir=args.labels_dir, batch_size=args.batch_size,
            label_delay=args.label_delay, clock=lambda: datetime.now(timezone.utc),
            event_start=now.replace(tzinfo=None, microsecond=0))
    print(f"Sent {result.rows:,} row(s) in {result.requests:,} request(s) to {args.url} "
          f"({result.failed_requests} failed); labels: {result.labels_file or 'none'}")
    for error in result.errors:
        print(f"  {error}", file=sys.stderr)
    return 1 if result.failed_requests == result.requests else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return _run(args) if args.command == "run" else _simulate(args)


if __name__ == "__main__":
    sys.exit(main())
