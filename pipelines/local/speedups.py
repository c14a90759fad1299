"""Every patch of Beam, TFX, TensorFlow, absl and interpreter internals, in one guarded place.

Each patch below is a named unit (``PATCHES``): what it replaces, why (its docstring), and the
versions it was written and tested against. A patch is applied only when

- the user has not switched the speed-ups off (``CLICKFLOW_SPEEDUPS=0``, read by
  ``models.bootstrap.speedups_enabled()``; ``OUTPUT_FIXES``, which keep the progress lines on
  screen rather than save time, stay on), and
- every library it touches is installed at exactly the tested version; otherwise ONE notice
  line goes to stderr and the library keeps its stock behaviour.

``install()`` applies the library patches and keeps what it replaced; ``uninstall()`` puts the
exact originals back. ``patched(*names)`` applies patches for the length of a ``with`` block
(the GC pause around imports, the absl level pin around a run); ``exit_fast()`` is the one
one-way patch: it ends the process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import platform
import sys
from collections.abc import Callable, Iterable, Iterator
from importlib import metadata
from typing import Any, NoReturn

from models.bootstrap import SPEEDUPS_ENV, speedups_enabled

Undo = Callable[[], None]
BEAM, TF, TFX = ("apache-beam", "2.59.0"), ("tensorflow", "2.16.*"), ("tfx", "1.16.0")
ABSL, PYTHON = ("absl-py", "1.4.0"), ("python", "3.10.*")


@dataclasses.dataclass(frozen=True)
class Patch:
    name: str
    replaces: str
    why: str
    tested: tuple[tuple[str, str], ...]  # (distribution, version; "2.16.*" is any 2.16.x)
    apply: Callable[[], Undo] | None  # applies the patch, returns what restores the originals


PATCHES: dict[str, Patch] = {}
_undo: dict[str, Undo] = {}
_noticed: set[str] = set()


def _patch(name: str, replaces: str, *tested: tuple[str, str]) -> Callable:
    def register(apply: Callable[[], Undo]) -> Callable[[], Undo]:
        PATCHES[name] = Patch(name, replaces, inspect.cleandoc(apply.__doc__ or ""), tested,
                              None if name == "fast_exit" else apply)
        return apply
    return register


def _replace(*targets: tuple[Any, str, Any]) -> Undo:
    """Sets ``owner.attr = value`` for each target; returns what sets the originals back."""
    originals = [(owner, attr, vars(owner)[attr]) for owner, attr, _ in targets]
    for owner, attr, value in targets:
        setattr(owner, attr, value)

    def undo() -> None:
        for owner, attr, original in originals:
            setattr(owner, attr, original)
    return undo


@_patch("hide_kubernetes_validate", "sys.modules['kubernetes_validate'], while kubernetes.dynamic "
        "is first imported", TFX, ("kubernetes", "26.1.0"))
def _hide_kubernetes_validate() -> Undo:
    """TFX's InfraValidator imports the Kubernetes client, whose ``kubernetes.dynamic`` imports
    ``kubernetes_validate`` when installed (``make test`` uses it): jsonschema's format checkers
    and a URI grammar, ~2 s, for a feature the pipeline never calls. The client is imported
    with that module hidden; it stays importable for anyone else."""
    if "kubernetes.dynamic" in sys.modules or "kubernetes_validate" in sys.modules:
        return lambda: None
    sys.modules["kubernetes_validate"] = None  # type: ignore[assignment]
    try:
        from kubernetes.dynamic import client
    except ImportError:
        return lambda: None
    finally:
        del sys.modules["kubernetes_validate"]

    def undo() -> None:  # what the client module holds after a stock import
        try:
            import kubernetes_validate
            import kubernetes_validate.utils
        except ImportError:
            return
        client.kubernetes_validate, client.HAS_KUBERNETES_VALIDATE = kubernetes_validate, True
        client.VersionNotSupportedError = kubernetes_validate.utils.VersionNotSupportedError
    return undo


@_patch("cloudpickle_default", "apache_beam.internal.pickler.DEFAULT_PICKLE_LIB (dill)",
        BEAM, ("cloudpickle", "2.2.1"))
def _cloudpickle_default() -> Undo:
    """Beam pickles every DoFn with dill (and resets dill's logger after each pickle, clearing
    thousands of loggers' caches); its other supported pickler, cloudpickle, is ~4 s faster
    over a 1k run. Made the default rather than passed as ``--pickle_library``, because any
    Beam flag makes TFX build an sdist of itself per component."""
    from apache_beam.internal import dill_pickler, pickler

    was = pickler.desired_pickle_lib
    undo = _replace((pickler, "DEFAULT_PICKLE_LIB", pickler.USE_CLOUDPICKLE))

    def restore() -> None:
        undo()
        if pickler.desired_pickle_lib is not was:  # set_library also resets dill's hooks
            pickler.set_library(pickler.USE_DILL if was is dill_pickler
                                else pickler.USE_CLOUDPICKLE)
    return restore


@_patch("memo_dofn_signatures", "apache_beam.transforms.core.get_function_args_defaults, "
        "userstate.get_dofn_specs and runners.direct.transform_evaluator.get_dofn_specs "
        "(imported by name there)", BEAM)
def _memo_dofn_signatures() -> Undo:
    """Beam inspects the signature of every DoFn method each time it touches a DoFn (~165,000
    ``inspect.signature`` calls, ~7 s over a 1k run); the answers are fixed when the class and
    its functions are defined and are memoized (``beam_memo``)."""
    from apache_beam.runners.direct import transform_evaluator
    from apache_beam.transforms import core, userstate

    from pipelines.local import beam_memo

    specs = beam_memo.cached_dofn_specs(userstate.get_dofn_specs)
    return _replace(
        (core, "get_function_args_defaults",
         beam_memo.cached_args_defaults(core.get_function_args_defaults)),
        (userstate, "get_dofn_specs", specs), (transform_evaluator, "get_dofn_specs", specs))


@_patch("memo_options_views", "apache_beam.options.pipeline_options.PipelineOptions.view_as",
        BEAM)
def _memo_options_views() -> Undo:
    """``Pipeline.apply`` asks for two or three options views per transform, and each builds an
    argparse parser and re-parses the flags (~2 s over a 1k run); a view is reused while the
    options keep the same flags and values (``beam_memo.cached_view_as``)."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.local import beam_memo

    return _replace((PipelineOptions, "view_as",
                     beam_memo.cached_view_as(vars(PipelineOptions)["view_as"])))


@_patch("no_state_cache", "apache_beam.runners.portability.fn_api_runner.worker_handlers."
        "STATE_CACHE_SIZE_MB (100)", BEAM)
def _no_state_cache() -> Undo:
    """Beam's in-process runner keeps a cross-bundle state cache, "disabled in production for
    other runners" by its own comments, that measures every cached side input with a deep
    object walk (~1 s over a 1k run). Without it side inputs are read once per bundle."""
    from apache_beam.runners.portability.fn_api_runner import worker_handlers

    return _replace((worker_handlers, "STATE_CACHE_SIZE_MB", 0))


@_patch("fast_tfrecord_source", "tfx_bsl.tfxio.tf_example_record.TFExampleRecord.BeamSource "
        "(inherited from RecordBasedTFXIO)", BEAM, TFX, ("tfx-bsl", "1.16.1"))
def _fast_tfrecord_source() -> Undo:
    """StatisticsGen, Transform and the Evaluator read tf.Examples through
    ``TFExampleRecord.BeamSource``: Beam's ``ReadFromTFRecord`` makes one Python call and one
    Beam element per record, and ``BatchElements`` groups them again before decoding. Here
    each file is one element read by TensorFlow's C++ TFRecord reader in batches that go to
    tfx_bsl's own decoder (``pipelines.local.fast_read``): the same RecordBatches. A pattern
    that matches no file keeps the stock source (and its error)."""
    from tfx_bsl.tfxio import tf_example_record

    from pipelines.local import fast_read

    cls = tf_example_record.TFExampleRecord
    stock = cls.BeamSource
    assert "BeamSource" not in vars(cls), "TFExampleRecord defines BeamSource itself now"

    def beam_source(self: Any, batch_size: int | None = None) -> Any:
        files = fast_read.matched_files(self._file_pattern)
        if not files:
            return stock(self, batch_size)
        return fast_read.beam_source(self, batch_size, files)

    cls.BeamSource = beam_source

    def undo() -> None:
        del cls.BeamSource
    return undo


@_patch("quiet_tf_shutdown", "sys.unraisablehook (one TensorFlow message at exit)", TF, PYTHON)
def _quiet_tf_shutdown() -> Undo:
    """TF functions referenced from module globals are freed at shutdown after those globals
    are cleared, and TF 2.16's ``AtomicFunction.__del__`` fails on ``None``: a traceback after
    every successful run. Exactly that case is dropped; anything else goes to the old hook."""
    default = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        source = getattr(unraisable.object, "__qualname__", "")
        if sys.is_finalizing() and source == "AtomicFunction.__del__":
            return
        default(unraisable)

    sys.unraisablehook = hook

    def undo() -> None:
        if sys.unraisablehook is hook:  # not if someone (pytest) installed a hook since
            sys.unraisablehook = default
    return undo


@_patch("gc_paused_imports", "the cyclic garbage collector (paused, then gc.freeze)", PYTHON)
def _gc_paused_imports() -> Undo:
    """Importing TensorFlow, TFX, Beam and TFMA makes ~600,000 objects that live as long as the
    process, and the collector walks them all again and again: ~1.4 s of a 1k run. Collection
    is paused while they are imported; the undo freezes them (``gc.freeze``: out of later
    collections' way) and resumes collection if it was on."""
    import gc

    was_enabled = gc.isenabled()
    gc.disable()

    def undo() -> None:
        gc.freeze()
        if was_enabled:
            gc.enable()
    return undo


@_patch("pin_absl_level", "logging.getLogger('absl').setLevel (an instance no-op)", ABSL, TFX)
def _pin_absl_level() -> Undo:
    """LocalDagRunner announces each component through absl at INFO, the progress lines, and
    some executors lower absl's level mid-run; the level is held where it is until undone."""
    import logging

    absl = logging.getLogger("absl")
    missing = object()
    was = vars(absl).get("setLevel", missing)
    absl.setLevel = lambda level: None  # type: ignore[method-assign]

    def undo() -> None:
        if was is missing:
            vars(absl).pop("setLevel", None)
        else:
            absl.setLevel = was  # type: ignore[method-assign]
    return undo


@_patch("fast_exit", "interpreter teardown (os._exit after threads, atexit, flush)", PYTHON)
def _fast_exit() -> Undo:
    """A normal exit tears down every object TensorFlow, Beam and TFX made, several with C++
    destructors: ~4 s after the result is printed. Everything the run produces is on disk by
    then, so ``exit_fast`` does the parts of an exit that can matter, in Python's order: waits
    for non-daemon threads, runs the atexit handlers, flushes stdout and stderr, skips the
    rest."""
    raise NotImplementedError("a one-way patch: call exit_fast()")


# Not a speed-up but what keeps the progress lines on screen: applied with CLICKFLOW_SPEEDUPS=0
# too (still only at the tested versions).
OUTPUT_FIXES = ("pin_absl_level",)
LIBRARY = ("hide_kubernetes_validate", "cloudpickle_default", "memo_dofn_signatures",
           "memo_options_views", "no_state_cache", "quiet_tf_shutdown", "fast_tfrecord_source")


def installed_version(distribution: str) -> str | None:
    if distribution == "python":
        return platform.python_version()
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def refusal(patch: Patch) -> str | None:
    """Why the version guard refuses ``patch`` ("apache-beam 2.60.0 is not ..."), or None."""
    for distribution, tested in patch.tested:
        found = installed_version(distribution)
        ok = found is not None and (found.startswith(tested[:-1]) if tested.endswith("*")
                                    else found == tested)
        if not ok:
            return f"{distribution} {found or '(not installed)'} is not the tested {tested}"
    return None


def allowed(names: Iterable[str]) -> list[str]:
    """The named patches the switch and the version guard allow; one notice for refusals."""
    names = list(names)
    if not speedups_enabled():
        names = [name for name in names if name in OUTPUT_FIXES]
        if not names:
            return []
    refused = {name: refusal(PATCHES[name]) for name in PATCHES}
    reasons = sorted({r for r in refused.values() if r})
    if reasons:
        off = ", ".join(n for n, r in refused.items() if r)
        notice = (f"clickflow: speed-ups off ({off}): {'; '.join(reasons)} "
                  f"(stock behaviour; {SPEEDUPS_ENV}=0 hides this line)")
        if notice not in _noticed:
            _noticed.add(notice)
            print(notice, file=sys.stderr)
    return [name for name in names if not refused[name]]


def install(names: Iterable[str] = LIBRARY) -> tuple[str, ...]:
    """Applies those of ``names`` that are allowed and not applied yet; returns all applied."""
    for name in allowed(names):
        if name not in _undo:
            _undo[name] = PATCHES[name].apply()  # type: ignore[misc]
    return applied()


def uninstall(names: Iterable[str] | None = None) -> None:
    """Restores the originals of the named applied patches (all by default), newest first."""
    chosen = set(_undo if names is None else names)
    for name in reversed(list(_undo)):
        if name in chosen:
            _undo.pop(name)()


def applied() -> tuple[str, ...]:
    return tuple(_undo)


@contextlib.contextmanager
def patched(*names: str) -> Iterator[tuple[str, ...]]:
    """Applies the allowed ``names`` for the block; undoes those it applied, even on error."""
    new = [name for name in allowed(names) if name not in _undo]
    install(new)
    try:
        yield tuple(new)
    finally:
        uninstall(new)


def imports_without_gc() -> contextlib.AbstractContextManager:
    return patched("gc_paused_imports")


def exit_fast(code: int) -> NoReturn:
    """Ends the process with ``code``: ``fast_exit`` when allowed, else a normal ``sys.exit``."""
    if not allowed(["fast_exit"]):
        sys.exit(code)
    import atexit
    import os
    import threading

    threading._shutdown()  # type: ignore[attr-defined]  # what Py_FinalizeEx calls first
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed or broken stream
            stream.flush()
    os._exit(code)
