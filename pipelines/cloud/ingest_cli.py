"""The command line of ``python -m pipelines.cloud.ingest`` (see ``pipelines.cloud.ingest``)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

from pipelines.cloud.config import load_cloud_config
from pipelines.common.errors import ClickflowError

DEFAULT_FOLDER = "incoming"


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a day as YYYY-MM-DD, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m pipelines.cloud.ingest",
        description="Load one day of new data files (CSV or Parquet under "
                    "SOURCE/date=YYYY-MM-DD/) into the training table (the config's "
                    "bigquery_table) as that day's partition. The files are checked first; "
                    "loading a day again replaces the day, so every file is loaded once.")
    p.add_argument("--config", type=Path,
                   help="YAML file of cloud settings (see configs/cloud.example.yaml); "
                        "CLICKFLOW_<SETTING> environment variables override it")
    p.add_argument("--day", type=_day, required=True, help="the day to load, YYYY-MM-DD (UTC)")
    p.add_argument("--source",
                   help=f"gs:// folder holding the date=YYYY-MM-DD/ folders (default: "
                        f"gs://<bucket>/{DEFAULT_FOLDER}/)")
    p.add_argument("--endpoint",
                   help="send BigQuery and Cloud Storage calls to this address without "
                        "credentials (a local fake or emulator), instead of Google Cloud")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from pipelines.cloud import ingest

        config = load_cloud_config(args.config)
        source = args.source or f"gs://{config.bucket}/{DEFAULT_FOLDER}/"
        bq, storage = ingest.make_clients(config.project, endpoint=args.endpoint)
        result = ingest.load_day(bq, storage, config.bigquery_table, source, args.day)
    except ClickflowError as err:
        print(f"error: {err}")
        return 2
    except Exception as err:  # a client or network error, shown without a trace
        from pipelines.cloud.ingest import client_errors

        if not isinstance(err, client_errors()):
            raise
        print(f"error: {type(err).__name__}: {err}")
        return 1
    what = "was already loaded by" if result.already_loaded else "loaded by"
    print(f"{config.bigquery_table}${result.partition}: {result.rows} rows from "
          f"{len(result.files)} file(s) {what} job {result.job_id}")
    print(json.dumps(result.as_dict()))
    return 0
