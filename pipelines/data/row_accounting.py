"""Row accounting: how many rows a run read, kept, dropped and changed, and why.

Rows leave the training data in two places: the training query's WHERE (a row whose label is
empty) and the local source's view (a Timestamp that is not a real date and time, see
``source.open_source``). Empty cells of kept rows become missing features. One aggregate over
the source's views counts each reason, so that a run reports it and stops when more than a set
share of the input would be lost, e.g.::

    {"read": 1000, "kept": 993, "dropped": {"label ClickedOnAd is empty": 7},
     "changed": {"Age is empty (left missing)": 3}, "changed_rows": 3}
"""

from __future__ import annotations

import json
from typing import Any

import duckdb

from models import features
from pipelines.data import source as data_source

ARTIFACT_PROPERTY = "row_accounting"  # custom property of the Examples artifact (JSON text)
FLAG = "--max-dropped-share"

LABEL_EMPTY = f"label {features.LABEL_KEY} is empty"
BAD_TIMESTAMP = f"{features.TIMESTAMP_FEATURE} is not a real date and time"
OTHER = "left out by the training query's other conditions"


def _empty(column: str) -> str:
    return f"{column} is empty (left missing)"


def count_rows(con: duckdb.DuckDBPyConnection, query_template: str) -> dict[str, Any]:
    """Counts by reason over a connection from ``source.open_source`` (its two views).

    ``kept`` is what the training query returns; rows it leaves out for a reason not known
    here (a condition added to the query) are counted under ``OTHER``. Each kept row counts
    once under every column it has empty; ``changed_rows`` counts the rows.
    """
    columns = [c for c in features.RAW_COLUMNS if c != features.LABEL_KEY]
    # Each test once per row (in the inner SELECT): the Timestamp check is the costly one.
    flags = ", ".join([f"{features.LABEL_KEY} IS NULL AS no_label",
                       f"NOT {data_source.timestamp_ok_sql(features.TIMESTAMP_FEATURE)} AS bad",
                       *(f"{c} IS NULL AS empty_{c}" for c in columns)])
    kept_if = "NOT no_label AND NOT bad"
    query = data_source.render_query(query_template, data_source.LOCAL_TABLE)
    row = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE no_label), "
        "count(*) FILTER (WHERE NOT no_label AND bad), "
        f"count(*) FILTER (WHERE {kept_if} AND ({' OR '.join(f'empty_{c}' for c in columns)})), "
        + ", ".join(f"count(*) FILTER (WHERE {kept_if} AND empty_{c})" for c in columns)
        + f", (SELECT count(*) FROM ({query})) "
        f"FROM (SELECT {flags} FROM {data_source.READ_VIEW})"
    ).fetchone()
    read, no_label, bad_stamp, changed_rows, *empty_counts, kept = row
    dropped = {LABEL_EMPTY: no_label, BAD_TIMESTAMP: bad_stamp,
               OTHER: read - no_label - bad_stamp - kept}
    return {
        "read": read,
        "kept": kept,
        "dropped": {reason: n for reason, n in dropped.items() if n > 0},
        "changed": {_empty(c): n for c, n in zip(columns, empty_counts, strict=True) if n},
        "changed_rows": changed_rows,
    }


def dropped(accounting: dict[str, Any]) -> int:
    return sum(accounting.get("dropped", {}).values())


def describe(accounting: dict[str, Any]) -> list[str]:
    """Parts of one line: '1,000 read, 993 kept', 'dropped 7 (label ... is empty: 7)', ..."""
    def reasons(counts: dict[str, int]) -> str:
        return ", ".join(f"{reason}: {n:,}" for reason, n in counts.items())

    parts = [f"{accounting['read']:,} read, {accounting['kept']:,} kept"]
    if accounting.get("dropped"):
        parts.append(f"dropped {dropped(accounting):,} ({reasons(accounting['dropped'])})")
    if accounting.get("changed"):
        rows = accounting.get("changed_rows", sum(accounting["changed"].values()))
        parts.append(f"changed {rows:,} ({reasons(accounting['changed'])})")
    return parts


def check(accounting: dict[str, Any], max_dropped_share: float, where: str) -> None:
    """DataError when no row is kept, or more than ``max_dropped_share`` of them is dropped."""
    read, lost = accounting["read"], dropped(accounting)
    reasons = "; ".join(f"{reason}: {n:,}" for reason, n in accounting["dropped"].items())
    if accounting["kept"] == 0:
        raise data_source.DataError(
            f"{where}: all {read:,} rows would be dropped ({reasons}); no examples are left")
    if read and lost / read > max_dropped_share:
        raise data_source.DataError(
            f"{where}: {lost:,} of {read:,} rows ({lost / read:.1%}) would be dropped, more "
            f"than the {max_dropped_share:.1%} allowed: {reasons}. Fix or remove those rows, "
            f"or allow more with {FLAG} (now {max_dropped_share:g})")


def to_json(accounting: dict[str, Any]) -> str:
    return json.dumps(accounting, sort_keys=False)


def row_accounting(examples_artifact: Any) -> dict[str, Any] | None:
    """The accounting an ExampleGen recorded on its Examples artifact (a TFX Artifact or an
    ML Metadata proto), or None when it has none (older runs, BigQueryExampleGen)."""
    properties = getattr(examples_artifact, "mlmd_artifact", examples_artifact).custom_properties
    if ARTIFACT_PROPERTY not in properties:
        return None
    try:
        value = json.loads(properties[ARTIFACT_PROPERTY].string_value)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
