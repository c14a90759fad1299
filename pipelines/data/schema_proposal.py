"""`make schema`: a TFDV schema proposal from the current data, for a person to review.

The pipeline never infers its schema: it imports the curated ``schema/schema.pbtxt``. This command
infers a fresh one with TFDV from the data (the same query the pipeline runs), writes it next to
the workspace, and reports how the data compares with the curated schema, so that a reviewer can
decide what to change by hand.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from models.bootstrap import bootstrap
from pipelines.common import names
from pipelines.data import inputs
from pipelines.data import source as data_source

DEFAULT_OUT = names.WORKSPACE / "schema_proposal" / "schema.pbtxt"
CURATED = names.SCHEMA_FILE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data", type=Path, default=names.DEFAULT_DATA_DIR,
                        help="a .csv/.parquet file or a folder of span-NNNNN/ spans")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the proposal")
    parser.add_argument("--max-rows", type=int, default=200_000,
                        help="rows read for the statistics (a sample of large data)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        data = inputs.resolve_data(args.data)
    except data_source.DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    bootstrap(autograph=False)
    import pyarrow as pa
    import tensorflow_data_validation as tfdv

    source = data_source.SourceFiles(data.files, "parquet" if data.kind == "spans" else data.kind)
    query = data_source.load_query() + f"\nLIMIT {int(args.max_rows)}"
    table = pa.Table.from_batches(list(data_source.query_batches(source, query)))
    stats = tfdv.generate_statistics_from_dataframe(table.to_pandas())
    proposal = tfdv.infer_schema(stats)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tfdv.write_schema_text(proposal, str(args.out))
    print(f"Proposed schema from {table.num_rows:,} rows written to {args.out}")
    curated = tfdv.load_schema_text(str(CURATED))
    anomalies = tfdv.validate_statistics(stats, curated)
    if anomalies.anomaly_info:
        print(f"The data does NOT fit the curated {CURATED.relative_to(names.REPO_ROOT)}:")
        for feature, info in sorted(anomalies.anomaly_info.items()):
            print(f"  {feature}: {info.description or info.short_description}")
    else:
        print(f"The data fits the curated {CURATED.relative_to(names.REPO_ROOT)}.")
    diff = list(difflib.unified_diff(
        CURATED.read_text().splitlines(), args.out.read_text().splitlines(),
        "schema/schema.pbtxt (curated)", str(args.out), lineterm="", n=1))
    print(f"{len(diff)} lines of difference; review with: diff -u {CURATED} {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
