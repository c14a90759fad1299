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

from pipelines.common.argtypes import positive_int
from pipelines.data import generator


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
        cmd.add_argument("--rows", required=True, type=positive_int, help="rows to write")
        cmd.add_argument("--seed", default=0, type=int, help="random seed (>= 0)")
        cmd.add_argument(
            "--chunk-rows",
            default=generator.DEFAULT_CHUNK_ROWS,
            type=positive_int,
            help="rows generated per batch / Parquet row group",
        )
        cmd.add_argument(
            "--mode",
            default=generator.DEFAULT_MODE,
            choices=generator.MODES,
            help="default: a known logistic ground truth; real-like: the public data's traits "
                 "(near-unique City and AdTopicLine, signal only in the numeric columns)",
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.seed < 0:
        parser.error(f"argument --seed: expected a number >= 0, got {args.seed}")
    began = time.perf_counter()
    if args.command == "append":
        span, path = generator.append_span(args.data_dir, args.rows, args.seed,
                                           chunk_rows=args.chunk_rows, mode=args.mode)
        what = f"span {span} to {path}"
    else:
        path = generator.write_csv(args.out, args.rows, args.seed, chunk_rows=args.chunk_rows,
                                   mode=args.mode)
        what = f"CSV {path}"
    seconds = time.perf_counter() - began
    rate = args.rows / seconds if seconds > 0 else math.inf
    print(f"wrote {what}: {args.rows} rows in {seconds:.2f} s ({rate:,.0f} rows/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
