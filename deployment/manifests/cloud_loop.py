"""Checks of the cloud loop's manifests: the request-logging proxy in front of TF Serving in the
serving pod, and the monitor and ingestion CronJobs. Like ``check``, each returns readable
problems (empty when all is well).

The proxy's contract is ``deployment/server/proxy.py`` (``/readyz`` is 200 only while the backend
has an AVAILABLE version of every model, ``/healthz`` 503 once the request log's writer stopped;
``/v1/...`` and ``/monitoring/...`` are forwarded). TF Serving cannot bind loopback only
(tensorflow/serving ``model_servers/server.cc`` listens on ``"0.0.0.0:" + grpc_port``; its REST
server's ``net_http::ServerOptions`` get a port and no address, and ``evhttp_server.cc`` then binds
``"::"``), so its ports must stay out of the Service and the NetworkPolicy.
"""

from __future__ import annotations

import re
import tempfile
from typing import Any

from deployment.manifests import (
    BACKEND_GRPC_PORT,
    BACKEND_REST_PORT,
    BASE_PATH_KEY,
    BUCKET_KEY,
    CLOUD_CONFIG_FILE,
    CLOUD_CONFIG_MAP,
    GRPC_PORT,
    INGEST_CRONJOB,
    MONITOR_CRONJOB,
    PROXY_CONTAINER,
    REST_PORT,
    SERVING_CONTAINER,
    SERVING_DEPLOYMENT,
    SERVING_ENV_CONFIG_MAP,
    WORKLOAD_IDENTITY_ANNOTATION,
    ManifestError,
)
from deployment.manifests.render import describe, find, pod_specs

REQUEST_LOG = f"gs://$({BUCKET_KEY})/request_log"
# The monitor's command, as deployment/README.md documents it (pipelines.monitoring's flags).
MONITOR_COMMAND = [
    "python", "-m", "pipelines.monitoring", "run", "--log-dir", REQUEST_LOG,
    "--labels-dir", f"gs://$({BUCKET_KEY})/labels", "--out-dir", f"gs://$({BUCKET_KEY})/monitoring",
    "--no-metadata", "--trigger", "cloud", "--cloud-config", CLOUD_CONFIG_FILE]
GSA_RE = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]"
                    r"\.iam\.gserviceaccount\.com")


def flags(args: list[str]) -> dict[str, str]:
    """``--name=value`` and ``--name value`` arguments by name (a lone ``--flag`` maps to '')."""
    out: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = str(args[i])
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            if not eq and i + 1 < len(args) and not str(args[i + 1]).startswith("--"):
                value, i = str(args[i + 1]), i + 1
            out[name] = value
        i += 1
    return out


def _env_from_config_map(container: dict[str, Any], name: str, config_map: str) -> bool:
    for env in container.get("env") or []:
        ref = ((env.get("valueFrom") or {}).get("configMapKeyRef")) or {}
        if env.get("name") == name and ref.get("name") == config_map and ref.get("key") == name:
            return True
    return False


def _port(container: dict[str, Any], ref: Any) -> Any:
    """A probe's or Service's port (a name or a number) as a number of ``container``."""
    named = {p.get("name"): p.get("containerPort") for p in container.get("ports") or []}
    return named.get(ref, ref)


def proxy_problems(objects: list[dict[str, Any]]) -> list[str]:
    deployment = find(objects, "Deployment", SERVING_DEPLOYMENT)
    env_map = find(objects, "ConfigMap", SERVING_ENV_CONFIG_MAP)
    if deployment is None or env_map is None:
        return []  # consistency_problems names what is missing
    where = describe(deployment)
    pod = deployment["spec"]["template"]["spec"]
    by_name = {c.get("name"): c for c in pod.get("containers") or []}
    proxy, server = by_name.get(PROXY_CONTAINER), by_name.get(SERVING_CONTAINER)
    if proxy is None or server is None:
        return [f"{where}: needs containers {SERVING_CONTAINER!r} and {PROXY_CONTAINER!r} (the "
                "request-logging proxy in front of TF Serving)"]
    problems = []
    args = flags([*(proxy.get("command") or [])[1:], *(proxy.get("args") or [])])
    expected = {"host": "0.0.0.0", "port": str(REST_PORT), "grpc-port": str(GRPC_PORT),
                "proxy-rest": f"http://127.0.0.1:{BACKEND_REST_PORT}",
                "proxy-grpc": f"127.0.0.1:{BACKEND_GRPC_PORT}", "request-log-dir": REQUEST_LOG}
    for flag, value in expected.items():
        if args.get(flag) != value:
            problems.append(f"{where}: {PROXY_CONTAINER} needs --{flag}={value}, has "
                            f"{args.get(flag)!r}")
    if "no-request-log" in args:
        problems.append(f"{where}: {PROXY_CONTAINER} has --no-request-log: nothing would be logged")
    if not _env_from_config_map(proxy, BUCKET_KEY, env_map["metadata"]["name"]):
        problems.append(f"{where}: {PROXY_CONTAINER} must read {BUCKET_KEY} from ConfigMap "
                        f"{env_map['metadata']['name']} (its --request-log-dir names it)")
    server_config = flags(server.get("args") or []).get("model_config_file")
    if args.get("model-config-file") != server_config:
        problems.append(f"{where}: {PROXY_CONTAINER} --model-config-file must be TF Serving's "
                        f"{server_config!r} (the same model names and labels), is "
                        f"{args.get('model-config-file')!r}")
    proxy_ports = {p.get("containerPort") for p in proxy.get("ports") or []}
    if proxy_ports != {REST_PORT, GRPC_PORT} or _port(proxy, "http") != REST_PORT:
        problems.append(f"{where}: {PROXY_CONTAINER} ports must be http={REST_PORT}, "
                        f"grpc={GRPC_PORT}")
    backend_ports = {p.get("containerPort") for p in server.get("ports") or []}
    if backend_ports & {REST_PORT, GRPC_PORT}:
        problems.append(f"{where}: {SERVING_CONTAINER} must not use the proxy's ports "
                        f"{REST_PORT}/{GRPC_PORT} (it listens on {BACKEND_REST_PORT}/"
                        f"{BACKEND_GRPC_PORT})")
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = (proxy.get(probe) or {}).get("httpGet") or {}
        if get.get("path") != path or _port(proxy, get.get("port")) != REST_PORT:
            problems.append(f"{where}: {PROXY_CONTAINER} {probe} must GET {path} on {REST_PORT} "
                            f"(the proxy's view of its backend), is {get}")
    annotations = deployment["spec"]["template"]["metadata"].get("annotations") or {}
    if annotations.get("prometheus.io/port") != str(REST_PORT) or \
            not annotations.get("prometheus.io/path", "").startswith("/monitoring/"):
        problems.append(f"{where}: prometheus.io/port must be the proxy's {REST_PORT} and "
                        "prometheus.io/path under /monitoring/ (which the proxy forwards), are "
                        f"{annotations.get('prometheus.io/port')!r}, "
                        f"{annotations.get('prometheus.io/path')!r}")
    return [*problems, *_service_problems(objects, proxy, server),
            *_network_policy_problems(objects, deployment)]


def _service_problems(objects: list[dict[str, Any]], proxy: dict[str, Any],
                      server: dict[str, Any]) -> list[str]:
    service = find(objects, "Service", SERVING_DEPLOYMENT)
    if service is None:
        return []
    problems = []
    targets = {}
    for port in service["spec"].get("ports") or []:
        target = port.get("targetPort", port.get("port"))
        number = _port(proxy, target)
        targets[port.get("name")] = number
        backend = {BACKEND_REST_PORT, BACKEND_GRPC_PORT} | {
            p.get("name") for p in server.get("ports") or []}
        if target in backend or number in (BACKEND_REST_PORT, BACKEND_GRPC_PORT):
            problems.append(f"{describe(service)}: port {port.get('name')!r} targets TF "
                            f"Serving's {target!r}: clients must go through the proxy")
    if targets.get("http") != REST_PORT or targets.get("grpc") != GRPC_PORT:
        problems.append(f"{describe(service)}: ports 'http' and 'grpc' must target the proxy's "
                        f"{REST_PORT} and {GRPC_PORT}, target {targets}")
    return problems


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        value, values = labels.get(expression.get("key")), expression.get("values") or []
        operator = expression.get("operator")
        if (operator == "In" and value not in values) or \
                (operator == "NotIn" and value in values) or \
                (operator == "Exists" and value is None) or \
                (operator == "DoesNotExist" and value is not None):
            return False
    return True


def _policies_for(objects: list[dict[str, Any]], labels: dict[str, str]) -> list[dict[str, Any]]:
    return [o for o in objects if o.get("kind") == "NetworkPolicy"
            and selects(o["spec"].get("podSelector") or {}, labels)]


def _network_policy_problems(objects: list[dict[str, Any]],
                             deployment: dict[str, Any]) -> list[str]:
    labels = deployment["spec"]["template"]["metadata"].get("labels") or {}
    policies = [p for p in _policies_for(objects, labels)
                if "Ingress" in (p["spec"].get("policyTypes") or [])]
    if not policies:
        return [f"{describe(deployment)}: no NetworkPolicy limits who reaches the serving pods"]
    opened: set[Any] = set()
    for policy in policies:
        for rule in policy["spec"].get("ingress") or []:
            if not rule.get("ports"):
                return [f"{describe(policy)}: an ingress rule without ports opens TF Serving's "
                        f"{BACKEND_REST_PORT}/{BACKEND_GRPC_PORT} too; list the proxy's ports"]
            opened |= {p.get("port") for p in rule["ports"]}
    if opened != {REST_PORT, GRPC_PORT}:
        return [f"NetworkPolicy for {describe(deployment)}: ingress must open exactly the "
                f"proxy's ports {sorted([GRPC_PORT, REST_PORT])}, opens {sorted(map(str, opened))}"]
    return []


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
            if command != MONITOR_COMMAND:
                problems.append(f"{describe(cronjob)}: command must be "
                                f"{' '.join(MONITOR_COMMAND)}, is {' '.join(command)}")
            if env_map is not None and not _env_from_config_map(
                    container, BUCKET_KEY, env_map["metadata"]["name"]):
                problems.append(f"{describe(cronjob)}: must read {BUCKET_KEY} from ConfigMap "
                                f"{env_map['metadata']['name']} (the bucket the proxy logs to)")
        elif not re.search(rf"python -m pipelines\.cloud\.ingest --config {CLOUD_CONFIG_FILE} "
                           r"--day \S", " ".join(" ".join(map(str, command)).split())):
            problems.append(f"{describe(cronjob)}: command must run python -m "
                            f"pipelines.cloud.ingest --config {CLOUD_CONFIG_FILE} --day DAY, "
                            f"is {command}")
    return [*problems, *cloud_config_problems(objects)]


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
               for p in _policies_for(objects, labels)):
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
