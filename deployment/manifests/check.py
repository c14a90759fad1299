"""Checks of kustomize's output, each a list of readable problems (empty when all is well): the
Kubernetes schema (offline, `kubernetes-validate`), the pod policy, and the consistency of the
manifests with each other and with the pipeline: the model name
(`pipelines.common.names.DEFAULT_MODEL_NAME`), the Pusher's `serving_model/<model>` layout, the TF
Serving flags, probes, Service, HPA, Workload Identity and the dashboard's environment."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from deployment.manifests import (
    BACKEND_GRPC_PORT,
    BACKEND_REST_PORT,
    BASE_PATH_KEY,
    DASHBOARD_DEPLOYMENT,
    SERVING_CONFIG_MAP,
    SERVING_CONTAINER,
    SERVING_DEPLOYMENT,
    SERVING_ENV_CONFIG_MAP,
    WORKLOAD_IDENTITY_ANNOTATION,
    ManifestError,
)
from deployment.manifests.cronjobs import cronjob_problems
from deployment.manifests.render import (
    RUN_TO_COMPLETION,
    containers,
    describe,
    find,
    pod_specs,
    render,
    split_image,
)
from deployment.manifests.sidecar import proxy_problems

KUBERNETES_VERSION = "1.37.0"


def check(directory: Path | str, model_name: str | None = None,
          version: str = KUBERNETES_VERSION) -> list[str]:
    """Every problem of one overlay: rendering (kustomize), schema, policy, consistency."""
    if model_name is None:
        from pipelines.common.names import DEFAULT_MODEL_NAME as model_name
    try:
        objects = render(directory)
    except ManifestError as err:
        return [str(err)]
    return [*schema_problems(objects, version), *policy_problems(objects),
            *consistency_problems(objects, model_name), *proxy_problems(objects),
            *cronjob_problems(objects)]


def schema_problems(objects: Iterable[dict[str, Any]],
                    version: str = KUBERNETES_VERSION) -> list[str]:
    """Validates each object against the Kubernetes OpenAPI schema, strictly (unknown fields are
    errors: a misspelt key would otherwise be silently dropped by the API server)."""
    import kubernetes_validate

    problems = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            where = _json_path(err.path) or "(top level)"
            problems.append(f"{describe(obj)}: {where}: {err.message} "
                            f"(Kubernetes {version} schema)")
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{describe(obj)}: no Kubernetes {version} schema for apiVersion "
                            f"{obj.get('apiVersion')!r} kind {obj.get('kind')!r}")
    return problems


def _json_path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def policy_problems(objects: Iterable[dict[str, Any]]) -> list[str]:
    """What the schema allows but a production pod must not lack: a pinned image, requests and a
    memory limit, probes on long-running containers (a Job's pods run to completion and need none),
    and a non-root, locked-down security context."""
    problems = []
    for obj in objects:
        for pod in pod_specs(obj):
            where = describe(obj)
            pod_security = pod.get("securityContext") or {}
            if pod_security.get("runAsNonRoot") is not True:
                problems.append(f"{where}: spec.template.spec.securityContext.runAsNonRoot must "
                                "be true")
            init_names = {c.get("name") for c in pod.get("initContainers") or []}
            for container in containers(pod):
                cname = f"{where} container {container.get('name')!r}"
                image = container.get("image") or ""
                _, tag, digest = split_image(image)
                if not image:
                    problems.append(f"{cname}: no image (set the container's image, pinned by "
                                    "tag or digest)")
                elif not digest and tag in ("", "latest"):
                    problems.append(f"{cname}: image {image!r} is not pinned; use a version tag "
                                    "or a digest, not latest")
                resources = container.get("resources") or {}
                for field in ("requests.cpu", "requests.memory", "limits.memory"):
                    group, key = field.split(".")
                    if not (resources.get(group) or {}).get(key):
                        problems.append(f"{cname}: resources.{field} is not set")
                if container.get("name") not in init_names and \
                        obj.get("kind") not in RUN_TO_COMPLETION:
                    for probe in ("readinessProbe", "livenessProbe"):
                        if not container.get(probe):
                            problems.append(f"{cname}: no {probe}")
                security = container.get("securityContext") or {}
                if security.get("allowPrivilegeEscalation") is not False:
                    problems.append(f"{cname}: securityContext.allowPrivilegeEscalation must be "
                                    "false")
                if security.get("readOnlyRootFilesystem") is not True:
                    problems.append(f"{cname}: securityContext.readOnlyRootFilesystem must be "
                                    "true")
                if "ALL" not in ((security.get("capabilities") or {}).get("drop") or []):
                    problems.append(f"{cname}: securityContext.capabilities.drop must include "
                                    "ALL")
                if (container.get("securityContext") or {}).get("runAsUser") == 0 or \
                        pod_security.get("runAsUser") == 0:
                    problems.append(f"{cname}: runs as user 0 (root)")
    return problems


def parse_model_config(text: str, source: str) -> Any:
    """models.config as TF Serving parses it (ModelServerConfig text proto)."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    try:
        return text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    except text_format.ParseError as err:
        raise ManifestError(f"{source}: not a TF Serving ModelServerConfig: {err}") from None


def consistency_problems(objects: list[dict[str, Any]], model_name: str) -> list[str]:
    """The rendered manifests agree with each other and with the pipeline: one model called
    ``model_name`` whose base path is the Pusher's ``.../serving_model/<model_name>``, the probes,
    Service, HPA, Workload Identity and dashboard pointing at the same server."""
    problems: list[str] = []
    deployment = find(objects, "Deployment", SERVING_DEPLOYMENT)
    config_map = find(objects, "ConfigMap", SERVING_CONFIG_MAP)
    env_map = find(objects, "ConfigMap", SERVING_ENV_CONFIG_MAP)
    if deployment is None or config_map is None or env_map is None:
        return [f"expected exactly one Deployment {SERVING_DEPLOYMENT}, ConfigMap "
                f"{SERVING_CONFIG_MAP}-<hash> and ConfigMap {SERVING_ENV_CONFIG_MAP}-<hash>"]
    data = config_map.get("data") or {}
    try:
        config = parse_model_config(data.get("models.config", ""), describe(config_map))
    except ManifestError as err:
        return [str(err)]
    models = list(config.model_config_list.config)
    if [m.name for m in models] != [model_name]:
        problems.append(f"{describe(config_map)}: models.config serves "
                        f"{[m.name for m in models]}, expected exactly [{model_name!r}] "
                        "(pipelines.common.names.DEFAULT_MODEL_NAME)")
    for m in models:
        if m.model_platform != "tensorflow":
            problems.append(f"models.config: model_platform {m.model_platform!r} must be "
                            "'tensorflow'")
        if m.model_version_policy.WhichOneof("policy_choice") != "latest" or \
                m.model_version_policy.latest.num_versions < 1:
            problems.append("models.config: model_version_policy must be latest "
                            "{num_versions: N >= 1} (new pushes are picked up)")
    base_path = (env_map.get("data") or {}).get(BASE_PATH_KEY, "")
    layout = f"/serving_model/{model_name}"
    if not re.fullmatch(r"gs://[a-z0-9][a-z0-9._-]{1,221}[a-z0-9](/[^/]+)*", base_path) or \
            not base_path.endswith(layout):
        problems.append(f"{describe(env_map)}: {BASE_PATH_KEY}={base_path!r} must be "
                        f"gs://BUCKET/...{layout} (the Pusher writes <serving root>{layout}"
                        "/<version>/)")

    pod = deployment["spec"]["template"]["spec"]
    init = {c["name"]: c for c in pod.get("initContainers") or []}
    main = {c["name"]: c for c in pod.get("containers") or []}
    server = main.get(SERVING_CONTAINER)
    if server is None:
        return [*problems, f"{describe(deployment)}: no container {SERVING_CONTAINER!r}"]
    args = dict(a.lstrip("-").split("=", 1) for a in server.get("args") or [] if "=" in a)
    expected_args = {"port": str(BACKEND_GRPC_PORT), "rest_api_port": str(BACKEND_REST_PORT)}
    for flag, value in expected_args.items():
        if args.get(flag) != value:
            problems.append(f"{describe(deployment)}: tf-serving needs --{flag}={value}, has "
                            f"{args.get(flag)!r}")
    mounts = {m["mountPath"]: m["name"] for m in server.get("volumeMounts") or []}
    config_file = args.get("model_config_file", "")
    config_dir = config_file.rsplit("/", 1)[0]
    renderer = next(iter(init.values()), {})
    renderer_env = {e["name"]: e for e in renderer.get("env") or []}
    if (renderer_env.get("MODEL_CONFIG_FILE") or {}).get("value") != config_file or \
            config_dir not in mounts or config_dir not in {
                m["mountPath"] for m in renderer.get("volumeMounts") or []}:
        problems.append(f"{describe(deployment)}: --model_config_file={config_file!r} must be "
                        "the file the init container writes (MODEL_CONFIG_FILE) on a volume "
                        "both containers mount")
    base_ref = (renderer_env.get(BASE_PATH_KEY, {}).get("valueFrom") or {}).get(
        "configMapKeyRef") or {}
    if base_ref.get("name") != env_map["metadata"]["name"] or base_ref.get("key") != BASE_PATH_KEY:
        problems.append(f"{describe(deployment)}: the init container must read {BASE_PATH_KEY} "
                        f"from ConfigMap {env_map['metadata']['name']}")
    monitoring = args.get("monitoring_config_file", "")
    monitoring_dir, _, monitoring_key = monitoring.rpartition("/")
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    mounted = volumes.get(mounts.get(monitoring_dir, ""), {}).get("configMap", {})
    if mounted.get("name") != config_map["metadata"]["name"] or monitoring_key not in data:
        problems.append(f"{describe(deployment)}: --monitoring_config_file={monitoring!r} is not "
                        f"a key of the mounted ConfigMap {config_map['metadata']['name']}")
    ports = {p["name"]: p["containerPort"] for p in server.get("ports") or []}
    readiness = (server.get("readinessProbe") or {}).get("httpGet") or {}
    if readiness.get("path") != f"/v1/models/{model_name}" or \
            ports.get(readiness.get("port"), readiness.get("port")) != BACKEND_REST_PORT:
        problems.append(f"{describe(deployment)}: readinessProbe must GET /v1/models/{model_name}"
                        f" on port {BACKEND_REST_PORT}, is {readiness}")

    labels = deployment["spec"]["template"]["metadata"].get("labels") or {}
    service = find(objects, "Service", SERVING_DEPLOYMENT)
    if service is None:
        problems.append(f"no Service {SERVING_DEPLOYMENT}")
        service_port = None
    else:
        selector = service["spec"].get("selector") or {}
        if not selector or any(labels.get(k) != v for k, v in selector.items()):
            problems.append(f"{describe(service)}: selector {selector} does not select the "
                            f"serving pods (labels {labels})")
        http = [p for p in service["spec"].get("ports") or [] if p.get("name") == "http"]
        service_port = http[0]["port"] if http else None
    hpa = find(objects, "HorizontalPodAutoscaler", SERVING_DEPLOYMENT)
    if hpa is None or hpa["spec"]["scaleTargetRef"].get("name") != SERVING_DEPLOYMENT or \
            hpa["spec"]["scaleTargetRef"].get("kind") != "Deployment":
        problems.append(f"expected a HorizontalPodAutoscaler scaling Deployment "
                        f"{SERVING_DEPLOYMENT}")
    elif not isinstance(hpa["spec"].get("maxReplicas"), int) or \
            hpa["spec"].get("minReplicas", 1) > hpa["spec"]["maxReplicas"]:
        problems.append(f"{describe(hpa)}: minReplicas > maxReplicas")
    elif "replicas" in deployment["spec"]:
        problems.append(f"{describe(deployment)}: has spec.replicas although {describe(hpa)} "
                        "scales it; every kubectl apply would reset the count")
    account = find(objects, "ServiceAccount", pod.get("serviceAccountName", ""))
    gsa = ((account or {}).get("metadata", {}).get("annotations") or {}).get(
        WORKLOAD_IDENTITY_ANNOTATION, "")
    if not re.fullmatch(r"[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]"
                        r"\.iam\.gserviceaccount\.com", gsa):
        problems.append(f"{describe(deployment)}: its serviceAccountName "
                        f"{pod.get('serviceAccountName')!r} must be a ServiceAccount annotated "
                        f"{WORKLOAD_IDENTITY_ANNOTATION}: NAME@PROJECT.iam.gserviceaccount.com "
                        f"(Workload Identity), has {gsa!r}")

    dashboard = find(objects, "Deployment", DASHBOARD_DEPLOYMENT)
    if dashboard is None:
        problems.append(f"no Deployment {DASHBOARD_DEPLOYMENT}")
    else:
        env = {e["name"]: e.get("value") for c in dashboard["spec"]["template"]["spec"][
            "containers"] for e in c.get("env") or []}
        url = f"http://{SERVING_DEPLOYMENT}:{service_port}"
        if env.get("CLICKFLOW_SERVING_URL") != url:
            problems.append(f"{describe(dashboard)}: CLICKFLOW_SERVING_URL is "
                            f"{env.get('CLICKFLOW_SERVING_URL')!r}, expected {url!r}")
        if env.get("CLICKFLOW_MODEL_NAME") != model_name:
            problems.append(f"{describe(dashboard)}: CLICKFLOW_MODEL_NAME is "
                            f"{env.get('CLICKFLOW_MODEL_NAME')!r}, expected {model_name!r}")
    return problems


