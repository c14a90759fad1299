"""How many processes Beam runs the Beam-heavy components in (ExampleGen, StatisticsGen,
Transform): one (in process, today's default) or several, chosen by the data's size.

``--beam-workers auto`` uses one process (in process, as before) unless the input has at least
``AUTO_MIN_ROWS`` rows and this process may use at least ``AUTO_MIN_CPUS`` CPUs; then one worker
per CPU but one, which the runner process keeps busy moving data between stages. Measured on
our 2-core VM at 1M rows: 2 workers took 354 s against 342 s in process, with a 3.0 GB peak
against 1.3 GB (each worker imports TensorFlow, TFX, TFDV and TFT: ~0.9 GB before any data),
so two cores are not enough to pay for them. ``--beam-workers N`` forces N (1: in process).

With N > 1, Beam's in-process runner runs each stage in N worker processes
(``--direct_running_mode=multi_processing``: apache_beam/runners/portability/fn_api_runner/
fn_runner.py starts ``sys.executable -m apache_beam.runners.worker.sdk_worker_main``, this very
interpreter and venv, and stages nothing). Any Beam flag makes TFX build an sdist of itself for
remote workers, unless a flag says the workers' environment is provided
(``tfx/utils/dependency_utils.py: make_beam_dependency_flags``); ``--sdk_container_image``
says so here, and the direct runner never reads it. The workers get the repository and
``worker_site/`` (the CVE-2023-47248 guard) on their PYTHONPATH, and the pickler this process
uses, so they load what it pickled.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pipelines.common import names

AUTO = "auto"
AUTO_MIN_ROWS = 1_000_000
AUTO_MIN_CPUS = 4
WORKER_SITE = Path(__file__).with_name("worker_site")
PROVIDED_ENVIRONMENT = "clickflow-local-venv"  # read by TFX's check only, never by Beam here


def workers_flag(value: str) -> str | int:
    """argparse type of --beam-workers: 'auto' or a whole number >= 1."""
    if value == AUTO:
        return AUTO
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 'auto' or a whole number, got {value!r}"
        ) from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a number >= 1, got {number}")
    return number


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def choose(flag: str | int, rows: int | None) -> int:
    """The number of Beam worker processes for a run reading ``rows`` input rows."""
    if flag != AUTO:
        return int(flag)
    cpus = usable_cpus()
    if rows is None or rows < AUTO_MIN_ROWS or cpus < AUTO_MIN_CPUS:
        return 1
    return cpus - 1


def beam_args(workers: int, pickle_library: str | None = None) -> list[str]:
    """The Beam flags for ``workers`` processes: none for one (in process, no sdist)."""
    if workers <= 1:
        return []
    args = [
        "--direct_running_mode=multi_processing",
        f"--direct_num_workers={workers}",
        f"--sdk_container_image={PROVIDED_ENVIRONMENT}",
    ]
    if pickle_library:
        args.append(f"--pickle_library={pickle_library}")
    return args


def worker_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """PYTHONPATH for worker interpreters: the CVE guard's folder, the repository, then what
    was there."""
    environ = os.environ if environ is None else environ
    parts = [str(WORKER_SITE), str(names.REPO_ROOT)]
    if environ.get("PYTHONPATH"):
        parts.append(environ["PYTHONPATH"])
    return {"PYTHONPATH": os.pathsep.join(parts)}


def run_args(flag: str | int, rows: int | None) -> list[str]:
    """What the local runner passes: the Beam flags for the chosen worker count; with more than
    one worker, the workers' PYTHONPATH set in this process's environment (they inherit it)."""
    from pipelines.config import LOCAL_BEAM_ARGS

    workers = choose(flag, rows)
    if workers <= 1:
        return list(LOCAL_BEAM_ARGS)
    from apache_beam.internal import pickler

    os.environ.update(worker_environment())
    # What Pipeline() resolves "default" to in this process (cloudpickle under the speed-up
    # patch), said explicitly so that the workers unpickle with the same library.
    library = pickler.DEFAULT_PICKLE_LIB
    print(
        f"Beam: {workers} worker processes ({rows:,} rows)"
        if rows
        else f"Beam: {workers} worker processes",
        flush=True,
    )
    return [*LOCAL_BEAM_ARGS, *beam_args(workers, library)]
