"""Pure parts of scheduling: KFP's cron form and time zone, and the keep/delete plan."""

import pytest

from pipelines.cloud.compile import plan_schedule
from pipelines.cloud.config import Schedule
from pipelines.cloud.kfp_client import description, error_summary, kfp_cron
from pipelines.cloud.vertex import vertex_cron
from pipelines.common.errors import ConfigError

DAILY = Schedule("clickflow-daily", "30 2 * * 1-5", "UTC", False)


def test_kfp_cron_has_a_seconds_field_first() -> None:
    assert kfp_cron(DAILY, "UTC") == "0 30 2 * * 1-5"


def test_kfp_refuses_a_zone_other_than_its_schedulers() -> None:
    with pytest.raises(ConfigError, match="kfp_scheduler_time_zone='Europe/Paris'"):
        kfp_cron(DAILY, "Europe/Paris")


def test_vertex_cron_carries_the_time_zone() -> None:
    assert vertex_cron(Schedule("w", "0 4 * * 0", "Asia/Tokyo", True)) == (
        "TZ=Asia/Tokyo 0 4 * * 0")


def test_description_changes_with_spec_and_cron() -> None:
    base = description(DAILY, "abc", "0 30 2 * * 1-5")
    assert base != description(DAILY, "abd", "0 30 2 * * 1-5")
    assert base != description(DAILY, "abc", "0 0 2 * * 1-5")


@pytest.mark.parametrize(("existing", "keep", "delete"), [
    ([], None, []),
    ([("a", "same")], "a", []),
    ([("a", "old")], None, ["a"]),
    ([("a", "old"), ("b", "same"), ("c", "same")], "b", ["a", "c"]),
])
def test_plan_keeps_one_matching_schedule_and_deletes_the_rest(existing, keep, delete) -> None:
    assert plan_schedule(existing, "same") == (keep, delete)


class _ApiError(Exception):
    """Shaped like kfp_server_api's ApiException: status and body beside the message."""

    def __init__(self, status, body) -> None:
        super().__init__(f"({status})\nReason: Bad Request\nHTTP response body: {body}")
        self.status, self.body = status, body


def test_error_summary_reads_the_servers_message() -> None:
    body = '{"error": "x", "code": 3, "message": "Invalid input error: bad\\nmore"}'
    assert error_summary(_ApiError(400, body)) == "HTTP 400: Invalid input error: bad"
    assert error_summary(_ApiError(502, "<html>gateway</html>")) == "(502)"
    assert error_summary(ConnectionRefusedError("refused\nmore")) == "refused"
