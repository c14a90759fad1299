"""Tests for the server's metrics: one registry per server, and the sums over worker processes
(prometheus_client's multiprocess mode, as ``--workers N`` runs it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import multiprocess
from prometheus_client.parser import text_string_to_metric_families

from deployment.server.metrics import MULTIPROC_ENV, ServerMetrics

# One worker's life in a fresh interpreter (prometheus_client picks its multiprocess value
# class when it is imported, from PROMETHEUS_MULTIPROC_DIR): requests, versions, log bytes.
WORKER = """
import sys
from deployment.server.metrics import ServerMetrics
requests, log_bytes, *loads = sys.argv[1:]
metrics = ServerMetrics()
for _ in range(int(requests)):
    metrics.requests.labels("clickflow", "1", "predict", "200").inc()
    metrics.latency_by_size.labels("clickflow", "predict", "one-row").observe(0.002)
metrics.log_bytes.set(float(log_bytes))
for versions in loads:
    metrics.set_loaded("clickflow", [int(v) for v in versions.split(",") if v])
sys.stdout.buffer.write(metrics.exposition())
"""


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _worker(directory: Path, *args: str) -> tuple[int, str]:
    env = {**os.environ, MULTIPROC_ENV: str(directory)}
    done = subprocess.run([sys.executable, "-c", WORKER, *args], env=env, check=True,
                          capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout


def test_each_server_has_its_own_registry() -> None:
    a, b = ServerMetrics(), ServerMetrics()
    a.requests.labels("m", "1", "predict", "200").inc(3)
    a.set_loaded("m", [1, 2])
    a.set_loaded("m", [2])
    samples = _samples(a.exposition().decode())
    key = ("clickflow_serving_requests_total",
           (("api", "predict"), ("model", "m"), ("status", "200"), ("version", "1")))
    assert samples[key] == 3
    loaded = {dict(labels)["version"] for name, labels in samples
              if name == "clickflow_serving_model_version_loaded"}
    assert loaded == {"2"}  # version 1's series is gone, not 0
    assert key not in _samples(b.exposition().decode())


def test_workers_metrics_are_summed_and_a_dead_workers_gauges_dropped(tmp_path: Path
                                                                      ) -> None:
    # Worker A swapped version 1 for 2; worker B still serves 1; both wrote the log folder.
    _worker(tmp_path, "3", "100", "1", "1,2", "2")
    _, text = _worker(tmp_path, "4", "250", "1")
    samples = _samples(text)
    requests = ("clickflow_serving_requests_total",
                (("api", "predict"), ("model", "clickflow"), ("status", "200"),
                 ("version", "1")))
    assert samples[requests] == 7
    loaded = {dict(labels)["version"]: value for (name, labels), value in samples.items()
              if name == "clickflow_serving_model_version_loaded"}
    # Each version some live worker serves, once, as 1; A's unloaded version 1 shows as B's.
    assert loaded == {"1": 1, "2": 1}
    assert samples[("clickflow_request_log_bytes", ())] == 250  # the newest measurement
    # The dashboard (dashboard/health.py) reads counter families named *requests and latency
    # histograms: the same names and types as one process writes.
    families = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert families["clickflow_serving_requests"] == "counter"
    assert families["clickflow_serving_request_latency_by_size_seconds"] == "histogram"
    by_size = ("clickflow_serving_request_latency_by_size_seconds_count",
               (("api", "predict"), ("model", "clickflow"), ("size", "one-row")))
    assert samples[by_size] == 7

    # Both have exited; the supervisor calls mark_process_dead for each: their gauges go,
    # their counts stay; a new worker that swapped 1 for 2 shows 2 only (not "1 0").
    pids = {int(path.stem.rsplit("_", 1)[1]) for path in tmp_path.glob("gauge_livemax_*.db")}
    assert len(pids) == 2
    for pid in pids:
        multiprocess.mark_process_dead(pid, str(tmp_path))
    _, text = _worker(tmp_path, "0", "300", "1", "2")  # loads 1, swaps to 2
    samples = _samples(text)
    assert samples[requests] == 7
    loaded = {dict(labels)["version"] for name, labels in samples
              if name == "clickflow_serving_model_version_loaded"}
    assert loaded == {"2"}
    assert samples[("clickflow_serving_loaded_versions", (("model", "clickflow"),))] == 1
