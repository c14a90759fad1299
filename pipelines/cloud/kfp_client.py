"""Runs and recurring runs on Kubeflow Pipelines 2.x, through the ``kfp`` client (v2beta1 API).

Recurring runs carry the compiled spec inline. ``schedule`` is idempotent: a recurring run of the
same name whose description records the same spec fingerprint and cron is kept; one that differs
is deleted and created again (KFP has no update of a recurring run's spec or trigger).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipelines.cloud.compile import plan_schedule
from pipelines.cloud.config import CloudConfig, Schedule
from pipelines.common.errors import ConfigError

PAGE_SIZE = 100


@dataclasses.dataclass(frozen=True)
class CompiledSpec:
    """A spec written to ``path`` and its content fingerprint."""

    path: Path
    fingerprint: str


@dataclasses.dataclass(frozen=True)
class ScheduleResult:
    name: str
    action: str  # "created", "updated" or "unchanged"
    recurring_run_id: str
    cron: str


def kfp_cron(schedule: Schedule, scheduler_time_zone: str) -> str:
    """KFP's 6-field cron (seconds first) for a 5-field expression.

    KFP evaluates every cron in its scheduler's one time zone (the ``CRON_SCHEDULE_TIMEZONE``
    of ml-pipeline-scheduledworkflow, UTC unless changed), so a schedule in any other zone
    cannot be honoured and is refused instead of silently shifted.
    """
    if schedule.time_zone != scheduler_time_zone:
        raise ConfigError(
            f"{schedule.name}: time zone {schedule.time_zone!r} differs from "
            f"kfp_scheduler_time_zone={scheduler_time_zone!r}; KFP runs every recurring run in "
            "its scheduler's time zone (CRON_SCHEDULE_TIMEZONE of ml-pipeline-scheduledworkflow)."
            " Set the schedule's *_time_zone to it, or change the cluster's setting and "
            "kfp_scheduler_time_zone together")
    return f"0 {schedule.cron}"


def description(schedule: Schedule, fingerprint: str, cron: str) -> str:
    """What a recurring run records about itself; equal descriptions mean nothing changed."""
    return (f"clickflow {schedule.name} (tune={str(schedule.tune).lower()}); managed by "
            f"kubeflow_runner.py schedule; spec {fingerprint}; cron '{cron}' "
            f"({schedule.time_zone})")


def connect(c: CloudConfig) -> Any:
    import kfp

    c.require_kfp_host()
    return kfp.Client(host=c.kfp_host, namespace=c.kfp_namespace or "kubeflow")


def _namespace(c: CloudConfig) -> str | None:
    return c.kfp_namespace or None


def run_url(c: CloudConfig, run_id: str) -> str:
    return f"{c.kfp_host.rstrip('/')}/#/runs/details/{run_id}"


def submit(client: Any, c: CloudConfig, spec: CompiledSpec, run_name: str) -> str:
    """Starts one run in the configured experiment; returns the run's URL."""
    result = client.create_run_from_pipeline_package(
        str(spec.path), arguments={}, run_name=run_name, experiment_name=c.kfp_experiment,
        namespace=_namespace(c), pipeline_root=c.resolved_pipeline_root,
        service_account=c.service_account or None)
    return run_url(c, result.run_id)


def _existing(client: Any, experiment_id: str, name: str) -> list[Any]:
    name_filter = json.dumps({"predicates": [
        {"operation": "EQUALS", "key": "display_name", "stringValue": name}]})
    found, token = [], ""
    while True:
        page = client.list_recurring_runs(page_token=token, page_size=PAGE_SIZE,
                                          experiment_id=experiment_id, filter=name_filter)
        found += [r for r in (page.recurring_runs or []) if r.display_name == name]
        token = page.next_page_token or ""
        if not token:
            return found


def schedule(client: Any, c: CloudConfig,
             specs: Mapping[str, CompiledSpec]) -> list[ScheduleResult]:
    """Creates or updates the daily and weekly recurring runs; ``specs`` by schedule name."""
    crons = {s.name: kfp_cron(s, c.kfp_scheduler_time_zone) for s in c.schedules}
    experiment = client.create_experiment(name=c.kfp_experiment, namespace=_namespace(c))
    results = []
    for s in c.schedules:
        spec, cron = specs[s.name], crons[s.name]
        wanted = description(s, spec.fingerprint, cron)
        existing = _existing(client, experiment.experiment_id, s.name)
        keep, delete = plan_schedule(
            [(r.recurring_run_id, (r.description, _cron_of(r))) for r in existing],
            (wanted, cron))
        for recurring_run_id in delete:
            client.delete_recurring_run(recurring_run_id)
        if keep is not None:
            results.append(ScheduleResult(s.name, "unchanged", keep, cron))
            continue
        created = client.create_recurring_run(
            experiment_id=experiment.experiment_id, job_name=s.name, description=wanted,
            cron_expression=cron, max_concurrency=1, no_catchup=True,
            pipeline_package_path=str(spec.path), pipeline_root=c.resolved_pipeline_root,
            service_account=c.service_account or None)
        results.append(ScheduleResult(s.name, "updated" if delete else "created",
                                      created.recurring_run_id, cron))
    return results


def _cron_of(recurring_run: Any) -> str | None:
    trigger = recurring_run.trigger
    if trigger is None or trigger.cron_schedule is None:
        return None
    return trigger.cron_schedule.cron


def error_summary(err: BaseException) -> str:
    """One line for a failed request: the server's own message where it sent one.

    KFP answers a refused request with grpc-gateway's JSON (``message``, and ``error`` in
    gateway v1); ``kfp_server_api``'s ApiException shows only "(500)" on its first line and the
    body further down, so the body is read here. Other errors give their first line.
    """
    status, body = getattr(err, "status", None), getattr(err, "body", None)
    try:
        payload = json.loads(body) if body else None
    except (TypeError, ValueError):
        payload = None
    message = ""
    if isinstance(payload, dict):
        message = str(payload.get("message") or payload.get("error") or "")
    text = message.strip() or str(err).strip()
    first = text.splitlines()[0] if text else ""
    return f"HTTP {status}: {first}" if message and status else first
