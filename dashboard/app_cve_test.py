"""The dashboard's process refuses a CVE-2023-47248 exploit once its app script has run.

pyarrow's advisory (GHSA-5wvp-7f3h-6wmm): pyarrow < 14.0.1 unpickles a pickled
``arrow.py_extension_type`` from a Parquet file's schema, running its code. The dashboard reads
no Parquet of ours today (reports are JSON, uploads CSV), but what it runs can (TFMA reads
Parquet results, and the monitor's request-log readers are importable here), so
``dashboard/app.py`` arms the whole process. A fresh interpreter runs the app script as
Streamlit does (AppTest: the script as ``__main__``, its pages by ``st.navigation``), then reads
the file the way a library would, with pyarrow itself.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.common.processes import free_port
from pipelines.testing.crafted_parquet import fresh_python, write_exploit

_RUN_APP_THEN_READ = r"""
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("dashboard/app.py", default_timeout=60).run()
assert not at.exception, [e.value for e in at.exception]
import pyarrow.parquet as pq
try:
    pq.read_schema(sys.argv[1])
except RuntimeError as err:
    print(str(err).splitlines()[0])
    sys.exit(3)
"""


def test_the_app_arms_its_process_before_a_page_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = write_exploit(tmp_path / "crafted.parquet", marker)
    result = fresh_python(["-c", _RUN_APP_THEN_READ, str(path)],
                          CLICKFLOW_SERVING_URL=f"http://127.0.0.1:{free_port()}",
                          CLICKFLOW_PIPELINE_ROOT=str(tmp_path / "root"))
    assert not marker.exists()
    assert result.returncode == 3, result.stderr
    assert result.stdout.strip() == "Disallowed deserialization of 'arrow.py_extension_type':"
