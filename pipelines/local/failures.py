"""What went wrong in a failed local run, in one paragraph a user can act on.

A full disk or a folder the run may not write surfaces from many layers: Python's ``OSError``
(errno 28 ENOSPC, 122 EDQUOT, 13 EACCES, 1 EPERM, 30 EROFS), TensorFlow's file system
(``PermissionDeniedError``, ``ResourceExhaustedError``, whose messages end with the C library's
"No space left on device" / "Permission denied" / "Read-only file system"), SQLite ("database or
disk is full", "attempt to write a readonly database") and Beam, which re-raises a worker's
error with the original text inside. Each is recognised by its errno or its text anywhere in
the exception chain, and told as: what failed, on which path, and the fix.
"""

from __future__ import annotations

import errno
import re

from pipelines.common.errors import ClickflowError

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
_NO_WRITE = (errno.EACCES, errno.EPERM, errno.EROFS)
_NO_SPACE_TEXT = ("no space left on device", "disk quota exceeded", "database or disk is full")
_NO_WRITE_TEXT = ("permission denied", "read-only file system", "readonly database",
                  "operation not permitted")
_PATH = re.compile(r"(?:^|[\s'\"(=])((?:/[^\s'\";:,)]+)+)")


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not e for e in seen):
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _path_of(error: BaseException) -> str | None:
    if isinstance(error, OSError) and error.filename:
        return str(error.filename)
    match = _PATH.search(str(error))
    return match.group(1) if match else None


def storage_problem(error: BaseException) -> tuple[str, str | None] | None:
    """("no space" | "not writable", path) when the error is a disk or permission problem."""
    for current in _chain(error):
        text = str(current).lower()
        code = current.errno if isinstance(current, OSError) else None
        if code in _NO_SPACE or any(t in text for t in _NO_SPACE_TEXT):
            return "no space", _path_of(current)
        if code in _NO_WRITE or any(t in text for t in _NO_WRITE_TEXT):
            return "not writable", _path_of(current)
    return None


def explain(error: BaseException, *, component: str | None) -> str:
    """One paragraph: what failed, where, and what to do."""
    for current in _chain(error):
        if isinstance(current, ClickflowError):
            return str(current)
    where = f"in {component}" if component else "in the pipeline"
    problem = storage_problem(error)
    if problem is not None:
        kind, path = problem
        at = f" ({path})" if path else ""
        if kind == "no space":
            return (f"the disk is full: {where}, writing{at or ' the pipeline root'} failed with "
                    "'No space left on device'. Free some space (df -h shows the disk), or give "
                    "--pipeline-root and --serving-dir on a disk with room, then run again: the "
                    "components that finished are reused from the cache.")
        return (f"permission denied: {where}, writing{at or ' the pipeline root'} was refused "
                "(a read-only disk or a folder owned by another user). Make it writable "
                "(ls -ld shows who owns it), or give --pipeline-root and --serving-dir you can "
                "write to, then run again.")
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0] if len(text) > 2000 else text
