"""``python -m pipelines.predict --input FILE_OR_SPANS --output DIR [--model DIR]``.

Scores every row of a CSV/Parquet file or a span folder with a pushed model (the newest version
under serving_model/clickflow by default) into Parquet shards (``DIR/part-NNNNN.parquet``) and
``DIR/predictions.json``. Exit status: 0 done, 2 bad input, a missing model or a bad flag.

Why a streaming loop of ours and not TFX's BulkInferrer: BulkInferrer takes an Examples
artifact and a Model artifact from ML Metadata (a pipeline run), scores serialized tf.Examples
and writes PredictionLog protos, without the input's other columns (a request id) and not as
Parquet. Here DuckDB streams the files, the SavedModel's own ``serving_default`` (raw columns,
as TF Serving is called) scores 65,536 rows at a time on all cores (TensorFlow's intra-op
threads), and pyarrow writes the shards: memory is bounded by one batch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipelines.common import names, safe_parquet
from pipelines.common.argtypes import positive_int
from pipelines.common.errors import ClickflowError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m pipelines.predict",
        description="Score a file or a span folder with a pushed model, into Parquet shards.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--model",
        type=Path,
        default=names.DEFAULT_SERVING_DIR / names.DEFAULT_MODEL_NAME,
        help="the Pusher's folder (its newest complete version is used) or one "
        "numeric version folder",
    )
    p.add_argument(
        "--input",
        type=Path,
        required=True,
        help="a .csv/.parquet file with the ad-click columns (the label is "
        "optional), or a folder of span-NNNNN/ Parquet spans",
    )
    p.add_argument(
        "--output",
        type=Path,
        required=True,
        help="a new (or empty) folder for part-NNNNN.parquet and predictions.json",
    )
    p.add_argument(
        "--batch-rows",
        type=positive_int,
        default=65_536,
        help="rows scored per model call (memory grows with it)",
    )
    p.add_argument(
        "--shard-rows", type=positive_int, default=1_000_000, help="most rows per Parquet shard"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    safe_parquet.guard()
    from models.bootstrap import bootstrap
    from pipelines.predict import batch, model

    try:
        version = model.find_version(args.model)
        batch.check_output(args.output)
        bootstrap(verbose=False, autograph=False)
        scorer = model.Scorer(version)
        data = batch.open_input(args.input, tuple(scorer.inputs))
        print(
            f"Scoring {args.input} with {version.path} (version {version.version}) ...", flush=True
        )
        manifest = batch.score_to(
            data, scorer, args.output, batch_rows=args.batch_rows, shard_rows=args.shard_rows
        )
    except ClickflowError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    note = (
        f"; {manifest['unscored_empty_input']:,} rows with an empty input got no prediction"
        if manifest["unscored_empty_input"]
        else ""
    )
    print(
        f"Scored {manifest['scored']:,} of {manifest['rows']:,} rows in "
        f"{manifest['seconds']:.1f} s{note}: {len(manifest['shards'])} shard(s) in "
        f"{args.output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
