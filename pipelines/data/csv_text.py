"""What DuckDB's CSV errors do not say, found in Python: where a file is not UTF-8, which header
names repeat, and on which line a value is.

Only the error paths read files this way (plus one header line per file), so the happy path stays
in DuckDB.
"""

from __future__ import annotations

import csv
import shlex
from collections.abc import Iterator
from pathlib import Path

_CHUNK = 1 << 20


def _records(path: str) -> Iterator[tuple[int, list[str]]]:
    """(line number where each CSV record ends, its fields); bytes that are not UTF-8 come out
    as surrogate escapes (U+DC80..U+DCFF) so that their position survives the parsing. Stops
    quietly where Python's csv module cannot parse the file (DuckDB reports that itself)."""
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
        reader = csv.reader(f)
        try:
            for record in reader:
                yield reader.line_num, record
        except csv.Error:
            return


def header(path: str) -> list[str]:
    """The names in a CSV file's first record, as written (DuckDB renames repeated ones)."""
    for _line, record in _records(path):
        return record
    return []


def _invalid_bytes(text: str) -> bytes:
    return bytes(ord(c) - 0xDC00 for c in text if 0xDC80 <= ord(c) <= 0xDCFF)


def _first_invalid(path: str) -> tuple[int, bytes] | None:
    """(line, the bytes) of the first bytes that are not UTF-8; None when the file decodes."""
    lines, pending = 1, b""
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            data = pending + chunk
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as err:
                if err.end == len(data) and len(data) - err.start < 4:
                    # A character cut by the chunk's end: decoded with the next chunk.
                    lines += data.count(b"\n", 0, err.start)
                    pending = data[err.start:]
                    continue
                return lines + data.count(b"\n", 0, err.start), data[err.start:err.end]
            lines += data.count(b"\n")
            pending = b""
    return (lines, pending) if pending else None


def not_utf8(path: str) -> str | None:
    """Where ``path`` is not UTF-8 (line, column, the bytes) and how to convert it; None when
    the whole file is UTF-8."""
    found = _first_invalid(path)
    if found is None:
        return None
    line, bad = found
    where = ""
    names: list[str] | None = None
    for end, record in _records(path):
        if end >= line:
            index = next((i for i, field in enumerate(record) if _invalid_bytes(field)), None)
            if names is None:
                where = ", the header"
            elif index is not None and index < len(names):
                where = f", column {_readable(names[index])!r}"
            break
        names = record if names is None else names
    hex_bytes = " ".join(f"0x{b:02x}" for b in bad)
    return f"{path} line {line}{where}: bytes {hex_bytes} are not UTF-8; {_fix(path)}"


def _readable(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _fix(path: str) -> str:
    target = Path(path).with_name(f"{Path(path).stem}-utf8{Path(path).suffix}")
    return (f"save the file as UTF-8 (from Latin-1: iconv -f latin1 -t utf-8 {shlex.quote(path)} "
            f"> {shlex.quote(str(target))})")


def line_of(path: str, column: str, value: str) -> int | None:
    """The line of the first record whose ``column`` (named as in the header) is ``value``."""
    names: list[str] | None = None
    for line, record in _records(path):
        if names is None:
            names = record
            if column not in names:
                return None
            index = names.index(column)
        elif index < len(record) and record[index].strip() == value:
            return line
    return None
