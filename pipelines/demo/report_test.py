"""The closing summary table."""

from __future__ import annotations

from pipelines.demo.report import DemoFacts, VersionFacts, summary_lines


def _facts() -> DemoFacts:
    return DemoFacts(
        versions=[VersionFacts(1700000000, "span 1 (2,000 generated rows)", 0.9512,
                               live_auc_normal=0.9533, live_auc_drifted=0.4321),
                  VersionFacts(1700000300, "2 spans (+2,000 drifted)", 0.8123,
                               live_auc_drifted=0.6789)],
        drift_breaches=["Age", "Male"], skew_breaches=["v1700000000/Age"], decision="retrain",
        decision_after="cooldown", retrain_run_id="20260301-120000-42",
        trigger_reason="monitor: skew, drift (report r)", mlmd_run_context="ctx-1",
        best_auc_normal=0.96, best_auc_drifted=0.7765,
        step_seconds={"1. Train": 48.0, "2. Serve": 6.0})


def test_summary_table_compares_the_versions() -> None:
    lines = summary_lines(_facts())
    header, rule, old, new, best = lines[:5]
    assert header.split()[:2] == ["version", "trained"]
    assert set(rule.replace(" ", "")) == {"-"}
    assert old.split()[0] == "1700000000" and old.split()[-3:] == ["0.9512", "0.9533", "0.4321"]
    assert new.split()[-3:] == ["0.8123", "-", "0.6789"]
    assert best.startswith("best possible") and best.split()[-2:] == ["0.9600", "0.7765"]
    columns = {line.index("live AUC drifted") if "drifted" in line else None
               for line in lines[:1]}
    assert old.rindex("0.4321") == new.rindex("0.6789") == columns.pop()  # aligned
    text = "\n".join(lines)
    assert "v1700000000 0.4321 -> v1700000300 0.6789 (+0.2468)" in text
    assert "Drift (vs the normal window): Age, Male" in text
    assert "Decision: retrain; after retraining: cooldown" in text
    assert "Retraining run: 20260301-120000-42 (MLMD run context ctx-1)" in text
    assert "Trigger reason: monitor: skew, drift (report r)" in text
    assert "Time: 54 s (1. Train 48 s, 2. Serve 6 s)" in text


def test_summary_of_an_unfinished_demo_says_none() -> None:
    text = "\n".join(summary_lines(DemoFacts()))
    assert "Retraining run: none" in text and "Drift (vs the normal window): none" in text
    assert "Live AUC on drifted traffic" not in text
