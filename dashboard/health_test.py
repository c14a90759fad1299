"""Requests counted back from the request log, and intervals between metric samples.

The log rows are the server's own (``log_writer.entries_table``), written and read back in the
log's layout; the metrics text is the server's own exposition (``ServerMetrics``).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from dashboard import health, request_history
from dashboard.serving_client import parse_metrics
from deployment.server.log_writer import LogEntry, entries_table
from deployment.server.metrics import ServerMetrics
from pipelines.common import request_log

T0 = datetime(2026, 3, 1, 10, tzinfo=timezone.utc)


def entry(request_id: str, seconds: float, rows: int) -> LogEntry:
    return LogEntry(request_id=request_id,
                    logged_at=(T0 + timedelta(seconds=seconds)).timestamp(),
                    model_name="clickflow", model_version=7, signature="serving_default",
                    probability=np.full(rows, 0.5),
                    columns={"Age": np.full(rows, 30, dtype=np.int64)})


def test_requests_and_their_sizes_come_back_from_the_servers_log(tmp_path):
    # two requests in the same microsecond (one-row "a-1" and a 3-row "b") stay apart
    table = entries_table([entry("a-1", 0, 1), entry("b", 0, 3), entry("c", 90, 1),
                           entry("d", 95, 12)])
    request_log.write_request_log_file(tmp_path / "log", table)
    requests, problems = request_history.logged_requests(tmp_path / "log", T0)
    assert problems == []
    assert sorted((r["rows"], r["size"]) for r in requests) == [
        (1, "one-row"), (1, "one-row"), (3, "batch"), (12, "batch")]
    series = health.request_series(requests, 60)
    assert [(s["time"].minute, s["size"], s["requests"], s["rows"]) for s in series] == [
        (0, "batch", 1, 3), (0, "one-row", 1, 1), (1, "batch", 1, 12), (1, "one-row", 1, 1)]
    assert series[0]["per_minute"] == 1.0
    assert request_history.logged_requests(tmp_path / "missing", T0) == ([], [])


@pytest.mark.parametrize(("span", "seconds"), [
    (timedelta(minutes=5), 10), (timedelta(hours=1), 60), (timedelta(days=1), 3600),
    (timedelta(days=7), 6 * 3600)])
def test_buckets_give_at_most_sixty_bars(span, seconds):
    assert health.bucket_seconds(span) == seconds
    assert span.total_seconds() / health.bucket_seconds(span) <= 60


def scrape(metrics: ServerMetrics, at: datetime) -> health.Snapshot:
    return health.snapshot(parse_metrics(metrics.exposition().decode()), at)


def test_intervals_split_latency_by_size_and_skip_restarts():
    metrics = ServerMetrics()
    samples = [scrape(metrics, T0)]
    for seconds, size in ((0.002, "one-row"), (0.003, "one-row"), (0.2, "batch")):
        metrics.latency_by_size.labels("clickflow", "predict", size).observe(seconds)
        metrics.requests.labels("clickflow", "7", "predict", "200").inc()
    metrics.requests.labels("clickflow", "7", "predict", "400").inc()
    metrics.requests.labels("", "", "health", "200").inc(50)  # probes are not traffic
    samples.append(scrape(metrics, T0 + timedelta(minutes=1)))
    restarted = ServerMetrics()
    samples.append(scrape(restarted, T0 + timedelta(minutes=2)))
    rows = health.intervals(samples)
    assert [r["size"] for r in rows] == ["batch", "one-row"]
    by_size = {r["size"]: r for r in rows}
    assert by_size["one-row"]["latency_requests"] == 2
    assert 1.0 < by_size["one-row"]["p50_ms"] <= 5.0
    assert 100.0 < by_size["batch"]["p50_ms"] <= 250.0
    assert by_size["batch"]["requests_per_minute"] == 4 and by_size["batch"][
        "errors_per_minute"] == 1
    assert all(r["time"] == T0 + timedelta(minutes=1) for r in rows)  # restart left out
