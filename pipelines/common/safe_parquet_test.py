"""CVE-2023-47248 (pyarrow's advisory GHSA-5wvp-7f3h-6wmm: pyarrow 0.14.0 to 14.0.0 unpickles an
``arrow.py_extension_type`` column's type from a file's schema, so reading a crafted Parquet
file runs its code) is closed by ``safe_parquet``.

The exploit is real first (plain pyarrow 10 runs it, in a fresh interpreter), so these tests can
fail; then each guarded reader refuses it with a one-line error naming the file, and no module
of ours reads Parquet around the guard.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pipelines.common import safe_parquet
from pipelines.testing.crafted_parquet import ROOT, fresh_python, write_exploit

READERS = ("read_table", "read_schema", "read_metadata")


@pytest.fixture(scope="module")
def exploit(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("cve")
    marker = folder / "pwned"
    return write_exploit(folder / "crafted.parquet", marker), marker


@pytest.mark.parametrize("reader", READERS)
def test_plain_pyarrow_runs_the_files_code(exploit, reader: str) -> None:
    path, marker = exploit
    result = fresh_python(["-c", f"import sys, pyarrow.parquet as pq; pq.{reader}(sys.argv[1])",
                           str(path)])
    assert marker.is_dir(), result.stderr  # the payload ran: the file is an exploit
    marker.rmdir()


# The Beam batch-scoring job reads gs:// objects through storage.open_read: a file object,
# named by its URI in the error.
OPEN_FILE = "open(sys.argv[1], 'rb'), 'gs://b/crafted.parquet'"


@pytest.mark.parametrize(("reader", "args", "named"), [
    *((reader, "sys.argv[1]", None) for reader in READERS),
    ("parquet_file", "sys.argv[1]", None),
    ("parquet_file", OPEN_FILE, "gs://b/crafted.parquet"),
    ("read_metadata", OPEN_FILE, "gs://b/crafted.parquet"),
])
def test_each_guarded_reader_refuses_it_naming_the_file(exploit, reader: str, args: str,
                                                        named: str | None) -> None:
    path, marker = exploit
    code = ("import sys\nfrom pipelines.common import safe_parquet as s\n"
            f"try:\n    s.{reader}({args})\n"
            "except s.UnsafeParquetError as err:\n    print(err)\n    sys.exit(3)\n")
    result = fresh_python(["-c", code, str(path)])
    assert not marker.exists()
    assert result.returncode == 3, result.stderr
    [line] = result.stdout.splitlines()
    assert line.startswith(f"{named or path}: refused to read it: it holds a pickled Arrow "
                           "extension ")
    assert "CVE-2023-47248" in line


def test_the_guard_arms_the_whole_process(exploit) -> None:
    """After ``guard()`` even pyarrow called directly (as TFX or TFMA would) refuses."""
    path, marker = exploit
    code = ("import sys, pyarrow.parquet as pq\nfrom pipelines.common import safe_parquet\n"
            "safe_parquet.guard()\npq.read_schema(sys.argv[1])\n")
    result = fresh_python(["-c", code, str(path)])
    assert not marker.exists()
    assert result.returncode != 0 and "Disallowed deserialization" in result.stderr


def test_guard_rearms_after_an_uninstall() -> None:
    import pyarrow_hotfix

    safe_parquet.guard()
    assert safe_parquet.is_guarded()
    pyarrow_hotfix.uninstall()
    assert not safe_parquet.is_guarded()
    safe_parquet.guard()
    assert safe_parquet.is_guarded()


def test_other_errors_pass_through(tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(Exception, match="Parquet") as info:
        safe_parquet.read_table(bad)
    assert not isinstance(info.value, safe_parquet.UnsafeParquetError)


def test_local_beam_runs_in_the_guarded_process() -> None:
    """local_runner arms its own process, where DirectRunner runs in memory; Beam's
    multi_processing mode would start worker interpreters that nothing arms."""
    from pipelines.config import LOCAL_BEAM_ARGS

    assert not any("multi_processing" in arg for arg in LOCAL_BEAM_ARGS)


# Calls that open a Parquet, Feather or IPC file's Arrow schema: only safe_parquet may make them.
_OPENERS = {"read_table", "read_schema", "read_metadata", "ParquetFile", "ParquetDataset",
            "read_parquet", "read_feather", "open_file", "open_stream", "dataset"}
_PYARROW_READING_MODULES = ("pyarrow.parquet", "pyarrow.dataset", "pyarrow.feather",
                            "pyarrow.ipc")


def unguarded_reads(path: Path) -> list[str]:
    """file:line of each Parquet/Arrow file read in ``path`` that bypasses safe_parquet."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    aliases = {"pq"}  # the conventional name of pyarrow.parquet
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases |= {a.asname or a.name for a in node.names
                        if a.name in _PYARROW_READING_MODULES}
        elif (isinstance(node, ast.ImportFrom) and node.module in _PYARROW_READING_MODULES
              and any(a.name in _OPENERS for a in node.names)):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} from {node.module} import")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in _OPENERS:
            owner = ast.unparse(node.value)
            if owner in aliases or owner in ("pa.ipc", "pd", "pandas"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {owner}.{node.attr}")
    return found


def test_every_parquet_read_goes_through_safe_parquet() -> None:
    sources = [ROOT / "local_runner.py", ROOT / "kubeflow_runner.py"]
    for package in ("models", "pipelines", "deployment", "dashboard", "experiments"):
        sources += sorted((ROOT / package).rglob("*.py"))
    sources = [p for p in sources if not p.name.endswith("_test.py")
               and p.name != "conftest.py" and p.name != "safe_parquet.py"
               and p.parent.name != "testing"]
    assert len(sources) > 60
    assert [hit for path in sources for hit in unguarded_reads(path)] == []


def test_the_scan_finds_a_bypass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    leaky = tmp_path / "leaky.py"
    leaky.write_text("import pyarrow.parquet as pq\nimport pyarrow.dataset as ds\n"
                     "from pyarrow.parquet import read_schema\n"
                     "def f(p):\n    return pq.read_table(p), ds.dataset(p)\n")
    assert unguarded_reads(leaky) == ["leaky.py:3 from pyarrow.parquet import",
                                      "leaky.py:5 pq.read_table", "leaky.py:5 ds.dataset"]
