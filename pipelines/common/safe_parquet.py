"""Parquet reads closed to CVE-2023-47248: the one place that arms pyarrow against it.

pyarrow < 14.0.1 (tfx-bsl 1.16 pins 10.0.1) rebuilds a column of the extension type
``arrow.py_extension_type`` by unpickling bytes that the file itself carries, so opening a
crafted Parquet file (reading its schema is enough) runs whatever code the file holds
(CVE-2023-47248, GHSA-5wvp-7f3h-6wmm). ``pyarrow_hotfix``, by pyarrow's maintainers, registers
a type of that name that refuses to deserialize instead. It acts per process, before the first
read, so:

- every Parquet read of ours goes through ``read_table``, ``read_schema`` or ``read_metadata``
  here (``safe_parquet_test`` checks that no other module calls pyarrow.parquet's readers):
  they arm the guard first and turn the refusal into an ``UnsafeParquetError`` naming the file;
- entry points whose libraries may read Parquet in the same process (the local runner's TFX
  components, the dashboard's TFMA) call ``guard()`` when they start;
- the pipeline image arms every interpreter at start with a ``.pth`` file
  (``deployment/pipeline/pyarrow_hotfix.pth``): Beam and KFP start processes there that never
  import this module first.

There is deliberately no off switch: a file that needs a pickled extension type is rewritten
with a registered ``pa.ExtensionType``, not trusted. DuckDB's Parquet reader (the training data
check and ExampleGen) is not affected: it reads such a column as its plain storage type and
never unpickles anything.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from pipelines.common.errors import ClickflowError

if TYPE_CHECKING:
    import pyarrow.parquet as pq

CVE = "CVE-2023-47248"
PICKLED_TYPE = "arrow.py_extension_type"
# The start of the error pyarrow_hotfix raises instead of unpickling.
_REFUSED = f"Disallowed deserialization of '{PICKLED_TYPE}'"
REFUSAL = (f"refused to read it: it holds a pickled Arrow extension type ({PICKLED_TYPE}), "
           f"which pyarrow 10 would unpickle, running code from the file ({CVE}); rewrite it "
           "without that column, from a source you trust")


class UnsafeParquetError(ClickflowError, ValueError):
    """A Parquet file that holds a pickled Arrow extension type: never read (CVE-2023-47248)."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = os.fspath(path)
        self.reason = REFUSAL
        super().__init__(f"{self.path}: {REFUSAL}")


def guard() -> None:
    """Makes pyarrow refuse pickled extension types in this whole process (idempotent, ~0.4 ms
    once pyarrow is imported; re-arms it if something called ``pyarrow_hotfix.uninstall()``)."""
    try:
        import pyarrow_hotfix
    except ModuleNotFoundError:
        raise RuntimeError(
            f"pyarrow-hotfix is not installed, so reading Parquet is open to {CVE}: run make "
            "setup (requirements.txt pins it)") from None
    pyarrow_hotfix.install()
    if not is_guarded():
        raise RuntimeError(f"pyarrow_hotfix did not arm pyarrow {pa.__version__} against {CVE}")


def is_guarded() -> bool:
    """Whether pyarrow_hotfix's refusing type is registered in this process."""
    return bool(getattr(pa, "_hotfix_installed", False))


def is_refusal(err: BaseException) -> bool:
    """Whether ``err`` is pyarrow_hotfix refusing a pickled extension type."""
    return _REFUSED in str(err)


def _read(reader: str, path: Any, name: str | None = None, **kwargs: Any) -> Any:
    guard()
    import pyarrow.parquet as pq  # here, not at import: CLIs' --help stays as fast

    try:
        return getattr(pq, reader)(path, **kwargs)
    except Exception as err:
        if is_refusal(err):
            raise UnsafeParquetError(name or path) from None
        raise


def read_table(path: str | os.PathLike[str], **kwargs: Any) -> pa.Table:
    """``pq.read_table``, guarded: UnsafeParquetError for a file with a pickled type.

    A file's schema is read on its own first: the refusal then comes from a single-threaded
    footer read. Raised inside ``read_table``'s dataset scan, it left a worker thread joinable,
    and the interpreter aborted at exit ("terminate called without an active exception",
    SIGABRT, about one run in thirty) instead of exiting with the caller's status."""
    if os.path.isfile(path):
        read_schema(path)
    return _read("read_table", path, **kwargs)


def read_table_bytes(data: bytes, name: str, **kwargs: Any) -> pa.Table:
    """``read_table`` of a whole file held in memory (an object downloaded from Cloud
    Storage); ``name`` is what an UnsafeParquetError names. Schema first, as above."""
    guard()
    import pyarrow.parquet as pq

    try:
        pq.read_schema(pa.BufferReader(data))
        return pq.read_table(pa.BufferReader(data), **kwargs)
    except Exception as err:
        if is_refusal(err):
            raise UnsafeParquetError(name) from None
        raise


def read_schema(path: str | os.PathLike[str]) -> pa.Schema:
    """``pq.read_schema``, guarded (opening the schema alone would run the pickle)."""
    return _read("read_schema", path)


def read_metadata(path: Any, name: str | None = None) -> pq.FileMetaData:
    """``pq.read_metadata`` of a path or an open binary file (``storage.open_read``), guarded
    (it opens the Arrow schema too); ``name`` is what an UnsafeParquetError names."""
    return _read("read_metadata", path, name)


def parquet_file(source: Any, name: str | None = None) -> pq.ParquetFile:
    """``pq.ParquetFile`` of a path or an open binary file, guarded, its Arrow schema already
    built (where the pickle would run): batches read from it afterwards are safe."""
    parquet = _read("ParquetFile", source, name)
    try:
        parquet.schema_arrow  # noqa: B018 - built here, inside the guard's translation
    except Exception as err:
        if is_refusal(err):
            raise UnsafeParquetError(name or source) from None
        raise
    return parquet
