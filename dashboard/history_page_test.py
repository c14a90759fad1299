"""Model history, Run detail and Compare runs with Streamlit's AppTest, run through app.py's
navigation as a user reaches them: 0 runs, one real run, and four real runs (blessed without
a baseline, blessed against the served baseline, not blessed, failed at the AnomaliesGate)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pipelines.common.processes import free_port

APP = Path(__file__).resolve().parent / "app.py"
PAGES = ("views/history.py", "views/run.py", "views/compare.py")
TIMEOUT = 120  # the curves load TensorFlow Model Analysis


def open_page(monkeypatch, root: Path, page: str, **query: str) -> AppTest:
    monkeypatch.setenv("CLICKFLOW_PIPELINE_ROOT", str(root))
    monkeypatch.setenv("CLICKFLOW_MONITORING_DIR", str(root / "no-monitoring"))
    monkeypatch.setenv("CLICKFLOW_SERVING_URL", f"http://127.0.0.1:{free_port()}")
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    for key, value in query.items():
        at.query_params[key] = value
    at.switch_page(page).run()
    assert_ok(at)
    return at


def assert_ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def texts(elements) -> str:
    return "\n".join(e.value for e in elements)


def summaries(root: Path) -> list[dict]:
    """The runner's summaries, oldest first."""
    return [json.loads(p.read_text()) for p in sorted((root / "runs").glob("*/run_summary.json"))]


@pytest.mark.parametrize("page", PAGES)
def test_no_store_and_an_empty_store_say_to_run_the_pipeline(monkeypatch, tmp_path,
                                                             empty_store, page):
    for root, reason in ((tmp_path / "nothing", "no ML Metadata store at"),
                         (empty_store.parent, "no run of pipeline 'clickflow'")):
        at = open_page(monkeypatch, root, page)
        (info,) = at.info
        assert "No pipeline runs yet" in info.value and reason in info.value
        assert not at.dataframe


@pytest.mark.e2e
def test_one_run(pipeline_root, monkeypatch):
    (summary,) = summaries(pipeline_root)
    at = open_page(monkeypatch, pipeline_root, "views/history.py")
    table = at.dataframe[0].value
    assert list(table.columns[:5]) == ["started", "outcome", "AUC", "blessed", "pushed version"]
    assert len(table) == 1 and table["AUC"][0] == pytest.approx(summary["metrics"]["auc"])
    assert table["pushed version"][0] == Path(summary["pushed_model"]).name
    assert texts(at.success) == (f"Blessed: AUC {summary['metrics']['auc']:.4f} ≥ 0.75 and "
                                 "there was no served model to compare with.")
    assert {m.label: m.value for m in at.metric}["Runs"] == "1"
    # The data section moved to the Data page: a link to it.
    links = [(e.proto.label, e.proto.page) for e in at.get("page_link")]
    assert any(label == "Data statistics and anomalies" and page.endswith("data")
               for label, page in links), links
    at = open_page(monkeypatch, pipeline_root, "views/compare.py")
    assert "Two runs are needed to compare" in texts(at.info)
    at = open_page(monkeypatch, pipeline_root, "views/run.py")
    assert texts(at.success).startswith("Blessed: AUC")


@pytest.fixture(scope="module")
def four(history_root):
    return history_root, summaries(history_root.root)


@pytest.mark.e2e
def test_history_of_four_runs_explains_every_verdict(four, monkeypatch):
    history, (first, second, third, _failed) = four
    at = open_page(monkeypatch, history.root, "views/history.py")
    table = at.dataframe[0].value
    v1, v2 = Path(first["pushed_model"]).name, Path(second["pushed_model"]).name
    assert list(table["outcome"]) == ["failed at AnomaliesGate", "not blessed",
                                      f"pushed {v2}", f"pushed {v1}"]
    assert list(table["pushed version"].fillna("")) == ["", "", v2, v1]
    assert "1 failed" in str(at.metric[0].proto.delta)
    assert "The latest run failed at AnomaliesGate" in texts(at.error)
    auc = [s["metrics"]["auc"] for s in (first, second, third)]
    drop2 = second["metrics"]["auc"] - second["baseline"]["metrics"]["auc"]
    drop3 = third["metrics"]["auc"] - third["baseline"]["metrics"]["auc"]
    expected = [
        "No verdict: the run failed at AnomaliesGate: the data breaks the schema "
        "(schema/schema.pbtxt).",
        f"Not blessed: AUC {auc[2]:.4f} is below the threshold 0.9999.",
        f"Blessed: AUC {auc[1]:.4f} ≥ 0.75 and AUC changed by {drop2:+.4f} against the served "
        f"version {v1}, allowed -0.5.",
        f"Blessed: AUC {auc[0]:.4f} ≥ 0.75 and there was no served model to compare with.",
    ]
    picker = at.selectbox[0]
    assert len(picker.options) == 4
    for index, sentence in enumerate(expected):
        at = at.selectbox[0].select_index(index).run()
        assert_ok(at)
        assert sentence in texts(at.success) + texts(at.error) + texts(at.info)
        if index == 1:  # not blessed, judged against the baseline: both values shown
            checks = at.dataframe[1].value
            assert checks["passed"].tolist() == [False]
            assert checks["baseline"][0] == pytest.approx(third["baseline"]["metrics"]["auc"])
            assert checks["change"][0] == pytest.approx(drop3)
    # The curves of the run judged against the baseline: both models' ROC, no traceback.
    at = at.selectbox[0].select_index(2).run()
    at = at.toggle[0].set_value(True).run()
    assert_ok(at)
    assert "Overall" in at.multiselect[0].options
    # ... and every slice against the baseline, read from TFMA's two-model result.
    slices = at.dataframe[-1].value.set_index("slice")
    assert slices.loc["Overall", "AUC"] == pytest.approx(second["metrics"]["auc"])
    assert slices.loc["Overall", "baseline AUC"] == pytest.approx(
        second["baseline"]["metrics"]["auc"])
    assert {"Male:0", "Male:1"} <= set(slices.index) and slices["baseline AUC"].notna().all()


@pytest.mark.e2e
def test_run_detail_of_the_failed_run_names_the_component_and_error(four, monkeypatch):
    history, (_first, _second, _third, failed) = four
    at = open_page(monkeypatch, history.root, "views/run.py", run=failed["run_id"])
    assert "failed at **AnomaliesGate**" in texts(at.error)
    assert "Age: Unexpectedly large value: 500." in texts(at.code)
    lineage = at.dataframe[0].value.set_index("step")
    assert lineage.loc["anomalies", "state"] == "anomalies"
    assert lineage.loc["stopped", "detail"] == "at AnomaliesGate"
    assert lineage.loc["pushed", "state"] == "not pushed"


@pytest.mark.e2e
def test_compare_two_runs_side_by_side(four, monkeypatch):
    history, (_first, second, third, _failed) = four
    at = open_page(monkeypatch, history.root, "views/compare.py", a=third["run_id"],
                   b=second["run_id"])
    metrics = at.dataframe[0].value.set_index("metric")
    assert metrics.loc["AUC", "A - B"] == pytest.approx(
        third["metrics"]["auc"] - second["metrics"]["auc"])
    data = at.dataframe[1].value.set_index("field")
    assert data.loc["span count", "A"] == "3" and data.loc["span count", "B"] == "2"
    assert "Not blessed" in texts(at.error) and "Blessed" in texts(at.success)
    # The runs differ in the Evaluator's thresholds (--min-auc 0.9999 for the third run).
    params = at.dataframe[2].value.set_index("parameter")
    assert params.loc["Evaluator.auc.lower_bound", "A"] == "0.9999"
    assert params.loc["Evaluator.auc.lower_bound", "B"] == "0.75"
    assert not params["same"].any()
    stats = at.dataframe[-1].value
    assert "Age" in set(stats["feature"]) and stats["mean A"].notna().all()
    # A link to a run this root does not have says so, and shows another.
    at = open_page(monkeypatch, history.root, "views/compare.py", a="no-such-run")
    assert "Run `no-such-run` (from the link) is not in this pipeline root" in texts(at.warning)


def _start_a_run(root: Path) -> str:
    """A run that ML Metadata sees going (its Trainer RUNNING), as a live pipeline leaves it:
    written with MLMD's own API into a copy of a real store."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    from pipelines.metadata.store import open_store

    store = open_store(root / "metadata.sqlite", writable=True)
    pipeline = store.get_context_by_type_and_name("pipeline", "clickflow")
    run_type = store.get_context_type("pipeline_run")
    run_id = "29991231-235959-1"
    [run_ctx] = store.put_contexts([pb.Context(type_id=run_type.id, name=run_id)])
    store.put_parent_contexts([pb.ParentContext(child_id=run_ctx, parent_id=pipeline.id)])
    node = store.get_context_by_type_and_name("node", "clickflow.Trainer")
    trainer = store.get_executions_by_context(node.id)[0]
    execution = pb.Execution(type_id=trainer.type_id, last_known_state=pb.Execution.RUNNING)
    store.put_execution(execution, [], store.get_contexts_by_id([run_ctx, node.id]))
    return run_id


@pytest.mark.e2e
def test_a_running_then_abandoned_run(pipeline_root, tmp_path, monkeypatch):
    import shutil

    from pipelines.metadata import recovery
    from pipelines.metadata.store import open_store

    root = tmp_path / "root"
    shutil.copytree(pipeline_root, root)
    run_id = _start_a_run(root)
    for state, sentence in (("running", "No verdict yet: the run is still going."),
                            ("abandoned", "No verdict: the run's process was stopped")):
        if state == "abandoned":
            recovery.mark_abandoned(open_store(root / "metadata.sqlite", writable=True),
                                    reason="the process was gone")
        for page in PAGES:
            at = open_page(monkeypatch, root, page, **({"a": run_id} if "compare" in page
                                                       else {"run": run_id}))
            if page == "views/history.py":
                assert at.dataframe[0].value["outcome"][0] == state
            assert sentence in texts(at.info), (page, texts(at.info))
