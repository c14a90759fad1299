"""Closing the loop: labelled traffic becomes a new span and the pipeline runs again, locally
(``local_runner.py``) or in the cloud (``kubeflow_runner.py submit``). Every triggered run is
told why (``--trigger-reason``) so its summary and ML Metadata say it was triggered."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from models import features
from pipelines.common import storage
from pipelines.common.names import REPO_ROOT
from pipelines.common.request_log import utc
from pipelines.data import spans

STATE_FILE = "trigger_state.json"


@dataclasses.dataclass(frozen=True)
class TriggerResult:
    mode: str  # "local" or "cloud"
    command: list[str]
    returncode: int | None  # None: not run (dry run)
    span: str | None = None  # the span written from labelled traffic (local)
    span_rows: int = 0
    log_file: str | None = None
    # Cloud: the load of labelled traffic into the training table (IngestResult.as_dict()),
    # or why it failed, in which case no run is submitted (it would train on the old data).
    ingested: dict[str, Any] | None = None
    ingest_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def labelled_examples(joined: pa.Table) -> pa.Table:
    """The labelled logged requests as training examples (the raw columns, in order).

    Real traffic: its schema is the raw columns of ``models.features`` with no ground-truth
    marker, so the runner does not report a best possible AUC for it.
    """
    labelled = joined.filter(pc.is_valid(joined[features.LABEL_KEY]))
    schema = spans.EXAMPLES_SCHEMA
    return pa.Table.from_arrays([labelled[name].cast(schema.field(name).type)
                                 for name in schema.names], schema=schema)


def ingest_span(data_dir: str | Path, examples: pa.Table) -> tuple[int, Path]:
    """Write ``examples`` as the next span of ``data_dir`` (atomically, like `make data`)."""
    if examples.num_rows == 0:
        raise ValueError("no labelled requests to ingest as a span")
    span = spans.next_span(data_dir)
    path = spans.write_span_batches(data_dir, span, examples.to_batches(),
                                    schema=spans.EXAMPLES_SCHEMA)
    return span, path


def ingest_cloud(config_path: Path | None, examples: pa.Table, now: datetime,
                 endpoint: str | None = None) -> dict[str, Any]:
    """Labelled traffic into the cloud training table as part of today's (UTC) partition,
    through the same checked, idempotent load as new data files (``pipelines.cloud.ingest``):
    a Parquet file under ``gs://<bucket>/incoming/date=YYYY-MM-DD/``, then the day's load job.
    ``endpoint`` sends the calls to a local fake or emulator instead of Google Cloud."""
    from pipelines.cloud import ingest, ingest_cli
    from pipelines.cloud.config import load_cloud_config

    config = load_cloud_config(config_path)
    source = f"gs://{config.bucket}/{ingest_cli.DEFAULT_FOLDER}/"
    try:
        bq, storage = ingest.make_clients(config.project, endpoint=endpoint)
        return ingest.ingest_examples(bq, storage, config.bigquery_table, source, examples,
                                      utc(now).date()).as_dict()
    except ingest.client_errors() as err:  # no credentials, no network, a refused call
        raise ingest.IngestError(f"{type(err).__name__}: {err}") from None


# A retraining run the monitor starts while another run holds the pipeline root waits for it
# (local_runner.py --wait-lock) instead of being refused: the monitor runs unattended.
LOCK_WAIT_SECONDS = 3600


def local_command(*, data_dir: Path, pipeline_root: Path, pipeline_name: str, reason: str,
                  extra_args: tuple[str, ...] = ()) -> list[str]:
    return [sys.executable, str(REPO_ROOT / "local_runner.py"), "--data", str(data_dir),
            "--pipeline-root", str(pipeline_root), "--pipeline-name", pipeline_name,
            "--trigger-reason", reason, "--wait-lock", str(LOCK_WAIT_SECONDS), *extra_args]


def cloud_command(*, target: str, config: Path | None, reason_tag: str,
                  now: datetime) -> list[str]:
    """``kubeflow_runner.py submit`` naming the run after the monitor's trigger, and giving
    the reason as its own value too (a label on Vertex)."""
    from pipelines.cloud.vertex import LABEL_VALUE_MAX

    command = [sys.executable, str(REPO_ROOT / "kubeflow_runner.py"), "submit",
               "--target", target, "--run-name", f"clickflow-monitor-{reason_tag}-"
               f"{utc(now):%Y%m%d-%H%M%S}", "--trigger-reason", reason_tag[:LABEL_VALUE_MAX]]
    if config is not None:
        command += ["--config", str(config)]
    return command


def run_command(command: list[str], log_file: storage.Location) -> int:
    """Run ``command`` from the repository root, its output to ``log_file`` (a gs:// log is
    written locally, then uploaded); its exit status."""
    if not storage.is_gcs(log_file):
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        with Path(log_file).open("w") as out:
            return subprocess.run(command, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
                                  check=False).returncode
    with tempfile.TemporaryDirectory(prefix="clickflow-trigger-") as folder:
        local = Path(folder, "trigger.log")
        returncode = run_command(command, local)
        storage.put_file(local, log_file)
        return returncode


def read_state(out_dir: storage.Location) -> datetime | None:
    """When the last trigger happened according to ``<out_dir>/trigger_state.json`` (a file
    or a Cloud Storage object: the cool-down outlives the monitor's container)."""
    path = storage.join(out_dir, STATE_FILE)
    try:
        data = json.loads(storage.read_text(path))
        return utc(datetime.fromisoformat(data["last_trigger_at"]))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: unreadable trigger state ({err}); fix or delete it") from None


def write_state(out_dir: storage.Location, when: datetime, reasons: list[str],
                report: str) -> None:
    storage.write_text(storage.join(out_dir, STATE_FILE), json.dumps(
        {"last_trigger_at": utc(when).isoformat(), "reasons": reasons, "report": report},
        indent=2) + "\n")
