"""kfp_requests against KFP 2.x's request checks: robfig/cron v1's Parse (parser.go, which
KFP's server/api_converter.go calls on a recurring run's cron), toModelJob's field bounds, and
validatePipelineJobInputs (template/v2_template.go) on a run's parameters."""

import pytest

from pipelines.cloud import kfp_requests
from pipelines.cloud.config import Schedule
from pipelines.cloud.kfp_client import kfp_cron


@pytest.mark.parametrize("cron", ["0 0 3 * * *", "0 30 2 * * 1-5", "*/10 * * * *",
                                  "0 0 4 * * sun", "0 0 0 1 jan,jul ?", "@daily", "@every 1h30m",
                                  "0 0-30/5 * * * *"])
def test_crons_robfig_v1_parses(cron) -> None:
    assert kfp_requests.cron_error(cron) is None


@pytest.mark.parametrize(("cron", "error"), [
    ("", "Empty spec string"),
    ("0 * * *", "Expected 5 to 6 fields, found 4: 0 * * *"),
    ("0 0 0 3 * * *", "Expected 5 to 6 fields, found 7"),
    ("0 60 * * * *", "End of range (60) above maximum (59): 60"),
    ("0 0 3 0 * *", "Beginning of range (0) below minimum (1): 0"),
    ("0 0 5-3 * * *", "Beginning of range (5) beyond end of range (3): 5-3"),
    ("0 0 */0 * * *", "Step of range should be a positive number: */0"),
    ("0 0 x * * *", "Failed to parse int from x"),
    ("0 0 1-2-3 * * *", "Too many hyphens: 1-2-3"),
    ("@fortnightly", "Unrecognized descriptor: @fortnightly"),
    ("@every soon", "Failed to parse duration @every soon"),
])
def test_crons_robfig_v1_refuses(cron, error) -> None:
    assert kfp_requests.cron_error(cron).startswith(error)


def test_our_schedule_crons_parse() -> None:
    # kfp_client.kfp_cron puts the seconds field first, as robfig/cron v1's Parse expects.
    for cron in ("0 3 * * *", "30 2 * * 1-5", "0 4 * * 0"):
        assert kfp_requests.cron_error(kfp_cron(Schedule("s", cron, "UTC", False), "UTC")) is None


def _recurring(**fields) -> dict:
    return {"display_name": "daily", "max_concurrency": "1",
            "trigger": {"cron_schedule": {"cron": "0 0 3 * * *"}}, **fields}


def test_a_plain_recurring_run_passes() -> None:
    assert kfp_requests.recurring_run_errors(_recurring()) == []


@pytest.mark.parametrize(("fields", "code", "message"), [
    ({"max_concurrency": "0"}, 3, "Max concurrency of a recurring run must be at least 1 and at "
     "most 10. Received 0"),
    ({"max_concurrency": 11}, 3, "Received 11"),
    ({"trigger": {"cron_schedule": {"cron": "0 3 * *"}}}, 3,
     "Schedule cron is not a supported format(https://godoc.org/github.com/robfig/cron). Error: "
     "Expected 5 to 6 fields, found 4: 0 3 * *"),
    ({"trigger": {"periodic_schedule": {"interval_second": "0"}}}, 3,
     "Found invalid period schedule interval 0. Set at interval to least 1 second"),
    ({"display_name": ""}, 13, "Recurring run's name cannot be empty"),
])
def test_recurring_run_fields_kfp_refuses(fields, code, message) -> None:
    (error,) = kfp_requests.recurring_run_errors(_recurring(**fields))
    assert error[0] == code and message in error[1]


SPEC = {"root": {"inputDefinitions": {"parameters": {
    "rows": {"parameterType": "NUMBER_INTEGER"},
    "table": {"parameterType": "STRING", "defaultValue": "t"},
    "note": {"parameterType": "STRING", "isOptional": True}}}}}


def test_run_parameters_match_the_root_inputs() -> None:
    assert kfp_requests.run_parameter_errors(SPEC, {"rows": 5}) == []
    assert kfp_requests.run_parameter_errors({"root": {}}, {}) == []
    assert kfp_requests.run_parameter_errors(SPEC, {}) == [
        "parameter rows is not optional, yet has neither default value nor user provided value"]
    assert kfp_requests.run_parameter_errors(SPEC, {"rows": "5"}) == [
        "input parameter rows requires type double or integer, but the parameter value is not "
        "of number value type"]
    assert kfp_requests.run_parameter_errors(SPEC, {"rows": True, "extra": 1}) == [
        "input parameter rows requires type double or integer, but the parameter value is not "
        "of number value type", "parameter(s) provided are not required by pipeline: extra"]
