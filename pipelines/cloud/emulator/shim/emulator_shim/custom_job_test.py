"""The CustomJob checks that Vertex AI's CreateCustomJob makes, on the job TFX builds."""

import copy
import sys
from pathlib import Path

import pytest
from google.api_core.exceptions import InvalidArgument

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the shim folder, as in a task
from emulator_shim import custom_job

PARENT = "projects/my-gcp-project/locations/us-central1"
JOB = {"display_name": "tfx_20260101_0001", "labels": {"tfx_executor": "x"},
       "encryption_spec": {},
       "job_spec": {"service_account": "trainer@my-gcp-project.iam.gserviceaccount.com",
                    "worker_pool_specs": [{
                        "machine_spec": {"machine_type": "n1-standard-8",
                                         "accelerator_type": "NVIDIA_TESLA_T4",
                                         "accelerator_count": 1},
                        "replica_count": 1,
                        "container_spec": {
                            "image_uri": "region-docker.pkg.dev/p/r/i:1",
                            "command": ["python", "-m", "tfx.scripts.run_executor"]}}]}}


def _job(**changes) -> dict:
    job = copy.deepcopy(JOB)
    pool = job["job_spec"]["worker_pool_specs"][0]
    for path, value in changes.items():
        target = {"pool": pool, "machine": pool["machine_spec"], "container":
                  pool["container_spec"], "spec": job["job_spec"], "job": job}[path.split("__")[0]]
        key = path.split("__")[1]
        if value is None:
            target.pop(key)
        else:
            target[key] = value
    return job


def test_the_job_tfx_builds_is_accepted() -> None:
    job = custom_job.validate(PARENT, _job())
    assert job.job_spec.service_account == JOB["job_spec"]["service_account"]


@pytest.mark.parametrize(("changes", "message"), [
    ({"job__bogus": 1}, "Unknown field for CustomJob: bogus"),
    ({"machine__machine_typo": "x"}, "Unknown field for MachineSpec"),
    ({"container__image_uri": None}, "container_spec.image_uri is required"),
    ({"machine__machine_type": None}, "machine_spec.machine_type is required"),
    ({"machine__accelerator_count": 0}, "accelerator_type and accelerator_count go together"),
    ({"pool__replica_count": 2}, "replica_count must be 1"),
    ({"spec__service_account": "trainer"}, "not a service account email"),
    ({"job__display_name": None}, "display_name is required"),
])
def test_a_job_the_api_would_refuse_is_refused(changes, message) -> None:
    with pytest.raises(InvalidArgument, match=message):
        custom_job.validate(PARENT, _job(**changes))


def test_a_bad_parent_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="parent"):
        custom_job.validate("projects/p", _job())


def test_cluster_spec_is_vertexs_single_replica_form() -> None:
    spec = custom_job.cluster_spec(custom_job.validate(PARENT, _job()), "jobs/1", 2222)
    assert spec["cluster"] == {"workerpool0": ["localhost:2222"]}
    assert spec["task"] == {"type": "workerpool0", "index": 0}
    assert spec["environment"] == "cloud"
