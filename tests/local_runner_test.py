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
                 "--serving-dir", "--min-auc", "--force", "--no-cache", "--trigger-reason",
                 "--max-dropped-share", "--simple-margin", "--no-simple-gate"):
        assert flag in text


@pytest.mark.parametrize(("argv", "needle"), [
    (["--rows", "5"], "--rows: expected at least 100 rows"),
    (["--rows", "many"], "--rows: expected a whole number"),
    (["--train-steps", "0"], "--train-steps: expected a number >= 1"),
    (["--min-auc", "1.5"], "--min-auc: expected a number between 0 and 1"),
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--trigger-reason", "  "], "--trigger-reason: expected a non-empty text"),
    (["--max-dropped-share", "2"], "--max-dropped-share: expected a number between 0 and 1"),
    (["--simple-margin", "-0.1"], "--simple-margin: expected a number between 0 and 1"),
    (["--simple-margin", "lots"], "--simple-margin: expected a number, got 'lots'"),
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


def _run_on(capsys, tmp_path: Path, path: Path, *argv: str) -> tuple[int, str]:
    """The runner on ``path`` with its own roots: were the check to let it through, the run
    would not write into the working tree."""
    return _run(capsys, "--data", str(path), "--pipeline-root", str(tmp_path / "root"),
                "--serving-dir", str(tmp_path / "serving"), *argv)


def test_impossible_timestamp_is_refused_with_its_line(capsys, tmp_path: Path) -> None:
    def corrupt(rows):
        rows[7][rows[0].index("Timestamp")] = "2016-02-30 25:61:61"

    path = _rewrite(_csv(tmp_path / "c.csv"), corrupt)
    code, text = _run_on(capsys, tmp_path, path)
    assert code == 2
    assert (f"error: {path}: column 'Timestamp' should hold real dates and times "
            "(YYYY-MM-DD HH:MM:SS) but 1 value does not exist, such as '2016-02-30 25:61:61' "
            "on line 8") in text


def test_repeated_column_is_refused(capsys, tmp_path: Path) -> None:
    def repeat(rows):
        for i, row in enumerate(rows):
            row.append("age" if i == 0 else row[1])

    path = _rewrite(_csv(tmp_path / "d.csv"), repeat)
    code, text = _run_on(capsys, tmp_path, path)
    assert code == 2
    assert "the columns 'Age' (column 2) and 'age' (column 11) both match" in text


def test_latin1_file_is_refused_naming_line_column_and_encoding(capsys, tmp_path: Path) -> None:
    path = _rewrite(_csv(tmp_path / "e.csv"), lambda rows: rows[4].__setitem__(
        rows[0].index("City"), "Zürich"))
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))
    code, text = _run_on(capsys, tmp_path, path)
    assert code == 2
    assert f"{path} line 5, column 'City': bytes 0xfc are not UTF-8" in text
    assert "iconv -f latin1 -t utf-8" in text


def test_too_many_empty_labels_fail_before_any_tfx_work(capsys, tmp_path: Path) -> None:
    def empty_labels(rows):
        for row in rows[1:8]:
            row[rows[0].index("ClickedOnAd")] = ""

    path = _rewrite(_csv(tmp_path / "f.csv"), empty_labels)
    code, text = _run_on(capsys, tmp_path, path, "--max-dropped-share", "0.05")
    assert code == 2
    assert (f"{path}: 7 of 120 rows (5.8%) would be dropped, more than the 5.0% allowed: "
            "label ClickedOnAd is empty: 7.") in text and "--max-dropped-share" in text
