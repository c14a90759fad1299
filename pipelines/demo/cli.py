"""``python -m pipelines.demo``: the whole continuous-training loop on one machine.

serve -> normal traffic -> drifted traffic -> delayed labels -> the monitor flags drift and a
falling live AUC -> it ingests the labelled traffic as a new span and retrains -> the Evaluator
blesses the new model -> the server hot-loads it -> live AUC recovers.

Every part is the real one: ``local_runner.py`` (subprocess), ``python -m deployment.server``
(subprocess on a free 127.0.0.1 port), the traffic simulator, and the monitor with
``--trigger local``. Everything is written under one folder (``--workdir``, marked as a demo
folder), so the demo never touches workspace/pipeline_root or the served models of a real run.
This module reads the flags, runs the steps (``steps.py``) in order and always stops the server.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import signal
import sys
from pathlib import Path
from typing import Any

from models.bootstrap import bootstrap
from pipelines.common.errors import ClickflowError
from pipelines.common.names import REPO_ROOT
from pipelines.common.processes import ServiceProcess, free_port
from pipelines.demo import children
from pipelines.demo import steps as step
from pipelines.demo.measure import judged_window
from pipelines.demo.options import DRIFT, STEPS, SUMMARY_FILE, DemoOptions, Paths, prepare_workdir
from pipelines.demo.report import DemoFacts, Steps, summary_lines
from pipelines.demo.traffic import Traffic


@dataclasses.dataclass
class Held:
    """What a run has opened so far; ``close`` releases it however the run ended."""

    paths: Paths | None = None
    server: ServiceProcess | None = None
    client: Any = None


def run(options: DemoOptions, steps: Steps, facts: DemoFacts, held: Held) -> int:
    """The steps in order; 0 when the loop closed."""
    import httpx

    from pipelines.data import drift as data_drift

    o = options
    held.paths = paths = prepare_workdir(o.workdir, fresh=o.fresh)
    print(f"clickflow drift demo in {paths.root} (traffic {o.rows:,} rows per phase, "
          f"training {o.train_rows:,} rows, {o.train_steps} steps, seed {o.seed})",
          file=steps.out, flush=True)
    drift = data_drift.DRIFT_PRESETS[DRIFT]
    first_run_id = step.train_first_model(o, paths, steps, facts)
    held.server = server = children.model_server(paths, o.port or free_port(), o.ready_timeout)
    held.client = client = httpx.Client(timeout=30.0)
    step.start_server(server, client, steps, facts)
    traffic = Traffic(o, paths, server, client, steps)
    normal = step.normal_traffic(traffic, steps, facts)
    drifted = step.drifted_traffic(traffic, drift, steps, facts)
    step.labels_arrive(traffic, normal, steps, facts)
    window = judged_window(normal.began, normal.ended, drifted.ended)
    new_version = step.monitor_and_retrain(o, paths, window, first_run_id, steps, facts)
    step.wait_for_hot_reload(server, client, paths, new_version, o.load_timeout, steps, facts)
    step.judge_again(traffic, drift, steps, facts)

    steps.end()
    facts.completed = True
    print(f"\n[10/{STEPS}] Summary", file=steps.out)
    print("\n".join(summary_lines(facts)), file=steps.out, flush=True)
    return 0


def close(held: Held, steps: Steps, facts: DemoFacts) -> None:
    """Stop the server and write what was measured to WORKDIR/demo_summary.json."""
    if held.client is not None:
        held.client.close()
    if held.server is not None and held.server.pid is not None:
        code = held.server.stop()
        facts.server["exit_code"] = code
        steps.say(f"server stopped (pid {held.server.pid}, exit status {code})")
    if held.paths is not None and held.paths.root.is_dir():
        (held.paths.root / SUMMARY_FILE).write_text(
            json.dumps(dataclasses.asdict(facts), indent=2, default=str) + "\n")


def build_parser() -> argparse.ArgumentParser:
    demo = argparse.ArgumentParser(
        prog="python -m pipelines.demo", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Train a model, serve it, send normal then drifted traffic, deliver the "
                    "labels, let the monitor detect the drift and the falling live AUC and "
                    "retrain on the labelled traffic, wait for the server to hot-load the "
                    "blessed model, and show that live AUC recovers. Everything goes to "
                    "WORKDIR; the server is stopped at the end (also on Ctrl-C).")
    demo.add_argument("--workdir", type=Path, default=REPO_ROOT / "workspace" / "demo",
                      help="the demo's own folder (data, pipeline root, models, logs)")
    demo.add_argument("--fresh", action="store_true",
                      help="delete an earlier demo run in WORKDIR and start over")
    demo.add_argument("--rows", type=int, default=DemoOptions.rows,
                      help="traffic rows per phase (normal, drifted, drifted again)")
    demo.add_argument("--train-rows", type=int, default=DemoOptions.train_rows,
                      help="generated rows the first model is trained on")
    demo.add_argument("--train-steps", type=int, default=DemoOptions.train_steps,
                      help="Trainer steps of both pipeline runs")
    demo.add_argument("--seed", type=int, default=DemoOptions.seed)
    demo.add_argument("--port", type=int, default=0, help="server port (0: a free one)")
    return demo


def cli(argv: list[str] | None = None) -> int:
    """``python -m pipelines.demo [flags]``."""
    return main(build_parser().parse_args(argv))


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(args: argparse.Namespace) -> int:
    try:
        options = DemoOptions(workdir=args.workdir, rows=args.rows, train_rows=args.train_rows,
                              train_steps=args.train_steps, seed=args.seed, port=args.port,
                              fresh=args.fresh)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    bootstrap()
    import logging

    for noisy in ("tensorflow", "absl"):  # TFMA's deprecation and "no plots" warnings
        logging.getLogger(noisy).setLevel(logging.ERROR)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)  # finally blocks run on SIGTERM
    facts = DemoFacts()
    steps, held = Steps(facts, sys.stdout), Held()
    code = 1
    try:
        code = run(options, steps, facts, held)
    except ClickflowError as err:  # DemoError, or the server exited / never answered
        steps.end()
        print(f"\nerror: {err}", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        steps.end()
        print("\ninterrupted", file=sys.stderr, flush=True)
        code = 130
    finally:
        with contextlib.suppress(KeyboardInterrupt):
            close(held, steps, facts)
        signal.signal(signal.SIGTERM, previous)
    if not facts.completed and facts.versions:
        print("\nWhat the demo measured before it stopped:\n"
              + "\n".join(summary_lines(facts)), flush=True)
    if held.paths is not None:
        print(f"Everything is in {held.paths.root} ({SUMMARY_FILE}, logs/, monitoring/)",
              flush=True)
    return code
