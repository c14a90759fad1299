"""Argument types shared by the command-line tools, so every tool words its flag errors alike."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def at_least(kind: type[int] | type[float], minimum: float) -> Callable[[str], int | float]:
    """An argparse type: a number of ``kind`` that is >= ``minimum`` (argparse names the flag
    in front of the message)."""
    expected = "a whole number" if kind is int else "a number"

    def parse(text: str) -> int | float:
        try:
            number = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if number != number or number < minimum:  # NaN is never a valid setting
            raise argparse.ArgumentTypeError(f"expected a number >= {minimum}, got {number}")
        return number

    parse.__name__ = kind.__name__  # argparse's "invalid int value" wording for other errors
    return parse


positive_int = at_least(int, 1)
"""A whole number >= 1."""
