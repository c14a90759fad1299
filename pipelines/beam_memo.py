"""Memoized introspection for Apache Beam's in-process runs.

Building and translating a Beam pipeline asks the same questions over and over, and Beam
recomputes every answer. Over one 1,000-row run of our graph (four Beam pipelines):

- DoFn signatures: ``userstate.get_dofn_specs`` walks ``dir(dofn)`` and calls
  ``inspect.signature`` on each method, each time a DoFn is built, translated or validated:
  ~165,000 ``inspect.signature`` calls, ~7 s, for answers fixed when the function was defined.
- Options views: ``Pipeline.apply`` calls ``options.view_as(TypeOptions)`` two or three times per
  transform, and each call builds an argparse parser and re-parses the flags: ~2 s.

``install()`` memoizes both, weakly keyed (per function, per options object), so nothing is kept
alive. Only answers that cannot change are reused:

- signatures of plain Python functions and of methods bound to them (anything else: builtins,
  partials, callable objects, goes to Beam every time), returned as fresh lists as Beam's are;
- an options view, while the options object keeps the same flags and option values object
  (a view holds no state of its own: reads and writes go to the shared option values).
"""

from __future__ import annotations

import types
import weakref
from collections.abc import Callable
from typing import Any

ArgsDefaults = tuple[list[str], list[Any]]


def cached_args_defaults(original: Callable[[Any], ArgsDefaults]) -> Callable[[Any], ArgsDefaults]:
    """``original`` (Beam's ``get_function_args_defaults``) with a per-function cache."""
    plain: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
    bound: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def get_function_args_defaults(f: Any) -> ArgsDefaults:
        if isinstance(f, types.MethodType) and isinstance(f.__func__, types.FunctionType):
            cache, func = bound, f.__func__  # a bound method's signature drops the first param
        elif isinstance(f, types.FunctionType):
            cache, func = plain, f
        else:
            return original(f)
        hit = cache.get(func)
        if hit is None:
            args, defaults = original(f)
            hit = cache[func] = (tuple(args), tuple(defaults))
        return list(hit[0]), list(hit[1])

    get_function_args_defaults.__wrapped_beam__ = original  # type: ignore[attr-defined]
    return get_function_args_defaults


def cached_view_as(original: Callable[[Any, type], Any]) -> Callable[[Any, type], Any]:
    """``original`` (``PipelineOptions.view_as``) answering repeated calls with the same view."""
    views: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def view_as(self: Any, cls: type) -> Any:
        per_class = views.get(self)
        if per_class is None:
            per_class = views[self] = {}
        hit = per_class.get(cls)
        if (hit is not None and hit[0] is self._flags
                and hit[1]._all_options is self._all_options):
            return hit[1]
        view = original(self, cls)
        per_class[cls] = (self._flags, view)
        return view

    view_as.__wrapped_beam__ = original  # type: ignore[attr-defined]
    return view_as


def install() -> None:
    """Makes Beam's signature inspection and options views memoized in this process.

    Idempotent. Called by the local runner before the pipeline runs; see the module docstring.
    """
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.transforms import core

    if not hasattr(core.get_function_args_defaults, "__wrapped_beam__"):
        core.get_function_args_defaults = cached_args_defaults(core.get_function_args_defaults)
    if not hasattr(PipelineOptions.view_as, "__wrapped_beam__"):
        PipelineOptions.view_as = cached_view_as(PipelineOptions.view_as)
