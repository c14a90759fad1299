"""Command line of the synthetic data generator: ``python -m pipelines.data append|csv``.

``append`` writes the next span folder of generated Parquet files (``make data``), ``csv`` one
CSV file.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pipelines.data import generator


def _int_at_least(minimum: int) -> type:
    """Return an argparse type: an integer >= ``minimum`` (argparse names the flag in its error)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse  # type: ignore[return-value]


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line parser (subcommands ``append`` and ``csv``)."""
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.data",
        description="Generate synthetic ad-click data with a known ground truth.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    append = sub.add_parser("append", help="write the next span folder of Parquet files")
    append.add_argument("--data-dir", required=True, type=Path, help="folder holding the spans")
    csv = sub.add_parser("csv", help="write one CSV file")
    csv.add_argument("--out", required=True, type=Path, help="CSV file to write")
    for cmd in (append, csv):
        cmd.add_argument("--rows", required=True, type=_int_at_least(1), help="rows to write")
        cmd.add_argument("--seed", default=0, type=_int_at_least(0), help="random seed (>= 0)")
        cmd.add_argument(
            "--chunk-rows",
            default=generator.DEFAULT_CHUNK_ROWS,
            type=_int_at_least(1),
            help="rows generated per batch / Parquet row group",
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    began = time.perf_counter()
    if args.command == "append":
        span, path = generator.append_span(args.data_dir, args.rows, args.seed,
                                           chunk_rows=args.chunk_rows)
        what = f"span {span} to {path}"
    else:
        path = generator.write_csv(args.out, args.rows, args.seed, chunk_rows=args.chunk_rows)
        what = f"CSV {path}"
    seconds = time.perf_counter() - began
    rate = args.rows / seconds if seconds > 0 else math.inf
    print(f"wrote {what}: {args.rows} rows in {seconds:.2f} s ({rate:,.0f} rows/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
