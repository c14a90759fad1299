"""The Data page with Streamlit's AppTest on no run, one real run and four real runs.

Expected values are read from the runs' own protos (tensorflow_metadata), not from the page's
module, so a wrong reading of the statistics shows here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import history
from dashboard.statistics_test import proto_feature

PAGE = Path(__file__).resolve().parent / "views" / "data.py"


def run_page(monkeypatch: pytest.MonkeyPatch, root: Path) -> AppTest:
    monkeypatch.setenv("CLICKFLOW_PIPELINE_ROOT", str(root))
    at = AppTest.from_file(str(PAGE), default_timeout=120).run()
    assert_clean(at)
    return at


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def texts(elements) -> str:
    return "\n".join(e.value for e in elements)


def table(at: AppTest, title: str):
    """The Numeric or Categorical features table, told apart by its columns."""
    column = "mean" if title == "Numeric features" else "top value"
    assert title in [s.value for s in at.subheader]
    (found,) = [d for d in at.dataframe if column in d.value.columns]
    return found


def records(root: Path) -> list[history.RunRecord]:
    return history.list_runs(root / "metadata.sqlite", "clickflow")


@pytest.mark.parametrize("make_root", ["missing", "empty"])
def test_no_runs_gets_the_same_banner_as_the_other_pages(monkeypatch, tmp_path, empty_store,
                                                         make_root):
    root = tmp_path / "nowhere" if make_root == "missing" else empty_store.parent
    at = run_page(monkeypatch, root)
    assert "No pipeline runs yet" in texts(at.info) and "make run" in texts(at.info)
    assert not at.selectbox and not at.dataframe


def test_one_run_shows_its_statistics_and_says_there_is_nothing_to_compare(
        monkeypatch, pipeline_root):
    at = run_page(monkeypatch, pipeline_root)
    (run,) = records(pipeline_root)
    assert at.selectbox[0].value.run_id == run.run_id
    assert "No anomalies" in texts(at.success)
    numeric = table(at, "Numeric features").value.set_index("feature")
    raw = proto_feature(run.statistics_uri, "train", "DailyTimeSpentOnSite").num_stats
    assert numeric.loc["DailyTimeSpentOnSite", "mean"] == pytest.approx(raw.mean)
    assert numeric.loc["DailyTimeSpentOnSite", "count"] == raw.common_stats.num_non_missing
    assert numeric.loc["Male", "kind"] == "binary"
    assert {"ClickedOnAd", "Age", "AreaIncome"} <= set(numeric.index)
    text = table(at, "Categorical features").value.set_index("feature")
    assert text.loc["Country", "unique"] == proto_feature(run.statistics_uri, "train",
                                                          "Country").string_stats.unique
    # One chart per feature, titled by its distance (the Vega-Lite spec the browser draws).
    titles = [json.loads(c.proto.spec)["title"] for c in at.get("vega_lite_chart")]
    assert sorted(t.split(" — ")[0] for t in titles) == sorted([*numeric.index, *text.index])
    male = numeric.loc["Male"]
    assert f"Male — L-infinity {male['distance']:.3f}" in titles

    at.segmented_control(key="mode").set_value("Against another run").run()
    assert_clean(at)
    assert "no other run to compare against yet" in texts(at.info)
    assert len(at.selectbox) == 1  # no run to choose


@pytest.fixture(scope="module")
def four(history_root) -> tuple[Path, list[history.RunRecord]]:
    return history_root.root, records(history_root.root)  # newest first


def test_the_newest_run_stopped_at_the_gate_shows_why(monkeypatch, four):
    root, runs = four
    at = run_page(monkeypatch, root)
    assert at.selectbox[0].value.run_id == runs[0].run_id and runs[0].status == "failed"
    assert "This run was stopped at the AnomaliesGate" in texts(at.error)
    anomalies = at.dataframe[0].value
    assert set(anomalies["split"]) == {"train", "eval"} and set(anomalies["feature"]) == {"Age"}
    assert anomalies["description"].str.contains("Unexpectedly large value: 500").all()
    numeric = table(at, "Numeric features").value.set_index("feature")
    assert numeric.loc["Age", "max"] == 500


def test_comparing_runs_puts_the_changed_feature_first(monkeypatch, four):
    root, runs = four
    at = run_page(monkeypatch, root)
    at.segmented_control(key="mode").set_value("Against another run").run()
    assert_clean(at)
    # Default: the previous run (run 3, not blessed), on the train split.
    assert at.selectbox(key="other").value.run_id == runs[1].run_id
    numeric = table(at, "Numeric features").value
    assert numeric.iloc[0]["feature"] == "Age" and numeric.iloc[0]["distance"] > 0.05
    assert runs[1].run_id in texts(at.caption)

    at.selectbox(key="other").select_index(2).run()  # run 1: one span, blessed
    at.segmented_control(key="split").set_value("eval").run()
    assert_clean(at)
    assert f"The eval split of this run against that of run `{runs[3].run_id}`" in \
        texts(at.caption)
    numeric = table(at, "Numeric features").value.set_index("feature")
    raw = proto_feature(runs[0].statistics_uri, "eval", "Age").num_stats
    assert numeric.loc["Age", "mean"] == pytest.approx(raw.mean)


def test_an_older_run_without_anomalies_says_so(monkeypatch, four):
    root, runs = four
    at = run_page(monkeypatch, root)
    at.selectbox(key="run").select_index(1).run()  # run 3: judged, not blessed, clean data
    assert_clean(at)
    assert "No anomalies" in texts(at.success) and not at.error
    assert runs[1].run_id in texts(at.caption)
    numeric = table(at, "Numeric features").value.set_index("feature")
    raw = proto_feature(runs[1].statistics_uri, "train", "Age").num_stats
    assert numeric.loc["Age", "max"] == raw.max < 500


def test_invalid_settings_are_one_readable_error(monkeypatch, tmp_path):
    monkeypatch.setenv("CLICKFLOW_SERVING_URL", "localhost:8501")
    at = AppTest.from_file(str(PAGE), default_timeout=120).run()
    assert_clean(at)
    (error,) = at.error
    assert "CLICKFLOW_SERVING_URL='localhost:8501' must be an http(s) URL" in error.value


def test_the_app_navigates_to_the_page(monkeypatch, pipeline_root):
    monkeypatch.setenv("CLICKFLOW_PIPELINE_ROOT", str(pipeline_root))
    app = PAGE.parent.parent / "app.py"
    at = AppTest.from_file(str(app), default_timeout=120).run()
    at.switch_page("views/data.py").run()
    assert_clean(at)
    assert at.title[0].value == "Data" and at.get("vega_lite_chart")
