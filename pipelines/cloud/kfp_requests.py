"""What Kubeflow Pipelines 2.x's API server refuses in a v2beta1 request, besides the spec.

Read from kubeflow/pipelines: a RecurringRun's fields are checked when the server converts it
(``toModelJob``, backend/src/apiserver/server/api_converter.go), its cron by robfig/cron v1's
``cron.Parse`` (six fields, seconds first); a run's parameters against the root component's
inputs (``validatePipelineJobInputs``, backend/src/apiserver/template/v2_template.go). Each
function returns (gRPC code, KFP's message) pairs; the first one is what the server answers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

INVALID_ARGUMENT = 3
INTERNAL = 13
API_CONVERTER = "backend/src/apiserver/server/api_converter.go"
V2_TEMPLATE = "backend/src/apiserver/template/v2_template.go"
# robfig/cron v1 parser.go and spec.go: field order, bounds and names.
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_BOUNDS = ((0, 59, None), (0, 59, None), (0, 23, None), (1, 31, None),
           (1, 12, {m: i + 1 for i, m in enumerate(_MONTHS)}),
           (0, 6, {d: i for i, d in enumerate(_DAYS)}))
_DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_GO_DURATION = re.compile(r"^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$")


def cron_error(spec: str) -> str | None:
    """robfig/cron v1 ``Parse``'s error for ``spec``, or None when it parses."""
    if not spec:
        return "Empty spec string"
    if spec.startswith("@"):
        if spec in _DESCRIPTORS:
            return None
        if spec.startswith("@every "):
            duration = spec[len("@every "):]
            return None if _GO_DURATION.match(duration) or duration == "0" else (
                f"Failed to parse duration {spec}: time: invalid duration \"{duration}\"")
        return f"Unrecognized descriptor: {spec}"
    fields = spec.split()
    if not 5 <= len(fields) <= 6:
        return f"Expected 5 to 6 fields, found {len(fields)}: {spec}"
    for field, bounds in zip(fields, _BOUNDS, strict=False):
        for expr in [e for e in field.split(",") if e]:
            error = _range_error(expr, *bounds)
            if error:
                return error
    return None


def _range_error(expr: str, low: int, high: int, names: Mapping[str, int] | None) -> str | None:
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    try:
        if low_and_high[0] in ("*", "?"):
            start, end = low, high
        else:
            start = _int_or_name(low_and_high[0], names)
            if len(low_and_high) > 2:
                return f"Too many hyphens: {expr}"
            end = _int_or_name(low_and_high[1], names) if len(low_and_high) == 2 else start
        if len(range_and_step) > 2:
            return f"Too many slashes: {expr}"
        step = _int(range_and_step[1]) if len(range_and_step) == 2 else 1
    except ValueError as err:
        return str(err)
    if len(range_and_step) == 2 and len(low_and_high) == 1:
        end = high  # "N/step" means "N-max/step"
    if start < low:
        return f"Beginning of range ({start}) below minimum ({low}): {expr}"
    if end > high:
        return f"End of range ({end}) above maximum ({high}): {expr}"
    if start > end:
        return f"Beginning of range ({start}) beyond end of range ({end}): {expr}"
    if step == 0:
        return f"Step of range should be a positive number: {expr}"
    return None


def _int_or_name(expr: str, names: Mapping[str, int] | None) -> int:
    if names and expr.lower() in names:
        return names[expr.lower()]
    return _int(expr)


def _int(expr: str) -> int:
    if not re.fullmatch(r"[-+]?\d+", expr):
        raise ValueError(f'Failed to parse int from {expr}: strconv.Atoi: parsing "{expr}": '
                         "invalid syntax")
    if int(expr) < 0:
        raise ValueError(f"Negative number ({int(expr)}) not allowed: {expr}")
    return int(expr)


def recurring_run_errors(body: Mapping[str, Any]) -> list[tuple[int, str]]:
    """``toModelJob``'s refusals of a CreateRecurringRun body, in the order it checks them."""
    errors = []
    if not body.get("display_name"):
        # Wrapped in NewInternalServerError: the client sees code 13, not 3.
        errors.append((INTERNAL, "Recurring run's name cannot be empty"))
    concurrency = int(body.get("max_concurrency") or 0)
    if not 1 <= concurrency <= 10:
        errors.append((INVALID_ARGUMENT, "Max concurrency of a recurring run must be at least 1 "
                       f"and at most 10. Received {concurrency}"))
    trigger = body.get("trigger") or {}
    cron = (trigger.get("cron_schedule") or {}).get("cron")
    if cron is not None and (error := cron_error(cron)):
        errors.append((INVALID_ARGUMENT, "Schedule cron is not a supported format"
                       f"(https://godoc.org/github.com/robfig/cron). Error: {error}"))
    interval = (trigger.get("periodic_schedule") or {}).get("interval_second")
    if interval is not None and int(interval) < 1:
        errors.append((INVALID_ARGUMENT, f"Found invalid period schedule interval {interval}. "
                       "Set at interval to least 1 second"))
    return errors


_TYPE_CHECKS: dict[str, tuple[tuple[type, ...], str]] = {
    "NUMBER_DOUBLE": ((int, float), "requires type double or integer, but the parameter value "
                      "is not of number value type"),
    "NUMBER_INTEGER": ((int, float), "requires type double or integer, but the parameter value "
                       "is not of number value type"),
    "STRING": ((str,), "requires type string, but the input parameter is not of string value "
               "type"),
    "BOOLEAN": ((bool,), "requires type bool, but the input parameter is not of bool value type"),
    "LIST": ((list,), "requires type list, but the input parameter is not of list value type"),
    "STRUCT": ((dict,), "requires type struct, but the input parameter is not of struct value "
               "type"),
}


def run_parameter_errors(spec: Mapping[str, Any],
                         parameters: Mapping[str, Any] | None) -> list[str]:
    """``validatePipelineJobInputs``: the run's parameters against root's inputDefinitions."""
    required = ((spec.get("root") or {}).get("inputDefinitions") or {}).get("parameters") or {}
    given = dict(parameters or {})
    errors = []
    for name, param in sorted(required.items()):
        if name not in given:
            if not param.get("isOptional") and "defaultValue" not in param:
                errors.append(f"parameter {name} is not optional, yet has neither default value "
                              "nor user provided value")
            continue
        kind = param.get("parameterType", "PARAMETER_TYPE_ENUM_UNSPECIFIED")
        value = given[name]
        if kind in _TYPE_CHECKS:
            types, message = _TYPE_CHECKS[kind]
            if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
                errors.append(f"input parameter {name} {message}")
        elif kind == "PARAMETER_TYPE_ENUM_UNSPECIFIED":
            errors.append(f"input parameter {name} has unspecified type")
        else:
            errors.append(f"input parameter {name} requires type {kind}, which is invalid for "
                          "root component" if kind == "TASK_FINAL_STATUS" else
                          f"input parameter {name} requires type unknown")
    extra = [name for name in given if name not in required]
    if extra:
        errors.append(f"parameter(s) provided are not required by pipeline: {', '.join(extra)}")
    return errors
