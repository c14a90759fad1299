"""The served model's training range, read from the real four-run history."""

from pathlib import Path

import pytest

from dashboard import history, training_range
from tests import run_history


def _runs(root: Path) -> list[history.RunRecord]:
    return history.list_runs(root / "metadata.sqlite", "clickflow")


def _pushed(runs: list[history.RunRecord]) -> list[history.RunRecord]:
    return [r for r in runs if r.pushed_version]


@pytest.mark.e2e
def test_the_run_that_pushed_the_served_version_is_chosen(history_root):
    runs = _runs(history_root.root)
    first, second = reversed(_pushed(runs))  # runs 1 and 2 pushed; newest first
    run, why = training_range.pick_run(runs, int(first.pushed_version))
    assert run.run_id == first.run_id
    assert why == f"run {first.run_id} pushed the served version {first.pushed_version}"
    run, _ = training_range.pick_run(runs, int(second.pushed_version))
    assert run.run_id == second.run_id


@pytest.mark.e2e
def test_an_unknown_version_falls_back_to_the_newest_run_that_trained(history_root):
    runs = _runs(history_root.root)
    assert history_root.kinds[-1] == run_history.FAILED
    run, why = training_range.pick_run(runs, 1)
    # Not the newest run: it stopped at the gate (Age 500) and trained nothing.
    assert run.run_id != runs[0].run_id and run.model_uri
    assert run.run_id == next(r.run_id for r in runs if r.model_uri)
    assert why.startswith("no run pushed the served version 1; using the newest run")
    assert training_range.pick_run([], 1) == (
        None, "no run in the pipeline root has training statistics")


@pytest.mark.e2e
def test_ranges_are_the_train_splits_and_categories_the_transform_vocabulary(history_root):
    from tensorflow_metadata.proto.v0 import statistics_pb2

    runs = _runs(history_root.root)
    run, why = training_range.pick_run(runs, int(_pushed(runs)[0].pushed_version))
    trained = training_range.load(run, why, history_root.root)
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    stats.ParseFromString((Path(run.statistics_uri) / "Split-train" / "FeatureStats.pb")
                          .read_bytes())
    age = next(f for f in stats.datasets[0].features if f.path.step == ["Age"])
    assert trained.numeric["Age"] == (age.num_stats.min, age.num_stats.max)
    assert set(trained.numeric) == set(training_range.NUMERIC)
    assets = training_range.vocabulary_folder(history_root.root, run.run_id)
    assert assets.parent.parent.parent.name == "transform_graph"  # <graph>/<id>/transform_fn
    city = (assets / "City").read_text().splitlines()
    assert trained.categories["City"] == frozenset(city)
    assert trained.category_source["City"].startswith(
        f"the model's Transform vocabulary ({len(city):,} values")

    low, high = trained.numeric["Age"]
    seen = city[0]
    row = {"Age": int(high) + 1, "City": seen, "Country": "Atlantis", "AreaIncome": 1.0}
    notes = training_range.warnings(row, trained)
    assert f"Age {int(high) + 1} is outside the training data's range" in notes[0]
    assert not any("City" in n for n in notes)
    assert any(n.startswith("Country 'Atlantis' never occurs in the training data") for n in notes)
    inside = {"Age": int(low), "City": seen, "Country": trained_country(trained)}
    assert training_range.warnings(inside, trained) == []


def trained_country(trained: training_range.TrainingRange) -> str:
    return sorted(trained.categories["Country"])[0]


@pytest.mark.e2e
def test_without_a_vocabulary_tfdvs_top_values_are_used_and_said(history_root, tmp_path):
    runs = _runs(history_root.root)
    run, why = training_range.pick_run(runs, int(_pushed(runs)[0].pushed_version))
    # A pipeline root without run summaries: the Transform artifact cannot be found.
    trained = training_range.load(run, why, tmp_path)
    assert trained.category_source["City"].startswith("TFDV's top ")
    assert "no Transform vocabulary found" in trained.category_source["City"]
    assert trained.categories["City"]
