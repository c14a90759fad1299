"""Tests for TF Serving JSON <-> arrays conversion and its error messages."""

from __future__ import annotations

import base64
import functools

import numpy as np
import pytest

from deployment.server import convert
from deployment.server.convert import RequestError, TensorSpec

SPECS = {
    "Age": TensorSpec("int64", (None,)),
    "AreaIncome": TensorSpec("float32", (None,)),
    "City": TensorSpec("string", (None,)),
}


def test_row_format_to_arrays() -> None:
    inputs, count = convert.instances_to_inputs(
        [{"Age": 35, "AreaIncome": 55000, "City": "Paris"},
         {"Age": 41.0, "AreaIncome": 1.5, "City": {"b64": base64.b64encode(b"\xff").decode()}}],
        SPECS, "serving_default", 10)
    assert count == 2
    assert inputs["Age"].dtype == np.int64 and inputs["Age"].tolist() == [35, 41]
    assert inputs["AreaIncome"].dtype == np.float32
    assert inputs["City"].tolist() == [b"Paris", b"\xff"]


def test_columnar_format_to_arrays() -> None:
    inputs, count = convert.columns_to_inputs(
        {"Age": [35, 41], "AreaIncome": [1.0, 2.0], "City": ["a", "b"]}, SPECS, "s", 10)
    assert count == 2 and inputs["City"].tolist() == [b"a", b"b"]


@pytest.mark.parametrize(("instances", "message"), [
    ([{"AreaIncome": 1.0, "City": "a"}], r"instances\[0\] is missing input 'Age'"),
    ([{"Age": 1, "AreaIncome": 1.0, "City": "a", "Agee": 1}],
     r"instances\[0\] has unknown input 'Agee'"),
    ([{"Age": 1, "AreaIncome": 1.0, "City": "a"}, {"Age": "x", "AreaIncome": 1.0, "City": "a"}],
     r"instances\[1\]: input 'Age' expects an integer \(int64\), got \"x\""),
    ([{"Age": 1.5, "AreaIncome": 1.0, "City": "a"}], r"input 'Age' expects an integer"),
    ([{"Age": True, "AreaIncome": 1.0, "City": "a"}], r"input 'Age' expects an integer"),
    ([{"Age": 1, "AreaIncome": "1", "City": "a"}], r"input 'AreaIncome' expects a number"),
    ([{"Age": 1, "AreaIncome": 1.0, "City": 3}], r"input 'City' expects a string"),
    ([{"Age": [1, 2], "AreaIncome": 1.0, "City": "a"}], r"'Age' expects one value per instance"),
    ([{"Age": 1, "AreaIncome": 1.0, "City": {"b64": "%%"}}], r"'City': b64 value is not valid"),
    ([[1, 2]], r"instances\[0\] must be an object of named inputs"),
    ([], "no instances"),
    ({"Age": 1}, "'instances' must be a list"),
])
def test_row_format_errors_name_the_field(instances: object, message: str) -> None:
    with pytest.raises(RequestError, match=message) as err:
        convert.instances_to_inputs(instances, SPECS, "serving_default", 10)
    assert err.value.status == 400


@pytest.mark.parametrize(("columns", "message"), [
    ({"Age": [1, 2], "AreaIncome": [1.0], "City": ["a", "b"]},
     "'AreaIncome' has 1 values but 'Age' has 2"),
    ({"Age": [1], "AreaIncome": [1.0]}, "missing input 'City'"),
    ({"Age": [1], "AreaIncome": [1.0], "City": ["a"], "x": [1]}, "unknown input 'x'"),
    ({"Age": 1, "AreaIncome": [1.0], "City": ["a"]}, "'Age' must be a list"),
    ({"Age": ["1"], "AreaIncome": [1.0], "City": ["a"]}, r"'Age'\[0\] expects an integer"),
])
def test_columnar_errors_name_the_field(columns: dict, message: str) -> None:
    with pytest.raises(RequestError, match=message):
        convert.columns_to_inputs(columns, SPECS, "serving_default", 10)


def test_too_many_instances() -> None:
    rows = [{"Age": 1, "AreaIncome": 1.0, "City": "a"}] * 4
    with pytest.raises(RequestError, match=r"4 instances; at most 3.*--max-instances"):
        convert.instances_to_inputs(rows, SPECS, "s", 3)
    with pytest.raises(RequestError, match="4 instances; at most 3"):
        convert.columns_to_inputs({"Age": [1] * 4, "AreaIncome": [1.0] * 4, "City": ["a"] * 4},
                                  SPECS, "s", 3)


def test_single_input_signature_takes_bare_values_and_fixed_shapes() -> None:
    examples = {"examples": TensorSpec("string", (None,))}
    encoded = base64.b64encode(b"\x00\x01").decode()
    inputs, _ = convert.instances_to_inputs([{"b64": encoded}, "text"], examples, "s", 5)
    assert inputs["examples"].tolist() == [b"\x00\x01", b"text"]
    inputs, _ = convert.columns_to_inputs([{"b64": encoded}], examples, "s", 5)
    assert inputs["examples"].tolist() == [b"\x00\x01"]
    vector = {"x": TensorSpec("float32", (None, 2))}
    inputs, count = convert.instances_to_inputs([[1, 2], [3, 4]], vector, "s", 5)
    assert count == 2 and inputs["x"].shape == (2, 2)
    with pytest.raises(RequestError, match=r"instances\[1\]: input 'x' expects a list of 2"):
        convert.instances_to_inputs([[1, 2], [3]], vector, "s", 5)


def test_outputs_rows_and_columns() -> None:
    outputs = {"probability": np.array([0.3, 0.7], np.float32),
               "clicked": np.array([0, 1], np.int64)}
    assert convert.outputs_to_rows(outputs, 2) == [
        {"probability": 0.3, "clicked": 0}, {"probability": 0.7, "clicked": 1}]
    assert convert.outputs_to_columns(outputs) == {"probability": [0.3, 0.7], "clicked": [0, 1]}
    single = {"probability": np.array([0.25], np.float32)}
    assert convert.outputs_to_rows(single, 1) == [0.25]
    assert convert.outputs_to_columns(single) == [0.25]
    strings = {"label": np.array([b"yes", b"\xff"], dtype=object),
               "raw_bytes": np.array([b"ok"], dtype=object)}
    assert convert.outputs_to_columns(strings) == {
        "label": ["yes", {"b64": "/w=="}], "raw_bytes": [{"b64": "b2s="}]}


def test_classify_results() -> None:
    outputs = {"classes": np.array([[b"0", b"1"]], dtype=object),
               "scores": np.array([[0.75, 0.25]], np.float32)}
    assert convert.classify_results(outputs) == [[["0", 0.75], ["1", 0.25]]]


def test_make_example_types_by_spec_and_json() -> None:
    from tensorflow.core.example import example_pb2

    specs = {"AreaIncome": TensorSpec("float32", (None,))}
    example = example_pb2.Example.FromString(convert.make_example(
        {"AreaIncome": 55000, "Age": 35, "City": "Paris", "Tags": ["a", "b"]}, specs))
    feature = example.features.feature
    assert list(feature["AreaIncome"].float_list.value) == [55000.0]
    assert list(feature["Age"].int64_list.value) == [35]
    assert list(feature["City"].bytes_list.value) == [b"Paris"]
    assert list(feature["Tags"].bytes_list.value) == [b"a", b"b"]
    with pytest.raises(RequestError, match="feature 'AreaIncome' expects a number"):
        convert.make_example({"AreaIncome": "lots"}, specs)


def test_examples_validated_against_features() -> None:
    specs = {"Age": TensorSpec("int64", (None,)), "City": TensorSpec("string", (None,))}
    serialized, merged = convert.examples_to_serialized(
        [{"Age": 3}], {"City": "Paris"}, specs, 5)
    assert len(serialized) == 1 and merged == [{"City": "Paris", "Age": 3}]
    with pytest.raises(RequestError, match=r"examples\[0\] is missing feature 'City'"):
        convert.examples_to_serialized([{"Age": 3}], None, specs, 5)
    with pytest.raises(RequestError, match=r"examples\[0\] has unknown feature 'Cty'"):
        convert.examples_to_serialized([{"Age": 3, "City": "a", "Cty": "b"}], None, specs, 5)


def test_tf_error_message_keeps_the_useful_line() -> None:
    err = ValueError("Graph execution error:\n\nDetected at node Foo defined at:\n"
                     "<stack traces unavailable>\nStringToNumberOp could not convert 'x'\n"
                     "\t [[{{node Foo}}]] [Op:__inference_1]")
    assert convert.tf_error_message(err) == "StringToNumberOp could not convert 'x'"


@pytest.mark.parametrize(("value", "message"), [
    (float("nan"), "input 'AreaIncome' is nan; expects a finite number (float32)"),
    (float("inf"), "is inf; expects a finite number"),
    (float("-inf"), "is -inf; expects a finite number"),
    ("NaN", "is \"NaN\"; expects a finite number"),
    ("Infinity", "is \"Infinity\"; expects a finite number"),
    (1e39, "is 1e+39, out of range for float32"),
    (-(10**40), "out of range for float32"),
])
def test_non_finite_and_out_of_range_floats_are_rejected(value: object, message: str) -> None:
    row = {"Age": 1, "AreaIncome": value, "City": "a"}
    with pytest.raises(RequestError) as err:
        convert.instances_to_inputs([row], SPECS, "s", 5)
    assert message in err.value.message and err.value.status == 400
    assert err.value.message.startswith("instances[0]: input 'AreaIncome'")
    with pytest.raises(RequestError, match="feature 'AreaIncome'"):
        convert.make_example({"AreaIncome": value}, SPECS)


def test_float64_input_takes_what_float32_cannot() -> None:
    wide = {"x": TensorSpec("float64", (None,))}
    inputs, _ = convert.instances_to_inputs([1e39], wide, "s", 5)
    assert inputs["x"].tolist() == [1e39]
    with pytest.raises(RequestError, match="is inf; expects a finite number"):
        convert.instances_to_inputs([float("inf")], wide, "s", 5)


WIDE_SPECS = {
    "i64": TensorSpec("int64", (None,)), "i32": TensorSpec("int32", (None,)),
    "u8": TensorSpec("uint8", (None,)), "f32": TensorSpec("float32", (None,)),
    "f64": TensorSpec("float64", (None,)), "f16": TensorSpec("float16", (None,)),
    "s": TensorSpec("string", (None,)),
}
GOOD = {"i64": [0, -2**63, 2**63 - 1], "i32": [-2**31, 2**31 - 1, 7], "u8": [0, 255, 1],
        "f32": [0.1, 16777215, -3.4e38], "f64": [2**53 - 1, 1e300, -0.0],
        "f16": [65504.0, 1, 0.5], "s": ["", "Paris", "é"]}
# Each is refused by the per-value rules (`scalar`), so the column must not take the fast path.
BAD = [("i32", 2**31), ("u8", -1), ("u8", 256), ("i64", 2**63), ("i64", True), ("i64", "1"),
       ("f32", 16777217), ("f32", 3.5e38), ("f32", float("nan")), ("f64", float("inf")),
       ("f16", 65520.0), ("f32", False), ("f32", None), ("s", 1), ("s", None)]
# Accepted per value but only there: the fast path hands them over.
RARE = [("i64", 3.0), ("s", {"b64": "/w=="})]


def _slow(monkeypatch: pytest.MonkeyPatch, call, *args):
    with monkeypatch.context() as patched:
        patched.setattr(convert, "_fast_instances", lambda *a: None)
        patched.setattr(convert, "_fast_column", lambda *a: None)
        return call(*args)


def _outcome(call, *args):
    try:
        inputs, count = call(*args)
    except RequestError as err:
        return "refused", err.message
    return count, {name: (array.dtype, array.tolist()) for name, array in inputs.items()}


@pytest.mark.parametrize("change", [None, *BAD, *RARE], ids=str)
def test_the_numpy_fast_path_converts_and_refuses_as_the_per_value_path(
        change, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whole columns are checked in numpy when every value is plain (the batched requests'
    cost was one Python call per value); the arrays, and every refusal with its message, are
    the per-value path's."""
    columns = {name: list(values) for name, values in GOOD.items()}
    if change is not None:
        columns[change[0]][1] = change[1]
    rows = [{name: columns[name][i] for name in columns} for i in range(3)]
    for call, body in ((convert.instances_to_inputs, rows),
                       (convert.columns_to_inputs, columns)):
        args = (body, WIDE_SPECS, "serving_default", 10)
        fast = _outcome(call, *args)
        slow = _outcome(functools.partial(_slow, monkeypatch, call), *args)
        assert fast == slow
        assert (fast[0] == "refused") == (change in BAD), fast
