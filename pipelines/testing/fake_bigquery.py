"""A recording fake of BigQuery's REST API v2 (and of the Cloud Storage calls ingestion needs,
see ``fake_gcs``) on 127.0.0.1, for the real ``google.cloud.bigquery.Client``.

It answers datasets.get, tables.get/insert, jobs.insert (load and query), jobs.get,
jobs.getQueryResults and tabledata.list, keeps rows in DuckDB, and refuses what BigQuery
refuses, where BigQuery refuses it (references: the REST reference
cloud.google.com/bigquery/docs/reference/rest/v2, "Load data into partitioned tables", and
the error texts users reported from the real service, cited where each rule is):

- jobs.insert with a job id already used in the project: HTTP 409, reason "duplicate",
  "Already Exists: Job <project>:<location>.<id>" (googleapis/google-cloud-java#2867,
  googleapis/python-bigquery#738). The first job is kept as it was.
- A job id with characters other than letters, digits, '_' and '-', or over 1,024 of them:
  400 invalid (JobReference.jobId in the REST reference).
- A field of configuration.load the API does not define: 400 INVALID_ARGUMENT "Invalid JSON
  payload received. Unknown name ..." (Google's API front end, for every JSON API).
- Errors found while running a job do not fail jobs.insert: the job is DONE with
  status.errorResult and status.errors (REST reference, JobStatus; "Error messages" page:
  job errors are in the status object of jobs.get):
  - a schema that does not match the table: "Provided Schema does not match Table
    <p>:<d>.<t>. Field X has changed type from FLOAT to INTEGER" / "Cannot add fields
    (field: X)" / "Field X is missing in new schema" (google/clusterfuzz#680,
    googleapis/google-cloud-python#9207, googleapis/java-cloud-bom#6344,
    GoogleCloudPlatform/spring-cloud-gcp#544); Parquet columns are matched by name, a
    column's type must be the table's;
  - a CSV value that does not parse as its column's type, or a row with another number of
    columns: "Error while reading data, error message: CSV table encountered too many errors,
    giving up. Rows: N; errors: N. Please look into the errors[] collection for more details."
    with one errors[] entry per bad value (tylertreat/BigQuery-Python#148, r-dbi/bigrquery#344);
    CSV columns are matched by position;
  - a partition decorator (``table$YYYYMMDD``) on a table that is not partitioned: "Cannot add
    storage to a non-partitioned table with a partition reference: <p>:<d>.<t>"
    (mozilla/telemetry-airflow#857); creating a table through a decorator with no
    timePartitioning: "Partitioning specification must be provided in order to create
    partitioned table" (YumaInaura/YumaInaura#430);
  - a source URI that does not exist: notFound "Not found: URI gs://..."; a missing table with
    CREATE_NEVER: notFound (JobConfigurationLoad.createDisposition);
  - WRITE_TRUNCATE replaces the decorated partition only, or the whole table without a
    decorator; WRITE_APPEND appends; WRITE_EMPTY fails with "duplicate" when the destination
    has rows (JobConfigurationLoad.writeDisposition). A failed job writes nothing (creation,
    truncation and append "occur as one atomic update upon job completion").

Not modelled: other partition types than DAY, column partitioning, wildcards in URIs,
streaming inserts, quotas. Queries run on DuckDB after replacing table references; the
pseudo-columns _PARTITIONTIME and _PARTITIONDATE exist when a query names them.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import itertools
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from pipelines.testing.fake_gcs import FakeGcs

BASE = "/bigquery/v2/projects/"
# Every field of JobConfigurationLoad in the REST reference (v2, 2026).
LOAD_FIELDS = frozenset({
    "sourceUris", "fileSetSpecType", "schema", "destinationTable", "destinationTableProperties",
    "createDisposition", "writeDisposition", "nullMarker", "nullMarkers", "fieldDelimiter",
    "skipLeadingRows", "encoding", "quote", "maxBadRecords", "schemaInlineFormat", "schemaInline",
    "allowQuotedNewlines", "sourceFormat", "allowJaggedRows", "ignoreUnknownValues",
    "projectionFields", "autodetect", "schemaUpdateOptions", "timePartitioning",
    "rangePartitioning", "clustering", "destinationEncryptionConfiguration",
    "useAvroLogicalTypes", "referenceFileSchemaUri", "hivePartitioningOptions",
    "decimalTargetTypes", "jsonExtension", "parquetOptions", "preserveAsciiControlCharacters",
    "connectionProperties", "createSession", "columnNameCharacterMap", "copyFilesOnly",
    "timeZone", "dateFormat", "datetimeFormat", "timeFormat", "timestampFormat",
    "sourceColumnMatch", "timestampTargetPrecision",
})
_JOB_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,1024}$")
_DECORATOR_RE = re.compile(r"^(?P<table>[\w-]+)\$(?P<day>\d{8})$")
# Legacy and standard names of the same types.
_CANONICAL = {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN"}
_DUCK_TYPE = {"INTEGER": "BIGINT", "FLOAT": "DOUBLE", "STRING": "VARCHAR", "BOOLEAN": "BOOLEAN",
              "DATE": "DATE", "TIMESTAMP": "TIMESTAMP"}
_FROM_DUCK = {"BIGINT": "INTEGER", "INTEGER": "INTEGER", "HUGEINT": "INTEGER",
              "SMALLINT": "INTEGER", "DOUBLE": "FLOAT", "FLOAT": "FLOAT", "VARCHAR": "STRING",
              "BOOLEAN": "BOOLEAN", "DATE": "DATE", "TIMESTAMP": "TIMESTAMP",
              "TIMESTAMP WITH TIME ZONE": "TIMESTAMP"}


def canonical_type(name: str) -> str:
    return _CANONICAL.get(name.upper(), name.upper())


def arrow_type_name(arrow_type: Any) -> str:
    """The BigQuery type a Parquet column of this Arrow type loads as."""
    import pyarrow as pa

    if pa.types.is_integer(arrow_type):
        return "INTEGER"
    if pa.types.is_floating(arrow_type):
        return "FLOAT"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "STRING"
    if pa.types.is_boolean(arrow_type):
        return "BOOLEAN"
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMP"
    if pa.types.is_date(arrow_type):
        return "DATE"
    return str(arrow_type).upper()


class JobFailed(Exception):
    """An error found while running a job: it becomes the job's errorResult."""

    def __init__(self, reason: str, message: str, errors: list[dict] | None = None) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message
        self.errors = errors or [{"reason": reason, "message": message}]


def api_error(code: int, status: str, reason: str, message: str) -> tuple[int, dict]:
    return code, {"error": {"code": code, "message": message, "status": status,
                            "errors": [{"message": message, "domain": "global",
                                        "reason": reason}]}}


@dataclass
class Table:
    project: str
    dataset: str
    table_id: str
    fields: list[dict]
    time_partitioning: dict | None
    duck_name: str
    created_ms: int = field(default_factory=lambda: int(time.time() * 1000))

    @property
    def ref(self) -> str:
        return f"{self.project}:{self.dataset}.{self.table_id}"

    def resource(self, num_rows: int, location: str) -> dict:
        out = {"kind": "bigquery#table", "id": self.ref, "type": "TABLE", "location": location,
               "tableReference": {"projectId": self.project, "datasetId": self.dataset,
                                  "tableId": self.table_id},
               "schema": {"fields": self.fields}, "numRows": str(num_rows),
               "creationTime": str(self.created_ms), "etag": f"e{num_rows}"}
        if self.time_partitioning:
            out["timePartitioning"] = self.time_partitioning
        return out


class FakeBigQuery(ThreadingHTTPServer):
    """BigQuery v2 and a folder standing for Cloud Storage, with state, recording requests."""

    def __init__(self, gcs_root: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.gcs = FakeGcs(gcs_root)
        self.requests: list[tuple[str, str, dict, Any]] = []
        self.datasets: dict[tuple[str, str], str] = {}  # (project, dataset) -> location
        self.tables: dict[tuple[str, str, str], Table] = {}
        self.jobs: dict[tuple[str, str], dict] = {}
        self.results: dict[tuple[str, str], tuple[list[dict], list[list]]] = {}
        self.duck = duckdb.connect(":memory:")
        self.duck.execute("CREATE TYPE FLOAT64 AS DOUBLE")
        self.lock = threading.Lock()
        self.names = itertools.count(1)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def add_dataset(self, project: str, dataset: str, location: str = "US") -> None:
        self.datasets[(project, dataset)] = location

    def calls(self, method: str, pattern: str) -> list[tuple[str, dict, Any]]:
        """The recorded (path, query, body) of requests whose path matches ``pattern``."""
        return [(p, q, b) for m, p, q, b in self.requests
                if m == method and re.search(pattern, p)]

    def load_jobs(self) -> list[dict]:
        return [j for j in self.jobs.values() if "load" in j["configuration"]]

    def partition_counts(self, project: str, dataset: str, table: str) -> dict[str, int]:
        """Rows per partition (YYYYMMDD, or "" for an unpartitioned table)."""
        t = self.tables[(project, dataset, table)]
        with self.lock:
            rows = self.duck.execute(
                f"SELECT strftime(_PARTITIONTIME, '%Y%m%d'), count(*) FROM {t.duck_name} "
                "GROUP BY 1 ORDER BY 1").fetchall()
        return {day or "": n for day, n in rows}

    # --- routing -----------------------------------------------------------------------
    def handle_api(self, method: str, path: str, query: dict, body: Any) -> tuple[int, dict]:
        self.requests.append((method, path, query, body))
        parts = path[len(BASE):].split("/") if path.startswith(BASE) else []
        with self.lock:
            if len(parts) == 3 and parts[1] == "datasets" and method == "GET":
                return self._get_dataset(parts[0], parts[2])
            if len(parts) == 4 and parts[3] == "tables" and method == "POST":
                return self._insert_table(parts[0], parts[2], body)
            if len(parts) == 5 and parts[3] == "tables" and method == "GET":
                return self._get_table(parts[0], parts[2], parts[4])
            if len(parts) == 6 and parts[5] == "data" and method == "GET":
                return self._list_rows(parts[0], parts[2], parts[4], query)
            if len(parts) == 2 and parts[1] == "jobs" and method == "POST":
                return self._insert_job(parts[0], body)
            if len(parts) == 3 and parts[1] == "jobs" and method == "GET":
                return self._get_job(parts[0], parts[2])
            if len(parts) == 3 and parts[1] == "queries" and method == "GET":
                return self._query_results(parts[0], parts[2], query)
        return api_error(404, "NOT_FOUND", "notFound", f"no route {method} {path}")

    def _get_dataset(self, project: str, dataset: str) -> tuple[int, dict]:
        location = self.datasets.get((project, dataset))
        if location is None:
            return api_error(404, "NOT_FOUND", "notFound",
                             f"Not found: Dataset {project}:{dataset}")
        return 200, {"kind": "bigquery#dataset", "id": f"{project}:{dataset}",
                     "location": location,
                     "datasetReference": {"projectId": project, "datasetId": dataset}}

    def _num_rows(self, table: Table) -> int:
        return self.duck.execute(f"SELECT count(*) FROM {table.duck_name}").fetchone()[0]

    def _get_table(self, project: str, dataset: str, table_id: str) -> tuple[int, dict]:
        table = self.tables.get((project, dataset, table_id))
        if table is None:
            return api_error(404, "NOT_FOUND", "notFound",
                             f"Not found: Table {project}:{dataset}.{table_id}")
        return 200, table.resource(self._num_rows(table), self.datasets[(project, dataset)])

    def _insert_table(self, project: str, dataset: str, body: dict) -> tuple[int, dict]:
        if (project, dataset) not in self.datasets:
            return api_error(404, "NOT_FOUND", "notFound",
                             f"Not found: Dataset {project}:{dataset}")
        table_id = body["tableReference"]["tableId"]
        if (project, dataset, table_id) in self.tables:
            return api_error(409, "ALREADY_EXISTS", "duplicate",
                             f"Already Exists: Table {project}:{dataset}.{table_id}")
        partitioning = body.get("timePartitioning")
        if partitioning and (partitioning.get("type") != "DAY" or partitioning.get("field")):
            return api_error(400, "INVALID_ARGUMENT", "invalid",
                             "this fake models DAY ingestion-time partitioning only")
        table = self._create(project, dataset, table_id, body.get("schema", {}).get("fields", []),
                             partitioning)
        return 200, table.resource(0, self.datasets[(project, dataset)])

    def _create(self, project: str, dataset: str, table_id: str, fields: list[dict],
                partitioning: dict | None) -> Table:
        name = f"t{next(self.names)}"
        columns = ", ".join(f'"{f["name"]}" {_DUCK_TYPE[canonical_type(f["type"])]}'
                            for f in fields)
        self.duck.execute(f"CREATE TABLE {name} ({columns}, _PARTITIONTIME TIMESTAMP)")
        table = Table(project, dataset, table_id, [dict(f, type=canonical_type(f["type"]))
                                                    for f in fields], partitioning, name)
        self.tables[(project, dataset, table_id)] = table
        return table

    # --- jobs --------------------------------------------------------------------------
    def _insert_job(self, project: str, body: dict) -> tuple[int, dict]:
        reference = dict(body.get("jobReference") or {})
        job_id = reference.get("jobId") or f"job_{next(self.names)}"
        if not _JOB_ID_RE.match(job_id):
            return api_error(400, "INVALID_ARGUMENT", "invalid",
                             f"Invalid job ID \"{job_id}\". Job IDs must be alphanumeric (plus "
                             "underscores and dashes) and must be at most 1024 characters long.")
        configuration = body.get("configuration") or {}
        kinds = [k for k in ("load", "query", "extract", "copy") if k in configuration]
        if len(kinds) != 1:
            return api_error(400, "INVALID_ARGUMENT", "invalid",
                             "Job configuration must contain exactly one job-specific "
                             f"configuration object (e.g., query, load, extract, "
                             f"spreadsheetExtract), but there were {len(kinds)}: ")
        if kinds == ["load"]:
            unknown = sorted(set(configuration["load"]) - LOAD_FIELDS)
            if unknown:
                return api_error(400, "INVALID_ARGUMENT", "invalid",
                                 f"Invalid JSON payload received. Unknown name \"{unknown[0]}\" "
                                 "at 'job.configuration.load': Cannot find field.")
        location = reference.get("location") or "US"
        if (project, job_id) in self.jobs:
            return api_error(409, "ALREADY_EXISTS", "duplicate",
                             f"Already Exists: Job {project}:{location}.{job_id}")
        now = str(int(time.time() * 1000))
        job = {"kind": "bigquery#job", "id": f"{project}:{location}.{job_id}",
               "jobReference": {"projectId": project, "jobId": job_id, "location": location},
               "configuration": configuration,
               "statistics": {"creationTime": now, "startTime": now},
               "status": {"state": "DONE"}}
        try:
            if kinds == ["load"]:
                job["statistics"]["load"] = self._run_load(project, configuration["load"])
            elif kinds == ["query"]:
                job["statistics"]["query"] = self._run_query(project, job_id,
                                                             configuration["query"])
            else:
                raise JobFailed("invalid", f"this fake does not run {kinds[0]} jobs")
        except JobFailed as failed:
            job["status"].update(errorResult={"reason": failed.reason, "message": failed.message},
                                 errors=failed.errors)
        job["statistics"]["endTime"] = str(int(time.time() * 1000))
        self.jobs[(project, job_id)] = job
        return 200, job

    def _get_job(self, project: str, job_id: str) -> tuple[int, dict]:
        job = self.jobs.get((project, job_id))
        if job is None:
            return api_error(404, "NOT_FOUND", "notFound", f"Not found: Job {project}:{job_id}")
        return 200, job

    def _run_load(self, project: str, load: dict) -> dict:
        destination = load["destinationTable"]
        dataset = destination["datasetId"]
        target_project = destination.get("projectId", project)
        if (target_project, dataset) not in self.datasets:
            raise JobFailed("notFound", f"Not found: Dataset {target_project}:{dataset}")
        decorated = _DECORATOR_RE.match(destination["tableId"])
        table_id = decorated["table"] if decorated else destination["tableId"]
        day = None
        if decorated:
            try:
                day = dt.datetime.strptime(decorated["day"], "%Y%m%d")
            except ValueError:
                raise JobFailed("invalid", f"Invalid partition decorator "
                                f"{destination['tableId']}") from None
        key = (target_project, dataset, table_id)
        table = self.tables.get(key)
        schema = (load.get("schema") or {}).get("fields")
        if table is None:
            if load.get("createDisposition") == "CREATE_NEVER":
                raise JobFailed("notFound",
                                f"Not found: Table {target_project}:{dataset}.{table_id}")
            if decorated and not load.get("timePartitioning"):
                raise JobFailed("invalid", "Partitioning specification must be provided in "
                                "order to create partitioned table")
            if not schema:
                raise JobFailed("invalid", "No schema specified on job or table.")
        ref = f"{target_project}:{dataset}.{table_id}"
        fields = table.fields if table else [dict(f, type=canonical_type(f["type"]))
                                              for f in schema]
        if table is not None and schema:
            _compare_schemas(ref, table.fields, schema)
        if table is not None and decorated and not table.time_partitioning:
            raise JobFailed("invalid", "Cannot add storage to a non-partitioned table with a "
                            f"partition reference: {ref}")
        rows = self._read_sources(ref, load, fields)
        disposition = load.get("writeDisposition") or "WRITE_APPEND"
        if table is None:
            table = self._create(target_project, dataset, table_id, fields,
                                 load.get("timePartitioning"))
        partition = day or (dt.datetime.now(dt.timezone.utc).replace(
            hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
            if table.time_partitioning else None)
        where = ("_PARTITIONTIME = ?", [partition]) if decorated else ("true", [])
        existing = self.duck.execute(f"SELECT count(*) FROM {table.duck_name} WHERE {where[0]}",
                                     where[1]).fetchone()[0]
        if disposition == "WRITE_EMPTY" and existing:
            raise JobFailed("duplicate", f"Already Exists: Table {ref}")
        self.duck.execute("BEGIN")
        if disposition == "WRITE_TRUNCATE":
            self.duck.execute(f"DELETE FROM {table.duck_name} WHERE {where[0]}", where[1])
        marks = ", ".join("?" for _ in range(len(fields) + 1))
        self.duck.executemany(f"INSERT INTO {table.duck_name} VALUES ({marks})",
                              [[*row, partition] for row in rows])
        self.duck.execute("COMMIT")
        return {"inputFiles": str(len(load["sourceUris"])), "outputRows": str(len(rows)),
                "badRecords": "0"}

    def _read_sources(self, ref: str, load: dict, fields: list[dict]) -> list[list]:
        rows: list[list] = []
        fmt = load.get("sourceFormat") or "CSV"
        for uri in load["sourceUris"]:
            path = self.gcs.path_of(uri)
            if path is None or not path.is_file():
                raise JobFailed("notFound", f"Not found: URI {uri}")
            if fmt == "PARQUET":
                rows += _read_parquet(ref, path, fields)
            elif fmt == "CSV":
                rows += _read_csv(uri, path, fields, int(load.get("skipLeadingRows") or 0))
            else:
                raise JobFailed("invalid", f"this fake does not read {fmt}")
        return rows

    def _run_query(self, project: str, job_id: str, config: dict) -> dict:
        if config.get("useLegacySql", True) is not False:
            raise JobFailed("invalidQuery", "this fake runs GoogleSQL only (useLegacySql=false)")
        # Comments are not SQL (the training query's mention `project.dataset.table`).
        sql = re.sub(r"--[^\n]*|#[^\n]*", "", config["query"])
        views = []
        for p, d, t in set(re.findall(r"`([\w-]+)\.(\w+)\.([\w$-]+)`", sql)):
            table = self.tables.get((p, d, t))
            if table is None:
                raise JobFailed("notFound", f"Not found: Table {p}:{d}.{t} was not found in "
                                f"location {self.datasets.get((p, d), 'US')}")
            view = f"v_{table.duck_name}_{job_id.replace('-', '_')}"
            columns = ", ".join(f'"{f["name"]}"' for f in table.fields)
            pseudo = (", _PARTITIONTIME, CAST(_PARTITIONTIME AS DATE) AS _PARTITIONDATE"
                      if "_PARTITION" in sql.upper() else "")
            self.duck.execute(f"CREATE TEMP VIEW {view} AS SELECT {columns}{pseudo} "
                              f"FROM {table.duck_name}")
            views.append(view)
            sql = sql.replace(f"`{p}.{d}.{t}`", view)
        try:
            cursor = self.duck.execute(sql)
            described = cursor.description
            values = cursor.fetchall()
        except duckdb.Error as err:
            raise JobFailed("invalidQuery", str(err).splitlines()[0]) from None
        finally:
            for view in views:
                self.duck.execute(f"DROP VIEW {view}")
        fields = [{"name": d[0], "type": _FROM_DUCK.get(str(d[1]).upper(), "STRING"),
                   "mode": "NULLABLE"} for d in described]
        self.results[(project, job_id)] = (fields, values)
        return {"totalBytesProcessed": "0", "statementType": "SELECT"}

    def _query_results(self, project: str, job_id: str, query: dict) -> tuple[int, dict]:
        job = self.jobs.get((project, job_id))
        if job is None:
            return api_error(404, "NOT_FOUND", "notFound", f"Not found: Job {project}:{job_id}")
        if "errorResult" in job["status"]:
            error = job["status"]["errorResult"]
            code = 404 if error["reason"] == "notFound" else 400
            return api_error(code, "INVALID_ARGUMENT", error["reason"], error["message"])
        fields, values = self.results[(project, job_id)]
        return 200, {"kind": "bigquery#getQueryResultsResponse", "jobComplete": True,
                     "jobReference": job["jobReference"], "schema": {"fields": fields},
                     "totalRows": str(len(values)),
                     **_page(fields, values, query, int64_timestamps=True)}

    def _list_rows(self, project: str, dataset: str, table_id: str,
                   query: dict) -> tuple[int, dict]:
        table = self.tables.get((project, dataset, table_id))
        if table is None:
            return api_error(404, "NOT_FOUND", "notFound",
                             f"Not found: Table {project}:{dataset}.{table_id}")
        columns = ", ".join(f'"{f["name"]}"' for f in table.fields)
        values = self.duck.execute(f"SELECT {columns} FROM {table.duck_name}").fetchall()
        return 200, {"kind": "bigquery#tableDataList", "totalRows": str(len(values)),
                     **_page(table.fields, values, query, int64_timestamps=True)}


def _page(fields: list[dict], values: list[list], query: dict,
          int64_timestamps: bool) -> dict:
    start = int(query.get("pageToken") or query.get("startIndex") or 0)
    size = int(query.get("maxResults") or 100_000)
    chosen = values[start:start + size]
    out: dict[str, Any] = {"rows": [{"f": [{"v": _cell(v, f["type"])} for v, f in
                                            zip(row, fields, strict=True)]} for row in chosen]}
    if start + size < len(values):
        out["pageToken"] = str(start + size)
    return out


def _cell(value: Any, kind: str) -> str | None:
    """A value as the API writes it: text; TIMESTAMP as microseconds (formatOptions.
    useInt64Timestamp, which the Python client asks for); DATE as YYYY-MM-DD."""
    if value is None:
        return None
    if kind == "TIMESTAMP":
        moment = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        return str(int(moment.timestamp() * 1_000_000))
    if kind == "BOOLEAN":
        return "true" if value else "false"
    return str(value)


def _compare_schemas(ref: str, table_fields: list[dict], given: list[dict]) -> None:
    """A load schema against the table's: "Provided Schema does not match Table" otherwise."""
    have = {f["name"].lower(): canonical_type(f["type"]) for f in table_fields}
    names = {f["name"].lower(): f["name"] for f in table_fields}
    seen = set()
    for f in given:
        key = f["name"].lower()
        seen.add(key)
        if key not in have:
            raise JobFailed("invalid", f"Provided Schema does not match Table {ref}. Cannot add "
                            f"fields (field: {f['name']})")
        if canonical_type(f["type"]) != have[key]:
            raise JobFailed("invalid", f"Provided Schema does not match Table {ref}. Field "
                            f"{names[key]} has changed type from {have[key]} to "
                            f"{canonical_type(f['type'])}")
    for key in have.keys() - seen:
        raise JobFailed("invalid", f"Provided Schema does not match Table {ref}. Field "
                        f"{names[key]} is missing in new schema")


def _read_parquet(ref: str, path: Path, fields: list[dict]) -> list[list]:
    table = pq.read_table(path)
    given = [{"name": f.name, "type": arrow_type_name(f.type)} for f in table.schema]
    _compare_schemas(ref, fields, given)
    by_name = {name.lower(): name for name in table.column_names}
    columns = [table.column(by_name[f["name"].lower()]).to_pylist() for f in fields]
    return [list(row) for row in zip(*columns, strict=True)]


def _read_csv(uri: str, path: Path, fields: list[dict], skip: int) -> list[list]:
    rows, errors = [], []
    offset = 0
    with path.open(newline="", encoding="utf-8") as handle:
        lines = handle.read()
    reader = csv.reader(io.StringIO(lines))
    for number, record in enumerate(reader):
        position = offset
        offset += len(",".join(record)) + 1
        if number < skip:
            continue
        if len(record) < len(fields):
            errors.append(f"Error while reading data, error message: CSV table references column "
                          f"position {len(fields) - 1}, but line starting at position:{position} "
                          f"contains only {len(record)} columns.")
            continue
        if len(record) > len(fields):
            errors.append("Error while reading data, error message: Too many values in row "
                          f"starting at position: {position}.")
            continue
        row = []
        for index, (text, f) in enumerate(zip(record, fields, strict=True)):
            try:
                row.append(_parse(text, canonical_type(f["type"])))
            except ValueError:
                errors.append(f"Error while reading data, error message: Could not parse "
                              f"'{text}' as {_standard(f['type'])} for field {f['name']} "
                              f"(position {index}) starting at location {position}")
                row = None
                break
        if row is not None:
            rows.append(row)
    if errors:
        message = ("Error while reading data, error message: CSV table encountered too many "
                   f"errors, giving up. Rows: {len(errors)}; errors: {len(errors)}. Please look "
                   "into the errors[] collection for more details.")
        raise JobFailed("invalid", message, [{"reason": "invalid", "message": message},
                                             *({"reason": "invalid", "message": e,
                                                "location": uri} for e in errors)])
    return rows


def _standard(kind: str) -> str:
    return {"INTEGER": "INT64", "FLOAT": "DOUBLE", "BOOLEAN": "BOOL"}.get(canonical_type(kind),
                                                                          kind)


def _parse(text: str, kind: str) -> Any:
    if text == "":
        return None
    if kind == "INTEGER":
        if not re.fullmatch(r"[+-]?\d+", text.strip()):
            raise ValueError(text)
        return int(text)
    if kind == "FLOAT":
        return float(text)
    if kind == "BOOLEAN":
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError(text)
        return text.lower() in ("true", "1")
    return text


class _Handler(BaseHTTPRequestHandler):
    server: FakeBigQuery
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if url.path.startswith(("/storage/", "/download/", "/upload/")):
            self.server.requests.append((self.command, url.path, query, None))
            status, headers, data = self.server.gcs.handle(
                self.command, url.path, query, self.headers, raw, self.server.endpoint)
        else:
            body: Any = json.loads(raw) if raw else {}
            status, payload = self.server.handle_api(self.command, url.path, query, body)
            headers, data = {"Content-Type": "application/json"}, json.dumps(payload).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serving(gcs_root: Path) -> Iterator[FakeBigQuery]:
    """A FakeBigQuery answering on 127.0.0.1 for the duration of the block."""
    server = FakeBigQuery(gcs_root)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        # Closed and dropped here, in the thread that made it: a handler thread still parked on
        # a client's keep-alive connection holds the server, and if the connection's last
        # reference went with that daemon thread at interpreter exit, DuckDB's destructor
        # (closed or not) would release the GIL there and the thread, exiting at finalization,
        # would unwind through it (std::terminate, exit 134 after every test passed).
        with server.lock:
            server.duck.close()
            server.duck = None


def clients(server: FakeBigQuery, project: str) -> tuple[Any, Any]:
    """The real BigQuery and Cloud Storage clients, pointed at ``server``, with no credentials."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery, storage

    options = ClientOptions(api_endpoint=server.endpoint)
    return (bigquery.Client(project=project, credentials=AnonymousCredentials(),
                            client_options=options),
            storage.Client(project=project, credentials=AnonymousCredentials(),
                           client_options=options))
