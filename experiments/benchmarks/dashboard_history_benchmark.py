"""How fast the history pages are usable on a busy pipeline root: AppTest runs of each page.

    .venv/bin/python experiments/benchmarks/dashboard_history_benchmark.py --build workspace/bench10
    .venv/bin/python experiments/benchmarks/dashboard_history_benchmark.py --root ROOT

``--build WORK`` first makes ``--runs`` (default 10) real pipeline runs under WORK
(``tests.run_history.build``: ~3-4 min). Each page is then measured in a fresh
Python process, as a user opening the dashboard gets it: the app's own start (app.py through
its navigation), the page's first load, and a second load (Streamlit's caches warm). The
Model history page is also measured with its ROC/PR curves switched on (the only part that
imports TFMA). Target: each page usable within 5 s of opening.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PAGES = ("views/history.py", "views/run.py", "views/compare.py")
TARGET_S = 5.0


def child(page: str, curves: bool) -> dict[str, float]:
    """One fresh process: app start, first and second load of ``page``."""
    sys.path.insert(0, str(REPO))
    from streamlit.testing.v1 import AppTest

    started = time.perf_counter()
    at = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=300).run()
    app = time.perf_counter() - started
    started = time.perf_counter()
    at.switch_page(page).run()
    first = time.perf_counter() - started
    problems = [e.value for e in at.exception]
    started = time.perf_counter()
    at.run()
    second = time.perf_counter() - started
    out = {"app start": app, "first load": first, "second load": second}
    if curves:
        started = time.perf_counter()
        at.toggle[0].set_value(True).run()
        out["curves (TFMA)"] = time.perf_counter() - started
        problems += [e.value for e in at.exception]
    if problems:
        raise SystemExit(f"{page} raised: {problems}")
    return out


def measure(root: Path, page: str, curves: bool) -> dict[str, float]:
    env = {**os.environ, "CLICKFLOW_PIPELINE_ROOT": str(root),
           "CLICKFLOW_MONITORING_DIR": str(root / "no-monitoring"),
           # Nothing listens there: the start page's banner comes at once.
           "CLICKFLOW_SERVING_URL": "http://127.0.0.1:9"}
    args = [sys.executable, __file__, "--child", page] + (["--curves"] if curves else [])
    done = subprocess.run(args, env=env, capture_output=True, text=True, cwd=REPO,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"measuring {page} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--root", type=Path, help="an existing pipeline root to measure")
    where.add_argument("--build", type=Path, metavar="WORK",
                       help="build --runs real runs under WORK first, then measure WORK/root")
    p.add_argument("--runs", type=int, default=10, help="runs to build (default 10)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--curves", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.curves)))
        return 0
    if args.build:
        sys.path.insert(0, str(REPO))
        from models.bootstrap import bootstrap
        from tests import run_history

        bootstrap()
        root = run_history.build(args.build.resolve(), args.runs).root
    elif args.root:
        root = args.root.resolve()
    else:
        p.error("give --root or --build")
    runs = len(list((root / "runs").glob("*/run_summary.json")))
    print(f"pipeline root {root}: {runs} runs; target: usable within {TARGET_S:.0f} s\n")
    print(f"{'page':<18} {'app start':>10} {'first load':>11} {'second load':>12} "
          f"{'curves (TFMA)':>14}  usable in 5 s")
    slow = False
    for page, curves in [(p, False) for p in PAGES] + [("views/history.py", True)]:
        t = measure(root, page, curves)
        usable = t["app start"] + t["first load"]
        slow |= usable > TARGET_S
        name = page.split("/")[-1] + (" +curves" if curves else "")
        tfma = f"{t['curves (TFMA)']:>13.2f}s" if curves else f"{'':>14}"
        print(f"{name:<18} {t['app start']:>9.2f}s {t['first load']:>10.2f}s "
              f"{t['second load']:>11.2f}s {tfma}  {'yes' if usable <= TARGET_S else 'NO'}"
              f" ({usable:.2f} s)")
    return 1 if slow else 0


if __name__ == "__main__":
    raise SystemExit(main())
