"""``python -m pipelines.monitoring run`` skips and names a CVE-2023-47248 exploit file.

pyarrow's advisory (GHSA-5wvp-7f3h-6wmm): pyarrow < 14.0.1 unpickles a pickled
``arrow.py_extension_type`` from a Parquet file's schema, running its code. The request log and
the labels folder take files from others (the servers, a labelling job); a crafted one among
them is skipped like any unreadable file (the request-log contract: one bad file must not stop
the monitor, and a planted file must not switch monitoring off), with a problem line naming
it, while the good files are still judged. The real command runs in a fresh interpreter.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from pipelines.common.request_log import write_labels_file, write_request_log_file
from pipelines.testing.crafted_parquet import fresh_python, write_exploit
from pipelines.testing.traffic import generated, logged_requests

START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_the_monitor_skips_crafted_log_and_label_files(tmp_path: Path) -> None:
    # Requests logged in the day's first minute, judged from 00:30: their file is read (the
    # day's folder is), their rows are not in the window, so TFDV and TensorFlow stay unloaded.
    log, labels = logged_requests(generated(20, 1), version=5, start=START, seconds=60,
                                  id_prefix="a")
    [good_log] = write_request_log_file(tmp_path / "log", log)
    good_labels = write_labels_file(tmp_path / "labels", labels, "good")
    marker = tmp_path / "pwned"
    bad_log = write_exploit(good_log.with_name("part-003000-1-000099.parquet"), marker,
                            base=good_log)
    bad_labels = write_exploit(tmp_path / "labels" / "part-bad.parquet", marker,
                               base=good_labels)

    result = fresh_python(["-m", "pipelines.monitoring", "run", "--start", "2026-01-01T00:30",
                           "--last", "1h", "--log-dir", str(tmp_path / "log"), "--labels-dir",
                           str(tmp_path / "labels"), "--pipeline-root", str(tmp_path / "root"),
                           "--out-dir", str(tmp_path / "out"), "--no-metadata"])

    assert not marker.exists()
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    problems = [line.strip() for line in result.stdout.splitlines() if "problem:" in line]
    refusal = ("refused to read it: it holds a pickled Arrow extension type "
               "(arrow.py_extension_type), which pyarrow 10 would unpickle, running code from "
               "the file (CVE-2023-47248); rewrite it without that column, from a source you "
               "trust; skipped")
    assert problems == [f"problem: {bad_log}: {refusal}", f"problem: {bad_labels}: {refusal}"]
    # Logged as warnings too (the request log is read for this window and the previous one).
    assert set(result.stderr.splitlines()) == {f"{bad_log}: {refusal}", f"{bad_labels}: {refusal}"}
    [report] = (tmp_path / "out").glob("*/monitoring_report.json")
    assert json.loads(report.read_text())["labels"]["read"] == 20  # the good labels file
