"""The runner's flags and input checks: clear errors before any TFX work starts."""

import csv
from pathlib import Path

import pytest

import local_runner
from pipelines.data import generator as data_generator


def _run(capsys, *argv: str) -> tuple[int, str]:
    code = local_runner.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _flag_error(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        local_runner.main(list(argv))
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def test_help_documents_every_flag(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        local_runner.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--data", "--rows", "--tune", "--train-steps", "--pipeline-root",
                 "--serving-dir", "--min-auc", "--force", "--no-cache", "--trigger-reason"):
        assert flag in text


@pytest.mark.parametrize(("argv", "needle"), [
    (["--rows", "5"], "--rows: expected at least 100 rows"),
    (["--rows", "many"], "--rows: expected a whole number"),
    (["--train-steps", "0"], "--train-steps: expected a number >= 1"),
    (["--min-auc", "1.5"], "--min-auc: expected a number between 0 and 1"),
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--trigger-reason", "  "], "--trigger-reason: expected a non-empty text"),
])
def test_bad_flags_name_the_flag(capsys, argv, needle) -> None:
    assert needle in _flag_error(capsys, *argv)


def _csv(path: Path, rows: int = 120) -> Path:
    return data_generator.write_csv(path, rows, seed=3)


def _rewrite(path: Path, edit) -> Path:
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    edit(rows)
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def test_missing_data_path(capsys, tmp_path: Path) -> None:
    code, text = _run(capsys, "--data", str(tmp_path / "nope.csv"))
    assert code == 2
    assert "--data" in text and "nope.csv" in text and "no such file" in text


def test_missing_column(capsys, tmp_path: Path) -> None:
    path = _rewrite(_csv(tmp_path / "a.csv"), lambda rows: [r.pop(1) for r in rows])
    code, text = _run(capsys, "--data", str(path))
    assert code == 2
    assert "missing column 'Age'" in text and str(path) in text


def test_wrong_type(capsys, tmp_path: Path) -> None:
    def corrupt(rows):
        rows[5][rows[0].index("DailyInternetUsage")] = "lots"

    path = _rewrite(_csv(tmp_path / "b.csv"), corrupt)
    code, text = _run(capsys, "--data", str(path))
    assert code == 2
    assert "'DailyInternetUsage' should hold a number" in text and "'lots'" in text


def test_empty_and_header_only_files(capsys, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    code, text = _run(capsys, "--data", str(empty))
    assert code == 2 and "empty" in text
    header = tmp_path / "header.csv"
    header.write_text(",".join(data_generator.SCHEMA.names) + "\n")
    code, text = _run(capsys, "--data", str(header))
    assert code == 2 and "no rows" in text


def test_unreadable_and_unsupported_files(capsys, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"\x00\x01 not parquet at all")
    code, text = _run(capsys, "--data", str(garbage))
    assert code == 2 and "cannot read" in text and "garbage.parquet" in text
    text_file = tmp_path / "data.txt"
    text_file.write_text("hello")
    code, text = _run(capsys, "--data", str(text_file))
    assert code == 2 and "unsupported file type '.txt'" in text


def test_folder_without_spans(capsys, tmp_path: Path) -> None:
    code, text = _run(capsys, "--data", str(tmp_path))
    assert code == 2 and "no span-NNNNN/*.parquet files" in text


def test_no_traceback_and_no_tfx_import_for_bad_input(capsys, tmp_path: Path) -> None:
    code, text = _run(capsys, "--data", str(tmp_path / "missing.parquet"))
    assert code == 2
    assert "Traceback" not in text
