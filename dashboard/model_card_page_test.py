"""The Model card page with Streamlit's AppTest, through app.py's navigation: no runs, the four
real runs of ``history_root`` (two pushed versions, one not blessed, one failed), and cards
that cannot be read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dashboard.history_page_test import assert_ok, open_page, summaries, texts
from pipelines.common import names

PAGE = "views/card.py"


def test_no_runs_says_to_run_the_pipeline(monkeypatch, empty_store) -> None:
    at = open_page(monkeypatch, empty_store.parent, PAGE)
    (info,) = at.info
    assert "No pipeline runs yet" in info.value


@pytest.fixture(scope="module")
def four(history_root):
    return history_root, summaries(history_root.root)


def _card(summary: dict) -> dict:
    folder = Path(summary["pushed_model"]) / names.MODEL_CARD_DIR
    return json.loads((folder / names.MODEL_CARD_JSON).read_text())


@pytest.mark.e2e
def test_each_pushed_version_shows_its_card(four, monkeypatch) -> None:
    history, (first, second, third, _failed) = four
    at = open_page(monkeypatch, history.root, PAGE)
    picker = at.selectbox[0]
    v1, v2 = Path(first["pushed_model"]).name, Path(second["pushed_model"]).name
    assert [o.split(" · ")[1] for o in picker.options] == [f"pushed {v2}", f"pushed {v1}"]
    assert f"Version `{v2}`" in texts(at.caption)
    assert "This model estimates the probability" in texts(at.markdown)  # the curated intro
    # What a row is about leads each table (the card's JSON keys are sorted).
    assert list(at.dataframe[0].proto.column_order)[:2] == ["name", "rows"]
    assert list(at.dataframe[1].proto.column_order)[:3] == ["slice", "example_count", "auc"]
    assert list(at.dataframe[2].proto.column_order)[:2] == ["gate", "metric"]
    assert list(at.dataframe[3].proto.column_order)[:1] == ["metric"]
    metrics = at.dataframe[1].value.set_index("slice")
    assert metrics.loc["overall", "auc"] == pytest.approx(second["metrics"]["auc"])
    thresholds = at.dataframe[2].value
    assert thresholds["passed"].all() and "auc change vs baseline" in set(thresholds["metric"])
    compared = at.dataframe[3].value.set_index("metric")
    assert compared.loc["auc", "baseline"] == pytest.approx(second["baseline"]["metrics"]["auc"])
    assert f"served baseline \\(version {v1}\\)" in texts(at.markdown)
    simple = at.dataframe[4].value.set_index("metric")  # the simple-model gate's evaluation
    assert {"candidate", "baseline", "difference"} <= set(simple.columns)
    assert simple.loc["auc", "candidate"] == pytest.approx(second["metrics"]["auc"])
    limits = texts(at.markdown)
    assert "values were seen fewer than 10 times in the train split" in limits
    downloads = {d.proto.label for d in at.get("download_button")}
    assert downloads == {"Download the card (HTML)", "Download the card (Markdown)"}

    at = at.selectbox[0].select_index(1).run()
    assert_ok(at)
    assert f"Version `{v1}`" in texts(at.caption)
    assert "not compared: nothing was served yet" in texts(at.caption)

    # A run that pushed nothing has no card; the page says so and shows a pushed one.
    at = open_page(monkeypatch, history.root, PAGE, run=third["run_id"])
    assert f"Run `{third['run_id']}` pushed no model, so it has no card" in texts(at.info)
    assert f"Version `{v2}`" in texts(at.caption)


@pytest.mark.e2e
def test_an_unreadable_card_falls_back_and_then_names_each_file(four, tmp_path) -> None:
    """The real run's card folders, copied and then broken one after the other."""
    import dataclasses

    from dashboard import history as history_lib
    from dashboard import model_card

    history, (_first, second, _third, _failed) = four
    runs = history_lib.list_runs(history.root / names.METADATA_FILE, "clickflow")
    run = next(r for r in runs if r.run_id == second["mlmd_run_context"])
    version, artifact = tmp_path / "version", tmp_path / "artifact"
    shutil.copytree(
        Path(run.pushed_destination) / names.MODEL_CARD_DIR, version / names.MODEL_CARD_DIR
    )
    shutil.copytree(run.model_card_uri, artifact)
    copy = dataclasses.replace(run, pushed_destination=str(version), model_card_uri=str(artifact))
    found = model_card.find(copy)
    assert found.folder == version / names.MODEL_CARD_DIR and found.card == _card(second)
    assert found.html.startswith(b"<!DOCTYPE html>") and found.markdown.startswith(b"# ")

    in_version = version / names.MODEL_CARD_DIR / names.MODEL_CARD_JSON
    in_version.write_text("{not json")
    found = model_card.find(copy)
    assert found.folder == artifact and found.card == _card(second)

    (artifact / names.MODEL_CARD_JSON).write_text(json.dumps({"schema_version": 99}))
    found = model_card.find(copy)
    assert found.card is None
    assert found.reason.startswith(f"{in_version}: not JSON")
    assert found.reason.endswith(
        f"{artifact / names.MODEL_CARD_JSON}: expected a model card of schema_version 1"
    )
    not_pushed = dataclasses.replace(copy, pushed_version=None)
    assert model_card.find(not_pushed).reason.startswith("this run pushed no model")
