"""Ingestion through the real BigQuery and Cloud Storage clients against the recording fake
(``pipelines.testing.fake_bigquery``, which refuses what BigQuery refuses; its docstring cites
the REST reference and the real service's messages). Nothing reaches Google Cloud."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from google.cloud import bigquery

from models import features
from pipelines.cloud import ingest, ingest_cli
from pipelines.data import source as data_source
from pipelines.data import spans
from pipelines.monitoring import live, trigger
from pipelines.testing import fake_bigquery
from pipelines.testing.traffic import generated, logged_requests

PROJECT = "my-gcp-project"
TABLE = f"{PROJECT}.ads.ad_clicks"
BUCKET = "clickflow-bucket"
SOURCE = f"gs://{BUCKET}/incoming/"
DAY1, DAY2 = dt.date(2026, 12, 1), dt.date(2026, 12, 2)


@pytest.fixture
def cloud(tmp_path: Path):
    root = tmp_path / "gcs"
    (root / BUCKET).mkdir(parents=True)
    with fake_bigquery.serving(root) as server:
        server.add_dataset(PROJECT, "ads")
        bq, storage = fake_bigquery.clients(server, PROJECT)
        yield server, bq, storage, root


def _examples(rows: int, seed: int) -> pa.Table:
    return generated(rows, seed).cast(spans.EXAMPLES_SCHEMA)


def _put(root: Path, day: dt.date, name: str, table: pa.Table) -> Path:
    path = root / BUCKET / "incoming" / f"date={day:%Y-%m-%d}" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if name.endswith(".csv"):
        pacsv.write_csv(table, path)
    else:
        pq.write_table(table, path)
    return path


def _counts(server) -> dict[str, int]:
    return server.partition_counts(PROJECT, "ads", "ad_clicks")


def _load(cloud, day=DAY1) -> ingest.IngestResult:
    _, bq, storage, _ = cloud
    return ingest.load_day(bq, storage, TABLE, SOURCE, day)


def test_a_day_is_loaded_as_its_partition_of_a_new_table(cloud) -> None:
    server, _, _, root = cloud
    _put(root, DAY1, "part-0.csv", _examples(50, 1))
    result = _load(cloud)
    assert (result.rows, result.partition, result.already_loaded) == (50, "20261201", False)
    assert _counts(server) == {"20261201": 50}
    ((_, _, created),) = server.calls("POST", r"/datasets/ads/tables$")
    assert created["timePartitioning"] == {"type": "DAY"}
    assert [f["name"] for f in created["schema"]["fields"]] == list(features.RAW_COLUMNS)
    (job,) = server.load_jobs()
    load = job["configuration"]["load"]
    assert load["destinationTable"]["tableId"] == "ad_clicks$20261201"
    assert (load["writeDisposition"], load["createDisposition"]) == ("WRITE_TRUNCATE",
                                                                    "CREATE_NEVER")
    assert load["sourceUris"] == [f"{SOURCE}date=2026-12-01/part-0.csv"]


def test_loading_a_day_again_loads_its_rows_once(cloud) -> None:
    server, _, _, root = cloud
    _put(root, DAY1, "part-0.parquet", _examples(40, 1))
    first, again = _load(cloud), _load(cloud)
    assert again.already_loaded and again.job_id == first.job_id and again.rows == 40
    assert len(server.calls("POST", r"/jobs$")) == 2  # the retry was refused with 409 ...
    assert len(server.load_jobs()) == 1  # ... and loaded nothing
    assert _counts(server) == {"20261201": 40}
    _put(root, DAY1, "part-1.parquet", _examples(25, 2))  # a late file of the same day
    late = _load(cloud)
    assert late.job_id != first.job_id and not late.already_loaded
    assert _counts(server) == {"20261201": 65}  # each file once


def test_two_days_are_two_partitions_and_reloading_one_leaves_the_other(cloud) -> None:
    server, _, _, root = cloud
    _put(root, DAY1, "a.parquet", _examples(30, 1))
    _put(root, DAY2, "b.parquet", _examples(20, 2))
    _load(cloud, DAY1), _load(cloud, DAY2)
    _put(root, DAY1, "a.parquet", _examples(10, 3))  # day 1 rewritten: a new generation
    _load(cloud, DAY1)
    assert _counts(server) == {"20261201": 10, "20261202": 20}


def _bad_label(t: pa.Table) -> pa.Table:
    labels = pc.if_else(pc.equal(pa.array(range(t.num_rows)), 3), 2, t["ClickedOnAd"])
    return t.set_column(t.schema.get_field_index("ClickedOnAd"), "ClickedOnAd", labels)


@pytest.mark.parametrize(("name", "change", "expected"), [
    ("bad.csv", _bad_label, "label column 'ClickedOnAd' should be 0 or 1"),
    ("bad.csv", lambda t: t.select(["Age", *[c for c in t.column_names if c != "Age"]]),
     "column 1 is 'Age' but the table's column 1 is 'DailyTimeSpentOnSite'"),
    ("bad.csv", lambda t: t.set_column(1, "Age", pc.add(t["Age"].cast(pa.float64()), 0.5)),
     "column 'Age' should hold an integer"),
    ("bad.parquet",
     lambda t: t.set_column(2, "AreaIncome", pc.round(t["AreaIncome"]).cast(pa.int64())),
     "column 'AreaIncome' is int64 in the Parquet file but FLOAT in the table"),
    ("bad.parquet", lambda t: t.rename_columns([c.lower() for c in t.column_names]),
     "missing column 'DailyTimeSpentOnSite' (found 'dailytimespentonsite'"),
])
def test_a_bad_file_is_refused_before_anything_is_created_or_loaded(cloud, name, change,
                                                                     expected) -> None:
    server, _, _, root = cloud
    suffix = name.rsplit(".", 1)[1]
    _put(root, DAY1, f"good.{suffix}", _examples(20, 1))
    _put(root, DAY1, name, change(_examples(20, 2)))
    with pytest.raises(ingest.IngestError) as raised:
        _load(cloud)
    message = str(raised.value)
    assert message.startswith(f"{SOURCE}date=2026-12-01/{name}: ")
    assert expected in message, message
    assert server.calls("POST", r"/jobs$") == [] and server.tables == {}


def test_an_existing_table_with_another_schema_is_refused_naming_the_column(cloud) -> None:
    server, bq, _, root = cloud
    schema = [bigquery.SchemaField(f.name, "STRING" if f.name == "Age" else f.field_type)
              for f in ingest.table_schema()]
    table = bigquery.Table(TABLE, schema=schema)
    table.time_partitioning = bigquery.TimePartitioning(type_="DAY")
    bq.create_table(table)
    _put(root, DAY1, "a.csv", _examples(10, 1))
    with pytest.raises(ingest.IngestError, match="column 'Age' is STRING, expected INTEGER"):
        _load(cloud)
    assert server.load_jobs() == []


def test_a_failed_load_job_is_reported_with_bigquerys_reason(cloud, monkeypatch) -> None:
    """Should a file pass our checks and still fail BigQuery's, its job error is shown."""
    server, _, _, root = cloud
    _put(root, DAY1, "a.csv", _examples(10, 1))
    monkeypatch.setattr(ingest.ingest_checks, "problem", lambda path, fmt: None)
    _put(root, DAY1, "b.csv", _examples(10, 2).set_column(
        1, "Age", pc.add(_examples(10, 2)["Age"].cast(pa.float64()), 0.5)))
    with pytest.raises(ingest.IngestError) as raised:
        _load(cloud)
    assert "CSV table encountered too many errors" in str(raised.value)
    assert "Could not parse '" in str(raised.value) and "for field Age" in str(raised.value)
    assert _counts(server) == {}
    with pytest.raises(ingest.IngestError, match="earlier run of this same load"):
        _load(cloud)


def test_the_training_query_runs_on_the_loaded_table(cloud) -> None:
    _, bq, _, root = cloud
    _put(root, DAY1, "a.parquet", _examples(30, 1))
    _put(root, DAY2, "b.csv", _examples(20, 2))
    _load(cloud, DAY1), _load(cloud, DAY2)
    query = data_source.render_query(data_source.load_query(), f"`{TABLE}`")  # as the graph
    result = bq.query(query, job_config=bigquery.QueryJobConfig(use_legacy_sql=False)).result()
    rows = list(result)
    assert len(rows) == 50
    types = {f.name: f.field_type for f in result.schema}
    assert (types["Age"], types["AreaIncome"], types["City"]) == ("INTEGER", "FLOAT", "STRING")
    assert sorted(r["Age"] for r in rows) == sorted(
        _examples(30, 1)["Age"].to_pylist() + _examples(20, 2)["Age"].to_pylist())


def test_labelled_traffic_is_ingested_into_the_days_partition_once(cloud) -> None:
    server, bq, storage, root = cloud
    t0 = dt.datetime(2026, 12, 1, tzinfo=timezone.utc)
    log, labels = logged_requests(generated(120, 1), version=1, start=t0, seconds=60,
                                  id_prefix="r")
    joined = live.join_labels(log, labels.slice(0, 80), cutoff=t0 + timedelta(days=1))
    examples = trigger.labelled_examples(joined.table)
    _put(root, DAY1, "files.parquet", _examples(5, 9))
    first = ingest.ingest_examples(bq, storage, TABLE, SOURCE, examples, DAY1)
    again = ingest.ingest_examples(bq, storage, TABLE, SOURCE, examples, DAY1)
    assert first.rows == 85 and again.already_loaded
    assert _counts(server) == {"20261201": 85}
    uploaded = list((root / BUCKET / "incoming" / "date=2026-12-01").glob("labelled-*"))
    assert len(uploaded) == 1 and pq.read_table(uploaded[0]).equals(examples)
    with pytest.raises(ingest.IngestError, match="no labelled requests"):
        ingest.ingest_examples(bq, storage, TABLE, SOURCE, examples.slice(0, 0), DAY1)


def test_the_command_loads_a_day_and_words_its_errors(cloud, tmp_path, capsys) -> None:
    server, _, _, root = cloud
    config = tmp_path / "cloud.yaml"
    config.write_text(f"project: {PROJECT}\nregion: us-central1\nbucket: {BUCKET}\n"
                      f"bigquery_table: {TABLE}\npipeline_image: "
                      "us-central1-docker.pkg.dev/p/clickflow/pipeline:0.1.0\n")
    _put(root, DAY1, "a.csv", _examples(10, 1))
    argv = ["--config", str(config), "--endpoint", server.endpoint]
    assert ingest_cli.main([*argv, "--day", "2026-12-01"]) == 0
    assert f"{TABLE}$20261201: 10 rows from 1 file(s) loaded by job" in capsys.readouterr().out
    assert ingest_cli.main([*argv, "--day", "2026-12-05"]) == 2
    assert capsys.readouterr().out == (
        f"error: no data files under {SOURCE}date=2026-12-05/: expected .csv or .parquet "
        "files\n")
