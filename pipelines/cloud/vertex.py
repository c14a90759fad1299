"""Runs and schedules on Vertex AI Pipelines (``aiplatform.PipelineJob``/``PipelineJobSchedule``).

The objects are built by pure functions from the config and the compiled spec, so tests check
exactly what would be sent without reaching Google Cloud. ``schedule`` is idempotent: a schedule
of the same display name with the same cron and spec fingerprint (a label on its pipeline job)
is kept; one that differs is deleted and created again.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from pipelines.cloud.compile import plan_schedule
from pipelines.cloud.config import CloudConfig, Schedule
from pipelines.cloud.kfp_client import CompiledSpec, ScheduleResult

SPEC_LABEL = "clickflow-spec"
SCHEDULE_LABEL = "clickflow-schedule"
# Why the run was started, when the monitor started it (kubeflow_runner.py --trigger-reason).
TRIGGER_LABEL = "clickflow-trigger"
# A Google Cloud label value: at most 63 lowercase letters, digits, '_' or '-'
# (cloud.google.com/resource-manager/docs/labels-overview#requirements).
LABEL_VALUE_MAX = 63
LABEL_VALUE_RE = re.compile(rf"[a-z0-9_-]{{1,{LABEL_VALUE_MAX}}}")


def vertex_cron(schedule: Schedule) -> str:
    """Vertex takes the time zone inside the cron: ``TZ=<IANA zone> <5 fields>``."""
    return f"TZ={schedule.time_zone} {schedule.cron}"


def pipeline_job_kwargs(c: CloudConfig, spec: CompiledSpec, *, display_name: str,
                        schedule: Schedule | None = None,
                        trigger_reason: str | None = None) -> dict[str, Any]:
    """The arguments of ``aiplatform.PipelineJob`` for one run of ``spec``; a trigger reason
    (already a label value, see ``LABEL_VALUE_RE``) becomes the ``TRIGGER_LABEL`` label, which
    the console shows and ``gcloud ai ... --filter=labels.clickflow-trigger:*`` finds."""
    labels = {SPEC_LABEL: spec.fingerprint}
    if schedule is not None:
        labels[SCHEDULE_LABEL] = schedule.name
    if trigger_reason is not None:
        labels[TRIGGER_LABEL] = trigger_reason
    return {
        "display_name": display_name,
        "template_path": str(spec.path),
        "pipeline_root": c.resolved_pipeline_root,
        "project": c.project,
        "location": c.region,
        # None keeps each task's compiled cachingOptions; True or False would overwrite them
        # all (aiplatform.pipeline_jobs._set_enable_caching_value), caching ExampleGen too.
        "enable_caching": None,
        "labels": labels,
    }


@dataclasses.dataclass(frozen=True)
class ScheduleRequest:
    """What ``PipelineJobSchedule(...).create(...)`` is called with, for one schedule."""

    display_name: str
    cron: str
    job_kwargs: dict[str, Any]
    create_kwargs: dict[str, Any]


def schedule_requests(c: CloudConfig, specs: dict[str, CompiledSpec]) -> list[ScheduleRequest]:
    out = []
    for s in c.schedules:
        cron = vertex_cron(s)
        out.append(ScheduleRequest(
            display_name=s.name, cron=cron,
            job_kwargs=pipeline_job_kwargs(c, specs[s.name], display_name=s.name, schedule=s),
            create_kwargs={"cron": cron, "max_concurrent_run_count": 1,
                           "service_account": c.service_account or None}))
    return out


def build_pipeline_job(job_kwargs: dict[str, Any], credentials: Any = None) -> Any:
    from google.cloud import aiplatform

    return aiplatform.PipelineJob(**job_kwargs, credentials=credentials)


def build_schedule(request: ScheduleRequest, credentials: Any = None) -> Any:
    from google.cloud import aiplatform

    job = build_pipeline_job(request.job_kwargs, credentials)
    return aiplatform.PipelineJobSchedule(pipeline_job=job, display_name=request.display_name,
                                          credentials=credentials)


def submit(c: CloudConfig, spec: CompiledSpec, display_name: str,
           trigger_reason: str | None = None) -> str:
    """Starts one run; returns its console URL."""
    job = build_pipeline_job(pipeline_job_kwargs(c, spec, display_name=display_name,
                                                 trigger_reason=trigger_reason))
    job.submit(service_account=c.service_account or None)
    return job._dashboard_uri()


def _signature(schedule: Any) -> tuple[str, str]:
    resource = schedule.gca_resource
    labels = resource.create_pipeline_job_request.pipeline_job.labels
    return resource.cron, labels.get(SPEC_LABEL, "")


def schedule(c: CloudConfig, specs: dict[str, CompiledSpec]) -> list[ScheduleResult]:
    """Creates or updates the daily and weekly schedules."""
    from google.cloud import aiplatform

    results = []
    for request in schedule_requests(c, specs):
        existing = aiplatform.PipelineJobSchedule.list(
            filter=f'display_name="{request.display_name}"', project=c.project,
            location=c.region)
        by_name = {s.resource_name: s for s in existing}
        keep, delete = plan_schedule(
            [(name, _signature(s)) for name, s in by_name.items()],
            (request.cron, request.job_kwargs["labels"][SPEC_LABEL]))
        for name in delete:
            by_name[name].delete()
        if keep is not None:
            results.append(ScheduleResult(request.display_name, "unchanged", keep, request.cron))
            continue
        created = build_schedule(request)
        created.create(**request.create_kwargs)
        results.append(ScheduleResult(request.display_name, "updated" if delete else "created",
                                      created.resource_name, request.cron))
    return results
