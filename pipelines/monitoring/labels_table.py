"""Delayed labels from a BigQuery table (``--labels-table PROJECT.DATASET.TABLE``), for a
labelling system that writes its answers to BigQuery rather than to Parquet files.

The table needs the label contract's columns (``pipelines.common.request_log.LABEL_SCHEMA``):
``request_id`` STRING, ``ClickedOnAd`` INTEGER, ``labelled_at`` TIMESTAMP; other columns are
ignored. One GoogleSQL query reads them (jobs.query / getQueryResults through the real
``google-cloud-bigquery`` client, no BigQuery Storage API), then the same checks as label
files apply (rows without a value, labels other than 0/1: dropped and counted).
"""

from __future__ import annotations

import re

import pyarrow as pa

from models import features
from pipelines.common.errors import ClickflowError
from pipelines.common.request_log import LABEL_SCHEMA, clean_labels

TABLE_RE = re.compile(r"^([a-z][a-z0-9-]{4,28}[a-z0-9])\.(\w{1,1024})\.([\w$-]{1,1024})$")


class LabelsTableError(ClickflowError, ValueError):
    """The labels table cannot be read; the message names it and why."""


def check_table(text: str) -> str:
    if not TABLE_RE.match(text):
        raise LabelsTableError(f"--labels-table {text!r}: expected PROJECT.DATASET.TABLE "
                               "(e.g. my-project.ads.labels)")
    return text


def read_labels_table(table: str, endpoint: str | None = None) -> tuple[pa.Table, list[str]]:
    """Every label in ``table`` (LABEL_SCHEMA) and the problems met; ``endpoint`` sends the
    calls to a local fake or emulator instead of Google Cloud."""
    from pipelines.cloud import ingest

    project = check_table(table).split(".", 1)[0]
    columns = ", ".join(LABEL_SCHEMA.names)  # plain identifiers: no quoting needed
    query = f"SELECT {columns} FROM `{table}`"
    try:
        bq, _ = ingest.make_clients(project, endpoint=endpoint)
        result = bq.query(query).result()
        got = result.to_arrow(create_bqstorage_client=False)
    except ingest.client_errors() as err:
        message = getattr(err, "message", None) or str(err)
        raise LabelsTableError(f"--labels-table {table}: cannot read it "
                               f"({type(err).__name__}: {message.splitlines()[0][:300]})"
                               ) from None
    problems: list[str] = []
    try:
        table_rows = pa.Table.from_arrays(
            [got[name].cast(LABEL_SCHEMA.field(name).type) for name in LABEL_SCHEMA.names],
            schema=LABEL_SCHEMA)
    except (KeyError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        raise LabelsTableError(
            f"--labels-table {table}: expected columns request_id STRING, "
            f"{features.LABEL_KEY} INTEGER, labelled_at TIMESTAMP ({err})") from None
    return clean_labels(table_rows, problems)
