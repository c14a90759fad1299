"""Builders of request-log and label tables from generated rows, for tests and the benchmark
(the server writes the real log; these write exactly its layout)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa

from models import features
from pipelines.common.request_log import LABEL_SCHEMA, LOG_SCHEMA, TIMESTAMP, utc
from pipelines.data import drift as data_drift
from pipelines.data import generator as data_generator


def logged_requests(rows: pa.Table | Iterable[pa.RecordBatch], *, version: int,
                    start: datetime, seconds: float, id_prefix: str,
                    model_name: str = "clickflow") -> tuple[pa.Table, pa.Table]:
    """(request log table, labels table) for generated ``rows`` served by ``version``: one
    request per row, spread evenly over ``seconds`` from ``start``; the prediction is the
    generator's true click probability, the label its drawn click, labelled at logged_at + 1h.
    """
    table = rows if isinstance(rows, pa.Table) else pa.Table.from_batches(list(rows))
    n = table.num_rows
    begin = np.datetime64(utc(start).replace(tzinfo=None), "us")
    offsets = (np.arange(n) * (seconds * 1e6 / max(n, 1))).astype("timedelta64[us]")
    logged_at = pa.array(begin + offsets, pa.timestamp("us")).cast(TIMESTAMP)
    columns = {name: table[name].to_numpy() for name in (*data_generator.COEFFICIENTS, "Male")}
    ids = pa.array([f"{id_prefix}{i}" for i in range(n)], pa.string())
    log = pa.Table.from_arrays([
        ids, logged_at, pa.array([model_name] * n, pa.string()),
        pa.array(np.full(n, version, np.int64)), pa.array(["serving_default"] * n, pa.string()),
        *(table[name] for name in features.SERVING_FEATURES),
        pa.array(data_generator.click_probability(columns)),
    ], schema=LOG_SCHEMA)
    labelled_at = pa.array(begin + offsets + np.timedelta64(1, "h"),
                           pa.timestamp("us")).cast(TIMESTAMP)
    labels = pa.Table.from_arrays([ids, table[features.LABEL_KEY], labelled_at],
                                  schema=LABEL_SCHEMA)
    return log, labels


def generated(rows: int, seed: int, drift: data_drift.Drift | None = None,
              day: datetime = datetime(2016, 1, 1)) -> pa.Table:
    if drift is None:
        return pa.Table.from_batches(list(data_generator.generate_batches(rows, seed, start=day)))
    return pa.Table.from_batches(list(
        data_drift.generate_drifted_batches(rows, seed, drift, start=day)))


def hour(base: datetime, n: int) -> datetime:
    return utc(base) + timedelta(hours=n)
