"""Traffic simulator: sends generated (optionally drifted) rows to a TF Serving REST
``:predict`` endpoint, one ``X-Request-Id`` per request, and writes the delayed labels (the
generator's ground truth) keyed by the request ids the server logs."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pyarrow as pa

from models import features
from pipelines.common import storage
from pipelines.common.request_log import LABEL_SCHEMA, TIMESTAMP, utc, write_labels_file
from pipelines.data import drift as data_drift
from pipelines.data import generator as data_generator


@dataclasses.dataclass(frozen=True)
class SimulationResult:
    rows: int
    requests: int
    failed_requests: int
    labels_file: storage.Location | None
    errors: tuple[str, ...]


def instance_ids(request_id: str, count: int) -> list[str]:
    """The request_id the server logs for each instance (the shared request-log contract)."""
    return [request_id] if count == 1 else [f"{request_id}-{i}" for i in range(count)]


def traffic(rows: int, seed: int, drift: data_drift.Drift | None, start: datetime,
            chunk_rows: int = 10_000) -> Iterator[pa.RecordBatch]:
    if drift is None:
        return data_generator.generate_batches(rows, seed, start=start, chunk_rows=chunk_rows)
    return data_drift.generate_drifted_batches(rows, seed, drift, start=start,
                                                   chunk_rows=chunk_rows)


def _instances(batch: pa.RecordBatch) -> list[dict[str, Any]]:
    columns = {name: batch.column(name).to_pylist() for name in features.SERVING_FEATURES}
    return [{name: columns[name][i] for name in features.SERVING_FEATURES}
            for i in range(batch.num_rows)]


def simulate(client: Any, *, url: str, model_name: str, rows: int, seed: int,
             drift: data_drift.Drift | None, labels_dir: storage.Location, batch_size: int,
             label_delay: timedelta, clock: Callable[[], datetime],
             event_start: datetime) -> SimulationResult:
    """POST ``rows`` generated rows in requests of ``batch_size`` instances to
    ``<url>/v1/models/<model_name>:predict`` with ``client`` (an httpx.Client), then write the
    labels of the requests that succeeded, ``labelled_at`` = sent time + ``label_delay``."""
    endpoint = f"{url.rstrip('/')}/v1/models/{model_name}:predict"
    label_ids: list[str] = []
    label_values: list[int] = []
    label_times: list[datetime] = []
    errors: list[str] = []
    requests = failed = 0
    for batch in traffic(rows, seed, drift, event_start):
        for offset in range(0, batch.num_rows, batch_size):
            part = batch.slice(offset, batch_size)
            request_id = uuid.uuid4().hex
            requests += 1
            sent_at = utc(clock())
            try:
                response = client.post(endpoint, json={"instances": _instances(part)},
                                       headers={"X-Request-Id": request_id})
            except httpx.HTTPError as err:  # counted and reported; the simulation goes on
                failed += 1
                if len(errors) < 5:
                    errors.append(f"{endpoint}: {type(err).__name__}: {err}")
                continue
            if response.status_code != 200:
                failed += 1
                if len(errors) < 5:
                    errors.append(f"{endpoint}: HTTP {response.status_code}: "
                                  f"{response.text[:200]}")
                continue
            label_ids += instance_ids(request_id, part.num_rows)
            label_values += part.column(features.LABEL_KEY).to_pylist()
            label_times += [sent_at + label_delay] * part.num_rows
    labels_file = None
    if label_ids:
        table = pa.Table.from_arrays(
            [pa.array(label_ids, pa.string()), pa.array(label_values, pa.int64()),
             pa.array(label_times, TIMESTAMP)], schema=LABEL_SCHEMA)
        labels_file = write_labels_file(labels_dir, table,
                                        f"{utc(clock()):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}")
    return SimulationResult(rows, requests, failed, labels_file, tuple(errors))
