"""``python -m pipelines.predict.beam_job --input URI --output URI --model URI [Beam flags]``.

Batch scoring as a Beam job, for inputs too large for one machine: on Dataflow with
``--runner DataflowRunner --project P --region R --temp_location gs://B/tmp`` (and
``--sdk_container_image`` = the pipeline image, so workers import this code), on the
DirectRunner by default. It writes what ``python -m pipelines.predict`` writes: the same rows
(input columns, ``row``, ``probability``, ``clicked``, ``model_version``) in
``part-NNNNN.parquet`` shards and ``predictions.json`` with the same fields.

Before the job starts, the model is loaded, the output checked (a non-empty one is refused) and
the input planned (``plan.plan_input``: the files, their schema, each one's first row); any of
them wrong is one ``error:`` line and exit status 2, with nothing written. The job:
Create(files) -> Reshuffle (files spread over workers) -> ScoreFile (reads a file in Arrow
batches, scores each with the model loaded once per worker) -> WriteToParquetBatched into a
hidden staging prefix beside ``--output``. When the job has succeeded the shards are renamed
``part-NNNNN.parquet`` under ``--output`` and ``predictions.json`` is written last: a reader
that sees the manifest sees every shard. A failed job removes its staging (exit status 1).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import apache_beam as beam
import pyarrow as pa

from pipelines.common import safe_parquet, storage
from pipelines.common.argtypes import positive_int
from pipelines.common.errors import ClickflowError

METRICS = "clickflow.predict"
STAGED_PREFIX = "shard"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m pipelines.predict.beam_job",
        description="Score a file or a span folder (local or gs://) with a pushed model, as a "
        "Beam job, into Parquet shards.",
        epilog="Every other flag goes to Beam, e.g. --runner DataflowRunner --project P "
        "--region R --temp_location gs://BUCKET/tmp (default: the DirectRunner).",
    )
    p.add_argument(
        "--input",
        type=storage.location,
        required=True,
        help="a .csv/.parquet file with the ad-click columns (the label is optional), or a "
        "folder of span-NNNNN/ Parquet spans; local or gs://",
    )
    p.add_argument(
        "--output",
        type=storage.location,
        required=True,
        help="a new (or empty) folder or gs:// prefix for part-NNNNN.parquet and predictions.json",
    )
    p.add_argument(
        "--model",
        type=storage.location,
        required=True,
        help="the Pusher's folder (its newest complete version is used) or one numeric "
        "version folder; local or gs://",
    )
    p.add_argument(
        "--batch-rows", type=positive_int, default=65_536, help="rows scored per model call"
    )
    return p


class ScoreFile(beam.DoFn):
    """One input file -> Arrow tables of scored rows, numbered from the file's first row."""

    def __init__(self, model_path: str, model_version: int, plan: Any, batch_rows: int):
        self._model = (model_path, model_version)
        self._fmt, self._schema, self._mapping = plan.fmt, plan.schema, plan.mapping
        self._batch_rows = batch_rows
        self._scorer = None

    def setup(self) -> None:
        safe_parquet.guard()  # every process that reads Parquet (CVE-2023-47248)
        from models.bootstrap import bootstrap

        bootstrap(verbose=False, autograph=False)
        from pipelines.predict.model import ModelVersion, Scorer

        self._scorer = Scorer(ModelVersion(*self._model))  # once per worker, not per file
        self._rows = beam.metrics.Metrics.counter(METRICS, "rows")
        self._unscored = beam.metrics.Metrics.counter(METRICS, "unscored")

    def process(self, file: Any):
        from pipelines.predict import batch, plan

        first = file.first_row
        for part in plan.read_batches(file.uri, self._fmt, self._schema, self._batch_rows):
            out, missing = batch.predict_batch(part, self._mapping, self._scorer, first)
            first += part.num_rows
            self._rows.inc(part.num_rows)
            self._unscored.inc(missing)
            yield pa.Table.from_batches([out])


def staging_for(output: storage.Location) -> storage.Location:
    """A hidden sibling of ``output``, unique to this job."""
    name = f".{storage.name_of(output)}.partial-{uuid.uuid4().hex[:12]}"
    if storage.is_gcs(output):
        return f"{str(output).rstrip('/').rsplit('/', 1)[0]}/{name}"
    return Path(output).resolve().parent / name


def run_job(
    plan: Any, version: Any, staging: storage.Location, batch_rows: int, beam_args: list[str]
) -> tuple[int, int]:
    """Runs the Beam job into ``staging``; (rows, unscored rows) from its counters."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.predict import batch

    storage.make_dirs(staging)
    p = beam.Pipeline(options=PipelineOptions(beam_args))
    _ = (
        p
        | "Files" >> beam.Create(list(plan.files))
        | "Spread" >> beam.Reshuffle()
        | "Score" >> beam.ParDo(ScoreFile(str(version.path), version.version, plan, batch_rows))
        | "Write"
        >> beam.io.parquetio.WriteToParquetBatched(
            str(storage.join(staging, STAGED_PREFIX)),
            schema=batch.output_schema(plan.schema),
            codec="snappy",
            file_name_suffix=".parquet",
        )
    )
    result = p.run()
    result.wait_until_finish()
    counts = {"rows": 0, "unscored": 0}
    for found in result.metrics().query(beam.metrics.MetricsFilter().with_namespace(METRICS))[
        "counters"
    ]:
        value = found.committed if found.committed is not None else found.attempted
        counts[found.key.metric.name] += value
    return counts["rows"], counts["unscored"]


def finalize(staging: storage.Location, output: storage.Location, manifest: dict) -> dict:
    """Staged shards -> ``output/part-NNNNN.parquet``, then ``predictions.json``, last."""
    from pipelines.predict import batch

    staged = sorted(
        (e for e in storage.list_dir(staging) if e.name.startswith(STAGED_PREFIX + "-")),
        key=lambda e: e.name,
    )
    manifest = {**manifest, "shards": [f"part-{i:05d}.parquet" for i in range(len(staged))]}
    text = json.dumps(manifest, indent=2) + "\n"
    if not storage.is_gcs(output):  # one rename of the whole folder, as the local command
        for entry, name in zip(staged, manifest["shards"], strict=True):
            storage.rename(entry.location, storage.join(staging, name))
        storage.write_text(storage.join(staging, batch.MANIFEST), text)
        storage.remove_empty_dir(output)  # empty, checked before the job
        Path(staging).rename(output)
        return manifest
    for entry, name in zip(staged, manifest["shards"], strict=True):
        storage.rename(entry.location, storage.join(output, name))
    storage.write_text(storage.join(output, batch.MANIFEST), text, if_absent=True)
    remove(staging)
    return manifest


def remove(staging: storage.Location) -> None:
    if storage.is_gcs(staging):
        for entry in storage.list_files(staging):
            storage.delete(entry.location)
    else:
        shutil.rmtree(staging, ignore_errors=True)


def _refuse_local_paths_on_dataflow(args: argparse.Namespace, beam_args: list[str]) -> None:
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    runner = PipelineOptions(beam_args).view_as(StandardOptions).runner or ""
    if "dataflow" not in runner.lower():
        return
    for flag in ("input", "output", "model"):
        where = getattr(args, flag)
        if not storage.is_gcs(where):
            raise ClickflowError(
                f"--{flag} {where}: a local path, but the job runs on Dataflow, whose "
                "workers read and write Cloud Storage only; give a gs:// URI"
            )


def main(argv: list[str] | None = None) -> int:
    args, beam_args = build_parser().parse_known_args(argv)
    safe_parquet.guard()
    from models.bootstrap import bootstrap

    bootstrap(verbose=False, autograph=False)
    from pipelines.predict import batch, model, plan

    try:
        _refuse_local_paths_on_dataflow(args, beam_args)
        version = model.find_version(args.model)
        batch.check_output(args.output)
        scorer = model.Scorer(version)  # the model's inputs, and a model that loads
        job_plan = plan.plan_input(args.input, tuple(scorer.inputs))
    except (ClickflowError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"Scoring {job_plan.input_name} ({len(job_plan.files)} file(s)) with {version.path} "
        f"(version {version.version}) as a Beam job ...",
        flush=True,
    )
    started = time.perf_counter()
    staging = staging_for(args.output)
    try:
        rows, unscored = run_job(job_plan, version, staging, args.batch_rows, beam_args)
        manifest = finalize(
            staging,
            args.output,
            batch.build_manifest(
                model=version.path,
                model_version=version.version,
                input_name=job_plan.input_name,
                rows=rows,
                unscored=unscored,
                shards=[],
                seconds=time.perf_counter() - started,
            ),
        )
    except Exception as err:  # the job's failure, reported; its staging never left behind
        remove(staging)
        first = (str(err).strip().splitlines() or [""])[0]
        print(f"error: the Beam job failed: {type(err).__name__}: {first}", file=sys.stderr)
        return 1
    print(
        f"Scored {manifest['scored']:,} of {manifest['rows']:,} rows: "
        f"{len(manifest['shards'])} shard(s) in {args.output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
