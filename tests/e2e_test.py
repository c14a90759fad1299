"""The real graph, end to end, on a few hundred generated rows in a temporary folder."""

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import local_runner
from pipelines.components import served_baseline
from pipelines.data import generator as data_generator

pytestmark = pytest.mark.e2e

COMPONENTS = ("DuckDBExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator",
              "AnomaliesGate", "EvalSample", "Transform", "Trainer", "ServedBaseline",
              "Evaluator", "SimpleTrainer", "SimpleModelEvaluator", "Pusher",
              "ModelCardGenerator")


def _args(tmp_path: Path, data: Path, *extra: str) -> list[str]:
    return ["--data", str(data), "--pipeline-root", str(tmp_path / "root"),
            "--serving-dir", str(tmp_path / "serving"), "--train-steps", "200", *extra]


def _summary(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "root" / "run_summary.json").read_text())


def _run_context_property(tmp_path: Path, key: str) -> str:
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    from pipelines.metadata import runs as run_summary

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(tmp_path / "root" / "metadata.sqlite")
    store = metadata_store.MetadataStore(config)
    run = run_summary.latest_run_context(store, "clickflow")
    return run.custom_properties[key].string_value


def test_pipeline_trains_blesses_pushes_and_serves(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    data_generator.write_span(data, 1, 600, seed=11)

    reason = "monitor: drift (report workspace/monitoring/x)"
    # --eval-max-rows below the ~120 eval rows: the Evaluator scores EvalSample's sample.
    # --simple-margin 0.1: on 100 eval rows an AUC moves by hundredths between two equally
    # good models (this candidate trails the logistic regression by 0.0099, at the default
    # margin); the gate itself is tested with a weak candidate below.
    simple = ("--simple-margin", "0.1")
    assert local_runner.main(_args(tmp_path, data, "--trigger-reason", reason,
                                   "--eval-max-rows", "100", *simple)) == 0
    out = capsys.readouterr().out
    summary = _summary(tmp_path)
    assert summary["trigger_reason"] == reason
    assert _run_context_property(tmp_path, "trigger_reason") == reason

    assert summary["status"] == "succeeded"
    assert summary["blessed"] is True
    for component in COMPONENTS:
        assert f"▶ {component}" in out and f"✔ {component} finished" in out
        assert component in summary["component_seconds"]
    rows = summary["evaluated_rows"]
    assert rows["evaluated"] == 100 < rows["eval_split"]
    assert "on a sample of 100 of" in out
    assert "Baseline: none (nothing served yet)" in out
    metrics = summary["metrics"]
    assert metrics["example_count"] == 100
    assert metrics["auc"] > 0.85 and metrics["binary_accuracy"] > 0.75
    assert 0.85 < summary["best_possible_auc"] <= 1.0
    assert metrics["auc"] >= summary["best_possible_auc"] - 0.05
    assert summary["data"]["generated"] is True and summary["data"]["spans"] == ["span-00001"]
    assert summary["wall_seconds"] > 0
    judged = summary["simple_model"]
    assert judged["blessed"] is True and judged["not_blessed_because"] == []
    assert judged["margin"] == pytest.approx(0.1)
    assert {"Overall", "Male:0", "Male:1"} <= set(judged["slices"])
    overall = judged["slices"]["Overall"]
    assert overall["candidate_auc"] == pytest.approx(metrics["auc"])
    assert 0.85 < overall["simple_auc"] <= 1.0 and overall["examples"] == 100
    assert "Simple model: logistic regression on the numeric features, AUC" in out

    pushed = Path(summary["pushed_model"])
    assert pushed.parent == tmp_path / "serving" / "clickflow" and pushed.name.isdigit()
    assert (pushed / "saved_model.pb").is_file()
    card = pushed / "assets.extra" / "model_card"  # names.MODEL_CARD_DIR
    assert {p.name for p in card.iterdir()} == {"model_card.json", "model_card.md",
                                                "model_card.html"}

    import tensorflow as tf

    model = tf.saved_model.load(str(pushed))
    assert {"serving_default", "serving_tf_example", "classification"} <= set(model.signatures)
    request = {"instances": [
        {"DailyTimeSpentOnSite": 35.0, "Age": 55, "AreaIncome": 25000.0,
         "DailyInternetUsage": 110.0, "AdTopicLine": "Cloned 5thgeneration orchestration",
         "City": "Wrightburgh", "Male": 0, "Country": "Tunisia",
         "Timestamp": "2016-03-27 00:53:11"},
        {"DailyTimeSpentOnSite": 85.0, "Age": 25, "AreaIncome": 70000.0,
         "DailyInternetUsage": 250.0, "AdTopicLine": "Monitored national standardization",
         "City": "A city never seen", "Male": 1, "Country": "Nowhere",
         "Timestamp": "2016-04-04 01:39:02"},
    ]}
    serve = model.signatures["serving_default"]
    specs = serve.structured_input_signature[1]
    inputs = {name: tf.constant([row[name] for row in request["instances"]], dtype=spec.dtype)
              for name, spec in specs.items()}
    probability = serve(**inputs)["probability"].numpy()
    assert probability.shape == (2,)
    assert probability[0] > 0.5 > probability[1]

    # Unchanged rerun: nothing to do, answered from the previous run without TFX.
    assert local_runner.main(_args(tmp_path, data, "--eval-max-rows", "100", *simple)) == 0
    again = _summary(tmp_path)
    assert again["up_to_date"] is True and again["reused_run_id"] == summary["run_id"]
    assert again["pushed_model"] == summary["pushed_model"]
    assert "Up to date" in capsys.readouterr().out
    assert summary["baseline"] is None

    # Forced from scratch on the same data: the very same model (seeds and op determinism,
    # models.model.seed_everything): the same SavedModel fingerprint hashes (not its checksum,
    # see served_baseline.identity), and the same metrics up to
    # the order in which TFMA's Beam combiners add floats (1e-9 seen in mean_prediction).
    # ServedBaseline skips the served version as the candidate itself.
    assert local_runner.main(_args(tmp_path, data, "--eval-max-rows", "100", "--force",
                                   "--no-cache")) == 0
    forced = _summary(tmp_path)
    assert forced["run_id"] != summary["run_id"] and not forced.get("up_to_date")
    assert forced["metrics"].keys() == summary["metrics"].keys()
    for name, value in summary["metrics"].items():
        assert forced["metrics"][name] == pytest.approx(value, rel=1e-7, abs=1e-9), name
    trained = [str(Path(s["artifacts"]["Trainer.model"]) / "Format-Serving")
               for s in (summary, forced)]
    assert served_baseline.identity(trained[0]) == served_baseline.identity(trained[1])
    assert forced["baseline"] is None
    assert "Baseline: none" in capsys.readouterr().out
    if forced.get("pushed_model"):
        pushed = Path(forced["pushed_model"])

    # The second day: a new span. The Evaluator compares the new model with the served one.
    data_generator.write_span(data, 2, 300, seed=12)
    assert local_runner.main(_args(tmp_path, data, "--eval-max-rows", "100", *simple)) == 0
    out = capsys.readouterr().out
    second = _summary(tmp_path)
    assert second["status"] == "succeeded" and second["run_id"] != summary["run_id"]
    baseline = second["baseline"]
    assert baseline["served_version"] == pushed.name
    assert baseline["served_path"] == str(pushed)
    assert 0.5 < baseline["metrics"]["auc"] <= 1.0
    assert baseline["metrics"]["example_count"] == second["metrics"]["example_count"]
    copied = Path(second["artifacts"]["ServedBaseline.model"]) / "Format-Serving"
    assert (copied / "saved_model.pb").read_bytes() == (pushed / "saved_model.pb").read_bytes()
    assert f"Baseline: the served version {pushed.name}" in out


def test_a_candidate_worse_than_the_simple_model_is_not_pushed_and_says_why(
        tmp_path: Path, capsys) -> None:
    """Two training steps leave the candidate far below the logistic regression, which keeps
    its own budget; --min-auc 0 leaves the simple-model gate the only reason not to push."""
    data = tmp_path / "data"
    data_generator.write_span(data, 1, 600, seed=11)
    args = _args(tmp_path, data, "--min-auc", "0", "--simple-margin", "0.02")
    args[args.index("--train-steps") + 1] = "2"
    assert local_runner.main(args) == 0
    out = capsys.readouterr().out
    summary = _summary(tmp_path)
    assert summary["status"] == "succeeded"
    assert summary["blessed"] is False and summary["pushed_model"] is None
    simple = summary["simple_model"]
    assert simple["blessed"] is False and simple["margin"] == pytest.approx(0.02)
    overall = simple["slices"]["Overall"]
    assert overall["auc_change"] < -0.02
    reason = (f"auc overall: the candidate's {overall['candidate_auc']:.4f} is "
              f"{-overall['auc_change']:.4f} below the simple model's "
              f"{overall['simple_auc']:.4f} (margin 0.02)")
    assert reason in summary["not_blessed_because"] == simple["not_blessed_because"]
    assert f"Not blessed because: {reason}" in out
    assert "NOT blessed" in out and "Pushed model: none" in out
    assert not list((tmp_path / "serving" / "clickflow").iterdir())


def test_corrupt_data_stops_at_the_gate_and_pushes_nothing(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    span = data_generator.write_span(data, 1, 300, seed=12)
    part = next(span.glob("*.parquet"))
    table = pq.read_table(part)
    ages = table.column("Age").to_numpy().copy()
    ages[:10] = 500
    table = table.set_column(table.schema.get_field_index("Age"), "Age",
                             [ages.astype(np.int64)])
    pq.write_table(table, part)

    assert local_runner.main(_args(tmp_path, data)) == 1
    captured = capsys.readouterr()
    assert "FAILED in AnomaliesGate" in captured.err
    assert "Age" in captured.err and "schema" in captured.err
    assert "No model was pushed" in captured.err
    assert "Traceback" not in captured.err

    summary = _summary(tmp_path)
    assert summary["status"] == "failed" and summary["failed_component"] == "AnomaliesGate"
    assert summary["pushed_model"] is None and summary["blessed"] is False
    assert "Transform" not in summary["component_seconds"]
    # the up-front check created the serving folder; nothing was pushed into it
    assert list((tmp_path / "serving").rglob("*")) == [tmp_path / "serving" / "clickflow"]
