"""New data into the training table: one day's files from Cloud Storage become that day's
partition, checked first and loaded once however often the load is repeated.

    python -m pipelines.cloud.ingest --config configs/cloud.yaml --day 2026-12-03 \
        [--source gs://BUCKET/incoming/]

The table is partitioned by ingestion time (``timePartitioning {type: DAY}``, no column): a
partition is a day of loaded data, written through the decorator ``table$YYYYMMDD``, and the
table keeps exactly the ten raw columns, so the training query
(``pipelines/data/sql/training_examples.sql``, ``SELECT ... FROM table``) reads every day
unchanged. A DATE column would have to be in every file (BigQuery matches CSV columns by
position and Parquet by name) and our files carry only a Timestamp *string*.

Idempotence, from BigQuery's documented behaviour:
- all of a day's files go into ONE load job with ``WRITE_TRUNCATE`` on ``table$YYYYMMDD``:
  it replaces that partition only ("Load data into partitioned tables"), atomically ("creation,
  truncation and append actions occur as one atomic update upon job completion",
  JobConfigurationLoad.createDisposition), so loading a day again, or with a file added,
  leaves each file's rows in the table once;
- the job id is derived from the table, the day and the files' names, generations and MD5s,
  so a retried identical load (a lost response, a rerun of the scheduled job) is refused by
  jobs.insert with 409 "Already Exists" and this module then reads the existing job instead
  of loading again (job ids are unique per project: REST reference, JobReference.jobId).

Files are checked before anything is created or loaded (``ingest_checks``); a bad file stops
the day with an error naming the file and the column.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import io
import re
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from models import features
from pipelines.cloud import ingest_checks
from pipelines.common.errors import ClickflowError
from pipelines.data import source as data_source
from pipelines.data import spans

DAY_FOLDER = "date={day:%Y-%m-%d}"
JOB_PREFIX = "clickflow_ingest"
TRAFFIC_PREFIX = "labelled-traffic-"


class IngestError(ClickflowError):
    """Files or a table that cannot be loaded; the message names the file, column or table."""


@dataclasses.dataclass(frozen=True)
class DataFile:
    uri: str
    generation: int
    md5: str
    size: int

    @property
    def fmt(self) -> str:
        return data_source.file_format(self.uri)


@dataclasses.dataclass(frozen=True)
class IngestResult:
    table: str
    partition: str  # YYYYMMDD
    job_id: str
    files: tuple[str, ...]
    rows: int
    already_loaded: bool  # an identical load job had already run (409 on jobs.insert)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def table_schema() -> list[Any]:
    """The training table's columns: the raw columns of ``models.features``, all NULLABLE
    (the training query drops rows without a label, as the local ExampleGen does)."""
    from google.cloud import bigquery

    return [bigquery.SchemaField(c, ingest_checks.BIGQUERY_TYPES[features.RAW_TYPES[c]])
            for c in features.RAW_COLUMNS]


def day_prefix(source: str, day: dt.date) -> str:
    """The ``gs://`` folder of one day's files under ``source``."""
    if not source.startswith("gs://") or len(source) <= len("gs://"):
        raise IngestError(f"--source {source!r}: expected a gs://bucket/folder/ location")
    return f"{source.rstrip('/')}/{DAY_FOLDER.format(day=day)}/"


def _split(uri: str) -> tuple[str, str]:
    bucket, _, name = uri[len("gs://"):].partition("/")
    return bucket, name


def list_day_files(storage_client: Any, prefix: str) -> list[DataFile]:
    """The data files under ``prefix`` (names starting with '.' or '_' and *.tmp are skipped:
    writers' temporary and marker files); IngestError for other files or mixed formats."""
    bucket, name = _split(prefix)
    files = []
    for blob in storage_client.list_blobs(bucket, prefix=name):
        base = blob.name.rsplit("/", 1)[-1]
        if not base or base.startswith((".", "_")) or base.endswith(".tmp"):
            continue
        uri = f"gs://{bucket}/{blob.name}"
        try:
            data_source.file_format(uri)
        except data_source.DataError as err:
            raise IngestError(str(err)) from None
        files.append(DataFile(uri, int(blob.generation), blob.md5_hash or "", int(blob.size)))
    if not files:
        raise IngestError(f"no data files under {prefix}: expected .csv or .parquet files")
    formats = {f.fmt for f in files}
    if len(formats) > 1:
        raise IngestError(f"{prefix} mixes CSV and Parquet files; one load job reads one "
                          "format, so keep one format per day")
    return sorted(files, key=lambda f: f.uri)


def check_files(storage_client: Any, files: list[DataFile]) -> None:
    """Downloads and checks every file; IngestError naming the first bad file and column."""
    with tempfile.TemporaryDirectory(prefix="clickflow-ingest-") as tmp:
        for index, data_file in enumerate(files):
            bucket, name = _split(data_file.uri)
            local = Path(tmp) / f"{index:05d}{Path(name).suffix.lower()}"
            blob = storage_client.bucket(bucket).blob(name, generation=data_file.generation)
            blob.download_to_filename(str(local))
            found = ingest_checks.problem(str(local), data_file.fmt)
            if found:
                raise IngestError(f"{data_file.uri}: {found}. Nothing was loaded for this day")


def job_id(table: str, day: dt.date, files: list[DataFile]) -> str:
    """The same id for the same table, day and file versions (any order of listing)."""
    digest = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.uri):
        digest.update(f"{f.uri}\n{f.generation}\n{f.md5}\n".encode())
    safe = re.sub(r"[^A-Za-z0-9_]", "_", table)
    return f"{JOB_PREFIX}_{safe}_{day:%Y%m%d}_{digest.hexdigest()[:32]}"


def ensure_table(bq: Any, table: str) -> str:
    """Creates the table (schema, DAY ingestion-time partitions) if missing; checks it if not.
    Returns the dataset's location, where the load job must run."""
    from google.api_core import exceptions
    from google.cloud import bigquery

    project, dataset, _ = table.split(".")
    try:
        location = bq.get_dataset(f"{project}.{dataset}").location
    except exceptions.NotFound:
        raise IngestError(f"dataset {project}.{dataset} does not exist: create it first "
                          "(deployment/terraform creates it with its grants)") from None
    try:
        existing = bq.get_table(table)
    except exceptions.NotFound:
        created = bigquery.Table(table, schema=table_schema())
        created.time_partitioning = bigquery.TimePartitioning(
            type_=bigquery.TimePartitioningType.DAY)
        try:
            bq.create_table(created)
        except exceptions.Conflict:  # created meanwhile by another ingest
            existing = bq.get_table(table)
        else:
            return location
    _check_table(table, existing)
    return location


def _check_table(table: str, existing: Any) -> None:
    partitioning = existing.time_partitioning
    if partitioning is None or partitioning.type_ != "DAY" or partitioning.field:
        raise IngestError(
            f"table {table} is not partitioned by day of ingestion (timePartitioning type DAY "
            f"without a field), so a day cannot be replaced on its own; found "
            f"{partitioning.to_api_repr() if partitioning else 'no partitioning'}")
    have = {f.name: f.field_type for f in existing.schema}
    for field in table_schema():
        found = have.pop(field.name, None)
        if found is None:
            raise IngestError(f"table {table} has no column {field.name!r} ({field.field_type})")
        if _canonical(found) != field.field_type:
            raise IngestError(f"table {table}: column {field.name!r} is {found}, expected "
                              f"{field.field_type} (the schema of models/features.py)")
    if have:
        raise IngestError(f"table {table} has columns the data files do not have: "
                          f"{', '.join(have)}")


def _canonical(kind: str) -> str:
    return {"INT64": "INTEGER", "FLOAT64": "FLOAT"}.get(kind, kind)


def load_day(bq: Any, storage_client: Any, table: str, source: str,
             day: dt.date) -> IngestResult:
    """Loads the files of ``day`` under ``source`` as the table's partition of that day."""
    from google.api_core import exceptions
    from google.cloud import bigquery

    files = list_day_files(storage_client, day_prefix(source, day))
    check_files(storage_client, files)
    location = ensure_table(bq, table)
    the_id = job_id(table, day, files)
    config = bigquery.LoadJobConfig(
        source_format=(bigquery.SourceFormat.CSV if files[0].fmt == "csv"
                       else bigquery.SourceFormat.PARQUET),
        write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
        create_disposition=bigquery.CreateDisposition.CREATE_NEVER)
    if files[0].fmt == "csv":
        config.skip_leading_rows = 1
    uris = [f.uri for f in files]
    already = False
    try:
        job = bq.load_table_from_uri(uris, f"{table}${day:%Y%m%d}", job_id=the_id,
                                     location=location, job_config=config)
    except exceptions.Conflict:
        job, already = bq.get_job(the_id, location=location), True
    try:
        job.result()
    except exceptions.GoogleAPICallError:
        raise IngestError(_job_failure(job, already)) from None
    return IngestResult(table, f"{day:%Y%m%d}", the_id, tuple(uris),
                        int(job.output_rows or 0), already)


def _job_failure(job: Any, already: bool) -> str:
    error = job.error_result or {}
    details = [e.get("message", "") for e in (job.errors or [])[1:4]]
    text = f"BigQuery load job {job.job_id} failed: {error.get('message', 'unknown error')}"
    if details:
        text += " (" + "; ".join(details) + ")"
    if already:
        text += (". It is an earlier run of this same load (same files): fix or replace the "
                 "files; new file versions make a new job")
    return text


def ingest_examples(bq: Any, storage_client: Any, table: str, source: str,
                    examples: pa.Table, day: dt.date) -> IngestResult:
    """Labelled traffic (``monitoring.trigger.labelled_examples``) into the day's partition,
    the same way as any file: written once as Parquet under the day's folder (its name is its
    content's digest, uploaded only if absent), then the day is loaded."""
    from google.api_core import exceptions

    if examples.num_rows == 0:
        raise IngestError("no labelled requests to ingest")
    table_ = examples.select(list(spans.EXAMPLES_SCHEMA.names)).cast(spans.EXAMPLES_SCHEMA)
    buffer = io.BytesIO()
    pq.write_table(table_, buffer)
    data = buffer.getvalue()
    name = f"{TRAFFIC_PREFIX}{hashlib.sha256(data).hexdigest()[:24]}.parquet"
    bucket, folder = _split(day_prefix(source, day))
    blob = storage_client.bucket(bucket).blob(folder + name)
    # The same rows were uploaded before when the object exists: its name is their digest.
    with contextlib.suppress(exceptions.PreconditionFailed):
        blob.upload_from_string(data, content_type="application/octet-stream",
                                if_generation_match=0)
    return load_day(bq, storage_client, table, source, day)


def make_clients(project: str, endpoint: str | None = None,
                 credentials: Any = None) -> tuple[Any, Any]:
    """The BigQuery and Cloud Storage clients. Default credentials are looked up here, when
    called (never at import); ``endpoint`` (e.g. a local fake) also turns them off."""
    from google.api_core.client_options import ClientOptions
    from google.cloud import bigquery, storage

    options = None
    if endpoint:
        from google.auth.credentials import AnonymousCredentials

        options = ClientOptions(api_endpoint=endpoint)
        credentials = credentials or AnonymousCredentials()
    return (bigquery.Client(project=project, credentials=credentials, client_options=options),
            storage.Client(project=project, credentials=credentials, client_options=options))


def client_errors() -> tuple[type[BaseException], ...]:
    """What the Google clients raise for a refused call, missing credentials or no network."""
    from google.api_core.exceptions import GoogleAPIError
    from google.auth.exceptions import GoogleAuthError
    from requests.exceptions import RequestException

    return (GoogleAPIError, GoogleAuthError, RequestException, OSError)


if __name__ == "__main__":
    import sys

    from pipelines.cloud.ingest_cli import main

    sys.exit(main())
