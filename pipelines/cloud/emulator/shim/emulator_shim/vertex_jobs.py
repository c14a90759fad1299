"""Vertex AI's job service, as TFX's ``VertexJobClient`` uses it (create_custom_job,
get_custom_job), answered here: the CustomJob is validated against the aiplatform_v1 proto,
recorded, and its container command runs in a fresh process with ``CLUSTER_SPEC`` set as
Vertex sets it; the job's state comes back as the API reports it.

TFX's Vertex Trainer/Tuner executors, training_clients and runner are not changed.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from emulator_shim import custom_job as validation
from emulator_shim.hooks import settings
from google.api_core.exceptions import NotFound
from google.cloud import aiplatform_v1

_ids = itertools.count(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


class JobServiceClient:
    """The two calls of ``aiplatform.gapic.JobServiceClient`` that TFX makes."""

    def __init__(self, client_options: dict[str, Any] | None = None, **_: Any) -> None:
        self.endpoint = (client_options or {}).get("api_endpoint", "")
        self._jobs: dict[str, aiplatform_v1.CustomJob] = {}

    def create_custom_job(self, parent: str, custom_job: Any, **_: Any
                          ) -> aiplatform_v1.CustomJob:
        job = validation.validate(parent, custom_job)
        name = f"{parent}/customJobs/{os.getpid()}{next(_ids):03d}"
        job.name = name
        records = Path(settings()["records"])
        records.mkdir(parents=True, exist_ok=True)
        record = records / f"custom-job-{job.name.rsplit('/', 1)[1]}.json"
        record.write_text(json.dumps({"endpoint": self.endpoint, "parent": parent,
                                      "custom_job": type(job).to_dict(job)}, indent=1))
        job.state = self._run(job, record.with_suffix(".log"))
        self._jobs[name] = job
        return job

    def get_custom_job(self, name: str, **_: Any) -> aiplatform_v1.CustomJob:
        if name not in self._jobs:
            raise NotFound(f"CustomJob {name} not found")
        return self._jobs[name]

    def _run(self, job: aiplatform_v1.CustomJob, log: Path) -> aiplatform_v1.JobState:
        """Runs workerpool0's container command here (the job's image is the pipeline image
        this process runs in: same staged code, same PYTHONPATH)."""
        pool = job.job_spec.worker_pool_specs[0]
        command = [*pool.container_spec.command, *pool.container_spec.args]
        if command and command[0] in ("python", "python3"):
            command[0] = sys.executable
        env = {**os.environ, "CLUSTER_SPEC": json.dumps(
            validation.cluster_spec(job, job.name, _free_port()))}
        for variable in pool.container_spec.env:
            env[variable.name] = variable.value
        started = time.monotonic()
        with log.open("w") as out:
            rc = subprocess.call(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        print(f"clickflow-emulator: custom job {job.name} exited {rc} after "
              f"{time.monotonic() - started:.0f} s (log {log})", file=sys.stderr, flush=True)
        if rc != 0:
            with log.open() as f:
                tail = f.readlines()[-30:]
            print("".join(tail), file=sys.stderr, flush=True)
            return aiplatform_v1.JobState.JOB_STATE_FAILED
        return aiplatform_v1.JobState.JOB_STATE_SUCCEEDED


def patch(module: ModuleType) -> None:
    """``training_clients.gapic``, with only ``JobServiceClient`` answered here."""
    module.gapic = SimpleNamespace(JobServiceClient=JobServiceClient)
