"""The runner's flags and input checks: clear errors before any TFX work starts."""

import csv
from pathlib import Path

import pytest

import local_runner
from pipelines.common import names
from pipelines.data import generator as data_generator
from pipelines.local import process, speedups


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


def test_library_overheads_are_trimmed_without_breaking_the_libraries() -> None:
    import importlib

    import apache_beam as beam
    from apache_beam.internal import cloudpickle_pickler, pickler
    from apache_beam.runners.portability.fn_api_runner import worker_handlers
    from apache_beam.testing.util import assert_that, equal_to

    speedups.trim_library_overheads()
    with beam.Pipeline() as p:  # a pipeline without a pickle_library flag takes the default
        assert pickler.desired_pickle_lib is cloudpickle_pickler
        offset = beam.pvalue.AsSingleton(p | "Offset" >> beam.Create([10]))
        out = p | beam.Create([1, 2]) | beam.Map(lambda x, o: x + o, offset)
        assert_that(out, equal_to([11, 12]))  # side inputs work without the state cache
    assert pickler.loads(pickler.dumps(lambda x: x + 1))(1) == 2
    assert worker_handlers.STATE_CACHE_SIZE_MB == 0  # as production runners run
    assert importlib.import_module("kubernetes_validate").validate  # still importable


def test_exit_fast_finishes_threads_atexit_and_output_first(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = f"""
import atexit, concurrent.futures, pathlib, threading, time
from pipelines.local import process
out = pathlib.Path({str(tmp_path)!r})
def late():
    time.sleep(0.3)
    (out / "thread").write_text("done")
threading.Thread(target=late).start()
pool = concurrent.futures.ThreadPoolExecutor(2)
pool.submit(lambda: None).result()  # an idle worker left behind, as libraries leave them
atexit.register(lambda: (out / "atexit").write_text("ran"))
print("buffered", end="")
process.exit_fast(3)
print("never")
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=names.REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == "buffered"
    assert (tmp_path / "thread").read_text() == "done"
    assert (tmp_path / "atexit").read_text() == "ran"


def test_imports_without_gc_pauses_then_freezes_and_restores() -> None:
    import gc

    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    try:
        with process.imports_without_gc():
            assert not gc.isenabled()
            kept = [[i] for i in range(1000)]  # long-lived objects made while paused
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen + len(kept)
        gc.disable()
        with pytest.raises(RuntimeError), process.imports_without_gc():
            raise RuntimeError("an import failed")
        assert not gc.isenabled()  # left as it was found
    finally:
        gc.enable()
        gc.unfreeze()
