"""BigQuery answered by DuckDB: the schema and rows TFX's executor asks for, for the spec's
own query text (the shim's code, without TFX)."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the shim folder, as in a task
from emulator_shim import bigquery, hooks

from pipelines.data import generator, source

TABLE = "my-gcp-project.ads.ad_clicks"


@pytest.fixture
def query(tmp_path, monkeypatch) -> str:
    data = generator.write_csv(tmp_path / "d.csv", 50, 1)
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"tables": {TABLE: str(data)}, "records": str(tmp_path)}))
    monkeypatch.setenv(hooks.SETTINGS_ENV, str(settings))
    return source.render_query(source.load_query(), f"`{TABLE}`")


def test_the_schema_has_bigquery_type_names(query) -> None:
    result = bigquery.Client(project="p").query(f"SELECT * FROM ({query}) LIMIT 0").result()
    types = {f.name: f.field_type for f in result.schema}
    assert types["Age"] == "INTEGER" and types["AreaIncome"] == "FLOAT"
    assert types["City"] == "STRING" and types["ClickedOnAd"] == "INTEGER"


def test_the_rows_are_the_querys(query) -> None:
    rows = bigquery.read_rows(query)
    assert len(rows) == 50 and set(rows[0]) >= {"Age", "Timestamp", "ClickedOnAd"}


def test_a_table_without_a_local_file_is_refused(query) -> None:
    with pytest.raises(bigquery.EmulatedBigQueryError, match="maps only"):
        bigquery.read_rows(query.replace(TABLE, "other-project.ads.t"))


def test_patches_can_be_switched_off_by_name(monkeypatch) -> None:
    monkeypatch.setenv(hooks.PATCHES_ENV, "none")
    assert hooks.enabled() == {}
    monkeypatch.setenv(hooks.PATCHES_ENV, "vertex-job-client")
    assert set(hooks.enabled()) == {"vertex-job-client"}
    monkeypatch.setenv(hooks.PATCHES_ENV, "bogus")
    with pytest.raises(SystemExit, match="unknown patch"):
        hooks.enabled()
