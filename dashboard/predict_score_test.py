"""The Predict and Score pages against the project's real model server and real pipeline runs.

What the server received is recorded by a pass-through proxy in front of it (``recorded``),
so the tests check the request body itself, not what the page says it sent.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.conftest import MODEL_VERSION
from dashboard.schema_form import EXAMPLE_ROW
from models import features
from pipelines.common.processes import ServiceProcess, free_port
from pipelines.data import generator as data_generator

PAGES = Path(__file__).resolve().parent / "views"
TIMEOUT = 120


def page(name: str) -> AppTest:
    return AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=TIMEOUT)


def assert_no_traceback(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def texts(elements) -> str:
    return "\n".join(e.value for e in elements)


def served_probabilities(url: str, rows: list[dict]) -> list[float]:
    response = httpx.post(f"{url}/v1/models/clickflow:predict", json={"instances": rows},
                          timeout=60)
    response.raise_for_status()
    return [p["probability"] for p in response.json()["predictions"]]


class Recorder:
    """A proxy that forwards every request to the real server and keeps each predict body."""

    def __init__(self, target: str):
        self.target, self.bodies = target, []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if method == "POST" and self.path.endswith(":predict"):
                    recorder.bodies.append(json.loads(body))
                answer = httpx.request(method, recorder.target + self.path, content=body,
                                       headers={"Content-Type": "application/json"}, timeout=60)
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("content-type", "text/plain"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def do_GET(self):
                self._forward("GET")

            def do_POST(self):
                self._forward("POST")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def instances(self) -> list[dict]:
        return [i for body in self.bodies for i in body["instances"]]


@pytest.fixture
def recorded(serving_url, monkeypatch, tmp_path):
    recorder = Recorder(serving_url)
    monkeypatch.setenv("CLICKFLOW_SERVING_URL", recorder.url)
    monkeypatch.setenv("CLICKFLOW_PIPELINE_ROOT", str(tmp_path / "no-runs"))
    yield recorder
    recorder.server.shutdown()


@pytest.fixture(scope="session")
def history_serving_url(history_root, tmp_path_factory):
    """The project's server on the history's own serving folder: it serves the version the
    second run pushed (the third was not blessed, the fourth failed)."""
    port = free_port()
    logs = tmp_path_factory.mktemp("history-server")
    server = ServiceProcess(
        [sys.executable, "-m", "deployment.server", "--model-base-path",
         str(history_root.model_base_path), "--host", "127.0.0.1", "--port", str(port),
         "--grpc-port", "off"],
        url=f"http://127.0.0.1:{port}", log_file=logs / "server.log", ready_path="/readyz",
        name="the model server of the history")
    with server:
        yield server.url


def fill(at: AppTest, **values) -> AppTest:
    inputs = {w.label.split(" (")[0]: w for w in [*at.number_input, *at.text_input]}
    for name, value in values.items():
        inputs[name].set_value(value)
    return at


# --- Predict ---------------------------------------------------------------------------------


@pytest.mark.e2e
def test_values_outside_the_schema_block_the_request_and_name_the_field(recorded):
    at = page("predict").run()
    assert_no_traceback(at)
    fill(at, Age=300, DailyTimeSpentOnSite="-5", AreaIncome="5e7", Timestamp="2016-03-27 24:00:00")
    at.button[0].click().run()
    assert_no_traceback(at)
    (error,) = at.error
    assert "Not sent: the form has problems." in error.value
    for expected in ("- DailyTimeSpentOnSite: -5 is outside the allowed range 0..1440",
                     "- Age: 300 is outside the allowed range 10..110",
                     "- AreaIncome: 5e7 is outside the allowed range 0..1000000",
                     "- Timestamp: '2016-03-27 24:00:00' is not a real date and time"):
        assert expected in error.value
    assert not at.metric
    assert recorded.bodies == []  # nothing reached the server, stale or not


@pytest.mark.e2e
def test_text_that_is_not_a_number_blocks_with_the_allowed_range(recorded):
    at = fill(page("predict").run(), DailyInternetUsage="lots")
    at.button[0].click().run()
    (error,) = at.error
    assert "- DailyInternetUsage: 'lots' is not a number (allowed: 0..1440)" in error.value
    assert recorded.bodies == []


@pytest.mark.e2e
def test_the_server_gets_exactly_the_values_on_screen(recorded, serving_url):
    at = page("predict").run()
    assert_no_traceback(at)
    (male,) = at.radio
    assert male.label == "Male: yes/no" and male.options == ["yes (1)", "no (0)"]
    assert male.value == 0  # the example row's value
    stamp = {t.label.split(" (")[0]: t for t in at.text_input}["Timestamp"]
    assert stamp.value == "2016-03-27 00:53:11"  # seconds shown ...
    fill(at, Age=61, DailyTimeSpentOnSite="40.55", Country="Norway",
         Timestamp="2016-03-27 00:53:59")
    male.set_value(1)
    at.button[0].click().run()
    assert_no_traceback(at)
    assert not at.error
    row = dict(EXAMPLE_ROW, Age=61, DailyTimeSpentOnSite=40.55, Country="Norway", Male=1,
               Timestamp="2016-03-27 00:53:59")
    # ... and sent: the request body the server got holds every value as entered.
    assert recorded.instances() == [row]
    assert recorded.bodies[0]["signature_name"] == "serving_default"
    (expected,) = served_probabilities(serving_url, [row])
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Click probability"] == f"{expected:.4f}"
    assert f"version **{MODEL_VERSION}**" in texts(at.markdown)
    assert "No training-data warnings: no pipeline runs to compare with" in texts(at.caption)


@pytest.mark.e2e
def test_unseen_values_warn_from_the_served_runs_statistics(history_root, history_serving_url,
                                                          monkeypatch):
    from dashboard import history, training_range

    monkeypatch.setenv("CLICKFLOW_SERVING_URL", history_serving_url)
    monkeypatch.setenv("CLICKFLOW_PIPELINE_ROOT", str(history_root.root))
    runs = history.list_runs(history_root.root / "metadata.sqlite", "clickflow")
    pusher = next(r for r in runs if r.pushed_version)  # the newest push is what is served
    trained = training_range.load(pusher, "", history_root.root)
    high = int(trained.numeric["Age"][1])
    assert high + 1 <= 110, "the test needs an age the schema allows but training never saw"
    city = sorted(trained.categories["City"])[0]
    at = fill(page("predict").run(), Age=high + 1, Country="Atlantis", City=city)
    at.button[0].click().run()
    assert_no_traceback(at)
    assert not at.error
    (warning,) = at.warning
    assert f"- Age {high + 1} is outside the training data's range" in warning.value
    assert "- Country 'Atlantis' never occurs in the training data" in warning.value
    assert "City" not in warning.value  # a city of the vocabulary
    captions = texts(at.caption)
    assert (f"the train split's statistics of run {pusher.run_id} (run {pusher.run_id} pushed "
            f"the served version {pusher.pushed_version})") in captions
    assert "Country: the model's Transform vocabulary" in captions
    assert {m.label for m in at.metric} == {"Click probability", "Prediction"}  # not a block


# --- Score a file ----------------------------------------------------------------------------


def upload(at: AppTest, name: str, content: bytes) -> AppTest:
    return at.file_uploader[0].set_value((name, content, "text/csv")).run()


@pytest.mark.e2e
def test_valid_rows_are_scored_and_bad_lines_listed(recorded, serving_url, tmp_path):
    path = data_generator.write_csv(tmp_path / "ads.csv", rows=30, seed=5)
    records = list(csv.reader(path.read_text().splitlines()))
    age, stamp = records[0].index("Age"), records[0].index("Timestamp")
    for number, (index, value) in {3: (age, "thirty"), 5: (stamp, "2016-02-30 10:00:00"),
                                   7: (age, ""), 9: (age, "500")}.items():
        records[number - 1][index] = value  # line N is record N - 1 (the header is line 1)
    text = io.StringIO()
    csv.writer(text).writerows(records)
    at = upload(page("score").run(), "mixed.csv", text.getvalue().encode())
    assert_no_traceback(at)
    assert not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Rows scored"], metrics["Rows rejected"]) == ("26", "4")
    (warning,) = at.warning
    assert "4 row(s) of mixed.csv were not scored" in warning.value
    rejected, scored = at.dataframe[0].value, at.dataframe[1].value
    assert rejected["line"].tolist() == [3, 5, 7, 9]
    assert rejected["problems"].tolist() == [
        "line 3, Age: 'thirty' is not a whole number",
        "line 5, Timestamp: '2016-02-30 10:00:00' is not a real date and time",
        "line 7, Age: empty", "line 9, Age: 500 is outside the allowed range 10..110"]
    assert list(scored.columns[:3]) == ["probability", "clicked", "line"]
    assert scored["line"].tolist() == [n for n in range(2, 32) if n not in (3, 5, 7, 9)]
    source = pd.read_csv(path)
    rows = source.loc[scored["line"] - 2, list(features.SERVING_FEATURES)].to_dict("records")
    assert scored["probability"].tolist() == pytest.approx(
        served_probabilities(serving_url, rows), abs=1e-6)
    assert len(recorded.instances()) == 26  # the rejected lines were never sent
    assert metrics["Predicted clicks"] == str(int(scored["clicked"].sum()))
    assert [b.proto.label for b in at.download_button] == [
        "Download rejected rows (CSV)", "Download predictions (CSV)"]


@pytest.mark.e2e
def test_a_labelled_file_gets_a_confusion_matrix_at_the_chosen_threshold(recorded, serving_url,
                                                                       tmp_path):
    path = data_generator.write_csv(tmp_path / "ads.csv", rows=300, seed=11)
    at = upload(page("score").run(), "labelled.csv", path.read_bytes())
    assert_no_traceback(at)
    source = pd.read_csv(path)
    probs = served_probabilities(
        serving_url, source[list(features.SERVING_FEATURES)].to_dict("records"))
    labels = source[features.LABEL_KEY].tolist()
    at.slider[0].set_value(0.35).run()
    assert_no_traceback(at)
    # By hand: a click is predicted at or above the threshold.
    pairs = list(zip(labels, probs, strict=True))
    tp = sum(1 for y, p in pairs if y == 1 and p >= 0.35)
    fp = sum(1 for y, p in pairs if y == 0 and p >= 0.35)
    fn = sum(1 for y, p in pairs if y == 1 and p < 0.35)
    tn = sum(1 for y, p in pairs if y == 0 and p < 0.35)
    assert tp + fn and fp + tn and tp and tn, "the file should exercise every cell"
    matrix = at.dataframe[-1].value
    assert matrix["predicted click"].tolist() == [tp, fp]
    assert matrix["predicted no click"].tolist() == [fn, tn]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Precision"] == f"{tp / (tp + fp):.1%}"
    from pipelines.common.metrics import roc_auc

    assert metrics["AUC on this file"] == f"{roc_auc(labels, probs):.4f}"
    roc, calibration, histogram = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    assert roc["encoding"]["x"]["field"] == "false_positive_rate"
    assert [layer["encoding"]["y"].get("field") for layer in calibration["layer"]] == [
        "y", "clicked_share"]  # the diagonal, then the reliability bins
    assert histogram["encoding"]["x"]["field"] == "low"


@pytest.mark.e2e
def test_a_file_larger_than_one_chunk_is_scored_in_several(recorded, serving_url, tmp_path):
    from dashboard import scoring

    rows = scoring.CHUNK_ROWS + 300
    path = data_generator.write_csv(tmp_path / "ads.csv", rows=rows, seed=2)
    at = upload(page("score").run(), "big.csv", path.read_bytes())
    assert_no_traceback(at)
    assert {m.label: m.value for m in at.metric}["Rows scored"] == f"{rows:,}"
    sizes = [len(b["instances"]) for b in recorded.bodies]
    assert sum(sizes) == rows and max(sizes) <= scoring.REQUEST_ROWS and len(sizes) > 2
    source = pd.read_csv(path)
    last = source.iloc[[rows - 1]][list(features.SERVING_FEATURES)].to_dict("records")
    assert recorded.instances()[-1] == last[0]
    assert len(at.dataframe[0].value) == 1_000  # a preview; the download has every row


@pytest.mark.e2e
def test_a_file_with_no_valid_rows_or_no_rows_says_so(recorded, tmp_path):
    header = ",".join(features.RAW_COLUMNS)
    at = upload(page("score").run(), "empty.csv", (header + "\n").encode())
    assert_no_traceback(at)
    (error,) = at.error
    assert "empty.csv has a header but no rows" in error.value
    at = upload(page("score").run(), "bad.csv", (header + "\n1,2\n").encode())
    (error,) = at.error
    assert "No row of bad.csv could be scored" in error.value
    assert at.dataframe[0].value["problems"].tolist() == [
        "line 2: 2 value(s), but the header has 10 columns"]
    assert len(at.download_button) == 1  # the rejected rows only


@pytest.fixture
def server_down(monkeypatch) -> str:
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("CLICKFLOW_SERVING_URL", url)
    return url


def test_a_bad_header_is_listed_before_the_server_is_asked(server_down):
    lines = ["Age,City,Male,Timestamp", "500,Oslo,0,2016-01-01 00:00:00"]
    at = upload(page("score").run(), "ads.csv", "\n".join(lines).encode())
    assert_no_traceback(at)
    (error,) = at.error
    assert "ads.csv cannot be scored." in error.value
    for expected in ("- missing column 'DailyTimeSpentOnSite'", "- missing column 'Country'",
                     "- ads.csv has the columns Age, City, Male, Timestamp; expected"):
        assert expected in error.value
    assert not at.download_button


def test_a_good_csv_with_the_server_down_gets_the_banner(server_down, tmp_path):
    path = data_generator.write_csv(tmp_path / "ads.csv", rows=5, seed=1)
    at = upload(page("score").run(), "ads.csv", path.read_bytes())
    assert_no_traceback(at)
    (banner,) = at.error
    assert f"The model server is not reachable at {server_down}" in banner.value
    assert not at.download_button and not at.metric


@pytest.mark.e2e
def test_a_good_csv_is_scored_and_offered_for_download(recorded, serving_url, tmp_path):
    path = data_generator.write_csv(tmp_path / "ads.csv", rows=1200, seed=5)
    at = upload(page("score").run(), "ads.csv", path.read_bytes())
    assert_no_traceback(at)
    assert not at.error and not at.warning
    scored = at.dataframe[0].value
    assert len(scored) == 1000 and (scored["model_version"] == MODEL_VERSION).all()
    assert "The first 1,000 of 1,200 scored rows" in texts(at.caption)
    source = pd.read_csv(path)
    rows = source.loc[[0, 1, 999], list(features.SERVING_FEATURES)].to_dict("records")
    assert scored.loc[[0, 1, 999], "probability"].tolist() == pytest.approx(
        served_probabilities(serving_url, rows), abs=1e-6)
    assert scored.loc[[0, 1, 999], "line"].tolist() == [2, 3, 1001]
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Rows scored"], metrics["Rows rejected"]) == ("1,200", "0")
    assert 0.5 < float(metrics["AUC on this file"]) <= 1.0
    assert [b.proto.label for b in at.download_button] == ["Download predictions (CSV)"]
