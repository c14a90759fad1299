"""Input fields of the prediction form, derived from the curated schema (schema/schema.pbtxt).

Ranges come from the schema's int/float domains, choices from its string domains (when a
feature has one; City and Country are open vocabularies, so they are free text), help texts
from its annotations. The same specs check uploaded batch files, so the form and the batch
check cannot disagree with the schema or with each other.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from models import features
from pipelines.common import names
from pipelines.common.errors import ClickflowError

SCHEMA_FILE = names.SCHEMA_FILE

# The first row of the public "advertising" data set: a realistic starting point for the form.
EXAMPLE_ROW: dict[str, Any] = {
    "DailyTimeSpentOnSite": 68.95,
    "Age": 35,
    "AreaIncome": 61833.90,
    "DailyInternetUsage": 256.09,
    "AdTopicLine": "Cloned 5thgeneration orchestration",
    "City": "Wrightburgh",
    "Male": 0,
    "Country": "Tunisia",
    "Timestamp": "2016-03-27 00:53:11",
}


class SchemaError(ClickflowError, ValueError):
    """The schema file is missing, unreadable or lacks a serving feature."""


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """One serving feature as the form shows it and the batch check enforces it."""

    name: str
    kind: str  # "float", "int", "string" or "timestamp"
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    help: str = ""

    def range_text(self) -> str:
        low = "-inf" if self.minimum is None else _number_text(self.minimum)
        high = "inf" if self.maximum is None else _number_text(self.maximum)
        return f"{low}..{high}"


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def load_schema(path: Path = SCHEMA_FILE) -> schema_pb2.Schema:
    """The curated schema, as the pipeline's ImportSchemaGen reads it."""
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise SchemaError(f"cannot read the schema {path}: {err.strerror or err}") from None
    try:
        return text_format.Parse(text, schema_pb2.Schema())
    except text_format.ParseError as err:
        raise SchemaError(f"{path} is not a valid schema (text proto): {err}") from None


def _string_choices(schema: schema_pb2.Schema, feature: schema_pb2.Feature
                    ) -> tuple[str, ...] | None:
    which = feature.WhichOneof("domain_info")
    if which == "string_domain":
        return tuple(feature.string_domain.value) or None
    if which == "domain":
        for domain in schema.string_domain:
            if domain.name == feature.domain:
                return tuple(domain.value) or None
    return None


def form_fields(schema: schema_pb2.Schema) -> list[FieldSpec]:
    """A FieldSpec for each serving feature, in the order of ``features.SERVING_FEATURES``."""
    by_name = {f.name: f for f in schema.feature}
    missing = [n for n in features.SERVING_FEATURES if n not in by_name]
    if missing:
        raise SchemaError(f"the schema has no feature {', '.join(missing)}; the model serves "
                          f"{', '.join(features.SERVING_FEATURES)}")
    fields = []
    for name in features.SERVING_FEATURES:
        feature = by_name[name]
        help_text = " ".join(feature.annotation.tag)
        kind = features.RAW_TYPES[name]
        default = EXAMPLE_ROW[name]
        minimum = maximum = None
        choices = None
        if name == features.TIMESTAMP_FEATURE:
            kind = "timestamp"
        elif kind == "string":
            choices = _string_choices(schema, feature)
            if choices and default not in choices:
                default = choices[0]
        elif feature.HasField("int_domain"):
            domain = feature.int_domain
            minimum = float(domain.min) if domain.HasField("min") else None
            maximum = float(domain.max) if domain.HasField("max") else None
        elif feature.HasField("float_domain"):
            domain = feature.float_domain
            minimum = domain.min if domain.HasField("min") else None
            maximum = domain.max if domain.HasField("max") else None
        if minimum is not None:
            default = max(default, type(default)(minimum))
        if maximum is not None:
            default = min(default, type(default)(maximum))
        fields.append(FieldSpec(name, kind, default, minimum, maximum, choices, help_text))
    return fields
