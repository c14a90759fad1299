"""Trainer throughput on CPU and, when TensorFlow sees one, on GPU: steps/s and the ratio.

    .venv/bin/python experiments/benchmarks/gpu_trainer_benchmark.py                 # 500k rows
    .venv/bin/python experiments/benchmarks/gpu_trainer_benchmark.py --rows 2000 --steps 20 \\
        --warmup-steps 5 --batch-size 256                                            # smoke run

Each device runs in its own process, because the choice models.model makes for the Trainer is
process-wide: `_distribution()` switches Keras to the mixed_float16 policy and a MirroredStrategy
over every visible GPU, and otherwise keeps the default (CPU) strategy. The CPU process hides
the GPUs (CUDA_VISIBLE_DEVICES=-1) and so gets exactly the CPU path of run_fn; the GPU process
gets its GPU path. Both train the real `build_model` on the same synthetic transformed rows
(shaped like Transform's output, as in models/model_test.py), first for --warmup-steps (tracing,
autotuning), then timed for --steps. ``--op-determinism both`` also measures each device
without TensorFlow's op determinism (which run_fn switches on): its speed cost.
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


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=_positive, default=500_000,
                   help="synthetic transformed rows held in memory (default 500000)")
    p.add_argument("--batch-size", type=_positive, default=1024,
                   help="global batch size (default 1024; the Trainer's default is 64)")
    p.add_argument("--steps", type=_positive, default=300, help="timed training steps")
    p.add_argument("--warmup-steps", type=_positive, default=30,
                   help="untimed steps first (tracing, tf.data autotuning)")
    p.add_argument("--devices", choices=("auto", "cpu", "gpu"), default="auto",
                   help="auto: CPU, then GPU if TensorFlow sees one (default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--op-determinism", choices=("on", "off", "both"), default="on",
                   help="on: as run_fn trains (default); both: also without, to see its cost")
    p.add_argument("--deterministic", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--json", type=Path, help="also write the results to this JSON file")
    p.add_argument("--child", choices=("cpu", "gpu"), help=argparse.SUPPRESS)
    return p


def _inputs(rows: int, seed: int):
    """Transformed features and labels shaped like Transform's output (see model_test.py)."""
    import numpy as np

    from models import features, model

    rng = np.random.default_rng(seed)
    data = {name: rng.normal(size=(rows, 1)).astype(np.float32) for name in model.NUMERIC_INPUTS}
    for name, size in model.EMBEDDED_INPUTS.items():
        data[name] = rng.integers(0, size, size=(rows, 1), dtype=np.int64)
    data[model.TOPIC_INPUT] = rng.integers(
        0, 2, size=(rows, features.TOPIC_HASH_BUCKETS)).astype(np.float32)
    driver = data[features.transformed_name("DailyTimeSpentOnSite")][:, 0]
    labels = (driver + 0.5 * rng.normal(size=rows) > 0).astype(np.float32)
    return data, labels


def _feature_spec():
    import tensorflow as tf

    from models import features, model

    spec = {name: tf.io.FixedLenFeature([1], tf.float32) for name in model.NUMERIC_INPUTS}
    spec.update({name: tf.io.FixedLenFeature([1], tf.int64) for name in model.EMBEDDED_INPUTS})
    spec[model.TOPIC_INPUT] = tf.io.FixedLenFeature([features.TOPIC_HASH_BUCKETS], tf.float32)
    return spec


def run_child(device: str, args: argparse.Namespace) -> dict:
    """Trains in this process on the device TensorFlow was left to see; returns the timings."""
    import tensorflow as tf

    from models import model

    gpus = tf.config.list_physical_devices("GPU")
    if device == "gpu" and not gpus:
        raise SystemExit("error: --child gpu but TensorFlow sees no GPU")
    model.seed_everything(args.seed, deterministic_ops=args.deterministic)
    strategy = model._distribution()  # the Trainer's own choice: GPUs + mixed precision, or CPU
    data, labels = _inputs(args.rows, args.seed)
    dataset = (tf.data.Dataset.from_tensor_slices((data, labels))
               .shuffle(min(args.rows, 100_000), seed=args.seed).repeat()
               .batch(args.batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE))
    with strategy.scope():
        net = model.build_model(model.HParams(batch_size=args.batch_size), _feature_spec())
    started = time.perf_counter()
    net.fit(dataset, epochs=1, steps_per_epoch=args.warmup_steps, verbose=0)
    warmup_s = time.perf_counter() - started
    started = time.perf_counter()
    history = net.fit(dataset, epochs=1, steps_per_epoch=args.steps, verbose=0)
    seconds = time.perf_counter() - started
    return {
        "device": device,
        "op_determinism": args.deterministic,
        "gpus": [g.name for g in gpus],
        "replicas": strategy.num_replicas_in_sync,
        "policy": tf.keras.mixed_precision.global_policy().name,
        "rows": args.rows,
        "batch_size": args.batch_size,
        "steps": args.steps,
        "warmup_seconds": round(warmup_s, 3),
        "seconds": round(seconds, 3),
        "steps_per_second": round(args.steps / seconds, 2),
        "examples_per_second": round(args.steps * args.batch_size / seconds, 1),
        "final_loss": round(float(history.history["loss"][-1]), 4),
        "tensorflow": tf.__version__,
    }


def _gpu_visible() -> bool:
    code = ("from models.bootstrap import bootstrap; bootstrap(); import tensorflow as tf; "
            "print(len(tf.config.list_physical_devices('GPU')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, env=_env(hide_gpus=False), check=False, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"error: could not start TensorFlow:\n{done.stderr[-2000:]}")
    return int(done.stdout.strip().splitlines()[-1]) > 0


def _env(*, hide_gpus: bool) -> dict[str, str]:
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    if hide_gpus:
        env["CUDA_VISIBLE_DEVICES"] = "-1"
    return env


def _measure(device: str, argv: list[str], deterministic: bool) -> dict:
    flags = ["--deterministic"] if deterministic else []
    done = subprocess.run([sys.executable, __file__, *argv, *flags, "--child", device], cwd=REPO,
                          capture_output=True, text=True, env=_env(hide_gpus=device == "cpu"),
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"error: the {device} run failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.child:  # a child process has the repository on PYTHONPATH (see _env)
        from models.bootstrap import bootstrap

        bootstrap()
        print(json.dumps(run_child(args.child, args)))
        return 0
    passthrough = ["--rows", str(args.rows), "--batch-size", str(args.batch_size),
                   "--steps", str(args.steps), "--warmup-steps", str(args.warmup_steps),
                   "--seed", str(args.seed)]
    devices = ["cpu", "gpu"] if args.devices == "auto" else [args.devices]
    if "gpu" in devices and not _gpu_visible():
        if args.devices == "gpu":
            print("error: TensorFlow sees no GPU on this machine", file=sys.stderr)
            return 2
        print("No GPU visible to TensorFlow: measuring the CPU only.")
        devices = ["cpu"]
    modes = {"on": [True], "off": [False], "both": [False, True]}[args.op_determinism]
    results = [_measure(d, passthrough, m) for d in devices for m in modes]
    print(f"{'device':<6} {'determ.':>7} {'replicas':>8} {'policy':<14} {'steps/s':>9} "
          f"{'examples/s':>11} {'warmup s':>9} {'loss':>7}")
    for r in results:
        print(f"{r['device']:<6} {'on' if r['op_determinism'] else 'off':>7} {r['replicas']:>8} "
              f"{r['policy']:<14} {r['steps_per_second']:>9} {r['examples_per_second']:>11} "
              f"{r['warmup_seconds']:>9} {r['final_loss']:>7}")
    summary: dict = {"results": results}
    by_device = {d: [r for r in results if r["device"] == d] for d in devices}
    if len(devices) == 2:
        ratio = by_device["gpu"][-1]["steps_per_second"] / by_device["cpu"][-1]["steps_per_second"]
        summary["gpu_over_cpu"] = round(ratio, 2)
        print(f"GPU/CPU steps/s: {ratio:.2f}x (batch {args.batch_size}, {args.rows} rows)")
    for device, (off, *on) in by_device.items():
        if on:
            ratio = on[0]["steps_per_second"] / off["steps_per_second"]
            summary[f"{device}_determinism_speed"] = round(ratio, 3)
            print(f"{device}: op determinism runs at {ratio:.3f}x the steps/s without it")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
