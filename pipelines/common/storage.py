"""One filesystem layer for local paths and ``gs://bucket/name`` URIs.

Every reader and writer of the request log, the labels, the monitoring reports and the
trigger state goes through these functions, so the local demo runs the same code as the
cloud. A location is a ``Path`` (or path string) or a ``gs://`` string; ``location()`` is the
argparse type that keeps a ``gs://`` URI a string (``Path("gs://b/x")`` would make it
``gs:/b/x``).

Backend for ``gs://``: the ``google-cloud-storage`` client (2.19, already pinned for
ingestion). Chosen over the alternatives that are installed:
- ``tf.io.gfile`` would import TensorFlow (seconds, hundreds of MB) into the request-logging
  proxy sidecar and the dashboard, which otherwise never load it;
- ``pyarrow.fs.GcsFileSystem`` (pyarrow 10) has no conditional writes, and its C++ client
  cannot be pointed at the client's documented emulator setting;
- the Python client gives conditional writes (``ifGenerationMatch=0``: create only), checks
  downloads against ``x-goog-hash``, and honours ``STORAGE_EMULATOR_HOST`` (its documented
  emulator setting, ``google/cloud/storage/_helpers.py``; anonymous credentials then), which
  this module reads at each call, never at import: tests point it at
  ``pipelines.testing.fake_gcs`` on 127.0.0.1 and the real client does the talking.

Atomicity: a local write goes to a temporary name and is renamed; a GCS object appears only
when its upload completes (uploads are single requests of the whole object), so a reader
never sees half a file on either. GCS objects cannot be appended to: writers build whole
files first (the request log rolls a local file and uploads it when finished).
Errors come out as ``OSError``s naming the location: ``FileNotFoundError`` (404),
``PermissionError`` (401/403, missing credentials), ``FileExistsError`` (412 on a create-only
write), ``OSError`` otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import Any

Location = str | os.PathLike[str]
SCHEME = "gs://"
EMULATOR_ENV = "STORAGE_EMULATOR_HOST"  # the client's own setting; includes the scheme
# Bucket names: 3-63 characters of lowercase letters, digits, '-', '_' and '.', starting and
# ending with a letter or digit (cloud.google.com/storage/docs/buckets#naming).
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")
TIMEOUT_SECONDS = 60.0  # per HTTP request
RETRY_SECONDS = 60.0  # transient errors (429, 5xx, connection) retried this long in all


@dataclasses.dataclass(frozen=True)
class Entry:
    """One item of a listing: a file (object) or a folder (common prefix)."""

    name: str  # the last component
    location: Location
    is_dir: bool
    size: int = 0
    version: int = 0  # changes when the file is rewritten: mtime (ns) or GCS generation


def is_gcs(where: Location) -> bool:
    return isinstance(where, str) and where.startswith(SCHEME)


def location(text: str) -> str | Path:
    """argparse type: a ``gs://bucket/folder`` URI (kept a string) or a local path."""
    if not text.startswith(SCHEME):
        return Path(text)
    try:
        split(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text.rstrip("/") if text.count("/") > 3 else text


def split(uri: str) -> tuple[str, str]:
    """``gs://bucket/a/b`` -> ("bucket", "a/b"); ValueError naming what is wrong."""
    bucket, _, name = uri[len(SCHEME):].partition("/")
    if not _BUCKET_RE.match(bucket):
        raise ValueError(f"{uri!r}: {bucket!r} is not a Cloud Storage bucket name (3-63 "
                         "lowercase letters, digits, '-', '_' or '.'); expected gs://BUCKET/...")
    return bucket, name


def join(base: Location, *parts: str) -> Location:
    if is_gcs(base):
        return "/".join([str(base).rstrip("/"), *(p.strip("/") for p in parts)])
    return Path(base, *parts)


def name_of(where: Location) -> str:
    return str(where).rstrip("/").rsplit("/", 1)[-1]


def same(a: Location | None, b: Location | None) -> bool:
    return a is not None and b is not None and str(a) == str(b)


# --- the client ---------------------------------------------------------------------------

_clients: dict[str | None, Any] = {}
_clients_lock = threading.Lock()


def client() -> Any:
    """A storage client for the current ``STORAGE_EMULATOR_HOST`` (read now), one per value."""
    endpoint = os.environ.get(EMULATOR_ENV) or None
    with _clients_lock:
        found = _clients.get(endpoint)
        if found is None:
            from google.cloud import storage

            found = _clients[endpoint] = storage.Client()
        return found


@contextlib.contextmanager
def _errors(where: Location):
    """Client and transport errors as OSErrors naming ``where``."""
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth

    try:
        yield
    except api.NotFound:
        raise FileNotFoundError(f"{where}: no such object or bucket") from None
    except api.PreconditionFailed:
        raise FileExistsError(f"{where}: already exists") from None
    except (api.Forbidden, api.Unauthorized) as err:
        raise PermissionError(f"{where}: access refused ({err.message})") from None
    except auth.GoogleAuthError as err:
        raise PermissionError(f"{where}: no Google Cloud credentials ({err})") from None
    except api.GoogleAPIError as err:
        raise OSError(f"{where}: Cloud Storage refused the request ({err})") from None
    except OSError as err:  # requests' connection errors are OSErrors
        if str(where) in str(err):
            raise
        raise OSError(f"{where}: Cloud Storage unreachable ({type(err).__name__}: "
                      f"{str(err)[:200]})") from None


def _retry(seconds: float | None) -> Any:
    """The client's default retry of transient errors, for ``seconds`` (0: no retry; None:
    ``RETRY_SECONDS``, read now)."""
    from google.cloud.storage.retry import DEFAULT_RETRY

    seconds = RETRY_SECONDS if seconds is None else seconds
    return DEFAULT_RETRY.with_timeout(seconds) if seconds > 0 else None


def _call(retry_seconds: float | None) -> dict[str, Any]:
    return {"timeout": TIMEOUT_SECONDS, "retry": _retry(retry_seconds)}


def _blob(uri: str) -> Any:
    bucket, name = split(uri)
    if not name:
        raise IsADirectoryError(f"{uri}: a bucket, not an object")
    return client().bucket(bucket).blob(name)


# --- reading ------------------------------------------------------------------------------

def read_bytes(where: Location, *, retry_seconds: float | None = None) -> bytes:
    if not is_gcs(where):
        return Path(where).read_bytes()
    with _errors(where):
        return _blob(str(where)).download_as_bytes(**_call(retry_seconds))


def read_text(where: Location, *, retry_seconds: float | None = None) -> str:
    return read_bytes(where, retry_seconds=retry_seconds).decode()


def is_file(where: Location, *, retry_seconds: float | None = None) -> bool:
    if not is_gcs(where):
        return Path(where).is_file()
    with _errors(where):
        return _blob(str(where)).exists(**_call(retry_seconds))


def is_dir(where: Location, *, retry_seconds: float | None = None) -> bool:
    """A local folder, or a ``gs://`` prefix under which at least one object exists (GCS has
    no folders: a prefix exists while something is stored under it)."""
    if not is_gcs(where):
        return Path(where).is_dir()
    bucket, name = split(str(where))
    prefix = f"{name.rstrip('/')}/" if name else ""
    with _errors(where):
        return any(True for _ in client().list_blobs(bucket, prefix=prefix, max_results=1,
                                                     **_call(retry_seconds)))


def exists(where: Location, *, retry_seconds: float | None = None) -> bool:
    return is_file(where, retry_seconds=retry_seconds) or is_dir(where,
                                                                 retry_seconds=retry_seconds)


def list_dir(where: Location, *, retry_seconds: float | None = None) -> list[Entry]:
    """The files and folders directly in ``where``, by name; [] when it does not exist
    (FileNotFoundError for a missing bucket: a wrong bucket name is not an empty folder)."""
    if not is_gcs(where):
        try:
            entries = list(os.scandir(where))
        except (FileNotFoundError, NotADirectoryError):
            return []
        out = []
        for entry in entries:
            try:
                folder = entry.is_dir()
                size = 0 if folder else entry.stat().st_size
            except OSError:
                continue  # deleted while listing
            out.append(Entry(entry.name, Path(entry.path), folder, size))
        return sorted(out, key=lambda e: e.name)
    uri = str(where).rstrip("/")
    bucket, name = split(uri)
    prefix = f"{name}/" if name else ""
    with _errors(where):
        blobs = client().list_blobs(bucket, prefix=prefix, delimiter="/",
                                    **_call(retry_seconds))
        files = [Entry(b.name[len(prefix):], f"{SCHEME}{bucket}/{b.name}", False, int(b.size))
                 for b in blobs if b.name != prefix]
        folders = [Entry(p[len(prefix):].rstrip("/"), f"{SCHEME}{bucket}/{p.rstrip('/')}", True)
                   for p in blobs.prefixes]
    return sorted(files + folders, key=lambda e: e.name)


def list_files(where: Location, *, retry_seconds: float | None = None) -> list[Entry]:
    """Every file under ``where`` at any depth (``name``: the path below ``where``), by
    name, in one listing on GCS; [] when it does not exist."""
    if not is_gcs(where):
        root = Path(where)
        if not root.is_dir():
            return []
        out = []
        for path in root.rglob("*"):
            try:
                if path.is_file():
                    stat = path.stat()
                    out.append(Entry(path.relative_to(root).as_posix(), path, False,
                                     stat.st_size, stat.st_mtime_ns))
            except OSError:
                continue  # deleted while listing
        return sorted(out, key=lambda e: e.name)
    uri = str(where).rstrip("/")
    bucket, name = split(uri)
    prefix = f"{name}/" if name else ""
    with _errors(where):
        return sorted((Entry(b.name[len(prefix):], f"{SCHEME}{bucket}/{b.name}", False,
                             int(b.size), int(b.generation))
                       for b in client().list_blobs(bucket, prefix=prefix,
                                                    **_call(retry_seconds))
                       if b.name != prefix), key=lambda e: e.name)


# --- writing ------------------------------------------------------------------------------

def make_dirs(where: Location) -> None:
    """A local folder and its parents; nothing on GCS (prefixes need no creating)."""
    if not is_gcs(where):
        Path(where).mkdir(parents=True, exist_ok=True)


def write_bytes(where: Location, data: bytes, *, if_absent: bool = False,
                retry_seconds: float | None = None) -> None:
    """Writes ``data`` whole and atomically; ``if_absent`` refuses (FileExistsError) to
    replace an existing file (on GCS the precondition ``ifGenerationMatch=0``)."""
    if is_gcs(where):
        with _errors(where):
            _blob(str(where)).upload_from_string(
                data, content_type="application/octet-stream", **_call(retry_seconds),
                if_generation_match=0 if if_absent else None)
        return
    path = Path(where)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if if_absent:
            os.link(tmp, path)  # fails with FileExistsError if something is there
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text(where: Location, text: str, *, if_absent: bool = False) -> None:
    write_bytes(where, text.encode(), if_absent=if_absent)


def put_file(local: Path, where: Location, *, if_absent: bool = False,
             retry_seconds: float | None = None) -> None:
    """A finished local file to ``where`` (an upload on GCS), atomically; ``if_absent`` as in
    ``write_bytes``."""
    if is_gcs(where):
        with _errors(where):
            _blob(str(where)).upload_from_filename(
                str(local), content_type="application/octet-stream",
                if_generation_match=0 if if_absent else None, **_call(retry_seconds))
        return
    write_bytes(where, Path(local).read_bytes(), if_absent=if_absent)


def delete(where: Location, *, retry_seconds: float | None = None) -> None:
    """Deletes a file; a missing one is not an error."""
    if not is_gcs(where):
        Path(where).unlink(missing_ok=True)
        return
    with contextlib.suppress(FileNotFoundError), _errors(where):
        _blob(str(where)).delete(**_call(retry_seconds))


def remove_empty_dir(where: Location) -> None:
    """Removes an empty local folder (a GCS prefix vanishes with its last object)."""
    if not is_gcs(where):
        with contextlib.suppress(OSError):
            Path(where).rmdir()


def open_read(where: Location) -> Any:
    """A seekable binary file object reading ``where``: a local file, or a ``gs://`` object read
    in ranged requests (the client's ``BlobReader``), so a Parquet footer or one CSV block is
    read without downloading the whole object. Errors of later reads are the client's own."""
    if not is_gcs(where):
        return open(where, "rb")  # the caller closes it
    with _errors(where):
        blob = _blob(str(where))
        blob.reload(**_call(None))  # a missing object is FileNotFoundError here, not at read
        return blob.open("rb", timeout=TIMEOUT_SECONDS, retry=_retry(None))


def rename(src: Location, dst: Location) -> None:
    """Moves a finished file to ``dst`` (a copy then a delete on GCS, which has no rename);
    both on the same side."""
    if is_gcs(src) != is_gcs(dst):
        raise ValueError(f"rename {src} -> {dst}: both must be local or both gs://")
    if not is_gcs(src):
        Path(dst).parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
        return
    source, target = _blob(str(src)), _blob(str(dst))
    with _errors(src):
        source.bucket.copy_blob(source, client().bucket(target.bucket.name), target.name,
                                **_call(None))
    delete(src)
