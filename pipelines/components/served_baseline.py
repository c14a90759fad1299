"""ServedBaseline: the Evaluator's baseline is the model being served, read from the Pusher.

Why this and not a TFX ``Resolver``: a Resolver compiles to a ``resolver`` executor, which
Kubeflow Pipelines' Argo compiler does not implement ("resolver executors not implemented",
kubeflow/pipelines backend/src/v2/compiler/argocompiler/dag.go), and which has no access to the
metadata store anyway outside Vertex. What the Pusher pushed is in a folder every runner can read
(a local path, or gs:// on Vertex and KFP alike), so one plain container component gives the same
baseline on all three runners. It is also the baseline that matters: the model users are being
answered by now, not merely the last one a run blessed (a blessed model whose push failed is not
served).

Each version folder under ``serving_model_dir`` (the Pusher's ``<base>/<version>``) is tried,
newest first. A folder is skipped, with the reason logged, when it is not a complete SavedModel
(a push still being copied, or a stray folder), when it lacks a signature the Evaluator calls
(a model pushed by another project), or when it is the candidate itself (equal SavedModel
fingerprints: an unchanged rerun never compares a model with itself). The chosen version is
copied into this component's Model artifact (``Format-Serving/``, where TFX's Evaluator looks):
TFX's launchers refuse an output artifact pointing at another URI, and the copy keeps the
baseline as it was when it was judged even after the serving folder moves on. The artifact's
custom properties say which version it is: ``found`` (1/0), ``served_path``, ``served_version``;
with ``found == 0`` (nothing served yet) the folder is empty and
``pipelines.components.evaluator.Evaluator`` evaluates without a baseline.

(No ``from __future__ import annotations``: TFX reads the component's type hints as objects.)
"""

import logging
import os

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts
from tfx.utils import path_constants

SERVING_SUBDIR = path_constants.SERVING_MODEL_DIR  # where TFX's Evaluator loads a Model from
FOUND = "found"
SERVED_PATH = "served_path"
SERVED_VERSION = "served_version"
_COMPLETE = ("saved_model.pb", os.path.join("variables", "variables.index"))

log = logging.getLogger(__name__)


def _gfile():
    import tensorflow as tf

    return tf.io.gfile


def versions(serving_model_dir: str) -> list[str]:
    """Version folder names under the Pusher's base directory, newest (largest) first."""
    gfile = _gfile()
    if not gfile.isdir(serving_model_dir):
        return []
    names = [n.rstrip("/") for n in gfile.listdir(serving_model_dir)]
    return sorted((n for n in names if n.isdigit()), key=int, reverse=True)


def signatures(saved_model_dir: str) -> set[str]:
    """The signature names of a SavedModel's first MetaGraph, read from saved_model.pb."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    with _gfile().GFile(os.path.join(saved_model_dir, "saved_model.pb"), "rb") as f:
        saved.ParseFromString(f.read())
    return set(saved.meta_graphs[0].signature_def) if saved.meta_graphs else set()


# FingerprintDef's hashes of what the model computes (tensorflow/core/protobuf/fingerprint.proto):
# the graph program "invariant to node and function names", the signatures, the object graph and
# the checkpoint. Not saved_model_checksum, a hash of saved_model.pb's bytes: the traced function
# names in it (``__inference_signature_wrapper_11395``) count up per Python process, so the same
# model saved twice in one process has two checksums.
_FINGERPRINT_HASHES = ("graph_def_program_hash", "signature_def_hash", "saved_object_graph_hash",
                       "checkpoint_hash")


def identity(saved_model_dir: str) -> bytes:
    """What tells two SavedModels apart: TF's fingerprint.pb hashes of graph, signatures,
    objects and variables, else the graph and variable index bytes for a model saved
    without one."""
    gfile = _gfile()
    fingerprint = os.path.join(saved_model_dir, "fingerprint.pb")
    if gfile.exists(fingerprint):
        from tensorflow.core.protobuf import fingerprint_pb2

        parsed = fingerprint_pb2.FingerprintDef()
        with gfile.GFile(fingerprint, "rb") as f:
            parsed.ParseFromString(f.read())
        return ",".join(str(getattr(parsed, name)) for name in _FINGERPRINT_HASHES).encode()
    parts = []
    for name in _COMPLETE:
        with gfile.GFile(os.path.join(saved_model_dir, name), "rb") as f:
            parts.append(f.read())
    return b"\0".join(parts)


def choose(serving_model_dir: str, candidate_dir: str,
           required: set[str]) -> tuple[str, str] | None:
    """(version, folder) of the newest usable served model that is not the candidate."""
    gfile = _gfile()
    candidate = identity(candidate_dir) if gfile.exists(
        os.path.join(candidate_dir, "saved_model.pb")) else None
    for version in versions(serving_model_dir):
        folder = os.path.join(serving_model_dir, version)
        missing = [p for p in _COMPLETE if not gfile.exists(os.path.join(folder, p))]
        if missing:
            log.warning("ServedBaseline: skipping %s: not a complete SavedModel (no %s)",
                        folder, ", ".join(missing))
            continue
        lacking = required - signatures(folder)
        if lacking:
            log.warning("ServedBaseline: skipping %s: no signature %s the Evaluator calls",
                        folder, ", ".join(sorted(lacking)))
            continue
        if candidate is not None and identity(folder) == candidate:
            log.info("ServedBaseline: skipping %s: it is the candidate itself", folder)
            continue
        return version, folder
    return None


def copy_tree(source: str, target: str) -> None:
    gfile = _gfile()
    for root, _dirs, files in gfile.walk(source):
        relative = os.path.relpath(root, source)
        out = target if relative == "." else os.path.join(target, relative)
        gfile.makedirs(out)
        for name in files:
            gfile.copy(os.path.join(root, name), os.path.join(out, name), overwrite=True)


@component
def ServedBaseline(
    candidate: InputArtifact[standard_artifacts.Model],
    model: OutputArtifact[standard_artifacts.Model],
    serving_model_dir: Parameter[str],
    required_signatures: Parameter[str],
) -> None:
    """Copies the served model (newest usable version, not the candidate) into ``model``."""
    required = {s for s in required_signatures.split(",") if s}
    chosen = choose(serving_model_dir, os.path.join(candidate.uri, SERVING_SUBDIR), required)
    _gfile().makedirs(model.uri)
    if chosen is None:
        log.info("ServedBaseline: nothing usable is served under %s: no baseline this run",
                 serving_model_dir)
        model.set_int_custom_property(FOUND, 0)
        return
    version, folder = chosen
    copy_tree(folder, os.path.join(model.uri, SERVING_SUBDIR))
    model.set_int_custom_property(FOUND, 1)
    model.set_string_custom_property(SERVED_PATH, folder)
    model.set_string_custom_property(SERVED_VERSION, version)
    log.info("ServedBaseline: baseline is the served version %s (%s)", version, folder)
