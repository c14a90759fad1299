"""Batch scoring of an uploaded CSV: check it against the schema, score it, give it back.

The file is read with the pipeline's own reader (``pipelines.data.source``: DuckDB, the same
column matching that ignores case, spaces and underscores, the same type checks and messages),
so a file the pipeline would reject for a column is rejected here with the same words. Unlike
the pipeline, the label is optional. Every problem is collected, not just the first one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from dashboard.schema_form import FieldSpec
from dashboard.serving_client import ServingClient
from models import features
from pipelines.data import source as data_source

MAX_ROWS = 100_000
EXAMPLE_LINES = 5
_SQL_TYPES = {"float": "DOUBLE", "int": "BIGINT", "string": "VARCHAR"}


@dataclasses.dataclass(frozen=True)
class BatchCheck:
    """The rows ready to score (None when the file has problems) and every problem found."""

    frame: pd.DataFrame | None
    problems: tuple[str, ...]
    ignored_columns: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.frame is not None and not self.problems


def _lines(index: pd.Index) -> str:
    # Line numbers of the CSV: the header is line 1, the first row line 2.
    shown = ", ".join(str(i + 2) for i in index[:EXAMPLE_LINES])
    return shown + (", ..." if len(index) > EXAMPLE_LINES else "")


def check_csv(path: Path, fields: list[FieldSpec], display_name: str | None = None,
              max_rows: int = MAX_ROWS) -> BatchCheck:
    """Reads a CSV of the ad-click schema and lists every problem that stops scoring it."""
    path = Path(path)
    name = display_name or path.name

    def named(message: str) -> str:
        return message.replace(str(path), name)

    if path.stat().st_size == 0:
        return BatchCheck(None, (f"{name} is empty (0 bytes); expected a header line with the "
                                 f"columns {', '.join(features.SERVING_FEATURES)} and rows",))
    source = data_source.SourceFiles((str(path),), "csv")
    con = data_source.connect()
    try:
        return _check(con, source, fields, name, named, max_rows)
    finally:
        con.close()


def _check(con, source: data_source.SourceFiles, fields: list[FieldSpec], name: str,
           named: Callable[[str], str], max_rows: int) -> BatchCheck:
    try:
        match = data_source.match_columns(con, source, columns=features.SERVING_FEATURES,
                                          optional=(features.LABEL_KEY,))
    except data_source.DataError as err:
        return BatchCheck(None, (named(str(err)),))
    ignored = match.unmatched
    problems = [f"missing column {c!r}" for c in match.missing]
    if problems:
        problems.append(f"{name} has the columns {', '.join(match.described)}; expected "
                        f"{', '.join(features.SERVING_FEATURES)} (and optionally "
                        f"{features.LABEL_KEY}), in any order, case and spacing")
    reader = source.reader_sql()
    rows = con.execute(f"SELECT count(*) FROM {reader}").fetchone()[0]
    if rows == 0:
        return BatchCheck(None, (*problems, f"{name} has a header but no rows"), ignored)
    if rows > max_rows:
        return BatchCheck(None, (*problems, f"{name} has {rows:,} rows; the dashboard scores at "
                                 f"most {max_rows:,} at a time (split the file)"), ignored)
    mistyped = data_source.type_problems(con, source, match)
    problems.extend(named(problem) for problem in mistyped.values())
    readable = {c: actual for c, actual in match.mapping.items() if c not in mistyped}
    if not readable:
        return BatchCheck(None, tuple(problems), ignored)
    select = ", ".join(
        f'CAST("{actual.replace(chr(34), chr(34) * 2)}" AS '
        f'{_SQL_TYPES[features.RAW_TYPES[column]]}) AS "{column}"'
        for column, actual in readable.items())
    frame = con.execute(f"SELECT {select} FROM {reader}").df()
    problems.extend(_value_problems(frame, [f for f in fields if f.name in readable]))
    return BatchCheck(None if problems else frame, tuple(problems), ignored)


def _value_problems(frame: pd.DataFrame, fields: list[FieldSpec]) -> list[str]:
    problems = []
    for field in fields:
        column = frame[field.name]
        empty = column.index[column.isna()]
        if len(empty):
            problems.append(f"column {field.name!r}: {len(empty)} empty value(s) on line(s) "
                            f"{_lines(empty)}")
        present = column.dropna()
        bad = present.index[[field.problem(v) is not None for v in present]]
        if len(bad):
            first = present[bad[0]]
            if field.kind in ("float", "int"):
                why = f"outside the schema's range {field.range_text()}"
            elif field.kind == "timestamp":
                why = "not 'YYYY-MM-DD HH:MM:SS'"
            else:
                why = "empty text or not one of the schema's values"
            problems.append(f"column {field.name!r}: {len(bad)} value(s) {why} on line(s) "
                            f"{_lines(bad)} (the first: {first!r})")
    return problems


def score(client: ServingClient, frame: pd.DataFrame, chunk_rows: int = 500,
          progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """The rows with ``probability``, ``clicked`` and ``model_version`` columns added."""
    instances = frame[list(features.SERVING_FEATURES)].to_dict("records")
    result = client.predict_in_chunks(instances, chunk_rows=chunk_rows, progress=progress)
    out = frame.copy()
    out["probability"] = [p.probability for p in result.predictions]
    out["clicked"] = [p.clicked for p in result.predictions]
    out["model_version"] = result.model_version
    return out


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()
