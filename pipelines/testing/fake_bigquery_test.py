"""The real google-cloud-bigquery client against FakeBigQuery: what BigQuery refuses comes back
as BigQuery sends it (an HTTP error on jobs.insert, or a DONE job with an errorResult).

Sources of each rule are in ``fake_bigquery``'s docstring: the BigQuery REST reference
(JobConfigurationLoad, JobReference, JobStatus), "Load data into partitioned tables", and the
messages of the real service quoted in googleapis/google-cloud-java#2867 (duplicate job),
google/clusterfuzz#680 and googleapis/google-cloud-python#9207 (schema mismatch),
mozilla/telemetry-airflow#857 (decorator on an unpartitioned table) and
tylertreat/BigQuery-Python#148 (CSV errors).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from google.api_core import exceptions
from google.cloud import bigquery

from pipelines.testing import fake_bigquery

PROJECT = "my-gcp-project"
TABLE = f"{PROJECT}.ads.t"
SCHEMA = [bigquery.SchemaField("x", "INT64"), bigquery.SchemaField("y", "STRING")]


@pytest.fixture
def fake(tmp_path: Path):
    with fake_bigquery.serving(tmp_path) as server:
        server.add_dataset(PROJECT, "ads")
        bq, _ = fake_bigquery.clients(server, PROJECT)
        yield server, bq, tmp_path


def _table(bq, partitioned: bool = True) -> None:
    table = bigquery.Table(TABLE, schema=SCHEMA)
    if partitioned:
        table.time_partitioning = bigquery.TimePartitioning(type_="DAY")
    bq.create_table(table)


def _csv(root: Path, name: str, text: str) -> str:
    path = root / "bkt" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return f"gs://bkt/{name}"


def _load(bq, uris, destination, job_id=None, **config):
    config.setdefault("source_format", "CSV")
    config.setdefault("skip_leading_rows", 1)
    job_config = bigquery.LoadJobConfig(**config)
    return bq.load_table_from_uri(uris, destination, job_id=job_id, location="US",
                                  job_config=job_config)


def test_a_duplicate_job_id_is_409_already_exists_and_keeps_the_first_job(fake) -> None:
    server, bq, root = fake
    _table(bq)
    uri = _csv(root, "a.csv", "x,y\n1,a\n")
    _load(bq, [uri], TABLE + "$20261201", job_id="same").result()
    with pytest.raises(exceptions.Conflict) as raised:
        _load(bq, [uri], TABLE + "$20261201", job_id="same")
    assert raised.value.code == 409
    assert raised.value.errors[0]["reason"] == "duplicate"
    assert raised.value.errors[0]["message"] == f"Already Exists: Job {PROJECT}:US.same"
    assert len(server.load_jobs()) == 1
    assert server.partition_counts(PROJECT, "ads", "t") == {"20261201": 1}


def test_write_truncate_on_a_decorator_replaces_only_that_partition(fake) -> None:
    server, bq, root = fake
    _table(bq)
    two = _csv(root, "two.csv", "x,y\n1,a\n2,b\n")
    one = _csv(root, "one.csv", "x,y\n3,c\n")
    _load(bq, [two], TABLE + "$20261201", write_disposition="WRITE_TRUNCATE").result()
    _load(bq, [two], TABLE + "$20261202", write_disposition="WRITE_TRUNCATE").result()
    _load(bq, [one], TABLE + "$20261201", write_disposition="WRITE_TRUNCATE").result()
    assert server.partition_counts(PROJECT, "ads", "t") == {"20261201": 1, "20261202": 2}
    _load(bq, [one], TABLE + "$20261202", write_disposition="WRITE_APPEND").result()
    assert server.partition_counts(PROJECT, "ads", "t") == {"20261201": 1, "20261202": 3}


def test_a_schema_mismatch_fails_the_job_not_the_insert(fake) -> None:
    server, bq, root = fake
    _table(bq)
    path = root / "bkt" / "bad.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table({"x": pa.array([1.5]), "y": pa.array(["a"])}), path)
    job = _load(bq, ["gs://bkt/bad.parquet"], TABLE + "$20261201", source_format="PARQUET",
                skip_leading_rows=None)  # jobs.insert accepted it
    with pytest.raises(exceptions.BadRequest):
        job.result()
    assert job.error_result == {
        "reason": "invalid",
        "message": f"Provided Schema does not match Table {PROJECT}:ads.t. Field x has changed "
                   "type from INTEGER to FLOAT"}
    assert server.partition_counts(PROJECT, "ads", "t") == {}


def test_a_csv_value_that_does_not_parse_fails_the_job_with_each_error(fake) -> None:
    server, bq, root = fake
    _table(bq)
    uri = _csv(root, "bad.csv", "x,y\n1,a\n1.5,b\n")
    job = _load(bq, [uri], TABLE + "$20261201")
    with pytest.raises(exceptions.BadRequest):
        job.result()
    assert job.error_result["message"].startswith(
        "Error while reading data, error message: CSV table encountered too many errors")
    assert "Could not parse '1.5' as INT64 for field x (position 0)" in job.errors[1]["message"]
    assert server.partition_counts(PROJECT, "ads", "t") == {}  # nothing of a failed job


def test_a_partition_decorator_on_an_unpartitioned_table_is_an_error(fake) -> None:
    _, bq, root = fake
    _table(bq, partitioned=False)
    job = _load(bq, [_csv(root, "a.csv", "x,y\n1,a\n")], TABLE + "$20261201")
    with pytest.raises(exceptions.BadRequest):
        job.result()
    assert job.error_result["message"] == (
        "Cannot add storage to a non-partitioned table with a partition reference: "
        f"{PROJECT}:ads.t")


def test_an_unknown_load_field_is_400(fake) -> None:
    server, bq, root = fake
    _table(bq)
    config = bigquery.LoadJobConfig(source_format="CSV")
    config._properties["load"]["skipLeadingRow"] = 1  # a typo of skipLeadingRows
    with pytest.raises(exceptions.BadRequest) as raised:
        bq.load_table_from_uri([_csv(root, "a.csv", "1,a\n")], TABLE, job_config=config)
    assert 'Unknown name "skipLeadingRow"' in raised.value.message
    assert server.jobs == {}


def test_missing_sources_tables_and_non_empty_write_empty_fail_the_job(fake) -> None:
    _, bq, root = fake
    job = _load(bq, ["gs://bkt/none.csv"], TABLE, create_disposition="CREATE_NEVER")
    with pytest.raises(exceptions.NotFound):
        job.result()
    _table(bq)
    job = _load(bq, ["gs://bkt/none.csv"], TABLE)
    with pytest.raises(exceptions.NotFound, match=r"Not found: URI gs://bkt/none\.csv"):
        job.result()
    uri = _csv(root, "a.csv", "x,y\n1,a\n")
    _load(bq, [uri], TABLE + "$20261201").result()
    with pytest.raises(exceptions.Conflict):
        _load(bq, [uri], TABLE + "$20261201", write_disposition="WRITE_EMPTY").result()


def test_queries_see_rows_and_the_partition_pseudo_columns(fake) -> None:
    _, bq, root = fake
    _table(bq)
    _load(bq, [_csv(root, "a.csv", "x,y\n1,a\n2,b\n")], TABLE + "$20261201").result()
    rows = bq.query(f"SELECT _PARTITIONDATE AS day, COUNT(*) AS n, SUM(x) AS s FROM `{TABLE}` "
                    "GROUP BY 1").result()
    assert [(str(r.day), r.n, r.s) for r in rows] == [("2026-12-01", 2, 3)]
    star = bq.query(f"SELECT * FROM `{TABLE}` ORDER BY x").result()
    assert [f.name for f in star.schema] == ["x", "y"]  # pseudo-columns are not in SELECT *
    with pytest.raises(exceptions.NotFound):
        bq.query(f"SELECT 1 FROM `{PROJECT}.ads.missing`").result()
