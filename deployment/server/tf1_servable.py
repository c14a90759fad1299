"""TF1 (session-based) SavedModels, loaded the way TF Serving loads every SavedModel.

TF Serving never goes through Python's object graph: it loads the MetaGraphDef tagged "serve"
into a Session (``LoadSavedModel``, tensorflow/cc/saved_model/loader.cc) and runs each
signature_def by its tensor names. A graph written by ``tf.compat.v1.saved_model.Builder``
(TF Serving's own ``half_plus_two``/``half_plus_three``, Estimator exports) has no object
graph, and ``tf.saved_model.load``'s wrapped signatures of it misbehave (ParseExample on a
rank-0 string), so such a version is served here the TF Serving way. TF2 SavedModels keep
``servable.load``'s path and its flat call.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from deployment.server import convert, servable

log = logging.getLogger(__name__)

SERVE_TAG = "serve"


def is_tf1(saved_model: Any) -> bool:
    """The test ``tf.saved_model.load`` makes (tensorflow/python/saved_model/load.py): one
    MetaGraphDef with an object graph is TF2; anything else is loaded as TF1 there too."""
    return not (len(saved_model.meta_graphs) == 1
                and saved_model.meta_graphs[0].HasField("object_graph_def"))


def serving_meta_graph(saved_model: Any, path: Path) -> Any:
    """The MetaGraphDef whose tags are exactly {"serve"}, TF Serving's default tag set
    (``--saved_model_tags``), as ``loader.load`` matches them."""
    for meta_graph in saved_model.meta_graphs:
        if set(meta_graph.meta_info_def.tags) == {SERVE_TAG}:
            return meta_graph
    found = [sorted(m.meta_info_def.tags) for m in saved_model.meta_graphs]
    raise ValueError(f"the SavedModel in {path} has no MetaGraphDef tagged only "
                     f"{SERVE_TAG!r} (tag sets: {found})")


def _spec(info: Any) -> convert.TensorSpec:
    """A signature_def TensorInfo's dtype and shape: -1 dims become None, an unknown rank
    ``unknown_rank`` (any shape per instance, as TF Serving takes it)."""
    import tensorflow as tf

    shape = info.tensor_shape
    dtype = tf.as_dtype(info.dtype).name
    if shape.unknown_rank:
        return convert.TensorSpec(dtype=dtype, shape=(None,), unknown_rank=True)
    return convert.TensorSpec(dtype=dtype, shape=tuple(
        None if d.size < 0 else d.size for d in shape.dim))


@dataclasses.dataclass(frozen=True)
class SessionSignature(servable.Signature):
    """A signature run by ``Session`` callables: ``function`` takes and returns numpy arrays.

    There is no flat call to switch to: the callable already feeds the arrays to the C++
    session directly (``Session.make_callable``), as TF Serving's ``Session::Run`` does.
    """

    def __call__(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.function(inputs)

    def enable_flat_call(self, inputs: Mapping[str, np.ndarray]) -> bool:
        return False


def _runner(session: Any, signature_def: Any
            ) -> Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]:
    feed_names = sorted(signature_def.inputs)
    fetch_names = sorted(signature_def.outputs)
    graph = session.graph
    # Session.run and the callables it makes are thread-safe (one Session serves every
    # request thread, as in TF Serving); the callable is built once, not per request.
    call = session.make_callable(
        [graph.get_tensor_by_name(signature_def.outputs[n].name) for n in fetch_names],
        feed_list=[graph.get_tensor_by_name(signature_def.inputs[n].name)
                   for n in feed_names])

    def run(inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = call(*(inputs[name] for name in feed_names))
        return {name: np.asarray(value) for name, value in zip(fetch_names, values, strict=True)}

    return run


def load(model_name: str, version: int, path: Path, saved_model: Any) -> servable.Servable:
    """Loads the "serve" MetaGraphDef into its own Session (variables restored, main op run)."""
    import tensorflow as tf

    meta_graph = serving_meta_graph(saved_model, path)
    session = tf.compat.v1.Session(graph=tf.Graph())
    try:
        tf.compat.v1.saved_model.loader.load(session, [SERVE_TAG], str(path))
        signatures = {}
        for name, signature_def in sorted(meta_graph.signature_def.items()):
            tensors = [*signature_def.inputs.values(), *signature_def.outputs.values()]
            if not signature_def.outputs or any(t.WhichOneof("encoding") != "name"
                                                for t in tensors):
                # Sparse or composite tensors, or an init op: nothing REST can feed.
                log.info("%s version %d: signature %r is not servable over REST (not all "
                         "dense tensors, or no outputs); skipped", model_name, version, name)
                continue
            signatures[name] = SessionSignature(
                name=name,
                method_name=signature_def.method_name or servable.PREDICT_METHOD,
                inputs={k: _spec(v) for k, v in sorted(signature_def.inputs.items())},
                outputs={k: _spec(v) for k, v in sorted(signature_def.outputs.items())},
                function=_runner(session, signature_def))
    except BaseException:
        session.close()
        raise
    if not signatures:
        session.close()
        raise ValueError(f"the SavedModel in {path} has no signatures to serve")
    return servable.Servable(
        model_name=model_name, version=version, path=path, signatures=signatures,
        signature_def_json=servable.signature_def_json(dict(meta_graph.signature_def)),
        loaded=session)
