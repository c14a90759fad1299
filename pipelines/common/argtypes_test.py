"""One wording for numeric flag errors in every command-line tool."""

from __future__ import annotations

import argparse

import pytest

from pipelines.common.argtypes import at_least, positive_int


def test_numbers_at_or_above_the_minimum_pass() -> None:
    assert positive_int("3") == 3
    assert at_least(int, 0)("0") == 0
    assert at_least(float, 0.05)("0.05") == pytest.approx(0.05)


@pytest.mark.parametrize(("parse", "text", "message"), [
    (positive_int, "many", "expected a whole number, got 'many'"),
    (positive_int, "2.5", "expected a whole number, got '2.5'"),
    (positive_int, "0", "expected a number >= 1, got 0"),
    (at_least(float, 0.05), "0.01", "expected a number >= 0.05, got 0.01"),
    (at_least(float, 0), "nan", "expected a number >= 0, got nan"),
    (at_least(float, 0), "fast", "expected a number, got 'fast'"),
])
def test_bad_values_say_what_was_expected(parse, text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="^" + message.replace(".", r"\.") + "$"):
        parse(text)


def test_argparse_names_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=at_least(int, 0))
    with pytest.raises(SystemExit):
        parser.parse_args(["--port", "-1"])
    assert "argument --port: expected a number >= 0, got -1" in capsys.readouterr().err
