"""Model quality benchmark: the pipeline's model vs simple baselines on the pipeline's own split.

    .venv/bin/python experiments/benchmarks/quality_benchmark.py              # 1k rows, 2 sets
    .venv/bin/python experiments/benchmarks/quality_benchmark.py --rows 5000 --data ads.csv

For the default generator, its real-like mode and each ``--data`` file, runs ``local_runner.py``
on a fresh pipeline root, reads the train/eval split its ExampleGen made and its Trainer model
through ML Metadata, fits scikit-learn's LogisticRegression (five numeric columns, standardized)
and HistGradientBoostingClassifier (all columns) on train, and prints AUC, accuracy, log loss
and expected calibration error on eval, with PASS/FAIL against the targets (AUC >= best
baseline - 0.001, accuracy >= best baseline - 0.005).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from models.bootstrap import bootstrap

bootstrap()

from experiments.benchmarks.quality.benchmark import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
