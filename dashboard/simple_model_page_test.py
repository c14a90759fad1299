"""The simple-baseline gate on Model history and Run detail (Streamlit's AppTest, through
app.py's navigation): one real run whose candidate (two training steps) is far below the
logistic regression, so the simple-model Evaluator refused it and nothing was pushed."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from dashboard import explain
from dashboard.history_page_test import open_page, texts


@pytest.fixture(scope="module")
def refused(tmp_path_factory) -> tuple[Path, dict]:
    import local_runner
    from pipelines.data import generator

    work = tmp_path_factory.mktemp("simple-gate")
    generator.write_span(work / "data", 1, 600, seed=11)
    args = [
        "--data",
        str(work / "data"),
        "--pipeline-root",
        str(work / "root"),
        "--serving-dir",
        str(work / "serving"),
        "--train-steps",
        "2",
        "--min-auc",
        "0",
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        assert local_runner.main(args) == 0
    return work / "root", json.loads((work / "root" / "run_summary.json").read_text())


@pytest.mark.e2e
@pytest.mark.parametrize("page", ["views/history.py", "views/run.py"])
def test_the_not_blessed_reason_and_the_comparison_are_shown(monkeypatch, refused, page):
    root, summary = refused
    simple = summary["simple_model"]
    assert simple["blessed"] is False and summary["pushed_model"] is None
    at = open_page(monkeypatch, root, page)
    verdict = texts(at.error)
    # The main thresholds passed (--min-auc 0): the simple model's gate is the reason given.
    assert verdict.startswith("Not blessed: ")
    for reason in simple["not_blessed_because"]:
        assert reason in verdict
    assert "auc overall: the candidate's" in verdict and "the simple model's" in verdict
    assert not texts(at.warning)  # the verdict is explained: no "do not explain" warning
    heading = next(
        m.value for m in at.markdown if m.value.startswith("**Candidate against the simple model**")
    )
    assert "at most 0.01 lower overall" in heading and "**failed**" in heading
    table = next(d.value for d in at.dataframe if "simple model AUC" in d.value.columns)
    assert list(table["slice"][:1]) == ["Overall"]
    overall = simple["slices"]["Overall"]
    assert table["simple model AUC"][0] == pytest.approx(overall["simple_auc"])
    assert table["AUC"][0] == pytest.approx(overall["candidate_auc"])
    assert not table["within margin"][0]
    assert set(table["slice"]) == set(simple["slices"])


def test_the_table_applies_tfma_rule_to_the_margin() -> None:
    rows = explain.simple_model_rows(
        {
            "margin": 0.01,
            "slices": {
                "Male:1": {
                    "candidate_auc": 0.90,
                    "simple_auc": 0.93,
                    "auc_change": -0.03,
                    "examples": 40.0,
                },
                "Overall": {
                    "candidate_auc": 0.95,
                    "simple_auc": 0.955,
                    "auc_change": -0.005,
                    "examples": 90.0,
                },
                "age_band:<30": {
                    "candidate_auc": 0.9,
                    "simple_auc": 0.91,
                    "auc_change": -0.01,
                    "examples": 20.0,
                },
            },
        }
    )
    assert [(r["slice"], r["within margin"]) for r in rows] == [
        ("Overall", True),
        ("Male:1", False),
        ("age_band:<30", True),
    ]
    assert explain.simple_model_rows({"slices": {"Overall": {}}})[0]["within margin"] is None


def test_a_second_gate_explains_a_verdict_the_thresholds_do_not() -> None:
    from dashboard import blessing

    passed = [blessing.check(blessing.Threshold("auc", lower=0.5), 0.9, None)]
    reason = (
        "auc on slice Male:1: the candidate's 0.9000 is 0.0300 below the simple model's "
        "0.9300 (margin 0.01)"
    )
    verdict = explain.verdict(passed, False, None, [reason], gate_reasons=[reason])
    assert verdict.sentence == f"Not blessed: {reason}." and verdict.agrees
    alone = explain.verdict(passed, False, None, [reason])
    assert not alone.agrees  # without the gate's reason the thresholds do not explain it
