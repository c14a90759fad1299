"""Local serving speed: latency, throughput and a hot swap under load, in one bounded run.

    python experiments/benchmarks/serving_benchmark.py [--no-request-log] [--no-batching]
        [--requests 2000] [--time-limit 600] [--json results.json] [--profile-server out.prof]

``make bench-serving ARGS=...`` runs this. What it measures and how: the docstring of
``experiments/benchmarks/serving`` (the package doing the work, one module per job).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from experiments.benchmarks.serving.runner import main

if __name__ == "__main__":
    sys.exit(main())
