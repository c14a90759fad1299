"""The pipeline image's code, staged from ``deployment/pipeline/Dockerfile``'s COPY lines.

A task must import only what the image has: staging exactly what the COPY lines copy (and
nothing from this checkout besides) makes a module the Dockerfile forgets fail here, as it
would in the cloud.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from pipelines.common.errors import ClickflowError

DOCKERFILE = Path("deployment") / "pipeline" / "Dockerfile"


class ImageError(ClickflowError, ValueError):
    """The Dockerfile cannot be staged; the message names the file and line."""


@dataclass(frozen=True)
class Image:
    """What the Dockerfile says about the code: its WORKDIR and the sources its COPY lines copy
    from the build context (``COPY --from=`` copies from other images and is left out)."""

    workdir: str
    sources: tuple[str, ...]
    # (source, destination in the image relative to WORKDIR) for each file or folder copied.
    copies_to: tuple[tuple[str, str], ...] = ()
    env: tuple[tuple[str, str], ...] = ()  # ENV lines, in order

    def copies(self, relative: str) -> bool:
        """Whether a path of the build context (posix, relative) ends up in the image."""
        return any(relative == s or relative.startswith(s + "/") for s in self.sources)


def parse_dockerfile(text: str, name: str = str(DOCKERFILE)) -> Image:
    """The WORKDIR and the build-context sources of every COPY line."""
    workdir, sources, pairs, env = "", [], [], []
    for number, line in _instructions(text):
        words = line.split()
        if words and words[0].upper() == "ENV":
            env += [tuple(w.split("=", 1)) for w in words[1:] if "=" in w]
            continue
        if not words or words[0].upper() not in ("COPY", "WORKDIR"):
            continue
        if words[0].upper() == "WORKDIR":
            workdir = words[1] if len(words) > 1 else ""
            continue
        if any(w.startswith("--from=") for w in words[1:]):
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        if len(args) < 2:
            raise ImageError(f"{name}:{number}: COPY needs a source and a destination: {line!r}")
        *copied, destination = args
        for source in copied:
            sources.append(source.rstrip("/"))
            pairs.append((source.rstrip("/"), _destination(source, destination, len(copied))))
    if not workdir:
        raise ImageError(f"{name}: no WORKDIR line; expected e.g. 'WORKDIR /pipeline'")
    return Image(workdir, tuple(sources), tuple(pairs), tuple(env))


def _instructions(text: str) -> list[tuple[int, str]]:
    """(first line number, instruction) with backslash continuations joined, comments out."""
    out, current, start = [], "", 0
    for number, line in enumerate(text.splitlines(), 1):
        if not current and line.lstrip().startswith("#"):
            continue
        start = start or number
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        out.append((start, current + line))
        current, start = "", 0
    return out


def _destination(source: str, destination: str, count: int) -> str:
    """Where Docker puts ``source``: a folder's contents go to the destination; a file goes
    into it when it ends in '/' (or several sources share it), else becomes it."""
    destination = destination.removeprefix("./")
    if source.endswith("/"):
        return destination.rstrip("/") or "."
    if destination.endswith("/") or count > 1 or destination in ("", "."):
        return str(Path(destination) / Path(source).name)
    return destination


def read_image(root: Path) -> Image:
    path = root / DOCKERFILE
    try:
        return parse_dockerfile(path.read_text(), str(path))
    except FileNotFoundError:
        raise ImageError(f"{path} does not exist; expected the pipeline image's Dockerfile") \
            from None


def stage(root: Path, image: Image, into: Path) -> Path:
    """Copies what the COPY lines copy from ``root`` into a fresh ``into`` (the image's
    WORKDIR here), where the Dockerfile places it, leaving out what
    ``Dockerfile.dockerignore`` keeps out of the build context (tests, caches)."""
    if into.exists():
        shutil.rmtree(into)
    into.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*_test.py", "*.tmp")
    for source, destination in image.copies_to:
        src = root / source
        if not src.exists():
            raise ImageError(f"{root / DOCKERFILE}: COPY {source}: no such file in {root}")
        dst = into / destination
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=ignore, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dst)
    return into
