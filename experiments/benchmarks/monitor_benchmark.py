"""Monitoring speed: one window of N logged requests (default 1M) judged end to end.

Writes N generated requests (several log files, as the server rolls them) for the window, N/4
for the previous window, and labels for half of the window into a temporary folder, then runs
the monitor as `make monitor` does (statistics, skew against training statistics found in ML
Metadata, drift, label join, live metrics, report, ML Metadata record; no retraining) and prints
the wall seconds per phase and the peak memory. Target: <= 60 s for 1M requests on 2 cores.

    python experiments/benchmarks/monitor_benchmark.py [--rows 1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pyarrow as pa

from models.bootstrap import bootstrap
from pipelines.common import names, request_log
from pipelines.data import drift as dd
from pipelines.data import generator as dg
from pipelines.monitoring import monitor, statistics
from pipelines.testing.traffic import logged_requests

VERSION = 1700000000
START = datetime(2026, 3, 1, tzinfo=timezone.utc)
FILE_ROWS = 100_000


def _metadata(root: Path) -> None:
    """A store with the lineage a TFX run records (ExampleGen -> StatisticsGen, Trainer ->
    Pusher) and real training statistics, so skew is measured as in production."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb

    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(names.metadata_path(root))
    store = metadata_store.MetadataStore(config)
    stats_dir = root / "StatisticsGen" / "Split-train"
    stats_dir.mkdir(parents=True)
    train = dg.generate_batches(10_000, 99, start=datetime(2016, 1, 1))
    (stats_dir / statistics.STATS_FILE).write_bytes(
        statistics.table_statistics(pa.Table.from_batches(list(train)))
        .SerializeToString())

    def artifact(type_name: str, uri: str, **props: object) -> pb.Artifact:
        a = pb.Artifact(type_id=store.put_artifact_type(pb.ArtifactType(name=type_name)), uri=uri)
        for key, value in props.items():
            if isinstance(value, int):
                a.custom_properties[key].int_value = value
            else:
                a.custom_properties[key].string_value = str(value)
        a.id = store.put_artifacts([a])[0]
        return a

    def execution(name: str, inputs: dict, outputs: dict) -> None:
        events = []
        for kind, group in ((pb.Event.INPUT, inputs), (pb.Event.OUTPUT, outputs)):
            for key, a in group.items():
                e = pb.Event(type=kind)
                e.path.steps.add().key = key
                events.append((a, e))
        store.put_execution(pb.Execution(type_id=store.put_execution_type(
            pb.ExecutionType(name=name))), events, [])

    raw = artifact("Examples", str(root / "examples"))
    execution("ExampleGen", {}, {"examples": raw})
    execution("StatisticsGen", {"examples": raw},
              {"statistics": artifact("ExampleStatistics", str(root / "StatisticsGen"))})
    model = artifact("Model", str(root / "model"))
    execution("Trainer", {"examples": raw}, {"model": model})
    execution("Pusher", {"model": model}, {"pushed_model": artifact(
        "PushedModel", str(root / "pushed"), pushed=1, pushed_version=str(VERSION))})


def _write_window(log_dir: Path, labels_dir: Path, rows: int, start: datetime, seed: int,
                  prefix: str, label_fraction: float, drift: dd.Drift | None) -> None:
    done = 0
    for index in range(0, rows, FILE_ROWS):
        n = min(FILE_ROWS, rows - index)
        batches = (dg.generate_batches(n, seed + index, start=datetime(2016, 1, 1))
                   if drift is None else dd.generate_drifted_batches(
                       n, seed + index, drift, start=datetime(2016, 1, 1)))
        log, labels = logged_requests(
            batches, version=VERSION, start=start + timedelta(seconds=3600 * done / rows),
            seconds=3600 * n / rows, id_prefix=f"{prefix}{index}-")
        request_log.write_request_log_file(log_dir, log, seq=seed + index)
        request_log.write_labels_file(labels_dir, labels.slice(0, int(n * label_fraction)),
                                      f"{prefix}{index}")
        done += n


def main(argv: list[str] | None = None) -> int:
    bootstrap()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="requests in the window")
    parser.add_argument("--keep", type=Path, help="write the data here and keep it")
    args = parser.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="monitor-bench-"))
    try:
        began = time.perf_counter()
        (work / "root").mkdir(parents=True, exist_ok=True)
        _metadata(work / "root")
        _write_window(work / "log", work / "labels", args.rows // 4, START - timedelta(hours=1),
                      1, "p", 0.0, None)
        _write_window(work / "log", work / "labels", args.rows, START, 1_000_000, "c", 0.5,
                      dd.DRIFT_PRESETS["covariate"])
        print(f"wrote {args.rows:,} + {args.rows // 4:,} logged requests in "
              f"{time.perf_counter() - began:.1f} s to {work}")
        settings = monitor.MonitorSettings(
            log_dir=work / "log", labels_dir=work / "labels",
            window=monitor.Window(START, START + timedelta(hours=1)), out_dir=work / "out",
            pipeline_root=work / "root",
            schema_path=Path(__file__).resolve().parents[2] / "schema" / "schema.pbtxt")
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t = time.perf_counter()
        outcome = monitor.run_monitor(settings, now=START + timedelta(hours=2))
        seconds = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        report = outcome.report
        print(f"monitored {report['request_log']['requests']:,} requests "
              f"({report['labels']['labelled']:,} labelled) in {seconds:.1f} s; "
              f"peak RSS {peak:,.0f} MiB (before the run {rss_before:,.0f} MiB)")
        print("phases (s): " + ", ".join(f"{k} {v}" for k, v in report["seconds"].items()))
        print(f"decision: {outcome.decision.action} {list(outcome.decision.breached)}")
        print(f"cores: {os.cpu_count()}; load average before: {os.getloadavg()}")
        return 0 if seconds <= 60 else 1
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
