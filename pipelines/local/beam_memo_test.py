"""Tests for the memoized Beam introspection: the same answers as Beam's, computed once."""

from __future__ import annotations

import functools

import apache_beam as beam
from apache_beam.options.pipeline_options import (
    DirectOptions,
    PipelineOptions,
    StandardOptions,
    TypeOptions,
)
from apache_beam.transforms import core, userstate
from apache_beam.transforms.userstate import BagStateSpec

from pipelines.local import beam_memo

ORIGINAL_VIEW_AS = getattr(PipelineOptions.view_as, "__wrapped_beam__",
                           PipelineOptions.view_as)
ORIGINAL = getattr(core.get_function_args_defaults, "__wrapped_beam__",
                   core.get_function_args_defaults)


class _Stateful(beam.DoFn):
    SEEN = BagStateSpec("seen", beam.coders.VarIntCoder())

    def process(self, element, seen=beam.DoFn.StateParam(SEEN),  # noqa: B008 (Beam's API)
                ts=beam.DoFn.TimestampParam):
        seen.add(element[1])
        yield element[0], len(list(seen.read()))

    @classmethod
    def make(cls, a, b=2):
        return cls()


def _plain(a, b=1, *rest, c=3, **kw):
    return a


class _Callable:
    def __call__(self, x, y=5):
        return x


def _callables() -> list:
    dofn = _Stateful()
    return [_plain, lambda x, y=2: x, dofn.process, dofn.start_bundle, _Stateful.make,
            _Stateful.process, len, str.strip, functools.partial(_plain, 1), _Callable()]


def test_answers_are_beams_answers() -> None:
    cached = beam_memo.cached_args_defaults(ORIGINAL)
    for f in _callables():
        expected = ORIGINAL(f)
        assert cached(f) == expected, f
        assert cached(f) == expected, f  # from the cache the second time


def test_each_function_is_inspected_once_and_results_are_fresh_lists() -> None:
    calls = []

    def counting(f):
        calls.append(f)
        return ORIGINAL(f)

    cached = beam_memo.cached_args_defaults(counting)
    dofn_a, dofn_b = _Stateful(), _Stateful()
    for _ in range(3):
        args, defaults = cached(dofn_a.process)
        args.append("changed")
        defaults.clear()
    assert cached(dofn_b.process) == ORIGINAL(dofn_b.process)  # same function, other instance
    assert len(calls) == 1
    cached(_plain)
    cached(_plain)
    assert len(calls) == 2
    cached(len)
    cached(len)  # not a Python function: Beam's own answer each time
    assert len(calls) == 4


def test_options_views_are_reused_and_stay_live() -> None:
    view_as = beam_memo.cached_view_as(ORIGINAL_VIEW_AS)
    options = PipelineOptions(["--direct_num_workers=3", "--pipeline_type_check"])
    other = PipelineOptions([])
    for cls in (StandardOptions, TypeOptions, DirectOptions):
        fresh = ORIGINAL_VIEW_AS(options, cls)
        view = view_as(options, cls)
        assert view is view_as(options, cls)
        assert str(view) == str(fresh)  # every option of the view, with the same values
    assert view_as(options, DirectOptions).direct_num_workers == 3
    assert view_as(other, DirectOptions) is not view_as(options, DirectOptions)
    view_as(options, StandardOptions).runner = "SwitchingDirectRunner"
    assert view_as(options, StandardOptions).runner == "SwitchingDirectRunner"
    assert options.get_all_options()["runner"] == "SwitchingDirectRunner"
    assert ORIGINAL_VIEW_AS(options, StandardOptions).runner == "SwitchingDirectRunner"
    options._all_options = dict(options._all_options)  # replaced values: a new view
    assert view_as(options, StandardOptions)._all_options is options._all_options


class _Plain(beam.DoFn):
    def process(self, element):
        yield element


class _OwnProcess(beam.DoFn):
    """An instance whose process is a bound method chosen per instance."""

    def __init__(self, stateful: bool):
        super().__init__()
        self.process = (_Stateful() if stateful else _Plain()).process


def test_dofn_specs_are_beams_answers_reused_for_the_same_methods() -> None:
    original = getattr(userstate.get_dofn_specs, "__wrapped_beam__", userstate.get_dofn_specs)
    calls = []

    def counting(dofn):
        calls.append(type(dofn).__name__)
        return original(dofn)

    cached = beam_memo.cached_dofn_specs(counting)
    hooked = beam.FlatMap(_Plain().process).fn  # a bound method: Beam asks the instance
    cases = [_Stateful(), _Stateful(), _Plain(), _Plain(), _OwnProcess(True),
             _OwnProcess(False), _OwnProcess(True), beam.Map(len).fn, beam.Map(str).fn, hooked]
    for dofn in cases * 2:
        assert cached(dofn) == original(dofn), dofn
    assert calls.count("_Stateful") == 1 and calls.count("_Plain") == 1
    assert calls.count("_OwnProcess") == 2  # one per distinct process function
    assert calls.count("CallableWrapperDoFn") == 1 + 2  # Map(len) and Map(str) alike; hooked
    assert cached(_OwnProcess(True))[0] and not cached(_OwnProcess(False))[0]
    states, _ = cached(_Stateful())
    states.clear()  # a caller's copy
    assert cached(_Stateful())[0]
