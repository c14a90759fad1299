"""Scoring a checked CSV in chunks: valid rows to the model server, rejected rows listed.

The file is never held whole: lines are checked one at a time (``dashboard.batch``), valid rows
are sent ``chunk_rows`` at a time and written out with their probability at once, rejected
lines go to their own file. What stays in memory is one chunk, the first ``problem_cap``
problems and, for a labelled file, one label and one probability per row (9 bytes a row) for
the metrics.
"""

from __future__ import annotations

import array
import csv
import dataclasses
import gzip
import io
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dashboard.batch import Header, Line, Source, count_lines, read_lines
from dashboard.schema_form import FieldSpec
from dashboard.serving_client import Prediction, ServingClient

PROBLEM_CAP = 200
CHUNK_ROWS = 2_000
REQUEST_ROWS = 500
# A download is held in memory whole (Streamlit's media storage), so a larger output is offered
# gzip-compressed (CSV shrinks to about a third): see experiments/benchmarks/score_memory_benchmark.
PLAIN_DOWNLOAD_MAX = 16 << 20
# The first columns of the scored file and table: what the user came for.
RESULT_COLUMNS = ("probability", "clicked", "line")


@dataclasses.dataclass(frozen=True)
class ScoreReport:
    """What scoring one file did, and where its two output files are."""

    scored_path: Path
    rejected_path: Path
    model_version: int
    scored: int
    rejected: int
    clicked: int  # scored rows the server predicts a click for
    problems: tuple[tuple[int, str], ...]  # (line, problems) of the first rejected lines
    labels: np.ndarray  # per scored row, when the file has a label column; else empty
    probabilities: np.ndarray

    @property
    def more_problems(self) -> int:
        return self.rejected - len(self.problems)


def _open(path: Path):
    # surrogateescape: cells that were not UTF-8 go back out as the bytes they were.
    return open(path, "w", encoding="utf-8", errors="surrogateescape", newline="")


def score_file(source: Source, header: Header, fields: list[FieldSpec], client: ServingClient,
               version: int, out_dir: Path, chunk_rows: int = CHUNK_ROWS,
               request_rows: int = REQUEST_ROWS, problem_cap: int = PROBLEM_CAP,
               progress: Callable[[int, int], None] | None = None) -> ScoreReport:
    """Checks and scores ``source`` (its header already read) chunk by chunk, all with one model
    ``version``, into ``out_dir``/scored.csv and ``out_dir``/rejected.csv."""
    out_dir = Path(out_dir)
    scored_path, rejected_path = out_dir / "scored.csv", out_dir / "rejected.csv"
    total = max(count_lines(source) - 1, 1)
    labels, probabilities = array.array("b"), array.array("d")
    problems: list[tuple[int, str]] = []
    done = {"scored": 0, "rejected": 0, "clicked": 0}
    chunk: list[Line] = []
    with _open(scored_path) as scored_file, _open(rejected_path) as rejected_file:
        scored, rejected = csv.writer(scored_file), csv.writer(rejected_file)
        scored.writerow([*RESULT_COLUMNS, "model_version", *header.names])
        rejected.writerow(["line", "problems", *header.names])

        def flush() -> None:
            predictions = _predict(client, chunk, version, request_rows)
            for line, prediction in zip(chunk, predictions, strict=True):
                clicked = prediction.clicked if prediction.clicked is not None else int(
                    prediction.probability >= 0.5)
                done["clicked"] += clicked
                scored.writerow([f"{prediction.probability:.6f}", clicked, line.line, version,
                                 *line.cells])
                if header.labelled:
                    labels.append(line.label)
                    probabilities.append(prediction.probability)
            done["scored"] += len(chunk)
            chunk.clear()
            if progress is not None:
                progress(done["scored"] + done["rejected"], total)

        for line in read_lines(source, header, fields):
            if not line.problems:
                chunk.append(line)
                if len(chunk) >= chunk_rows:
                    flush()
                continue
            done["rejected"] += 1
            text = "; ".join(line.problems)
            if len(problems) < problem_cap:
                problems.append((line.line, text))
            rejected.writerow([line.line, text, *line.cells])
        if chunk:
            flush()
    return ScoreReport(scored_path, rejected_path, version, done["scored"], done["rejected"],
                       done["clicked"], tuple(problems),
                       np.frombuffer(labels, dtype=np.int8).astype(np.int64),
                       np.frombuffer(probabilities, dtype=np.float64).copy())


def _predict(client: ServingClient, chunk: list[Line], version: int, request_rows: int
             ) -> list[Prediction]:
    instances = [line.values for line in chunk]
    out: list[Prediction] = []
    for start in range(0, len(instances), request_rows):
        out.extend(client.predict(instances[start:start + request_rows], version).predictions)
    return out


@dataclasses.dataclass(frozen=True)
class Download:
    """How one output file is offered: its name, type and the bytes (made only when clicked)."""

    path: Path
    file_name: str
    mime: str
    compressed: bool

    def data(self) -> bytes:
        if not self.compressed:
            return self.path.read_bytes()
        out = io.BytesIO()
        # Level 1: a few seconds less per 100 MB than the default, a little larger.
        with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=1, mtime=0) as packed, \
                open(self.path, "rb") as f:
            shutil.copyfileobj(f, packed, 1 << 20)
        return out.getvalue()


def download(path: Path, file_name: str, plain_max: int = PLAIN_DOWNLOAD_MAX) -> Download:
    """The CSV as it is when small, gzip-compressed above ``plain_max`` bytes."""
    if Path(path).stat().st_size <= plain_max:
        return Download(Path(path), file_name, "text/csv", False)
    return Download(Path(path), f"{file_name}.gz", "application/gzip", True)
