"""Which pushed model scores a batch, and calling its ``serving_default`` signature.

A ``--model`` path is either the Pusher's base folder (``serving_model/clickflow``: the newest
complete numeric version is used, as TF Serving's default ``latest`` policy serves it) or one
version folder. A version is complete when ``saved_model.pb`` and the variables index are
there: the Pusher copies ``saved_model.pb`` last, so a version still being copied is skipped.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from pipelines.common import storage
from pipelines.common.errors import ClickflowError

SIGNATURE = "serving_default"
COMPLETE = ("saved_model.pb", os.path.join("variables", "variables.index"))
OUTPUTS = ("probability", "clicked")


class ModelError(ClickflowError, ValueError):
    """A --model path that holds no usable model, with what was expected."""


@dataclasses.dataclass(frozen=True)
class ModelVersion:
    path: storage.Location  # a local Path, or a gs:// URI string
    version: int


def _complete(folder: storage.Location) -> bool:
    return all(storage.is_file(storage.join(folder, *part.split(os.sep))) for part in COMPLETE)


def find_version(path: storage.Location) -> ModelVersion:
    """The version folder to score with: ``path`` itself, or its newest complete version.

    ``path`` is a local folder or a ``gs://`` prefix (read through ``pipelines.common.storage``).
    """
    if not storage.is_gcs(path):
        path = Path(path)
    if not storage.is_dir(path):
        raise ModelError(
            f"--model {path}: no such folder; expected the Pusher's folder "
            "(serving_model/<model name>) or one of its numeric version folders "
            "(run the pipeline first: make run)"
        )
    name = storage.name_of(path)
    if name.isdigit() and _complete(path):
        return ModelVersion(path, int(name))
    if storage.is_file(storage.join(path, "saved_model.pb")):
        raise ModelError(
            f"--model {path}: a SavedModel, but not in a numeric version folder "
            "(serving_model/<model name>/<version>/), so it has no version to "
            "write beside the predictions"
        )
    numeric = sorted(
        (e for e in storage.list_dir(path) if e.name.isdigit() and e.is_dir),
        key=lambda e: int(e.name),
        reverse=True,
    )
    for entry in numeric:
        if _complete(entry.location):
            return ModelVersion(entry.location, int(entry.name))
    found = f" (incomplete versions: {', '.join(e.name for e in numeric)})" if numeric else ""
    raise ModelError(
        f"--model {path}: no complete model version in it{found}; expected "
        "numeric version folders with saved_model.pb and variables/ (what the "
        "Pusher writes: run the pipeline first, make run)"
    )


class Scorer:
    """A loaded version's ``serving_default``: Arrow columns in, probability and class out."""

    def __init__(self, model: ModelVersion):
        import tensorflow as tf

        self.model = model
        try:
            self._loaded = tf.saved_model.load(str(model.path))
        except (OSError, ValueError, RuntimeError, tf.errors.OpError) as err:
            raise ModelError(
                f"--model {model.path}: cannot load the SavedModel: "
                f"{str(err).strip().splitlines()[0]}"
            ) from None
        signatures = self._loaded.signatures
        if SIGNATURE not in signatures:
            raise ModelError(
                f"--model {model.path}: the model has no {SIGNATURE!r} signature "
                f"(it has: {', '.join(sorted(signatures)) or 'none'})"
            )
        self._fn = signatures[SIGNATURE]
        _args, kwargs = self._fn.structured_input_signature
        self.inputs: dict[str, Any] = dict(kwargs)  # name -> tf.TensorSpec
        missing = [k for k in OUTPUTS if k not in self._fn.structured_outputs]
        if missing:
            raise ModelError(
                f"--model {model.path}: {SIGNATURE} does not output "
                f"{', '.join(missing)} (it outputs: "
                f"{', '.join(sorted(self._fn.structured_outputs))})"
            )

    def score(self, columns: dict[str, pa.Array]) -> tuple[np.ndarray, np.ndarray]:
        """(probability float32, class int64) for rows given as one Arrow array per input."""
        import tensorflow as tf

        feed = {}
        for name, spec in self.inputs.items():
            column = columns[name]
            if spec.dtype == tf.string:
                values = np.asarray(
                    column.cast(pa.binary()).to_numpy(zero_copy_only=False), dtype=object
                )
            else:
                values = column.to_numpy(zero_copy_only=False).astype(spec.dtype.as_numpy_dtype)
            feed[name] = tf.constant(values, dtype=spec.dtype)
        out = self._fn(**feed)
        return (
            out["probability"].numpy().astype(np.float32).reshape(-1),
            out["clicked"].numpy().astype(np.int64).reshape(-1),
        )
