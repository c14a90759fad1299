"""Batch-scoring benchmark: `python -m pipelines.predict` on N generated rows.

    .venv/bin/python experiments/benchmarks/predict_benchmark.py --rows 1000000
    .venv/bin/python experiments/benchmarks/predict_benchmark.py --rows 1000000 10000000 \
        --model workspace/serving_model/clickflow [--beam]

Each run is a separate process (imports and model loading included, as a user sees it),
measured with os.wait4: wall, CPU cores used ((user + system) / wall) and peak RSS. The model
is --model (a pushed model of a real run), else a small model of the pipeline's own code
(pipelines.testing.small_model) exported into the work folder: the same signatures and graph
shape, fewer weights. With --beam the Beam job (``pipelines.predict.beam_job`` on the
DirectRunner, what Dataflow runs) scores the same input after the local command.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, float, float, int, str]:
    """(wall s, CPU s, peak RSS MiB, exit code, last stderr line) of one child process."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        out.seek(0)
        tail = out.read().decode(errors="replace").strip().splitlines()[-1:]
    return (
        wall,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss / 1024,
        os.waitstatus_to_exitcode(status),
        tail[0] if tail else "",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="the Pusher's folder or a version folder (default: a small model)",
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=None,
        help="work folder (default: a new temporary one; generated data there is reused)",
    )
    parser.add_argument(
        "--beam",
        action="store_true",
        help="also run the Beam job (python -m pipelines.predict.beam_job, DirectRunner) on "
        "each input, after the local command",
    )
    args = parser.parse_args()
    env = dict(
        os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore"
    )
    work = args.work or Path(tempfile.mkdtemp(prefix="clickflow-predict-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    model = args.model
    if model is None:
        model = work / "serving" / "clickflow"
        if not model.exists():
            subprocess.run(
                [
                    PYTHON,
                    "-c",
                    "import sys; from models.bootstrap import bootstrap; "
                    "bootstrap(); from pipelines.testing.small_model import "
                    "export_small_model; export_small_model(sys.argv[1])",
                    str(model / "1"),
                ],
                cwd=REPO,
                env=env,
                check=True,
            )
    commands = {"local": "pipelines.predict"}
    if args.beam:
        commands["beam (DirectRunner)"] = "pipelines.predict.beam_job"
    print("| command | rows | wall s | rows/s | cores | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    for rows in args.rows:
        data = work / f"data-{rows}"
        if not data.exists():
            subprocess.run(
                [
                    PYTHON,
                    "-m",
                    "pipelines.data",
                    "append",
                    "--data-dir",
                    str(data),
                    "--rows",
                    str(rows),
                    "--seed",
                    "42",
                ],
                cwd=REPO,
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
        for label, module in commands.items():
            out = work / f"predictions-{rows}-{module.rsplit('.', 1)[-1]}-{time.strftime('%H%M%S')}"
            wall, cpu, rss, code, tail = measure(
                [PYTHON, "-m", module, "--model", str(model), "--input", str(data),
                 "--output", str(out)],
                env,
            )
            if code != 0:
                print(f"| {label} | {rows:,} | failed (exit {code}): {tail} ||||")
                continue
            manifest = json.loads((out / "predictions.json").read_text())
            assert manifest["rows"] == rows, manifest
            print(
                f"| {label} | {rows:,} | {wall:.1f} | {rows / wall:,.0f} | {cpu / wall:.2f} | "
                f"{rss:.0f} |",
                flush=True,
            )
    print(f"work folder: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
