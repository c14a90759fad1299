"""Serving health over time: requests from the server's request log, and latency and errors from
successive samples of its Prometheus metrics. Pure: no Streamlit, no HTTP here.

The request log (``pipelines/common/request_log.py``) is the real history, across restarts, but
holds only answered predictions: one row per instance, no latency, no errors. A request of n
rows left n rows with the same ``logged_at`` and ids ``<id>-0 .. <id>-(n-1)``
(``deployment/server/log_writer.py``), so requests and their sizes are counted back from it.
Latency and errors exist only as the server's counters since it started; two samples taken a
while apart give the rate and the quantiles of what happened in between.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from dashboard.serving_client import PROBE_APIS, Family, histogram_quantile

ONE_ROW, BATCH = "one-row", "batch"
# What the local server exports (deployment/server/metrics.py); TF Serving has no split by
# size, so its single latency histogram stands for all sizes.
BY_SIZE = "clickflow_serving_request_latency_by_size_seconds"
ALL_SIZES = "all sizes"
MODEL_APIS = ("predict", "classify")
_INDEX = re.compile(r"-\d+$")
# Bucket widths to choose from: about 20-60 bars across whatever span the log covers.
_BUCKETS = (10, 30, 60, 300, 900, 3600, 6 * 3600, 86400)


def size_of(rows: int) -> str:
    return ONE_ROW if rows == 1 else BATCH


def requests_from_log(logged_at: Sequence[datetime], request_ids: Sequence[str],
                      versions: Sequence[int]) -> list[dict[str, Any]]:
    """One entry per request (time, version, rows, size) from the log's per-instance rows."""
    groups: dict[tuple[datetime, int], list[str]] = {}
    for at, request_id, version in zip(logged_at, request_ids, versions, strict=True):
        groups.setdefault((at, int(version)), []).append(request_id)
    found = []
    for (at, version), ids in groups.items():
        # Requests answered in the same microsecond are told apart by their id stem.
        stems: dict[str, int] = {}
        for request_id in ids:
            stem = _INDEX.sub("", request_id) if len(ids) > 1 else request_id
            stems[stem] = stems.get(stem, 0) + 1
        for count in stems.values():
            found.append({"time": at, "version": version, "rows": count,
                          "size": size_of(count)})
    return sorted(found, key=lambda r: r["time"])


def bucket_seconds(span: timedelta) -> int:
    """A bucket width giving at least ~20 buckets over ``span`` (10 s at the least)."""
    for seconds in _BUCKETS:
        if span.total_seconds() / seconds <= 60:
            return seconds
    return _BUCKETS[-1]


def _floor(moment: datetime, seconds: int) -> datetime:
    epoch = moment.timestamp()
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=timezone.utc)


def request_series(requests: Iterable[dict[str, Any]], seconds: int) -> list[dict[str, Any]]:
    """Requests and rows per time bucket and request size, with the rate per minute."""
    totals: dict[tuple[datetime, str], dict[str, Any]] = {}
    for request in requests:
        key = (_floor(request["time"], seconds), request["size"])
        entry = totals.setdefault(key, {"time": key[0], "size": key[1], "requests": 0,
                                        "rows": 0})
        entry["requests"] += 1
        entry["rows"] += request["rows"]
    for entry in totals.values():
        entry["per_minute"] = entry["requests"] * 60.0 / seconds
    return sorted(totals.values(), key=lambda e: (e["time"], e["size"]))


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """The server's counters at one moment: model requests by outcome, and latency histograms
    (cumulative bucket counts, in seconds) by request size."""

    at: datetime
    requests: float
    errors: float
    latency: dict[str, tuple[tuple[float, float], ...]]


def _is_error(labels: dict[str, str]) -> bool:
    status = labels.get("status", labels.get("code", "OK"))
    return not (status == "OK" or status.startswith("2"))


def snapshot(families: Iterable[Family], at: datetime) -> Snapshot:
    """The counters that matter for the time series, from one scrape of the metrics."""
    families = list(families)
    requests = errors = 0.0
    by_size: dict[str, dict[float, float]] = {}
    overall: dict[float, float] = {}
    for family in families:
        if family.type == "counter" and family.name.endswith(("requests", "request_count")):
            for sample in family.samples:
                api = sample.labels.get("api", sample.labels.get("API"))
                if sample.name.endswith("_created") or api in PROBE_APIS or (
                        api is not None and api not in MODEL_APIS):
                    continue
                requests += sample.value
                errors += sample.value if _is_error(sample.labels) else 0.0
        if family.type != "histogram" or "latency" not in family.name:
            continue
        for sample in family.samples:
            if not sample.name.endswith("_bucket"):
                continue
            api = sample.labels.get("api", sample.labels.get("API"))
            if api is not None and api not in MODEL_APIS:
                continue
            upper = float(sample.labels["le"])
            if family.name == BY_SIZE:
                target = by_size.setdefault(sample.labels.get("size", ALL_SIZES), {})
            elif family.name.startswith(("clickflow_", ":tensorflow:serving:request_latency")):
                target = overall
            else:
                continue
            # TF Serving's histogram counts microseconds; ours seconds.
            scale = 1e-6 if family.name.startswith(":tensorflow:") else 1.0
            key = upper if upper == float("inf") else upper * scale
            target[key] = target.get(key, 0.0) + sample.value
    latency = by_size or ({ALL_SIZES: overall} if overall else {})
    return Snapshot(at, requests, errors,
                    {size: tuple(sorted(b.items())) for size, b in latency.items()})


def _delta(now: tuple[tuple[float, float], ...], before: tuple[tuple[float, float], ...]
           ) -> list[tuple[float, float]]:
    earlier = dict(before)
    return [(upper, count - earlier.get(upper, 0.0)) for upper, count in now]


def intervals(snapshots: Sequence[Snapshot]) -> list[dict[str, Any]]:
    """What happened between each two successive snapshots: one row per interval and request
    size (requests and errors per minute, latency p50/p90 in ms of that interval's requests).

    A counter that went down means the server restarted in between: that interval is left out
    rather than shown as negative traffic."""
    rows = []
    for before, now in itertools.pairwise(snapshots):
        minutes = (now.at - before.at).total_seconds() / 60
        if minutes <= 0 or now.requests < before.requests or now.errors < before.errors:
            continue
        base = {"time": now.at, "requests_per_minute": (now.requests - before.requests) / minutes,
                "errors_per_minute": (now.errors - before.errors) / minutes}
        deltas = {size: _delta(now.latency[size], before.latency.get(size, ()))
                  for size in sorted(now.latency)} or {ALL_SIZES: []}
        if any(c < 0 for buckets in deltas.values() for _, c in buckets):
            continue  # restarted: the histograms began again
        for size, buckets in deltas.items():
            count = buckets[-1][1] if buckets else 0.0
            row = {**base, "size": size, "latency_requests": count,
                   "p50_ms": None, "p90_ms": None}
            if count > 0:
                row["p50_ms"] = histogram_quantile(0.5, buckets) * 1000
                row["p90_ms"] = histogram_quantile(0.9, buckets) * 1000
            rows.append(row)
    return rows
