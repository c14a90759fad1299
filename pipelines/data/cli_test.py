"""The generator's command line: ``python -m pipelines.data append|csv``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.common.names import REPO_ROOT
from pipelines.data import __main__ as cli
from pipelines.data import spans


def test_cli_append_and_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / "spans"
    assert cli.main(["append", "--data-dir", str(data_dir), "--rows", "120", "--seed", "1"]) == 0
    assert cli.main(["append", "--data-dir", str(data_dir), "--rows", "50"]) == 0
    assert spans.list_spans(data_dir) == [1, 2]
    out = tmp_path / "ads.csv"
    assert cli.main(["csv", "--out", str(out), "--rows", "80", "--seed", "2"]) == 0
    assert len(out.read_text().splitlines()) == 81
    printed = capsys.readouterr().out
    assert "span-00001" in printed and "120 rows" in printed and str(out) in printed


@pytest.mark.parametrize("value", ["0", "-5", "ten", "1.5"])
def test_cli_rejects_bad_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["csv", "--out", str(tmp_path / "x.csv"), "--rows", value])
    assert exc.value.code == 2
    assert "--rows" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


def test_cli_rejects_negative_seed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["append", "--data-dir", "x", "--rows", "5", "--seed", "-1"])
    assert exc.value.code == 2
    assert "--seed" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["-1", "ten"])
def test_cli_bad_seed_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["append", "--data-dir", str(tmp_path / "d"), "--rows", "5", "--seed", value])
    assert exc.value.code == 2
    assert "argument --seed" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()



def test_module_runs_as_make_data_calls_it(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "pipelines.data", "append", "--data-dir", str(tmp_path),
               "--rows", "30", "--seed", "4"]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote span 1 to {tmp_path / 'span-00001'}: 30 rows")
    assert spans.list_spans(tmp_path) == [1]


def test_cli_real_like_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "real.csv"
    assert cli.main(["csv", "--out", str(out), "--rows", "300", "--mode", "real-like"]) == 0
    lines = out.read_text().splitlines()
    topics = {line.split(",")[4] for line in lines[1:]}
    assert len(lines) == 301 and len(topics) == 300
    assert cli.main(["append", "--data-dir", str(tmp_path / "d"), "--rows", "40",
                     "--mode", "real-like"]) == 0
    assert not spans.is_generated(tmp_path / "d" / "span-00001" / "part-00000.parquet")
    with pytest.raises(SystemExit) as exc:
        cli.main(["csv", "--out", str(tmp_path / "x.csv"), "--rows", "5", "--mode", "real"])
    assert exc.value.code == 2
    assert "--mode" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()
