"""Delayed labels from a BigQuery table, through the real google-cloud-bigquery client
against the recording fake of BigQuery's REST API on 127.0.0.1 (pipelines.testing.
fake_bigquery, which refuses what BigQuery refuses and cites its API reference)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.common.request_log import LABEL_SCHEMA
from pipelines.monitoring import labels_table
from pipelines.testing import fake_bigquery

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
TABLE = "label-project.ads.labels"


def _labels(ids: list[str], clicked: list[int | None]) -> pa.Table:
    return pa.table({"request_id": ids, "ClickedOnAd": clicked,
                     "labelled_at": [T0 + timedelta(seconds=i) for i in range(len(ids))]},
                    schema=LABEL_SCHEMA)


def _load(server, tmp_path: Path, table: pa.Table, schema: list) -> None:
    """Loads ``table`` into TABLE as a labelling job would: a Parquet file, a load job."""
    import pyarrow.parquet as pq
    from google.cloud import bigquery

    (tmp_path / "gcs" / "bucket" / "labels").mkdir(parents=True, exist_ok=True)
    pq.write_table(table, tmp_path / "gcs" / "bucket" / "labels" / "part-a.parquet")
    bq, _ = fake_bigquery.clients(server, "label-project")
    bq.load_table_from_uri(
        "gs://bucket/labels/part-a.parquet", TABLE,
        job_config=bigquery.LoadJobConfig(source_format="PARQUET", schema=schema,
                                          write_disposition="WRITE_TRUNCATE")).result()


def _schema(label_type: str = "INTEGER") -> list:
    from google.cloud import bigquery

    return [bigquery.SchemaField("request_id", "STRING"),
            bigquery.SchemaField("ClickedOnAd", label_type),
            bigquery.SchemaField("labelled_at", "TIMESTAMP")]


@pytest.fixture
def server(tmp_path: Path):
    (tmp_path / "gcs" / "bucket").mkdir(parents=True)
    with fake_bigquery.serving(tmp_path / "gcs") as fake:
        fake.add_dataset("label-project", "ads")
        yield fake


def test_labels_read_from_a_table_are_checked_like_label_files(server, tmp_path) -> None:
    _load(server, tmp_path, _labels(["a", "b", "c", "d"], [1, 0, None, 3]), _schema())
    table, problems = labels_table.read_labels_table(TABLE, server.endpoint)
    assert table.schema.equals(LABEL_SCHEMA)
    assert table.to_pylist() == [
        {"request_id": "a", "ClickedOnAd": 1, "labelled_at": T0},
        {"request_id": "b", "ClickedOnAd": 0, "labelled_at": T0 + timedelta(seconds=1)}]
    assert sorted(problems) == ["1 label record(s) without ClickedOnAd; dropped",
                                "1 label(s) with ClickedOnAd other than 0/1; dropped"]
    (query,) = [b for _, b in [(q, b) for m, p, q, b in server.requests
                               if m == "POST" and p.endswith("/jobs")]
                if b.get("configuration", {}).get("query")]
    assert "`label-project.ads.labels`" in query["configuration"]["query"]["query"]


def test_a_missing_table_or_column_is_one_line_naming_the_table(server, tmp_path) -> None:
    with pytest.raises(labels_table.LabelsTableError,
                       match=r"--labels-table label-project.ads.labels: cannot read it "
                             r"\(NotFound: .*label-project:ads.labels"):
        labels_table.read_labels_table(TABLE, server.endpoint)
    _load(server, tmp_path, _labels(["a"], [1]).drop(["ClickedOnAd"]),
          [f for f in _schema() if f.name != "ClickedOnAd"])
    with pytest.raises(labels_table.LabelsTableError, match="cannot read it"):
        labels_table.read_labels_table(TABLE, server.endpoint)


@pytest.mark.parametrize("text", ["ads.labels", "p.ads.labels", "My_Project.ads.labels",
                                  "proj-1.ads.labels; DROP"])
def test_a_table_name_is_checked_before_any_call(text: str) -> None:
    with pytest.raises(labels_table.LabelsTableError, match=r"expected PROJECT\.DATASET\.TABLE"):
        labels_table.read_labels_table(text, "http://127.0.0.1:9")
