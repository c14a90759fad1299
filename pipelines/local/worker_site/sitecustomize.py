"""Python imports this at the start of each Beam worker process of a local multi-process run
(the runner puts this folder on the workers' PYTHONPATH): the workers are new interpreters,
which ``safe_parquet.guard()`` in the runner never reached (CVE-2023-47248)."""

import pyarrow_hotfix  # noqa: F401
