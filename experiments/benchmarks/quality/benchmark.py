"""Runs the pipeline on each data set, then scores its model beside the baselines on its split.

Each pipeline run is a separate ``local_runner.py`` process on a fresh pipeline root, as
``pipeline_benchmark.py`` runs it (the way a user runs it). The benchmark then reads that run's
split and Trainer model back through ML Metadata (``run_split``), fits the baselines on the
train split, and scores every model on the eval split (``scores``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from experiments.benchmarks.quality import baselines, run_split, scores

REPO = Path(__file__).resolve().parents[3]
PIPELINE = "pipeline"
MIN_ROWS, MAX_ROWS = 1_000, 10_000


def _rows(value: str) -> int:
    try:
        rows = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if not MIN_ROWS <= rows <= MAX_ROWS:
        raise argparse.ArgumentTypeError(
            f"expected {MIN_ROWS:,} to {MAX_ROWS:,} rows (each data set is a full pipeline "
            f"run), got {rows:,}")
    return rows


def _data_file(value: str) -> Path:
    path = Path(value)
    if path.suffix.lower() not in (".csv", ".parquet") or not path.is_file():
        raise argparse.ArgumentTypeError(f"expected an existing .csv or .parquet file, got {value}")
    return path.resolve()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="make bench-quality",
        description="The pipeline's model beside logistic regression and gradient boosting, "
                    "on the very train/eval split the pipeline made.")
    p.add_argument("--rows", type=_rows, default=MIN_ROWS,
                   help="rows of each generated data set")
    p.add_argument("--seed", type=int, default=42, help="seed of the generated data sets")
    p.add_argument("--data", type=_data_file, action="append", default=[],
                   help="also a CSV/Parquet file with the ad-click columns (repeatable)")
    p.add_argument("--only-data", action="store_true",
                   help="skip the generated data sets (needs --data)")
    p.add_argument("--runner-arg", action="append", default=[], metavar="ARG",
                   help="passed on to local_runner.py, e.g. --runner-arg=--train-steps=600")
    p.add_argument("--work-dir", type=Path, default=None,
                   help="where data, pipeline roots and quality.json go (default: a new "
                        "temporary folder)")
    return p


def _generate(folder: Path, rows: int, seed: int, mode: str, env: dict[str, str]) -> Path:
    subprocess.run([sys.executable, "-m", "pipelines.data", "append", "--data-dir", str(folder),
                    "--rows", str(rows), "--seed", str(seed), "--mode", mode],
                   cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
    return folder


def _run_pipeline(data: Path, root: Path, extra: Sequence[str], env: dict[str, str]
                  ) -> tuple[float, str | None]:
    """(wall seconds, None or why it failed) of one local_runner.py process."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: a chatty child cannot block
        done = subprocess.run(
            [sys.executable, "local_runner.py", "--data", str(data), "--pipeline-root",
             str(root), "--serving-dir", str(root / "serving"), *extra],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=err, check=False)
        err.seek(0)
        tail = err.read().decode(errors="replace").strip().splitlines()[-3:]
    wall = time.perf_counter() - started
    return wall, None if done.returncode == 0 else f"exit {done.returncode}: {' / '.join(tail)}"


def evaluate(root: Path) -> tuple[dict[str, scores.Scores], dict[str, object]]:
    """Scores of the pipeline's model and of each baseline on the run's eval split."""
    split = run_split.read_run(root)
    y = baselines.labels(split.eval)
    results = {PIPELINE: scores.score(
        y, run_split.model_probabilities(split.model_dir, split.examples_uri))}
    for name, fit in baselines.BASELINES.items():
        results[name] = scores.score(y, fit(split.train)(split.eval))
    info = {"train_rows": int(baselines.labels(split.train).size), "eval_rows": int(y.size),
            "tfma_auc": split.tfma_metrics.get("auc"),
            "tfma_accuracy": split.tfma_metrics.get("binary_accuracy")}
    return results, info


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.only_data and not args.data:
        parser.error("--only-data needs at least one --data file")
    work = (args.work_dir or Path(tempfile.mkdtemp(prefix="clickflow-quality-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONWARNINGS="ignore")
    datasets: dict[str, Path] = {}
    if not args.only_data:
        for mode in ("default", "real-like"):
            datasets[f"{mode} {args.rows:,}"] = _generate(
                work / f"data-{mode}", args.rows, args.seed, mode, env)
    for path in args.data:
        datasets[path.name] = path
    table: dict[str, dict[str, scores.Scores]] = {}
    report: dict[str, object] = {}
    for index, (name, data) in enumerate(datasets.items()):
        root = work / f"root-{index}"
        wall, failure = _run_pipeline(data, root, args.runner_arg, env)
        if failure is None:
            try:
                table[name], info = evaluate(root)
            except (run_split.RunNotFound, ValueError) as err:
                failure = str(err)
        if failure is not None:
            print(f"{name}: the pipeline run failed ({failure}); see {root}", flush=True)
            report[name] = {"error": failure, "pipeline_root": str(root)}
            continue
        passed, why = scores.verdict(table[name][PIPELINE], {
            k: v for k, v in table[name].items() if k != PIPELINE})
        report[name] = {"pipeline_seconds": round(wall, 1), **info, "passed": passed,
                        "why": why, "scores": {k: vars(v) for k, v in table[name].items()}}
        print(f"{name}: pipeline run {wall:.0f} s; {'PASS' if passed else 'FAIL'}: {why} "
              f"(TFMA's AUC {info['tfma_auc']})", flush=True)
    print()
    print(scores.table(table))
    out = work / "quality.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"\ntargets: AUC >= best baseline - {scores.AUC_MARGIN}, accuracy >= best baseline - "
          f"{scores.ACCURACY_MARGIN} (eval split); details in {out}")
    return 0 if table and all(r.get("error") is None for r in report.values()) else 1
