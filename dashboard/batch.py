"""Checking an uploaded CSV line by line: which rows can be scored, and why the others cannot.

The file is read where it is: a path, or the upload Streamlit holds in memory (never copied
to the pod's /tmp, an emptyDir of 256 MiB). The header is matched by the pipeline's own code
(``pipelines.data.source.match_columns``: case, spaces and underscores ignored, repeated
columns refused, bytes that are not UTF-8 located), run on the header line alone so that one
ragged row later in the file cannot reject the whole file. The rows are then read one at a
time with Python's csv module (as ``pipelines.data.csv_text`` does to find line numbers), so a
file of any size is checked in bounded memory and every problem has its line number and plain
words: "line 3, Age: 'thirty' is not a whole number"."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from dashboard.cells import parse_cell, parse_label
from dashboard.schema_form import FieldSpec
from models import features
from pipelines.data import csv_text
from pipelines.data import source as data_source

# A file by its path, or an open seekable binary file (Streamlit's upload: read where it is held,
# never copied to the pod's small /tmp).
Source = str | os.PathLike | BinaryIO
# The first bytes of a file are enough to say where a header is not UTF-8.
_HEAD_BYTES = 1 << 16



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


@contextlib.contextmanager
def _binary(source: Source) -> Iterator[BinaryIO]:
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            yield f
    else:
        source.seek(0)
        yield source


@contextlib.contextmanager
def _text(source: Source) -> Iterator[io.TextIOWrapper]:
    """The file as text for the csv module; bytes that are not UTF-8 come out as surrogate
    escapes (as in ``pipelines.data.csv_text``), so they can be named and written back."""
    with _binary(source) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape", newline="")
        try:
            yield text
        finally:
            text.detach()  # leaves an upload open for the next rerun


def _first_record(source: Source) -> list[str]:
    with _text(source) as text:
        try:
            return next(csv.reader(text), [])
        except csv.Error:
            return []


def _not_utf8(head: bytes, display_name: str) -> str | None:
    """The pipeline's message for bytes that are not UTF-8 (csv_text.not_utf8), on ``head``."""
    with tempfile.TemporaryDirectory(prefix="clickflow-header-") as folder:
        path = Path(folder) / "head.csv"
        path.write_bytes(head)
        where = csv_text.not_utf8(str(path))
    return None if where is None else "cannot read " + where.replace(str(path), display_name)


def read_header(source: Source, display_name: str) -> Header:
    """The file's header matched to the serving features (and optionally the label)."""
    with _binary(source) as raw:
        head = raw.read(_HEAD_BYTES)
    if not head:
        return Header((), {}, problems=(
            f"{display_name} is empty (0 bytes); expected a header line with the columns "
            f"{', '.join(features.SERVING_FEATURES)} and rows",))
    names = _first_record(source)
    if not names:
        # Python's csv module stops at a NUL byte or a broken quote: not a CSV text file.
        return Header((), {}, problems=(_not_utf8(head, display_name) or
                                        f"{display_name} has no header line that can be read "
                                        f"as CSV text",))
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


def read_lines(source: Source, header: Header, fields: list[FieldSpec]) -> Iterator[Line]:
    """Every record after the header, checked, one at a time (blank lines are skipped)."""
    with _text(source) as text:
        reader = csv.reader(text)
        try:
            next(reader, None)
            start = reader.line_num + 1
            for cells in reader:
                if cells:
                    # The line a record starts on (a quoted cell may span several lines).
                    yield check_record(start, cells, header, fields)
                start = reader.line_num + 1
        except csv.Error as err:
            yield Line(reader.line_num, [], {}, None, [
                f"line {reader.line_num}: the CSV cannot be read from here on ({err})"])


def count_lines(source: Source, block: int = 1 << 20) -> int:
    """Newlines in the file (for a progress bar), read in blocks, never the whole file."""
    total = 0
    with _binary(source) as raw:
        for chunk in iter(lambda: raw.read(block), b""):
            total += chunk.count(b"\n")
    return total
