"""``python -m pipelines.demo``: the whole continuous-training loop on this machine."""

from __future__ import annotations

import sys

from pipelines.demo.cli import cli

if __name__ == "__main__":
    sys.exit(cli())
