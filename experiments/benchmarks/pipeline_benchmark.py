"""Pipeline speed benchmark: clickflow's configuration, without its speed-ups, and TFX's defaults.

    .venv/bin/python experiments/benchmarks/pipeline_benchmark.py            # 1k rows: 11 runs
    .venv/bin/python experiments/benchmarks/pipeline_benchmark.py --large 100000 1000000

Each run is a separate process (imports included in its wall time, as a user sees it), measured
with os.wait4 for its peak RSS. Runs 1, 2 and 3 alternate (--pairs times each, 3 by default) and
their medians and ratios are compared. Runs:
  1. full   - `local_runner.py` on a fresh 1,000-row span and a fresh pipeline root (`make run`),
              with every patch of pipelines/local/speedups.py that its version guard allows;
  2. stock  - the same full run with CLICKFLOW_SPEEDUPS=0: no library or process patch (and no
              AutoGraph rule), so 2 vs 1 is what the speed-ups save (the absl level pin that
              keeps the progress lines is an output fix and stays on);
  3. naive  - the same graph with TFX's and TensorFlow's defaults: `module_file=` user code
              (TFX packages and pip-installs it), default Beam options, Transform statistics
              on, TF2 Transform, AutoGraph's default rules, and no library speed-up
              (CLICKFLOW_SPEEDUPS=0, so run_fn's bootstrap() adds no AutoGraph rule either;
              only the absl pin that keeps its progress lines is applied);
  4. rerun  - run 1 again, unchanged (the up-to-date check);
  5. cached - run 1 again with --force (every component answered from TFX's cache);
  6. before - optional (--baseline REV): run 1 with another commit's checkout, alternated with
              it, so "no slower than before" is measured in one invocation;
  7. large  - optional: full runs on N rows (with --baseline, that commit's run first), each
              followed by a table of its components:
              wall, CPU cores used (CPU time / wall, worker processes included) and peak RSS
              (the runner's per-component meter, pipelines/local/resources.py, written to
              run_summary.json as component_usage).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
COMPONENTS = ("DuckDBExampleGen", "StatisticsGen", "Transform", "Trainer", "Evaluator")
LARGE_COMPONENTS = ("DuckDBExampleGen", "StatisticsGen", "ExampleValidator", "Transform",
                    "Trainer", "SimpleTrainer", "EvalSample", "Evaluator",
                    "SimpleModelEvaluator", "Pusher", "ModelCardGenerator")

NAIVE_RUNNER = '''
import json, os, sys, time
sys.path.insert(0, {repo!r})
started = time.perf_counter()
from pipelines.config import PipelineConfig
from pipelines.local.logs import ProgressLogging
from pipelines.pipeline import LocalFiles, create_pipeline
from tfx.orchestration import metadata
from tfx.orchestration.local.local_dag_runner import LocalDagRunner

root, data_dir, module_file = sys.argv[1], sys.argv[2], sys.argv[3]
pipeline = create_pipeline(
    pipeline_name="clickflow", pipeline_root=root,
    source=LocalFiles(input_base=data_dir, file_pattern="span-*/*.parquet"),
    serving_model_dir=os.path.join(root, "serving", "clickflow"), config=PipelineConfig(),
    metadata_connection_config=metadata.sqlite_metadata_connection_config(
        os.path.join(root, "metadata.sqlite")),
    beam_pipeline_args=[])
for component in pipeline.components:
    props = component.exec_properties
    if component.id == "Transform":
        props.pop("preprocessing_fn")
        props["module_file"] = module_file
        props["disable_statistics"] = False
        props["force_tf_compat_v1"] = False
    if component.id == "Trainer":
        props.pop("run_fn")
        props["module_file"] = module_file
from pipelines.local.progress import ComponentProgress
progress = ComponentProgress(open(os.devnull, "w"))
with ProgressLogging(progress, verbose=False):
    LocalDagRunner().run(pipeline)
json.dump({{"component_seconds": progress.seconds,
           "wall_seconds": time.perf_counter() - started}},
          open(os.path.join(root, "run_summary.json"), "w"))
'''

NAIVE_MODULE = '''
"""User module as TFX's module_file= expects it: one file with the callbacks."""
from models.model import run_fn  # noqa: F401
from models.preprocessing import preprocessing_fn  # noqa: F401
'''


def run(argv: list[str], env: dict[str, str], cwd: Path = REPO
        ) -> tuple[float, float, int, float]:
    """(wall seconds, peak RSS MiB, exit code, CPU seconds) of one child process (its own
    children included: os.wait4 sums the ones it waited for), run in ``cwd`` (the checkout
    whose local_runner.py it runs)."""
    started = time.perf_counter()
    # Output goes to files, not pipes: a chatty child would fill a pipe and block forever.
    with open(os.devnull, "w") as devnull, tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=devnull, stderr=stderr)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        stderr.seek(0)
        err = stderr.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        print(f"  ! exit {code}: {err.strip().splitlines()[-1:] if err else ''}", flush=True)
    return wall, usage.ru_maxrss / 1024, code, usage.ru_utime + usage.ru_stime


def generate(data_dir: Path, rows: int, env: dict[str, str]) -> None:
    subprocess.run([PYTHON, "-m", "pipelines.data", "append", "--data-dir",
                    str(data_dir), "--rows", str(rows), "--seed", "42"],
                   cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)


def export(rev: str, dest: Path) -> Path:
    """The tree of commit ``rev`` (``git archive``), to run as the baseline; the repository's
    own state (worktrees, index) is left alone."""
    dest.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", rev],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def summary(root: Path) -> dict:
    path = root / "run_summary.json"
    return json.loads(path.read_text()) if path.exists() else {}


def comparison(results: list[tuple[str, float, float, dict]]) -> list[str]:
    """Medians of the alternated 1k runs, and stock/full and naive/full ratios, pair by pair."""
    walls = {kind: [w for name, w, _, _ in results if name.startswith(f"{kind} 1k #")]
             for kind in ("full", "stock", "naive", "before")}
    fulls = walls["full"]
    lines = [f"{kind} 1k: median {statistics.median(w):.1f} s of {len(w)} runs"
             for kind, w in walls.items() if w]
    for kind in ("stock", "naive", "before"):
        if walls[kind]:
            pairs = ", ".join(f"{o / f:.2f}x" for f, o in zip(fulls, walls[kind], strict=True))
            lines.append(f"{kind} / full = "
                         f"{statistics.median(walls[kind]) / statistics.median(fulls):.2f}x "
                         f"(medians; pair by pair: {pairs})")
    return lines


def usage_table(name: str, wall: float, cpu: float, rss: float, info: dict) -> list[str]:
    """Markdown rows of one run's components: wall, cores used, peak RSS; then the whole run."""
    usage = info.get("component_usage") or {}
    lines = [f"{name}: per component", "| component | wall s | cores | peak RSS MiB |",
             "|---|---|---|---|"]
    for component in LARGE_COMPONENTS:
        u = usage.get(component)
        if u:
            peak = "-" if u.get("peak_rss_mib") is None else f"{u['peak_rss_mib']:.0f}"
            lines.append(f"| {component} | {u['wall_seconds']:.1f} | {u['cores']:.2f} | "
                         f"{peak} |")
    # The meter resets the kernel's high-water mark at each component's start, and wait4's
    # ru_maxrss is that same mark: the run's peak is the larger of it and every component's.
    peaks = [u["peak_rss_mib"] for u in usage.values() if u.get("peak_rss_mib") is not None]
    lines.append(f"| whole run (process) | {wall:.1f} | {cpu / wall if wall else 0:.2f} | "
                 f"{max([rss, *peaks]):.0f} |")
    return lines


def small(args: argparse.Namespace, env: dict[str, str], work: Path, record,
          baseline: Path | None) -> None:
    """The 1k runs: full, stock, [before] and naive alternated, then an unchanged rerun and a
    cached one."""
    data = work / "data-1k"
    generate(data, 1000, env)
    module_dir = work / "naive_module"
    module_dir.mkdir()
    (module_dir / "user_module.py").write_text(NAIVE_MODULE)
    script = work / "naive_runner.py"
    script.write_text(NAIVE_RUNNER.format(repo=str(REPO)))
    naive_env = dict(env, PYTHONPATH=str(REPO), CLICKFLOW_SPEEDUPS="0")

    def full_run(name: str) -> list[str]:
        return [PYTHON, "local_runner.py", "--data", str(data), "--pipeline-root",
                str(work / name), "--serving-dir", str(work / f"{name}-serving")]

    stock_env = dict(env, CLICKFLOW_SPEEDUPS="0")
    for pair in range(1, args.pairs + 1):
        record(f"full 1k #{pair}", *run(full_run(f"full-{pair}"), env)[:2],
               work / f"full-{pair}")
        if not args.skip_stock:
            record(f"stock 1k #{pair}", *run(full_run(f"stock-{pair}"), stock_env)[:2],
                   work / f"stock-{pair}")
        if baseline is not None:
            record(f"before 1k #{pair}", *run(full_run(f"before-{pair}"), env, baseline)[:2],
                   work / f"before-{pair}")
        if not args.skip_naive:
            naive_root = work / f"naive-{pair}"
            naive_root.mkdir()
            record(f"naive 1k #{pair}", *run(
                [PYTHON, str(script), str(naive_root), str(data),
                 str(module_dir / "user_module.py")], naive_env)[:2], naive_root)
    full_root = work / "full-1"
    full = full_run("full-1")
    record("rerun 1k", *run(full, env)[:2], full_root)
    record("cached 1k", *run([*full, "--force"], env)[:2], full_root)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", type=int, nargs="*", default=[],
                        help="also run the full pipeline on these row counts")
    parser.add_argument("--pairs", type=int, default=3,
                        help="full, stock and naive 1k runs, alternated, N of each; medians are "
                             "compared (a 2-core VM's speed drifts ~20%% between runs)")
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--skip-stock", action="store_true",
                        help="no CLICKFLOW_SPEEDUPS=0 runs (e.g. for --baseline alone)")
    parser.add_argument("--skip-small", action="store_true",
                        help="only the --large runs (no 1k full/stock/naive/rerun/cached runs)")
    parser.add_argument("--baseline", metavar="REV",
                        help="also run this commit's local_runner.py (e.g. main~3), alternated "
                        "with each full 1k run and before each --large run, in this invocation")
    parser.add_argument("--runner-arg", dest="runner_args", action="append", default=[],
                        metavar="FLAG", help="a local_runner.py flag for the --large runs "
                        "(repeat it: --runner-arg=--beam-workers=2)")
    args = parser.parse_args()
    if args.pairs < 1:
        parser.error(f"--pairs must be at least 1, got {args.pairs}")
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONWARNINGS="ignore", CLICKFLOW_SPEEDUPS="1")
    work = Path(tempfile.mkdtemp(prefix="clickflow-bench-"))
    results: list[tuple[str, float, float, dict]] = []
    tables: list[str] = []

    def record(name: str, wall: float, rss: float, root: Path) -> float:
        info = summary(root)
        # The runner's meter resets the kernel's high-water mark that wait4's ru_maxrss
        # reports at each component's start: the run's peak is the larger of it and theirs.
        peaks = [u["peak_rss_mib"] for u in (info.get("component_usage") or {}).values()
                 if u.get("peak_rss_mib") is not None]
        rss = max([rss, *peaks])
        results.append((name, wall, rss, info))
        extra = ""
        if info.get("metrics"):
            extra = f", AUC {info['metrics'].get('auc', 0):.4f}"
            if info.get("best_possible_auc"):
                extra += f" (best {info['best_possible_auc']:.4f})"
        print(f"{name:>12}: {wall:7.1f} s wall, {rss:7.0f} MiB peak{extra}", flush=True)
        return rss

    baseline = None if args.baseline is None else export(args.baseline, work / "baseline-src")
    if not args.skip_small:
        small(args, env, work, record, baseline)
    for rows in args.large:
        big = work / f"data-{rows}"
        generate(big, rows, env)
        checkouts = [("full", REPO)] if baseline is None else [("before", baseline),
                                                               ("full", REPO)]
        for kind, checkout in checkouts:
            root = work / f"{kind}-{rows}"
            wall, rss, _, cpu = run(
                [PYTHON, "local_runner.py", "--data", str(big), "--pipeline-root", str(root),
                 "--serving-dir", str(work / f"{kind}-serving-{rows}"), *args.runner_args],
                env, checkout)
            rss = record(f"{kind} {rows:,}", wall, rss, root)
            table = usage_table(f"{kind} {rows:,}", wall, cpu, rss, summary(root))
            tables += [*table, ""]

    print()
    header = f"| run | wall s | peak RSS MiB | {' | '.join(COMPONENTS)} |"
    print(header)
    print("|" + "---|" * (3 + len(COMPONENTS)))
    for name, wall, rss, info in results:
        seconds = info.get("component_seconds", {})
        cells = [f"{seconds[c]:.1f}" if c in seconds else "-" for c in COMPONENTS]
        print(f"| {name} | {wall:.1f} | {rss:.0f} | {' | '.join(cells)} |")
    print()
    for line in tables:
        print(line)
    for line in comparison(results):
        print(line)
    print(f"work folder: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
