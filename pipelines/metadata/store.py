"""Opening a local ML Metadata store: one way for the runner, the monitor and the dashboard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipelines.common.errors import ClickflowError


class StoreUnavailable(ClickflowError):
    """No ML Metadata store can be read at the given path."""


def open_store(metadata_path: str | Path, *, writable: bool = False) -> Any:
    """The SQLite ML Metadata store at ``metadata_path``, read-only unless ``writable``.

    A missing store is never created here (``StoreUnavailable``, naming the file): only a
    pipeline run creates one. Read-only connections let readers watch a store that a running
    pipeline writes.
    """
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    path = Path(metadata_path)
    if not path.is_file():
        raise StoreUnavailable(f"no ML Metadata store at {path} (run the pipeline first)")
    modes = metadata_store_pb2.SqliteMetadataSourceConfig
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    config.sqlite.connection_mode = modes.READWRITE if writable else modes.READONLY
    try:
        return metadata_store.MetadataStore(config)
    except Exception as err:  # ml_metadata raises its own error types; name the file
        raise StoreUnavailable(f"cannot open the ML Metadata store {path}: {err}") from None
