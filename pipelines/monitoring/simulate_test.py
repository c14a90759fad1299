"""Traffic simulator against a stand-in of the TF Serving REST :predict contract (the real
server is another package; this checks what the simulator sends and the labels it writes)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pyarrow.parquet as pq

from models import features
from pipelines.common.request_log import read_labels
from pipelines.data import drift as dd
from pipelines.data import generator as dg
from pipelines.monitoring import simulate

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


def _server(seen: list[dict], fail_every: int = 0) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append({"path": request.url.path, "id": request.headers.get("X-Request-Id"),
                     "instances": body["instances"]})
        if fail_every and len(seen) % fail_every == 0:
            return httpx.Response(503, text="overloaded")
        assert all(set(i) == set(features.SERVING_FEATURES) for i in body["instances"])
        return httpx.Response(200, json={"predictions": [
            {"probability": [0.5], "clicked": [1]} for _ in body["instances"]]})
    return httpx.MockTransport(handle)


def test_requests_carry_ids_and_labels_match_them(tmp_path: Path) -> None:
    seen: list[dict] = []
    with httpx.Client(transport=_server(seen)) as client:
        result = simulate.simulate(
            client, url="http://127.0.0.1:8501", model_name="clickflow", rows=50, seed=3,
            drift=None, labels_dir=tmp_path, batch_size=16, label_delay=timedelta(minutes=5),
            clock=lambda: T0, event_start=datetime(2016, 1, 1))
    assert result.requests == 4 and result.failed_requests == 0
    assert {s["path"] for s in seen} == {"/v1/models/clickflow:predict"}
    assert len({s["id"] for s in seen}) == 4
    labels, problems = read_labels(tmp_path)
    assert problems == [] and labels.num_rows == 50
    expected_ids = [i for s in seen for i in simulate.instance_ids(s["id"], len(s["instances"]))]
    assert labels["request_id"].to_pylist() == expected_ids
    truth = next(dg.generate_batches(50, 3, start=datetime(2016, 1, 1)))
    assert labels["ClickedOnAd"].to_pylist() == truth.column(features.LABEL_KEY).to_pylist()
    assert set(labels["labelled_at"].to_pylist()) == {T0 + timedelta(minutes=5)}
    sent_ages = [i["Age"] for s in seen for i in s["instances"]]
    assert sent_ages == truth.column("Age").to_pylist()


def test_single_instance_requests_use_the_bare_id_and_failures_get_no_label(
        tmp_path: Path) -> None:
    seen: list[dict] = []
    with httpx.Client(transport=_server(seen, fail_every=3)) as client:
        result = simulate.simulate(
            client, url="http://x/", model_name="m", rows=9, seed=1,
            drift=dd.DRIFT_PRESETS["covariate"], labels_dir=tmp_path, batch_size=1,
            label_delay=timedelta(0), clock=lambda: T0, event_start=datetime(2016, 1, 1))
    assert result.failed_requests == 3 and "HTTP 503" in result.errors[0]
    ids = pq.read_table(result.labels_file)["request_id"].to_pylist()
    assert ids == [s["id"] for i, s in enumerate(seen, 1) if i % 3]
