"""The REST client against TF Serving's documented responses, and the metrics arithmetic.

TF Serving itself cannot run here (no binary), so its answers are replayed through httpx's
transport hook with the bodies TF Serving returns (REST API v1 docs); the local server is
exercised for real in app_test.py and browser_test.py.
"""

import json
import socket

import httpx
import pytest

from dashboard import serving_client as sc
from dashboard.schema_form import EXAMPLE_ROW

STATUS = {"model_version_status": [
    {"version": "3", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}},
    {"version": "7", "state": "LOADING", "status": {"error_code": "OK", "error_message": ""}},
    {"version": "2", "state": "END", "status": {"error_code": "NOT_FOUND",
                                                 "error_message": "gone"}},
]}


def tf_serving(requests: list[httpx.Request], predictions=None, metrics_path=None):
    """Answers like TF Serving 2.x for model 'clickflow'."""

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        path = request.url.path
        if path == "/v1/models/clickflow":
            return httpx.Response(200, json=STATUS)
        if path.startswith("/v1/models/clickflow/versions/3:predict"):
            body = json.loads(request.content)
            rows = predictions or [{"probability": 0.25, "clicked": 0}] * len(body["instances"])
            return httpx.Response(200, json={"predictions": rows})
        if path.startswith("/v1/models/clickflow/versions/"):
            return httpx.Response(404, json={"error": "Servable not found for request: "
                                             "Specific(clickflow, 9)"})
        if path.startswith("/v1/models/"):
            return httpx.Response(404, json={"error": "Servable not found for request: "
                                             f"Latest({path.split('/')[3]})"})
        if path == metrics_path:
            return httpx.Response(200, text="# TYPE x counter\nx 1\n")
        return httpx.Response(404, text="Not Found")

    return sc.ServingClient("http://serving:8501/", "clickflow",
                            transport=httpx.MockTransport(handle))


def test_status_lists_versions_newest_first_with_errors():
    with tf_serving([]) as client:
        statuses = client.model_status()
        assert [s.version for s in statuses] == [7, 3, 2]
        assert statuses[2].error == "gone" and statuses[1].error == ""
        assert client.serving_version() == 3  # newest AVAILABLE, not newest known


def test_predict_posts_typed_row_instances_to_the_version_url():
    requests: list[httpx.Request] = []
    row = dict(EXAMPLE_ROW, Age="35", Male=1.0)
    with tf_serving(requests) as client:
        result = client.predict([row, EXAMPLE_ROW])
    assert result.model_version == 3
    assert result.predictions == (sc.Prediction(0.25, 0), sc.Prediction(0.25, 0))
    sent = json.loads(requests[-1].content)
    assert requests[-1].url.path == "/v1/models/clickflow/versions/3:predict"
    assert sent["signature_name"] == "serving_default"
    assert sent["instances"][0]["Age"] == 35 and sent["instances"][0]["Male"] == 1
    assert isinstance(sent["instances"][0]["AreaIncome"], float)
    assert set(sent["instances"][0]) == set(EXAMPLE_ROW)


@pytest.mark.parametrize("predictions, expected", [
    ([0.75], sc.Prediction(0.75)),  # a single-output signature: bare values
    ([[0.75]], sc.Prediction(0.75)),  # a [batch, 1] output
    ([{"probability": [0.75], "clicked": [1]}], sc.Prediction(0.75, 1)),
])
def test_predict_reads_every_row_format_shape(predictions, expected):
    with tf_serving([], predictions=predictions) as client:
        assert client.predict([EXAMPLE_ROW]).predictions == (expected,)


def test_a_response_without_probability_says_which_outputs_it_has():
    with tf_serving([], predictions=[{"scores": 0.1}]) as client, pytest.raises(
            sc.ServingRequestError, match=r"no 'probability' output \(outputs: \['scores'\]\)"):
        client.predict([EXAMPLE_ROW])


def test_a_wrong_number_of_predictions_is_an_error():
    with tf_serving([], predictions=[{"probability": 0.1}] * 3) as client, pytest.raises(
            sc.ServingRequestError, match=r"expected 1 predictions.*got 3"):
        client.predict([EXAMPLE_ROW])


def test_server_errors_carry_tf_servings_message_and_status():
    with tf_serving([]) as client, pytest.raises(sc.ServingRequestError) as err:
        client.predict([EXAMPLE_ROW], version=9)
    assert err.value.status_code == 404
    assert "Servable not found" in str(err.value) and "versions/9:predict" in str(err.value)


def test_unknown_model_is_reported_with_the_model_name():
    client = tf_serving([])
    client.model_name = "nope"
    with client, pytest.raises(sc.ServingRequestError, match=r"Latest\(nope\)"):
        client.serving_version()


def test_no_available_version_lists_the_states():
    def handle(request):
        return httpx.Response(200, json={"model_version_status": [
            {"version": "5", "state": "LOADING", "status": {"error_code": "OK"}}]})

    client = sc.ServingClient("http://s", "clickflow", transport=httpx.MockTransport(handle))
    with client, pytest.raises(sc.ServingRequestError, match=r"no AVAILABLE version.*5: LOADING"):
        client.serving_version()


def test_instances_are_checked_before_sending():
    with pytest.raises(ValueError, match=r"Age should be a whole number, got 35\.5; Country is "
                                         r"missing"):
        sc.to_instance({k: v for k, v in dict(EXAMPLE_ROW, Age=35.5).items() if k != "Country"})
    with pytest.raises(ValueError, match="AreaIncome is missing"):
        sc.to_instance(dict(EXAMPLE_ROW, AreaIncome=float("nan")))


def test_chunks_go_to_one_version_in_order():
    requests: list[httpx.Request] = []
    seen = []
    with tf_serving(requests) as client:
        result = client.predict_in_chunks([EXAMPLE_ROW] * 5, chunk_rows=2,
                                          progress=lambda done, total: seen.append(done))
    assert len(result.predictions) == 5 and seen == [2, 4, 5]
    predict_calls = [r for r in requests if r.url.path.endswith(":predict")]
    assert [len(json.loads(r.content)["instances"]) for r in predict_calls] == [2, 2, 1]


def test_metrics_fall_back_to_tf_servings_monitoring_path():
    with tf_serving([], metrics_path="/monitoring/prometheus/metrics") as client:
        url, text = client.metrics_text()
    assert url == "http://serving:8501/monitoring/prometheus/metrics" and "x 1" in text
    with tf_serving([]) as client, pytest.raises(sc.ServingRequestError,
                                                 match=r"tried /metrics.*monitoring_config"):
        client.metrics_text()


def test_nothing_listening_is_server_unavailable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with sc.ServingClient(f"http://127.0.0.1:{port}", "clickflow", timeout=2) as client, \
            pytest.raises(sc.ServerUnavailable, match=f"no model server answers at "
                                                      f"http://127.0.0.1:{port}"):
        client.model_status()


# What TF Serving 2.16 exports with prometheus_config enabled (abridged), latency in us.
TF_SERVING_METRICS = """\
# TYPE :tensorflow:serving:request_count counter
:tensorflow:serving:request_count{model_name="clickflow",status="OK"} 40
:tensorflow:serving:request_count{model_name="clickflow",status="INVALID_ARGUMENT"} 2
# TYPE :tensorflow:serving:request_latency histogram
:tensorflow:serving:request_latency_bucket{model_name="clickflow",API="predict",entrypoint="REST",le="1000"} 10
:tensorflow:serving:request_latency_bucket{model_name="clickflow",API="predict",entrypoint="REST",le="2000"} 30
:tensorflow:serving:request_latency_bucket{model_name="clickflow",API="predict",entrypoint="REST",le="4000"} 40
:tensorflow:serving:request_latency_bucket{model_name="clickflow",API="predict",entrypoint="REST",le="+Inf"} 40
:tensorflow:serving:request_latency_sum{model_name="clickflow",API="predict",entrypoint="REST"} 72000
:tensorflow:serving:request_latency_count{model_name="clickflow",API="predict",entrypoint="REST"} 40
# TYPE :tensorflow:core:graph_runs counter
:tensorflow:core:graph_runs 42
"""  # noqa: E501


def test_tf_serving_metrics_give_counts_and_quantiles_in_ms():
    families = sc.parse_metrics(TF_SERVING_METRICS)
    counts = sc.request_counts(families)
    assert [(r["labels"], r["count"], r["succeeded"]) for r in counts] == [
        ("model_name=clickflow, status=OK", 40.0, True),
        ("model_name=clickflow, status=INVALID_ARGUMENT", 2.0, False)]
    (latency,) = sc.latency_quantiles(families)
    assert latency["unit"] == "ms" and latency["count"] == 40
    assert latency["mean"] == pytest.approx(1.8)
    # p50: rank 20 falls in (1000, 2000] holding ranks 10..30 -> 1500 us.
    assert latency["p50"] == pytest.approx(1.5)
    # p99: rank 39.6 in (2000, 4000] holding 30..40 -> 2000 + 2000 * 9.6 / 10 us.
    assert latency["p99"] == pytest.approx(3.92)


def test_histogram_quantile_edges():
    assert sc.histogram_quantile(0.5, []) is None
    assert sc.histogram_quantile(0.5, [(1.0, 0.0), (float("inf"), 0.0)]) is None
    # Everything above the last finite bound: Prometheus answers that bound.
    assert sc.histogram_quantile(0.9, [(1.0, 1.0), (float("inf"), 10.0)]) == 1.0
    assert sc.histogram_quantile(0.0, [(0.5, 4.0), (float("inf"), 4.0)]) == 0.0
    with pytest.raises(ValueError, match="between 0 and 1"):
        sc.histogram_quantile(1.5, [(1.0, 1.0)])


def test_seconds_histograms_are_converted_and_unknown_units_kept():
    text = ("# TYPE req_latency_seconds histogram\n"
            'req_latency_seconds_bucket{le="0.01"} 5\nreq_latency_seconds_bucket{le="+Inf"} 5\n'
            "req_latency_seconds_count 5\nreq_latency_seconds_sum 0.02\n"
            "# TYPE odd_latency histogram\n"
            'odd_latency_bucket{le="8"} 2\nodd_latency_bucket{le="+Inf"} 2\n'
            "odd_latency_count 2\nodd_latency_sum 6\n")
    rows = {r["metric"]: r for r in sc.latency_quantiles(sc.parse_metrics(text))}
    assert rows["req_latency_seconds"]["mean"] == pytest.approx(4.0)
    assert rows["req_latency_seconds"]["p50"] == pytest.approx(5.0)
    assert rows["odd_latency"]["unit"] == "as exported" and rows["odd_latency"]["p50"] == 4.0


def test_text_that_is_not_prometheus_is_a_readable_error():
    with pytest.raises(sc.ServingRequestError, match="not in Prometheus format"):
        sc.parse_metrics("<html>oops</html>\n")


# What the local server (deployment.server) exports, abridged.
LOCAL_SERVER_METRICS = """\
# TYPE clickflow_serving_requests_total counter
clickflow_serving_requests_total{api="health",model="",status="503",version=""} 7.0
clickflow_serving_requests_total{api="predict",model="clickflow",status="200",version="5"} 3.0
clickflow_serving_requests_total{api="predict",model="clickflow",status="400",version="5"} 1.0
clickflow_serving_requests_created{api="predict",model="clickflow",status="200",version="5"} 1.7e9
# TYPE clickflow_request_log_records_total counter
clickflow_request_log_records_total 3.0
# TYPE clickflow_serving_loaded_versions gauge
clickflow_serving_loaded_versions{model="clickflow"} 1.0
"""


def test_local_server_metrics_leave_out_probes_and_other_counters():
    families = sc.parse_metrics(LOCAL_SERVER_METRICS)
    counts = sc.request_counts(families)
    assert [(r["count"], r["succeeded"]) for r in counts] == [(3.0, True), (1.0, False)]
    assert all("api=predict" in r["labels"] for r in counts)
    others = {(r["metric"], r["value"]) for r in sc.counters_and_gauges(families)}
    assert ("clickflow_request_log_records", 3.0) in others
    assert ("clickflow_serving_loaded_versions", 1.0) in others
    assert not any(r["metric"].endswith("_created") for r in sc.counters_and_gauges(families))
