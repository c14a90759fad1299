"""python -m pipelines.cloud.emulator: run the compiled pipeline spec here, task by task.

    python -m pipelines.cloud.emulator --target kfp --runs 2 --rows 600
    python -m pipelines.cloud.emulator --spec build/pipeline.json --target vertex

Settings for the in-process compile come from --config, then CLICKFLOW_<SETTING> variables
(e.g. CLICKFLOW_TRAIN_STEPS=20).
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

from pipelines.cloud.config import TARGETS
from pipelines.cloud.emulator import orchestrator, report, session
from pipelines.cloud.emulator.dag import SpecError
from pipelines.cloud.emulator.executor_input import FORMS
from pipelines.common.errors import ClickflowError

REPO = Path(__file__).resolve().parents[3]
DEFAULT_CONFIG = REPO / "configs" / "cloud.example.yaml"
DEFAULT_WORKDIR = Path("workspace") / "cloud-e2e"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m pipelines.cloud.emulator",
        description="Run the compiled KFP v2 pipeline spec on this machine as the KFP v2 "
                    "launcher / Vertex AI would: each task's own container command in a fresh "
                    "process, with only Cloud Storage, Dataflow, BigQuery, the Vertex job API "
                    "and Model Registry substituted (and listed).")
    p.add_argument("--spec", type=Path, help="an already compiled spec (.json/.yaml); default: "
                   "compile one now from --config")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                   help="cloud settings to compile from (default: configs/cloud.example.yaml)")
    p.add_argument("--target", choices=(*TARGETS, "both"), default="kfp",
                   help="which compiled variant to run (default: kfp)")
    p.add_argument("--runs", type=int, default=2,
                   help="runs against the same local gs folder (default: 2; run 2 sees run "
                        "1's pushed model; with generated data the table grows by one "
                        "day of --rows rows before each run, as a scheduled run's table does)")
    p.add_argument("--tune", action="store_true", help="compile the variant with the Tuner")
    p.add_argument("--rows", type=int, default=600, help="rows of generated data (default 600)")
    p.add_argument("--seed", type=int, default=42, help="seed of the generated data")
    p.add_argument("--data", type=Path, help="a CSV/Parquet file to use instead of generated data")
    p.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR,
                   help="where the local gs folder, logs and records go "
                        "(default: workspace/cloud-e2e)")
    p.add_argument("--schema-version", choices=session.SCHEMA_VERSIONS, default="2.1.0",
                   help="spec schema to compile (2.0.0: Vertex's legacy typed parameters)")
    p.add_argument("--parameter-form", choices=FORMS,
                   help="ExecutorInput parameters: values (parameterValues, schema 2.1.0) or "
                        "legacy (typed 'parameters', schema 2.0.0); default: by the schema")
    p.add_argument("--until", metavar="TASK", help="run only TASK and the tasks it needs")
    p.add_argument("--parallel", type=int, default=2, help="tasks at a time (default 2)")
    p.add_argument("--task-timeout", type=float, default=1800.0, help="seconds per task")
    return p


def _check(args: argparse.Namespace) -> None:
    if args.runs < 1:
        raise ClickflowError(f"--runs {args.runs}: expected 1 or more")
    if args.rows < 10 and args.data is None:
        raise ClickflowError(f"--rows {args.rows}: expected at least 10 rows")
    if args.parallel < 1:
        raise ClickflowError(f"--parallel {args.parallel}: expected 1 or more")
    if args.data is not None and not args.data.is_file():
        raise ClickflowError(f"--data {args.data}: no such file")
    if args.spec is not None and args.target == "both":
        raise ClickflowError("--target both compiles both variants; with --spec name the one "
                             "it was compiled for (vertex or kfp)")


def emulate(args: argparse.Namespace, target: str) -> bool:
    workdir = args.workdir / (f"{target}-tuned" if args.tune else target)
    if args.spec is not None:
        spec = session.read_spec(args.spec)
    else:
        spec = session.compile_from_config(args.config, target, args.tune, args.schema_version)
    data = args.data or session.make_data(args.workdir, args.rows, args.seed)
    em = session.prepare(spec, target, workdir, data, REPO, form=args.parameter_form,
                         parallel=args.parallel, task_timeout=args.task_timeout,
                         until=args.until)
    print(f"== {target}{' (tuning)' if args.tune else ''}: schema {spec.get('schemaVersion')}, "
          f"parameters as {em.form}, workdir {em.workdir}", flush=True)
    ok = True
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    for n in range(1, args.runs + 1):
        run_id = f"{spec.get('pipelineInfo', {}).get('name', 'run')}-{stamp}-{n}"
        started = time.monotonic()
        if args.data is None and n > 1:  # the table has grown by day n's partition
            session.use_table(em, session.make_data(args.workdir, args.rows, args.seed, n))
        results = orchestrator.run_once(em, run_id)
        print(report.table(run_id, results))
        counts = {s: sum(r.status == s for r in results) for s in ("succeeded", "failed",
                                                                   "skipped")}
        print(f"  run {n}/{args.runs}: {counts['succeeded']} succeeded, {counts['failed']} "
              f"failed, {counts['skipped']} skipped in {time.monotonic() - started:.0f} s",
              flush=True)
        if counts["failed"] or counts["skipped"]:
            print(report.failures(results), file=sys.stderr)
            ok = False
            break
    print(report.substitutions(em.subs.used))
    return ok


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from models.bootstrap import bootstrap

    bootstrap(autograph=False)
    try:
        _check(args)
        targets = TARGETS if args.target == "both" else (args.target,)
        ok = all([emulate(args, t) for t in targets])
    except (ClickflowError, SpecError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
