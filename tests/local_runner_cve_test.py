"""``python local_runner.py --data crafted.parquet`` refuses the CVE-2023-47248 exploit.

pyarrow's advisory (GHSA-5wvp-7f3h-6wmm): pyarrow < 14.0.1 unpickles a pickled
``arrow.py_extension_type`` from a Parquet file's schema, running its code. The runner's data
check reads a Parquet file's schema (``spans.is_generated``) after DuckDB has checked its
columns, so the crafted file holds every ad-click column: DuckDB accepts it (it reads the
payload column as plain integers and never unpickles) and pyarrow would run it. The real
entry point runs in a fresh interpreter; the check fails before TensorFlow is imported.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.data import generator as data_generator
from pipelines.testing.crafted_parquet import fresh_python, write_exploit


@pytest.fixture
def crafted_span(tmp_path: Path) -> tuple[Path, Path]:
    """A span folder whose only part is the exploit (all the ad-click columns, plus payload)."""
    good = data_generator.write_span(tmp_path / "good", 1, 100, 1) / "part-00000.parquet"
    span = tmp_path / "data" / "span-00001"
    span.mkdir(parents=True)
    marker = tmp_path / "pwned"
    return write_exploit(span / "part-00000.parquet", marker, base=good), marker


def _runner(data: Path, tmp_path: Path):
    return fresh_python(["local_runner.py", "--data", str(data), "--pipeline-root",
                         str(tmp_path / "root"), "--serving-dir", str(tmp_path / "serving")])


def test_duckdb_reads_the_exploit_without_running_it(crafted_span) -> None:
    path, marker = crafted_span
    code = ("import sys, duckdb\n"
            "t = duckdb.sql(f\"SELECT * FROM read_parquet('{sys.argv[1]}')\").arrow().read_all()\n"
            "print(t.schema.field('payload').type, t.num_rows)\n")
    result = fresh_python(["-c", code, str(path)], check=True)
    assert result.stdout.split() == ["int64", "100"]
    assert not marker.exists()


def test_a_crafted_data_file_is_refused_in_one_line(crafted_span, tmp_path: Path) -> None:
    path, marker = crafted_span
    result = _runner(path, tmp_path)
    assert not marker.exists()
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"error: --data {path}: refused to read it: it holds a pickled Arrow extension type "
        "(arrow.py_extension_type), which pyarrow 10 would unpickle, running code from the file "
        "(CVE-2023-47248); rewrite it without that column, from a source you trust"]
    assert not (tmp_path / "root").exists()


def test_a_crafted_part_in_a_span_folder_is_named(crafted_span, tmp_path: Path) -> None:
    path, marker = crafted_span
    folder = path.parent.parent
    result = _runner(folder, tmp_path)
    assert not marker.exists()
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: --data {folder}: {path.resolve()}: refused to read it")
    assert "CVE-2023-47248" in line
