"""A CustomJob checked as Vertex AI's ``CreateCustomJob`` checks it, before anything runs.

The message is parsed into the ``google.cloud.aiplatform_v1`` proto (an unknown field fails,
as the API's JSON parser refuses it), then the fields the API requires are checked: a display
name, at least one worker pool, each with a machine type and a container image (or Python
package), workerpool0 with exactly one replica, a matching accelerator type/count, and a
service account that is an email address. A refusal raises ``InvalidArgument``, the error the
real client raises for HTTP 400 / gRPC INVALID_ARGUMENT.
"""

from __future__ import annotations

import re
from typing import Any

from google.api_core.exceptions import InvalidArgument
from google.cloud import aiplatform_v1

_PARENT_RE = re.compile(r"^projects/[^/]+/locations/[a-z]+-[a-z]+[0-9]+$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def validate(parent: str, custom_job: dict[str, Any] | aiplatform_v1.CustomJob
             ) -> aiplatform_v1.CustomJob:
    """The job as the API would store it, or InvalidArgument naming the field."""
    if not _PARENT_RE.match(parent or ""):
        raise InvalidArgument(f"parent {parent!r}: expected projects/PROJECT/locations/REGION")
    try:
        job = (custom_job if isinstance(custom_job, aiplatform_v1.CustomJob)
               else aiplatform_v1.CustomJob(custom_job))
    except (ValueError, TypeError) as err:
        raise InvalidArgument(f"Invalid JSON payload received. {err}") from None
    problems = []
    if not job.display_name:
        problems.append("custom_job.display_name is required")
    pools = list(job.job_spec.worker_pool_specs)
    if not pools:
        problems.append("custom_job.job_spec.worker_pool_specs must have at least one pool")
    for i, pool in enumerate(pools):
        where = f"custom_job.job_spec.worker_pool_specs[{i}]"
        if not pool.machine_spec.machine_type:
            problems.append(f"{where}.machine_spec.machine_type is required")
        has_container = bool(pool.container_spec.image_uri)
        has_package = bool(pool.python_package_spec.executor_image_uri)
        if not has_container and not has_package:
            problems.append(f"{where}.container_spec.image_uri is required")
        accelerator = pool.machine_spec.accelerator_type
        count = pool.machine_spec.accelerator_count
        if bool(accelerator) != bool(count):
            problems.append(f"{where}.machine_spec: accelerator_type and accelerator_count go "
                            f"together (got {accelerator.name}, {count})")
        if i == 0 and pool.replica_count != 1:
            problems.append(f"{where}.replica_count must be 1 for the primary pool, got "
                            f"{pool.replica_count}")
    account = job.job_spec.service_account
    if account and not _EMAIL_RE.match(account):
        problems.append(f"custom_job.job_spec.service_account {account!r} is not a service "
                        "account email")
    if problems:
        raise InvalidArgument("; ".join(problems))
    return job


def cluster_spec(job: aiplatform_v1.CustomJob, job_name: str, port: int) -> dict[str, Any]:
    """The ``CLUSTER_SPEC`` Vertex sets in the primary replica of a single-replica job
    (https://cloud.google.com/vertex-ai/docs/training/distributed-training#cluster-spec-format:
    ``cluster`` maps each pool to its replicas' host:port, ``task`` names this replica,
    ``job`` holds the CustomJobSpec)."""
    spec = type(job.job_spec).to_dict(job.job_spec)
    return {"cluster": {"workerpool0": [f"localhost:{port}"]}, "environment": "cloud",
            "task": {"type": "workerpool0", "index": 0}, "job": spec, "job_name": job_name}
