"""The server's request log, read back, refuses a CVE-2023-47248 exploit and keeps the rest.

pyarrow's advisory (GHSA-5wvp-7f3h-6wmm): pyarrow < 14.0.1 unpickles a pickled
``arrow.py_extension_type`` from a Parquet file's schema, running its code. The server only
writes its log; whoever can write to that folder can plant a file with a valid part name. The
contract's reader (``request_log.read_request_log``: the monitor's) runs in a fresh interpreter
over the real writer's files plus the planted one: every logged row survives, the planted file
is skipped with a warning naming it.
"""

from __future__ import annotations

import json
from pathlib import Path

from deployment.server import log_writer
from deployment.server.log_writer_test import _entry
from pipelines.testing.crafted_parquet import fresh_python, write_exploit

_READ_BACK = r"""
import json, logging, sys
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
from pipelines.common import request_log
table, problems = request_log.read_request_log(sys.argv[1])
print(json.dumps({"ids": sorted(table["request_id"].to_pylist()), "problems": problems}))
"""


def test_a_planted_file_is_skipped_and_named_and_the_log_kept(tmp_path: Path) -> None:
    writer = log_writer.RequestLogWriter(tmp_path / "log", roll_records=2)
    writer.start()
    for i in range(4):
        writer.submit(_entry(f"g{i}", 1))
    writer.close()
    good = sorted((tmp_path / "log").rglob("part-*.parquet"))
    assert len(good) == 2
    marker = tmp_path / "pwned"
    planted = write_exploit(good[0].with_name("part-235959-1-999999.parquet"), marker,
                            base=good[0])

    result = fresh_python(["-c", _READ_BACK, str(tmp_path / "log")])

    assert not marker.exists()
    assert result.returncode == 0, result.stderr
    read = json.loads(result.stdout)
    assert read["ids"] == ["g0", "g1", "g2", "g3"]
    [problem] = read["problems"]
    assert problem.startswith(f"{planted}: refused to read it: it holds a pickled Arrow ")
    assert "CVE-2023-47248" in problem and problem.endswith("; skipped")
    assert result.stderr.splitlines() == [f"WARNING pipelines.common.request_log: {problem}"]
