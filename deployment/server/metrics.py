"""Prometheus metrics of one server, in its own registry (so two servers or tests never mix).

With ``--workers N`` every worker process counts into files of ``PROMETHEUS_MULTIPROC_DIR``
(set by the supervisor before the workers start, prometheus_client's multiprocess mode) and
``/metrics``, whichever worker answers it, shows the sums over all of them (counters and
histograms, including workers that have exited), and for gauges the mode each one names.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ServerMetrics:
    """Requests, latency, batches, loaded versions and the request log's health."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        # Read here, not at import: prometheus_client itself reads it when it is imported,
        # which is why the supervisor sets it in the workers' environment.
        self.multiprocess_dir = os.environ.get(MULTIPROC_ENV) or None
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "clickflow_serving_requests", "HTTP requests by model, version, API and status code",
            ["model", "version", "api", "status"], registry=r)
        self.latency = Histogram(
            "clickflow_serving_request_latency_seconds", "Request latency, body read to response",
            ["model", "api"], buckets=LATENCY_BUCKETS, registry=r)
        # The same latency split by request size: a one-row request and a 500-row batch chunk
        # take very different times, and one histogram of both says little about either.
        self.latency_by_size = Histogram(
            "clickflow_serving_request_latency_by_size_seconds",
            "Predict/classify latency by request size (size: one-row or batch)",
            ["model", "api", "size"], buckets=LATENCY_BUCKETS, registry=r)
        self.instances = Counter(
            "clickflow_serving_instances", "Instances (rows) predicted or classified",
            ["model", "version", "api"], registry=r)
        self.batch_size = Histogram(
            "clickflow_serving_batch_size", "Instances per TensorFlow call (after batching)",
            ["model", "signature"], buckets=BATCH_BUCKETS, registry=r)
        self.requests_per_batch = Histogram(
            "clickflow_serving_requests_per_batch", "Requests merged into one TensorFlow call",
            ["model", "signature"], buckets=BATCH_BUCKETS, registry=r)
        self.loaded_version = Gauge(
            "clickflow_serving_model_version_loaded", "1 for each version being served",
            ["model", "version"], registry=r, multiprocess_mode="livemax")
        self.loaded_versions = Gauge(
            "clickflow_serving_loaded_versions", "Number of versions being served", ["model"],
            registry=r, multiprocess_mode="livemax")
        self.loads = Counter(
            "clickflow_serving_model_loads", "Version loads by outcome (ok, error)",
            ["model", "outcome"], registry=r)
        self.load_seconds = Histogram(
            "clickflow_serving_model_load_seconds", "Load plus warm-up time of a version",
            ["model"], buckets=(0.5, 1, 2, 5, 10, 30, 60, 120), registry=r)
        self.log_records = Counter(
            "clickflow_request_log_records", "Prediction records written to the request log",
            registry=r)
        self.log_dropped = Counter(
            "clickflow_request_log_dropped",
            "Records not logged (queue_full, write_error, bad_entry, record_too_large, "
            "upload_error)",
            ["reason"], registry=r)
        self.log_upload_failures = Counter(
            "clickflow_request_log_upload_failures",
            "Failed attempts to upload a request log file to gs:// (each is retried)",
            registry=r)
        self.log_files = Counter(
            "clickflow_request_log_files", "Request log files written", registry=r)
        # The folder's total, which every worker measures after its own writes: the newest.
        self.log_bytes = Gauge(
            "clickflow_request_log_bytes", "Bytes the request log holds on disk", registry=r,
            multiprocess_mode="livemostrecent")
        self.log_pruned = Counter(
            "clickflow_request_log_pruned_files",
            "Request log files deleted by the quota or the maximum age", registry=r)
        self.log_queue = Gauge(
            "clickflow_request_log_queue_records", "Records waiting to be written", registry=r,
            multiprocess_mode="livesum")

    def set_loaded(self, model: str, versions: list[int]) -> None:
        for sample in list(self.loaded_version.collect()[0].samples):
            if sample.labels["model"] == model and int(sample.labels["version"]) not in versions:
                if self.multiprocess_dir is None:
                    self.loaded_version.remove(model, sample.labels["version"])
                else:
                    # A series cannot be removed from the shared files: 0, left out of the
                    # exposition, is "not served by this worker".
                    self.loaded_version.labels(model, sample.labels["version"]).set(0)
        for version in versions:
            self.loaded_version.labels(model, str(version)).set(1)
        self.loaded_versions.labels(model).set(len(versions))

    def exposition(self) -> bytes:
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.multiprocess_dir)
        return generate_latest(_WithoutUnloaded(registry))


class _WithoutUnloaded:
    """A registry's metrics without the 0 samples of the loaded-version gauge (multiprocess
    mode's stand-in for a removed series), so both modes list the same versions."""

    def __init__(self, registry: CollectorRegistry):
        self.registry = registry

    def collect(self):
        for metric in self.registry.collect():
            if metric.name == "clickflow_serving_model_version_loaded":
                metric.samples = [s for s in metric.samples if s.value != 0]
            yield metric
