"""`python -m pipelines.predict` (what `make predict` runs) against a model that a small real
pipeline run pushed: the command line, the exit codes and the files a user gets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

import local_runner
from models import features
from pipelines.common import names, safe_parquet
from pipelines.data import generator

pytestmark = pytest.mark.e2e


def _predict(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    return subprocess.run(
        [sys.executable, "-m", "pipelines.predict", *args],
        cwd=names.REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_scores_a_file_with_the_model_the_pipeline_pushed(tmp_path: Path):
    data = tmp_path / "data"
    generator.write_span(data, 1, 600, seed=11)
    assert (
        local_runner.main(
            [
                "--data",
                str(data),
                "--pipeline-root",
                str(tmp_path / "root"),
                "--serving-dir",
                str(tmp_path / "serving"),
                "--train-steps",
                "200",
            ]
        )
        == 0
    )
    summary = json.loads((tmp_path / "root" / "run_summary.json").read_text())
    pushed = Path(summary["pushed_model"])

    requests = pa.Table.from_batches(
        list(generator.generate_batches(250, 8, start=generator.FIRST_SPAN_DAY))
    ).drop([features.LABEL_KEY])
    requests = requests.add_column(0, "request_id", pa.array([f"q{i}" for i in range(250)]))
    pacsv.write_csv(requests, tmp_path / "tomorrow.csv")

    done = _predict(
        "--model",
        str(tmp_path / "serving" / "clickflow"),
        "--input",
        str(tmp_path / "tomorrow.csv"),
        "--output",
        str(tmp_path / "out"),
    )
    assert done.returncode == 0, done.stderr
    assert "Scored 250 of 250 rows" in done.stdout
    manifest = json.loads((tmp_path / "out" / "predictions.json").read_text())
    assert manifest["model_version"] == int(pushed.name)
    table = safe_parquet.read_table(tmp_path / "out" / manifest["shards"][0])
    assert table.column("request_id").to_pylist() == [f"q{i}" for i in range(250)]
    assert set(table.column("model_version").to_pylist()) == {int(pushed.name)}
    # The model the pipeline blessed, on fresh rows of the same kind: better than chance.
    probability = table.column("probability").to_pylist()
    assert all(0.0 < p < 1.0 for p in probability) and len(set(probability)) > 100

    again = _predict(
        "--model",
        str(tmp_path / "serving" / "clickflow"),
        "--input",
        str(tmp_path / "tomorrow.csv"),
        "--output",
        str(tmp_path / "out"),
    )
    assert again.returncode == 2 and "exists and is not an empty folder" in again.stderr
    no_model = _predict(
        "--model",
        str(tmp_path / "nothing"),
        "--input",
        str(data),
        "--output",
        str(tmp_path / "out2"),
    )
    assert no_model.returncode == 2
    assert no_model.stderr.strip().splitlines() == [
        f"error: --model {tmp_path / 'nothing'}: no such folder; expected the Pusher's folder "
        "(serving_model/<model name>) or one of its numeric version folders (run the "
        "pipeline first: make run)"
    ]
    wrong = tmp_path / "wrong.csv"
    pacsv.write_csv(requests.drop(["Age"]), wrong)
    bad = _predict(
        "--model", str(pushed), "--input", str(wrong), "--output", str(tmp_path / "out3")
    )
    assert bad.returncode == 2 and "missing column 'Age'" in bad.stderr
    assert "Traceback" not in bad.stderr and not (tmp_path / "out3").exists()
