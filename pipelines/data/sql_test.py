"""The one training query: it runs on DuckDB here and is BigQuery Standard SQL (checked offline
by parsing it with sqlglot's BigQuery dialect), so both ExampleGens read the same examples."""

from datetime import datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot
from sqlglot import exp
from sqlglot.dialects.bigquery import BigQuery
from sqlglot.errors import ParseError
from sqlglot.tokens import TokenType

from models import features
from pipelines.data import generator as data_generator
from pipelines.data import source as data_source

BIGQUERY_TYPES = {"INT64", "FLOAT64", "STRING", "BOOL", "NUMERIC", "TIMESTAMP", "DATE"}
TABLE = "`my-project.ads.ad_clicks`"


def bigquery_problems(sql: str) -> list[str]:
    """What in ``sql`` is not BigQuery Standard SQL, as far as a parser can tell offline."""
    try:
        statements = sqlglot.parse(sql, read="bigquery", error_level=sqlglot.ErrorLevel.RAISE)
    except ParseError as err:
        return [f"does not parse as BigQuery SQL: {err}"]
    if len(statements) != 1 or not isinstance(statements[0], exp.Select):
        return ["expected exactly one SELECT statement"]
    tree = statements[0]
    problems = [f"function {f.name!r} is not a BigQuery function"
                for f in tree.find_all(exp.Anonymous)]
    for cast in tree.find_all(exp.Cast):
        target = cast.to.sql(dialect="bigquery").upper()
        if target not in BIGQUERY_TYPES:
            problems.append(f"CAST to {target} is not a BigQuery type")
    # sqlglot reads PostgreSQL/DuckDB '::' casts in every dialect; BigQuery does not.
    if any(t.token_type == TokenType.DCOLON for t in BigQuery().tokenize(sql)):
        problems.append("'::' cast is not BigQuery syntax; use CAST(x AS type)")
    return problems


def test_training_query_is_bigquery_standard_sql() -> None:
    sql = data_source.render_query(data_source.load_query(), TABLE)
    assert bigquery_problems(sql) == []
    tree = sqlglot.parse_one(sql, read="bigquery")
    table = next(tree.find_all(exp.Table))
    assert (table.catalog, table.db, table.name) == ("my-project", "ads", "ad_clicks")
    assert tree.named_selects == list(features.RAW_COLUMNS)
    casts = {c.alias_or_name: c.this.to.sql(dialect="bigquery") for c in tree.expressions}
    assert casts["Age"] == "INT64" and casts["AreaIncome"] == "FLOAT64"
    assert casts["City"] == "STRING" and casts[features.LABEL_KEY] == "INT64"


@pytest.mark.parametrize(("sql", "problem"), [
    ("SELECT CAST(Age AS HUGEINT) AS Age FROM t", "is not a BigQuery type"),
    ("SELECT hash(City) AS c FROM t", "'hash' is not a BigQuery function"),
    ("SELECT epoch_ms(Age) AS c FROM t", "'epoch_ms' is not"),
    ("SELECT Age::INT64 AS Age FROM t", "'::' cast"),
    ("SELECT Age FROM t WHERE (Age > 1", "does not parse"),
    ("SELECT 1; SELECT 2", "exactly one SELECT"),
])
def test_the_check_catches_duckdb_only_sql(sql, problem) -> None:
    assert any(problem in p for p in bigquery_problems(sql)), bigquery_problems(sql)


def test_same_query_runs_on_duckdb_with_bigquery_types(tmp_path) -> None:
    batch = next(data_generator.generate_batches(50, seed=3, start=datetime(2026, 1, 5)))
    table = pa.Table.from_batches([batch])
    label = table.column(features.LABEL_KEY).to_pylist()
    label[0] = None
    table = table.set_column(table.schema.get_field_index(features.LABEL_KEY),
                             features.LABEL_KEY, pa.array(label, pa.int64()))
    pq.write_table(table, tmp_path / "part-0.parquet")
    source = data_source.SourceFiles.from_pattern(str(tmp_path / "*.parquet"))
    result = pa.Table.from_batches(list(
        data_source.query_batches(source, data_source.load_query())))
    assert result.num_rows == 49, "rows without a label are left out on both engines"
    assert result.column_names == list(features.RAW_COLUMNS)
    types = {name: result.schema.field(name).type for name in result.column_names}
    assert types["Age"] == pa.int64() and types["DailyTimeSpentOnSite"] == pa.float64()
    assert pa.types.is_string(types["City"]) and types[features.LABEL_KEY] == pa.int64()
