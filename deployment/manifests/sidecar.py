"""Checks of the serving pod's request-logging proxy sidecar, in front of TF Serving. Like
``check``, each returns readable problems (empty when all is well).

The proxy's contract is ``deployment/server/proxy.py`` (``/readyz`` is 200 only while the backend
has an AVAILABLE version of every model, ``/healthz`` 503 once the request log's writer stopped;
``/v1/...`` and ``/monitoring/...`` are forwarded). TF Serving cannot bind loopback only
(tensorflow/serving ``model_servers/server.cc`` listens on ``"0.0.0.0:" + grpc_port``; its REST
server's ``net_http::ServerOptions`` get a port and no address, and ``evhttp_server.cc`` then binds
``"::"``), so its ports must stay out of the Service and the NetworkPolicy.
"""

from __future__ import annotations

from typing import Any

from deployment.manifests import (
    BACKEND_GRPC_PORT,
    BACKEND_REST_PORT,
    BUCKET_KEY,
    GRPC_PORT,
    PROXY_CONTAINER,
    REST_PORT,
    SERVING_CONTAINER,
    SERVING_DEPLOYMENT,
    SERVING_ENV_CONFIG_MAP,
)
from deployment.manifests.render import describe, find

REQUEST_LOG = f"gs://$({BUCKET_KEY})/request_log"


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


def env_from_config_map(container: dict[str, Any], name: str, config_map: str) -> bool:
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
    if not env_from_config_map(proxy, BUCKET_KEY, env_map["metadata"]["name"]):
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


def policies_for(objects: list[dict[str, Any]], labels: dict[str, str]) -> list[dict[str, Any]]:
    return [o for o in objects if o.get("kind") == "NetworkPolicy"
            and selects(o["spec"].get("podSelector") or {}, labels)]


def _network_policy_problems(objects: list[dict[str, Any]],
                             deployment: dict[str, Any]) -> list[str]:
    labels = deployment["spec"]["template"]["metadata"].get("labels") or {}
    policies = [p for p in policies_for(objects, labels)
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


