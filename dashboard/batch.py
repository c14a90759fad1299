"""Checking an uploaded CSV line by line: which rows can be scored, and why the others cannot.

The header is matched by the pipeline's own code (``pipelines.data.source.match_columns``: case,
spaces and underscores ignored, repeated columns refused, bytes that are not UTF-8 located), run
on the header line alone so that one ragged row later in the file cannot reject the whole file.
The rows are then read one at a time with Python's csv module (as ``pipelines.data.csv_text``
does to find line numbers), so a file of any size is checked in bounded memory and every problem
has its line number and plain words: "line 3, Age: 'thirty' is not a whole number".
"""

from __future__ import annotations

import csv
import dataclasses
import math
import re
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from dashboard.schema_form import FieldSpec
from models import features
from pipelines.data import csv_text
from pipelines.data import source as data_source

# The pipeline's rule for a Timestamp (pipelines.data.source): written exactly so, and real.
_TIMESTAMP_RE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


@dataclasses.dataclass(frozen=True)
class Header:
    """Where each expected column is in the file, or why the file cannot be scored at all."""

    names: tuple[str, ...]  # the header as written
    index: dict[str, int]  # serving feature (and the label, if present) -> position
    ignored: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def labelled(self) -> bool:
        return features.LABEL_KEY in self.index


@dataclasses.dataclass(frozen=True)
class Line:
    """One record of the file: its line, its cells as written, its values or its problems."""

    line: int
    cells: list[str]
    values: dict[str, Any]
    label: int | None
    problems: list[str]


def read_header(path: Path, display_name: str) -> Header:
    """The file's header matched to the serving features (and optionally the label)."""
    path = Path(path)
    if path.stat().st_size == 0:
        return Header((), {}, problems=(
            f"{display_name} is empty (0 bytes); expected a header line with the columns "
            f"{', '.join(features.SERVING_FEATURES)} and rows",))
    names = csv_text.header(str(path))
    if not names:
        # Python's csv module stops at a NUL byte or a broken quote: not a CSV text file.
        where = csv_text.not_utf8(str(path))
        return Header((), {}, problems=(
            ("cannot read " + where.replace(str(path), display_name)) if where else
            f"{display_name} has no header line that can be read as CSV text",))
    with tempfile.TemporaryDirectory(prefix="clickflow-header-") as folder:
        only = Path(folder) / "header.csv"
        with open(only, "w", encoding="utf-8", errors="surrogateescape", newline="") as f:
            csv.writer(f).writerow(names)
        where = csv_text.not_utf8(str(only))
        if where:
            return Header(tuple(names), {}, problems=(
                "cannot read " + where.replace(str(only), f"{display_name} (the header)"),))
        con = data_source.connect()
        try:
            match = data_source.match_columns(
                con, data_source.SourceFiles((str(only),), "csv"),
                columns=features.SERVING_FEATURES, optional=(features.LABEL_KEY,))
        except data_source.DataError as err:
            return Header(tuple(names), {}, problems=(
                str(err).replace(str(only), f"{display_name} (the header)"),))
        finally:
            con.close()
    positions = {name: i for i, name in enumerate(match.described)}
    index = {column: positions[actual] for column, actual in match.mapping.items()}
    problems = [f"missing column {c!r}" for c in match.missing]
    if problems:
        problems.append(f"{display_name} has the columns {', '.join(names)}; expected "
                        f"{', '.join(features.SERVING_FEATURES)} (and optionally "
                        f"{features.LABEL_KEY}), in any order, case and spacing")
    return Header(tuple(names), index, match.unmatched, tuple(problems))


def _readable(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _number(text: str) -> float | None:
    # float() also takes '1_000', 'nan' and 'inf'; a CSV number of the pipeline is none of them.
    if "_" in text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_cell(field: FieldSpec, text: str) -> tuple[Any, str | None]:
    """(the value, None) or (None, why ``text`` is not a value of ``field``, in plain words)."""
    text = text.strip()
    if not text:
        return None, "empty"
    if any(0xDC80 <= ord(c) <= 0xDCFF for c in text):
        return None, f"{_readable(text)!r} is not UTF-8 text (save the file as UTF-8)"
    if field.kind == "timestamp":
        if not _TIMESTAMP_RE.fullmatch(text):
            return None, f"{text!r} is not a date and time written YYYY-MM-DD HH:MM:SS"
        try:
            datetime.strptime(text, features.TIMESTAMP_FORMAT)
        except ValueError:
            return None, f"{text!r} is not a real date and time"
        return text, None
    if field.kind == "string":
        if field.choices is not None and text not in field.choices:
            return None, f"{text!r} is not one of {', '.join(field.choices)}"
        return text, None
    number = _number(text)
    if field.kind == "int":
        if number is None or not number.is_integer():
            return None, f"{text!r} is not a whole number"
        number = int(number)
    elif number is None:
        return None, f"{text!r} is not a number"
    if (field.minimum is not None and number < field.minimum) or (
            field.maximum is not None and number > field.maximum):
        return None, f"{text} is outside the allowed range {field.range_text()}"
    return number, None


def parse_label(text: str) -> tuple[int | None, str | None]:
    text = text.strip()
    number = _number(text)
    if number not in (0.0, 1.0):
        return None, f"{_readable(text)!r} should be 0 or 1" if text else "empty"
    return int(number), None


def check_record(number: int, cells: list[str], header: Header,
                 fields: list[FieldSpec]) -> Line:
    """One record checked against the schema: every problem it has, each naming the field."""
    if len(cells) != len(header.names):
        return Line(number, cells, {}, None, [
            f"line {number}: {len(cells)} value(s), but the header has {len(header.names)} "
            f"columns"])
    values: dict[str, Any] = {}
    problems = []
    for field in fields:
        value, problem = parse_cell(field, cells[header.index[field.name]])
        if problem:
            problems.append(f"line {number}, {field.name}: {problem}")
        values[field.name] = value
    label = None
    if header.labelled:
        label, problem = parse_label(cells[header.index[features.LABEL_KEY]])
        if problem:
            problems.append(f"line {number}, {features.LABEL_KEY}: {problem}")
    return Line(number, cells, values, label, problems)


def read_lines(path: Path, header: Header, fields: list[FieldSpec]) -> Iterator[Line]:
    """Every record after the header, checked, one at a time (blank lines are skipped)."""
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
        reader = csv.reader(f)
        next(reader, None)
        start = reader.line_num + 1
        try:
            for cells in reader:
                if cells:
                    # The line a record starts on (a quoted cell may span several lines).
                    yield check_record(start, cells, header, fields)
                start = reader.line_num + 1
        except csv.Error as err:
            yield Line(reader.line_num, [], {}, None, [
                f"line {reader.line_num}: the CSV cannot be read from here on ({err})"])


def count_lines(path: Path, block: int = 1 << 20) -> int:
    """Newlines in the file (for a progress bar), read in blocks, never the whole file."""
    total = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(block), b""):
            total += chunk.count(b"\n")
    return total
