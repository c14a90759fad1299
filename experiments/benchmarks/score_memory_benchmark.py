"""Peak memory of the Score page's path on a large CSV, to size the dashboard's upload limit.

    .venv/bin/python experiments/benchmarks/score_memory_benchmark.py --megabytes 150
    .venv/bin/python experiments/benchmarks/score_memory_benchmark.py --megabytes 5   # smoke

It generates a CSV of about --megabytes (the project's generator, with labels), starts the
project's model server on a small real model in its own process (in the cluster the server is
another pod), and runs in this process what ``dashboard/views/score.py`` does, step by step:
the upload held in memory (Streamlit keeps an uploaded file as bytes), checked and scored
chunk by chunk where it is held, the preview read, the labelled metrics computed, and the
download made, as the download button's callable does when clicked. The process
first imports what the dashboard process imports (Streamlit, ``bootstrap``, the pages'
modules).

Peak RSS is the kernel's high-water mark (VmHWM in /proc/self/status), reset before each step
by writing 5 to /proc/self/clear_refs, so each step has its own peak; the peak over the whole
run is ``resource.getrusage(RUSAGE_SELF).ru_maxrss``.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

MIB = 1 << 20


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak() -> None:
    # Linux: "5" resets the peak RSS (VmHWM) to the current RSS (proc(5), clear_refs).
    Path("/proc/self/clear_refs").write_text("5")


def _step(results: list[dict], name: str, action):
    _reset_peak()
    start = time.perf_counter()
    value = action()
    results.append({"step": name, "seconds": round(time.perf_counter() - start, 2),
                    "peak_rss_mib": round(_rss_kib("VmHWM") / 1024, 1),
                    "rss_after_mib": round(_rss_kib("VmRSS") / 1024, 1)})
    print(json.dumps(results[-1]), flush=True)
    return value


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--megabytes", type=_positive, default=150.0,
                   help="size of the generated CSV in MB (default 150)")
    p.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = p.parse_args(argv)

    results: list[dict] = []
    _step(results, "imports (streamlit, bootstrap, dashboard modules)", _imports)
    from dashboard import batch, labelled, schema_form, scoring
    from dashboard.serving_client import ServingClient
    from pipelines.common.processes import ServiceProcess, free_port
    from pipelines.data import generator as data_generator

    work = Path(tempfile.mkdtemp(prefix="clickflow-score-bench-"))
    try:
        rows = _rows_for(args.megabytes, work, data_generator)
        csv_path = work / "ads.csv"
        # Generated in a child process, so its buffers are not counted as the dashboard's.
        subprocess.run([sys.executable, "-c", "import sys; from pipelines.data import generator; "
                        "generator.write_csv(sys.argv[1], rows=int(sys.argv[2]), seed=1)",
                        str(csv_path), str(rows)], check=True, cwd=REPO)
        size = csv_path.stat().st_size
        print(f"generated {rows:,} rows, {size / MIB:.1f} MiB", flush=True)
        # In a child process: TensorFlow building a model is not what the dashboard holds.
        subprocess.run([sys.executable, "-c", "import sys; from pipelines.testing.small_model "
                        "import export_small_model; export_small_model(sys.argv[1])",
                        str(work / "serving" / "clickflow" / "1")], check=True, cwd=REPO,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port = free_port()
        server = ServiceProcess(
            [sys.executable, "-m", "deployment.server", "--model-base-path",
             str(work / "serving" / "clickflow"), "--host", "127.0.0.1", "--port", str(port),
             "--grpc-port", "off"],
            url=f"http://127.0.0.1:{port}", log_file=work / "server.log", ready_path="/readyz",
            name="the model server")
        fields = schema_form.form_fields(schema_form.load_schema())
        with server, ServingClient(server.url, "clickflow", timeout=120) as client:
            upload = _step(results, "upload held in memory",
                           lambda: io.BytesIO(csv_path.read_bytes()))
            header = batch.read_header(upload, "ads.csv")
            version = client.serving_version()
            report = _step(results, "check and score in chunks", lambda: scoring.score_file(
                upload, header, fields, client, version, work))
            _step(results, "preview (first 1,000 rows)",
                  lambda: __import__("pandas").read_csv(report.scored_path, nrows=1000))
            _step(results, "labelled metrics", lambda: (
                labelled.auc(report.labels, report.probabilities),
                labelled.roc_curve(report.labels, report.probabilities),
                labelled.calibration(report.labels, report.probabilities)))
            offered = scoring.download(report.scored_path, "ads-predictions.csv")
            _step(results, f"download clicked ({offered.file_name})",
                  lambda: len(offered.data()))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        # The outputs are what the page writes to /tmp (an emptyDir of 256 MiB in the pod).
        written = report.scored_path.stat().st_size + report.rejected_path.stat().st_size
        summary = {"rows": rows, "csv_mib": round(size / MIB, 1),
                   "outputs_on_disk_mib": round(written / MIB, 1), "scored": report.scored,
                   "rejected": report.rejected, "peak_rss_mib": round(peak, 1), "steps": results}
        print(json.dumps({k: v for k, v in summary.items() if k != "steps"}), flush=True)
        if args.json:
            args.json.write_text(json.dumps(summary, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _imports() -> None:
    import streamlit  # noqa: F401

    from models.bootstrap import bootstrap

    bootstrap(autograph=False)
    from dashboard import batch, labelled, labelled_view, scoring, training_range, ui  # noqa: F401


def _rows_for(megabytes: float, work: Path, data_generator) -> int:
    sample = data_generator.write_csv(work / "sample.csv", rows=2_000, seed=1)
    per_row = sample.stat().st_size / 2_000
    sample.unlink()
    return max(int(megabytes * 1e6 / per_row), 1)


if __name__ == "__main__":
    sys.exit(main())
