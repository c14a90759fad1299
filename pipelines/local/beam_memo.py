"""Memoized introspection for Apache Beam's in-process runs.

Building and translating a Beam pipeline asks the same questions over and over, and Beam
recomputes every answer. Over one 1,000-row run of our graph (four Beam pipelines):

- DoFn signatures: ``userstate.get_dofn_specs`` walks ``dir(dofn)`` and calls
  ``inspect.signature`` on each method, each time a DoFn is built, translated or validated:
  ~5,000 walks and ~165,000 ``inspect.signature`` calls, ~8 s, for answers fixed when the
  class and its functions were defined.
- Options views: ``Pipeline.apply`` calls ``options.view_as(TypeOptions)`` two or three times per
  transform, and each call builds an argparse parser and re-parses the flags: ~2 s.

A private helper of ``pipelines/local/speedups.py``, which alone installs these (patches
``memo_dofn_signatures`` and ``memo_options_views``). Only answers that cannot change are reused:

- signatures of plain Python functions and of methods bound to them (anything else: builtins,
  partials, callable objects, goes to Beam every time), weakly keyed by the function and
  returned as fresh lists as Beam's are;
- a DoFn's state and timer specs, for the same methods backed by the same functions (see
  ``cached_dofn_specs`` for the exception);
- an options view, while the options object keeps the same flags and option values object
  (a view holds no state of its own: reads and writes go to the shared option values).
"""

from __future__ import annotations

import types
import weakref
from collections.abc import Callable
from typing import Any

ArgsDefaults = tuple[list[str], list[Any]]
Specs = tuple[set, set]  # (state specs, timer specs)


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
        args, defaults = _memo(cache, func, lambda: tuple(map(tuple, original(f))))
        return list(args), list(defaults)

    get_function_args_defaults.__wrapped_beam__ = original  # type: ignore[attr-defined]
    return get_function_args_defaults


def cached_dofn_specs(original: Callable[[Any], Specs]) -> Callable[[Any], Specs]:
    """``original`` (Beam's ``userstate.get_dofn_specs``) with a cache keyed by a DoFn's methods.

    Beam's answer is read off the parameter defaults of every method of the DoFn: ``dir(dofn)``,
    and for each bound method, ``inspect.signature`` of the function behind it. The walk over
    ``dir`` is kept (it is cheap, and it sees what Beam sees, instance attributes included);
    the answer is reused for the same (name, function) pairs. A DoFn whose methods have
    ``_inspect_<name>`` hooks (answers computed by the instance) goes to Beam every time.
    """
    cache: dict[tuple, tuple[frozenset, frozenset]] = {}

    def get_dofn_specs(dofn: Any) -> Specs:
        methods = []
        for name in dir(dofn):
            value = getattr(dofn, name, None)
            if isinstance(value, types.MethodType):
                if hasattr(dofn, "_inspect_" + name):
                    return original(dofn)
                methods.append((name, value.__func__))
        states, timers = _memo(cache, tuple(methods),
                               lambda: tuple(map(frozenset, original(dofn))))
        return set(states), set(timers)

    get_dofn_specs.__wrapped_beam__ = original  # type: ignore[attr-defined]
    return get_dofn_specs


def _memo(cache: Any, key: Any, compute: Callable[[], Any]) -> Any:
    hit = cache.get(key)
    if hit is None:
        hit = cache[key] = compute()
    return hit


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
