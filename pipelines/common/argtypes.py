"""Argument types shared by the command-line tools, so every tool words its flag errors alike."""

from __future__ import annotations

import argparse


def positive_int(value: str) -> int:
    """A whole number >= 1 (argparse names the flag in front of the message)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {number}")
    return number
