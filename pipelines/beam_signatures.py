"""Memoized DoFn signature inspection for Apache Beam's in-process runs.

Beam inspects the signature of every method of a DoFn each time it builds, translates or
validates it (``userstate.get_dofn_specs`` walks ``dir(dofn)`` and calls ``inspect.signature``
on each method), many times per transform. Over one 1,000-row run of our graph that is ~165,000
``inspect.signature`` calls and ~7 s of a ~40 s run, for answers that never change: a function's
parameters and defaults are fixed when it is defined.

``install()`` wraps ``apache_beam.transforms.core.get_function_args_defaults`` with a cache
keyed by the function object (weakly, so per-pipeline lambdas are not kept alive). Only plain
Python functions and methods bound to them are cached; anything else (builtins, partials,
callable objects) goes to Beam's own function every time. Results are returned as fresh lists,
as Beam's are, so a caller that changes them changes nothing cached.
"""

from __future__ import annotations

import types
import weakref
from collections.abc import Callable
from typing import Any

ArgsDefaults = tuple[list[str], list[Any]]


def cached(original: Callable[[Any], ArgsDefaults]) -> Callable[[Any], ArgsDefaults]:
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


def install() -> None:
    """Makes Beam's signature inspection memoized in this process (idempotent)."""
    from apache_beam.transforms import core

    if not hasattr(core.get_function_args_defaults, "__wrapped_beam__"):
        core.get_function_args_defaults = cached(core.get_function_args_defaults)
