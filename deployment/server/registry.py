"""Which versions are served: watches each base path, loads, warms up and swaps atomically.

Like TF Serving's file-system source with an availability-preserving policy: a new version is
loaded and warmed up in the background while the current ones keep answering, then the served
set is swapped in one reference assignment; versions that fall out of the policy are dropped
only after that. A version folder that fails to load is reported (state END with an error, as
TF Serving's version status shows it) and skipped until its files change; it never stops the
server or unloads a working version.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from deployment.server import servable as servable_lib
from deployment.server.config import ModelConfig
from deployment.server.convert import RequestError, tf_error_message

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class VersionStatus:
    """One entry of TF Serving's ``model_version_status``."""

    version: int
    state: str  # LOADING, AVAILABLE or END (failed)
    error_code: str = "OK"
    error_message: str = ""

    def to_json(self) -> dict:
        return {"version": str(self.version), "state": self.state,
                "status": {"error_code": self.error_code, "error_message": self.error_message}}


@dataclasses.dataclass(frozen=True)
class _Folder:
    version: int
    path: Path
    fingerprint: tuple


def _error_code(err: BaseException) -> str:
    import tensorflow as tf

    if isinstance(err, FileNotFoundError | tf.errors.NotFoundError):
        return "NOT_FOUND"
    if isinstance(err, tf.errors.OpError):
        return _OP_ERROR_NAMES.get(err.error_code, "UNKNOWN")
    return "FAILED_PRECONDITION" if isinstance(err, RuntimeError) else "INVALID_ARGUMENT"


_OP_ERROR_NAMES = {1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED",
                   5: "NOT_FOUND", 6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED",
                   8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION", 10: "ABORTED",
                   11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE",
                   15: "DATA_LOSS", 16: "UNAUTHENTICATED"}


def scan(base_path: Path) -> dict[int, _Folder] | None:
    """Integer-named version folders under ``base_path`` with a fingerprint of their files;
    None when the base path cannot be listed (missing, unmounted, a permission or I/O error).

    As TF Serving's file-system source: a poll whose base path does not exist or cannot be
    listed is an error that changes nothing (``PollFileSystemForServable`` returns before the
    aspired-versions callback, tensorflow_serving/sources/storage_path/
    file_system_storage_path_source.cc), so a glitch of the mount never unloads a version;
    only a listing that succeeds without a version does.
    """
    folders = {}
    try:
        entries = list(os.scandir(base_path))
    except OSError as err:
        log.warning("cannot list model base path %s (%s): keeping the loaded versions",
                    base_path, err.strerror)
        return None
    for entry in entries:
        if not entry.name.isdigit() or not entry.is_dir():
            continue
        files = []
        for root, _, names in os.walk(entry.path):
            for name in names:
                try:
                    stat = os.stat(os.path.join(root, name))
                except OSError:
                    continue
                files.append((os.path.relpath(os.path.join(root, name), entry.path),
                              stat.st_size, stat.st_mtime_ns))
        folders[int(entry.name)] = _Folder(int(entry.name), Path(entry.path), tuple(sorted(files)))
    return folders


class ModelRegistry:
    """Served versions of every configured model, kept in line with their base paths.

    ``poll_once`` does one scan-load-swap round (tests call it directly); ``start`` runs it every
    ``poll_seconds`` in a daemon thread. A folder first seen after startup is loaded only once
    its files are unchanged over one poll, so a version that is still being copied is not read.
    """

    def __init__(self, models: Sequence[ModelConfig],
                 loader: Callable[[str, int, Path], servable_lib.Servable] = servable_lib.load,
                 warm_up: Callable[[servable_lib.Servable], None] = servable_lib.warm_up,
                 on_change: Callable[[str, Mapping[int, servable_lib.Servable]], None]
                 | None = None,
                 on_load: Callable[[str, int, float, str], None] | None = None):
        self._models = {m.name: m for m in models}
        self._loader = loader
        self._warm_up = warm_up
        self._on_change = on_change
        self._on_load = on_load
        self._served: dict[str, Mapping[int, servable_lib.Servable]] = {
            m: {} for m in self._models}
        self._loading: dict[str, set[int]] = {m: set() for m in self._models}
        self._failed: dict[str, dict[int, tuple[tuple, VersionStatus]]] = {
            m: {} for m in self._models}
        self._seen: dict[str, dict[int, tuple]] = {m: {} for m in self._models}
        self._polls = 0
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def model_names(self) -> list[str]:
        return list(self._models)

    def model_config(self, name: str) -> ModelConfig | None:
        return self._models.get(name)

    def poll_once(self) -> None:
        with self._poll_lock:
            first = self._polls == 0
            self._polls += 1
            for name, model in self._models.items():
                try:
                    self._sync(model, first)
                except Exception:
                    log.exception("watching model %s at %s failed; will retry", name,
                                  model.base_path)

    def _sync(self, model: ModelConfig, first: bool) -> None:
        name = model.name
        folders = scan(model.base_path)
        if folders is None:
            return
        failed = self._failed[name]
        for version in list(failed):
            if version not in folders or folders[version].fingerprint != failed[version][0]:
                del failed[version]  # gone or changed: forget the failure, try again
        seen, self._seen[name] = self._seen[name], {
            v: f.fingerprint for v, f in folders.items()}
        served = self._served[name]
        settled = [v for v, f in folders.items() if v not in failed and (
            first or v in served or seen.get(v) == f.fingerprint)]
        while True:  # a version that fails to load leaves the policy room for an older one
            keep = set(model.policy.select([v for v in settled if v not in failed]))
            todo = sorted(keep - set(served), reverse=True)
            if not todo:
                break
            for version in todo:
                self._load(model, folders[version])
            served = self._served[name]
        if set(served) - keep:
            self._publish(name, {v: s for v, s in served.items() if v in keep})
            for version in sorted(set(served) - keep):
                log.info("unloaded %s version %d (outside policy %s)", name, version,
                         model.policy.describe())

    def _load(self, model: ModelConfig, folder: _Folder) -> None:
        name, version = model.name, folder.version
        with self._lock:
            self._loading[name].add(version)
        started = time.perf_counter()
        try:
            loaded = self._loader(name, version, folder.path)
            self._warm_up(loaded)
        except Exception as err:
            message = tf_error_message(err)
            status = VersionStatus(version, "END", _error_code(err), message)
            with self._lock:
                self._loading[name].discard(version)
                self._failed[name][version] = (folder.fingerprint, status)
            log.error("model %s version %d at %s cannot be served and is skipped: %s", name,
                      version, folder.path, message)
            if self._on_load:
                self._on_load(name, version, time.perf_counter() - started, "error")
            return
        with self._lock:
            self._loading[name].discard(version)
        self._publish(name, {**self._served[name], version: loaded})
        seconds = time.perf_counter() - started
        log.info("model %s version %d loaded and warmed up in %.1f s", name, version, seconds)
        if self._on_load:
            self._on_load(name, version, seconds, "ok")

    def _publish(self, name: str, served: Mapping[int, servable_lib.Servable]) -> None:
        with self._lock:
            self._served[name] = dict(served)
        if self._on_change:
            self._on_change(name, self._served[name])

    def served(self, name: str) -> Mapping[int, servable_lib.Servable]:
        return self._served.get(name, {})

    def resolve(self, name: str, version: int | None = None,
                label: str | None = None) -> servable_lib.Servable:
        """The servable a URL names, or ``RequestError`` in TF Serving's words and status.

        An unknown model or version is 404 (NOT_FOUND), an unknown label 400 (TF Serving's
        INVALID_ARGUMENT).
        """
        if name not in self._models:
            raise RequestError(f"Servable not found for request: Latest({name}); this server "
                               f"serves {sorted(self._models)}", 404)
        served = self._served[name]
        if label is not None:
            labels = self._models[name].version_labels
            if label not in labels:
                raise RequestError(f"Unrecognized servable version label: {label}; model "
                                   f"{name} has labels {sorted(labels)}")
            version = labels[label]
        if version is None:
            if not served:
                raise RequestError(f"Servable not found for request: Latest({name}); no "
                                   f"version is loaded yet", 404)
            return served[max(served)]
        if version not in served:
            raise RequestError(f"Servable not found for request: Specific({name}, {version}); "
                               f"loaded versions: {sorted(served)}", 404)
        return served[version]

    def statuses(self, name: str) -> list[VersionStatus]:
        with self._lock:
            entries = {v: VersionStatus(v, "AVAILABLE") for v in self._served.get(name, {})}
            entries.update({v: VersionStatus(v, "LOADING")
                            for v in self._loading.get(name, set())})
            entries.update({v: s for v, (_, s) in self._failed.get(name, {}).items()})
        return [entries[v] for v in sorted(entries, reverse=True)]

    def ready(self) -> bool:
        return all(self._served[name] for name in self._models)

    def start(self, poll_seconds: float) -> None:
        if self._thread is not None:
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.is_set():
                self.poll_once()
                self._stop.wait(poll_seconds)

        self._thread = threading.Thread(target=loop, name="model-watcher", daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        return self._thread is None or self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
