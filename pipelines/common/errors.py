"""One base class for every error a user can cause and fix.

A ``ClickflowError`` carries a message that names the flag, file or field and what was expected;
entry points print it as ``error: <message>`` and exit non-zero, never with a traceback. Errors
that are bugs stay ordinary exceptions.
"""

from __future__ import annotations


class ClickflowError(Exception):
    """Bad input or configuration; the message says which and what is expected."""


class ConfigError(ClickflowError, ValueError):
    """A setting, flag or configuration field that cannot be used."""
