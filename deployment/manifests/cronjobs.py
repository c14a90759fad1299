"""Checks of the monitor and ingestion CronJobs and the cloud settings they read. Like ``check``,
each returns readable problems (empty when all is well)."""

from __future__ import annotations

import re
import tempfile
from typing import Any

from deployment.manifests import (
    BASE_PATH_KEY,
    BUCKET_KEY,
    CLOUD_CONFIG_FILE,
    CLOUD_CONFIG_MAP,
    INGEST_CRONJOB,
    MONITOR_CRONJOB,
    SERVING_ENV_CONFIG_MAP,
    WORKLOAD_IDENTITY_ANNOTATION,
    ManifestError,
)
from deployment.manifests.render import describe, find, pod_specs
from deployment.manifests.sidecar import REQUEST_LOG, env_from_config_map, policies_for

# The monitor's command, as deployment/README.md documents it (pipelines.monitoring's flags).
MONITOR_COMMAND = [
    "python", "-m", "pipelines.monitoring", "run", "--log-dir", REQUEST_LOG,
    "--labels-dir", f"gs://$({BUCKET_KEY})/labels", "--out-dir", f"gs://$({BUCKET_KEY})/monitoring",
    "--serving-model-dir", f"$({BASE_PATH_KEY})", "--no-metadata", "--trigger", "cloud",
    "--cloud-config", CLOUD_CONFIG_FILE]
GSA_RE = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]"
                    r"\.iam\.gserviceaccount\.com")


def cronjob_problems(objects: list[dict[str, Any]]) -> list[str]:
    problems = []
    env_map = find(objects, "ConfigMap", SERVING_ENV_CONFIG_MAP)
    for name in (MONITOR_CRONJOB, INGEST_CRONJOB):
        cronjob = find(objects, "CronJob", name)
        if cronjob is None:
            problems.append(f"no CronJob {name}")
            continue
        problems += _cronjob_problems(objects, cronjob)
        pod = next(pod_specs(cronjob), {})
        [container, *_] = pod.get("containers") or [{}]
        command = [*(container.get("command") or []), *(container.get("args") or [])]
        if name == MONITOR_CRONJOB:
            problems += _monitor_command_problems(describe(cronjob), command)
            for key, why in ((BUCKET_KEY, "the bucket the proxy logs to"),
                             (BASE_PATH_KEY, "the versions TF Serving reads, which carry "
                                             "their training statistics")):
                if env_map is not None and not env_from_config_map(
                        container, key, env_map["metadata"]["name"]):
                    problems.append(f"{describe(cronjob)}: must read {key} from ConfigMap "
                                    f"{env_map['metadata']['name']} ({why})")
        elif not re.search(rf"python -m pipelines\.cloud\.ingest --config {CLOUD_CONFIG_FILE} "
                           r"--day \S", " ".join(" ".join(map(str, command)).split())):
            problems.append(f"{describe(cronjob)}: command must run python -m "
                            f"pipelines.cloud.ingest --config {CLOUD_CONFIG_FILE} --day DAY, "
                            f"is {command}")
    return [*problems, *cloud_config_problems(objects)]


def _monitor_command_problems(where: str, command: list[str]) -> list[str]:
    """MONITOR_COMMAND, optionally followed by ``--labels-table PROJECT.DATASET.TABLE`` (an
    overlay's patch, when the delayed labels live in BigQuery; the monitor then reads them there
    instead of --labels-dir)."""
    from pipelines.monitoring.labels_table import LabelsTableError, check_table

    command = [str(c) for c in command]
    head, extra = command[:len(MONITOR_COMMAND)], command[len(MONITOR_COMMAND):]
    if head == MONITOR_COMMAND and len(extra) == 1 and extra[0].startswith("--labels-table="):
        extra = ["--labels-table", extra[0].split("=", 1)[1]]
    if head != MONITOR_COMMAND or extra[:1] not in ([], ["--labels-table"]) or len(extra) == 1 \
            or len(extra) > 2:
        return [f"{where}: command must be {' '.join(MONITOR_COMMAND)} [--labels-table "
                f"PROJECT.DATASET.TABLE], is {' '.join(command)}"]
    if extra:
        try:
            check_table(extra[1])
        except LabelsTableError as err:
            return [f"{where}: --labels-table {extra[1]!r}: {str(err).split(': ', 1)[-1]}"]
    return []


def _cronjob_problems(objects: list[dict[str, Any]], cronjob: dict[str, Any]) -> list[str]:
    where, spec = describe(cronjob), cronjob["spec"]
    problems = []
    if spec.get("concurrencyPolicy") != "Forbid":
        problems.append(f"{where}: concurrencyPolicy must be Forbid (two runs would race on "
                        f"their state), is {spec.get('concurrencyPolicy')!r}")
    job = (spec.get("jobTemplate") or {}).get("spec") or {}
    for field, value in (("spec.startingDeadlineSeconds", spec.get("startingDeadlineSeconds")),
                         ("jobTemplate.spec.activeDeadlineSeconds",
                          job.get("activeDeadlineSeconds")),
                         ("jobTemplate.spec.backoffLimit", job.get("backoffLimit"))):
        if not isinstance(value, int):
            problems.append(f"{where}: {field} must be set (a number)")
    pod = next(pod_specs(cronjob), {})
    if pod.get("restartPolicy") not in ("Never", "OnFailure"):
        problems.append(f"{where}: restartPolicy must be Never or OnFailure")
    account = find(objects, "ServiceAccount", pod.get("serviceAccountName", ""))
    annotations = ((account or {}).get("metadata") or {}).get("annotations") or {}
    if pod.get("serviceAccountName") != cronjob["metadata"]["name"] or account is None or \
            not GSA_RE.fullmatch(annotations.get(WORKLOAD_IDENTITY_ANNOTATION, "")):
        problems.append(f"{where}: needs its own ServiceAccount {cronjob['metadata']['name']} "
                        f"annotated {WORKLOAD_IDENTITY_ANNOTATION}: "
                        "NAME@PROJECT.iam.gserviceaccount.com (Workload Identity)")
    if pod.get("automountServiceAccountToken") is not False:
        problems.append(f"{where}: automountServiceAccountToken must be false (the job does "
                        "not call the Kubernetes API)")
    labels = ((job.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if not any({"Ingress", "Egress"} <= set(p["spec"].get("policyTypes") or [])
               for p in policies_for(objects, labels)):
        problems.append(f"{where}: no NetworkPolicy (Ingress and Egress) selects its pods")
    [container, *_] = pod.get("containers") or [{}]
    config_map = find(objects, "ConfigMap", CLOUD_CONFIG_MAP)
    volumes = {v.get("name"): (v.get("configMap") or {}).get("name") for v in
               pod.get("volumes") or []}
    directory, _, key = CLOUD_CONFIG_FILE.rpartition("/")
    mounted = [m for m in container.get("volumeMounts") or [] if m.get("mountPath") == directory]
    if config_map is None or not mounted or \
            volumes.get(mounted[0].get("name")) != config_map["metadata"]["name"] or \
            key not in (config_map.get("data") or {}):
        problems.append(f"{where}: {CLOUD_CONFIG_FILE} must be the key {key} of ConfigMap "
                        f"{CLOUD_CONFIG_MAP}, mounted at {directory}")
    return problems


def cloud_config_problems(objects: list[dict[str, Any]]) -> list[str]:
    """The CronJobs' cloud.yaml is a valid cloud config of the same bucket and model path as
    the serving pods (its bucket is the request log's, its Pusher path what TF Serving reads)."""
    from pipelines.cloud.config import load_cloud_config
    from pipelines.common.errors import ClickflowError

    config_map = find(objects, "ConfigMap", CLOUD_CONFIG_MAP)
    env_map = find(objects, "ConfigMap", SERVING_ENV_CONFIG_MAP)
    if config_map is None or env_map is None:
        return [] if config_map is None else [f"no ConfigMap {SERVING_ENV_CONFIG_MAP}"]
    key = CLOUD_CONFIG_FILE.rsplit("/", 1)[1]
    text = (config_map.get("data") or {}).get(key)
    if text is None:
        return []  # _cronjob_problems names it
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as file:
        file.write(text)
        file.flush()
        try:
            config = load_cloud_config(file.name, environ={})
        except (ClickflowError, ManifestError, ValueError) as err:
            message = str(err).replace(file.name, key)
            return [f"{describe(config_map)}: {key} is not a valid cloud config: {message}"]
    data = env_map.get("data") or {}
    problems = []
    if config.bucket != data.get(BUCKET_KEY):
        problems.append(f"{describe(config_map)}: {key} bucket {config.bucket!r} is not "
                        f"{BUCKET_KEY}={data.get(BUCKET_KEY)!r} of {describe(env_map)}")
    if config.resolved_serving_model_base_path != data.get(BASE_PATH_KEY):
        problems.append(f"{describe(config_map)}: {key} pushes models to "
                        f"{config.resolved_serving_model_base_path!r}, TF Serving reads "
                        f"{BASE_PATH_KEY}={data.get(BASE_PATH_KEY)!r}")
    return problems
