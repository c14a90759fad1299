"""One cell of an uploaded file or of the Predict form: its value, or why it is not one.

The words are for people ("'thirty' is not a whole number"), the rules the pipeline's: a
Timestamp is written YYYY-MM-DD HH:MM:SS and is a real date and time
(``pipelines.data.source.timestamp_ok_sql``), numbers fit the schema's domains.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

from dashboard.schema_form import FieldSpec
from models import features

# The pipeline's rule for a Timestamp (pipelines.data.source): written exactly so, and real.
_TIMESTAMP_RE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


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
