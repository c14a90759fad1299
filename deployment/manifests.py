"""Render and check the GKE manifests offline: no kustomize binary, no cluster, no cloud.

    python -m deployment.manifests render deployment/overlays/prod      # YAML, as kustomize would
    python -m deployment.manifests check                                # every overlay: schema,
                                                                        # policy, consistency
    python -m deployment.manifests release --overlay deployment/overlays/prod \\
        --output build/release --dashboard-image REGISTRY/dashboard:SHA \\
        --model-base-path gs://B/serving_model/clickflow \\
        --serving-gsa SA@PROJECT.iam.gserviceaccount.com

The renderer implements the subset of kustomize these manifests use (resources, namespace,
labels/commonLabels, configMapGenerator with kustomize's name hash, strategic-merge patches,
images) and rejects any other kustomization field, so a manifest it cannot render faithfully fails
the check instead of being validated wrongly. `kubectl apply -k` stays what a user runs.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from pipelines.common.errors import ClickflowError

REPO = Path(__file__).resolve().parents[1]
OVERLAYS = REPO / "deployment" / "overlays"
BASE = REPO / "deployment" / "base"
KUBERNETES_VERSION = "1.37.0"

SERVING_DEPLOYMENT = "clickflow-serving"
SERVING_CONTAINER = "tf-serving"
SERVING_CONFIG_MAP = "clickflow-serving-config"
SERVING_ENV_CONFIG_MAP = "clickflow-serving-env"
BASE_PATH_KEY = "SERVING_MODEL_BASE_PATH"
DASHBOARD_DEPLOYMENT = "clickflow-dashboard"
REST_PORT = 8501
GRPC_PORT = 8500
WORKLOAD_IDENTITY_ANNOTATION = "iam.gke.io/gcp-service-account"

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUPPORTED_FIELDS = {"apiVersion", "kind", "resources", "namespace", "labels", "commonLabels",
                    "configMapGenerator", "patches", "images"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PriorityClass",
                  "StorageClass", "CustomResourceDefinition", "PersistentVolume"}
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
# Strategic-merge keys of the list fields the patches touch (from the Kubernetes API types).
MERGE_KEYS = {"containers": "name", "initContainers": "name", "volumes": "name", "env": "name",
              "volumeMounts": "mountPath", "ports": "containerPort", "imagePullSecrets": "name"}
# Marks a generated ConfigMap until the final name (with hash suffix) is set.
_GENERATED = "_clickflow_generated"


class ManifestError(ClickflowError, ValueError):
    """A manifest or kustomization that cannot be rendered; the message names the file and field."""


# ---------------------------------------------------------------------------------------------
# Rendering


def render(directory: Path | str) -> list[dict[str, Any]]:
    """The objects `kubectl apply -k DIRECTORY` would send, in kustomize's order."""
    objects = _build(Path(directory).resolve())
    return _finalize(objects)


def _build(directory: Path) -> list[dict[str, Any]]:
    path = next((directory / n for n in KUSTOMIZATION_FILES if (directory / n).is_file()), None)
    if path is None:
        raise ManifestError(f"{directory}: no kustomization.yaml")
    spec = _load_one(path)
    unknown = sorted(set(spec) - SUPPORTED_FIELDS)
    if unknown:
        raise ManifestError(f"{path}: unsupported kustomization field(s) {unknown}; this renderer "
                            f"handles {sorted(SUPPORTED_FIELDS)}")
    objects: list[dict[str, Any]] = []
    for entry in _list(spec, "resources", path):
        target = (directory / entry).resolve()
        if target.is_dir():
            objects.extend(_build(target))
        elif target.is_file():
            _inside(directory, target, path, "resources")
            objects.extend(_load_objects(target))
        else:
            raise ManifestError(f"{path}: resources entry {entry!r} is neither a file nor a folder")
    for generator in _list(spec, "configMapGenerator", path):
        _generate_config_map(generator, directory, path, objects)
    for patch in _list(spec, "patches", path):
        _apply_patch(patch, directory, path, objects)
    for image in _list(spec, "images", path):
        _set_image(image, path, objects)
    if "namespace" in spec:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = spec["namespace"]
    if "commonLabels" in spec:
        _add_labels(objects, _str_map(spec["commonLabels"], path, "commonLabels"),
                    selectors=True, templates=True)
    for i, entry in enumerate(_list(spec, "labels", path)):
        extra = sorted(set(entry) - {"pairs", "includeSelectors", "includeTemplates"})
        if extra:
            raise ManifestError(f"{path}: labels[{i}] has unsupported key(s) {extra}")
        _add_labels(objects, _str_map(entry.get("pairs"), path, f"labels[{i}].pairs"),
                    selectors=bool(entry.get("includeSelectors", False)),
                    templates=bool(entry.get("includeTemplates", False)))
    return objects


def _load_one(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ManifestError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: expected a YAML mapping")
    return data


def _load_objects(path: Path) -> list[dict[str, Any]]:
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except yaml.YAMLError as err:
        raise ManifestError(f"{path}: not valid YAML: {err}") from None
    for i, doc in enumerate(docs):
        where = f"{path} (document {i + 1})"
        if not isinstance(doc, dict):
            raise ManifestError(f"{where}: expected a Kubernetes object (a mapping)")
        missing = [k for k in ("apiVersion", "kind") if not doc.get(k)]
        if not isinstance(doc.get("metadata"), dict) or not doc["metadata"].get("name"):
            missing.append("metadata.name")
        if missing:
            raise ManifestError(f"{where}: missing {', '.join(missing)}")
    return docs


def _list(spec: dict[str, Any], key: str, path: Path) -> list[Any]:
    value = spec.get(key) or []
    if not isinstance(value, list):
        raise ManifestError(f"{path}: {key} must be a list")
    return value


def _str_map(value: Any, path: Path, field: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ManifestError(f"{path}: {field} must map label names to strings")
    return value


def _inside(root: Path, target: Path, path: Path, field: str) -> None:
    if not target.is_relative_to(root):
        raise ManifestError(f"{path}: {field} file {target} is outside {root}; kustomize only "
                            "loads files from the kustomization's own folder")


def _generate_config_map(gen: dict[str, Any], directory: Path, path: Path,
                         objects: list[dict[str, Any]]) -> None:
    extra = sorted(set(gen) - {"name", "behavior", "files", "literals"})
    name = gen.get("name")
    if extra or not name:
        raise ManifestError(f"{path}: configMapGenerator {name!r} needs a name and supports only "
                            f"name, behavior, files, literals (got extra {extra})")
    data: dict[str, str] = {}
    for entry in gen.get("files") or []:
        key, _, file = entry.rpartition("=") if "=" in entry else ("", "", entry)
        source = (directory / file).resolve()
        _inside(directory, source, path, f"configMapGenerator {name}")
        if not source.is_file():
            raise ManifestError(f"{path}: configMapGenerator {name}: file {file!r} not found")
        data[key or source.name] = source.read_text()
    for entry in gen.get("literals") or []:
        key, sep, value = entry.partition("=")
        if not sep or not key:
            raise ManifestError(f"{path}: configMapGenerator {name}: literal {entry!r} is not "
                                "KEY=VALUE")
        data[key] = value
    behavior = gen.get("behavior", "create")
    existing = [o for o in objects if o["kind"] == "ConfigMap" and o.get(_GENERATED) == name]
    if behavior == "create":
        if existing:
            raise ManifestError(f"{path}: configMapGenerator {name} already exists in a base; "
                                "use behavior: merge or replace")
        objects.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                        "data": data, _GENERATED: name})
    elif behavior in ("merge", "replace"):
        if len(existing) != 1:
            raise ManifestError(f"{path}: configMapGenerator {name} has behavior {behavior} but "
                                "no base generates a ConfigMap of that name")
        existing[0]["data"] = {**existing[0]["data"], **data} if behavior == "merge" else data
    else:
        raise ManifestError(f"{path}: configMapGenerator {name}: behavior {behavior!r} must be "
                            "create, merge or replace")


def _apply_patch(entry: dict[str, Any], directory: Path, path: Path,
                 objects: list[dict[str, Any]]) -> None:
    extra = sorted(set(entry) - {"path", "patch"})
    if extra or ("path" in entry) == ("patch" in entry):
        raise ManifestError(f"{path}: each patches entry needs exactly one of path or patch "
                            f"(strategic merge; target and JSON 6902 are not supported), got "
                            f"{sorted(entry)}")
    if "path" in entry:
        source = (directory / entry["path"]).resolve()
        _inside(directory, source, path, "patches")
        if not source.is_file():
            raise ManifestError(f"{path}: patch file {entry['path']!r} not found")
        patches, where = _load_objects(source), str(source)
    else:
        patches, where = [d for d in yaml.safe_load_all(entry["patch"]) if d], f"{path} (inline)"
    for patch in patches:
        kind, name = patch.get("kind"), (patch.get("metadata") or {}).get("name")
        targets = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
        if len(targets) != 1:
            raise ManifestError(f"{where}: patch for {kind}/{name} matches {len(targets)} "
                                "objects; it must match exactly one")
        body = {k: v for k, v in patch.items() if k not in ("apiVersion", "kind")}
        merged = strategic_merge(targets[0], body)
        targets[0].clear()
        targets[0].update(merged)


def strategic_merge(original: Any, patch: Any, field: str = "") -> Any:
    """Kubernetes strategic merge for the cases the overlays use: maps merge key by key, ``null``
    deletes, lists with a known merge key merge element by element, other lists are replaced."""
    if isinstance(original, dict) and isinstance(patch, dict):
        result = copy.deepcopy(original)
        for key, value in patch.items():
            if value is None:
                result.pop(key, None)
            elif key in result:
                result[key] = strategic_merge(result[key], value, key)
            else:
                result[key] = copy.deepcopy(value)
        return result
    if isinstance(original, list) and isinstance(patch, list) and field in MERGE_KEYS:
        key = MERGE_KEYS[field]
        result = copy.deepcopy(original)
        for item in patch:
            match = next((i for i, old in enumerate(result)
                          if isinstance(old, dict) and old.get(key) == item.get(key)), None)
            if match is None:
                result.append(copy.deepcopy(item))
            else:
                result[match] = strategic_merge(result[match], item, field)
        return result
    return copy.deepcopy(patch)


def _pod_specs(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if obj["kind"] in WORKLOADS:
        spec = obj.get("spec", {}).get("template", {}).get("spec")
        if isinstance(spec, dict):
            yield spec
    elif obj["kind"] == "Pod" and isinstance(obj.get("spec"), dict):
        yield obj["spec"]


def _containers(pod: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from pod.get("initContainers") or []
    yield from pod.get("containers") or []


def _split_image(image: str) -> tuple[str, str, str]:
    """(name, tag, digest) of an image reference; a registry port is not a tag."""
    name, _, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1:], digest
    return name, "", digest


def _set_image(entry: dict[str, Any], path: Path, objects: list[dict[str, Any]]) -> None:
    extra = sorted(set(entry) - {"name", "newName", "newTag", "digest"})
    if extra or not entry.get("name"):
        raise ManifestError(f"{path}: images entry {entry} needs name and supports only newName, "
                            "newTag, digest")
    for obj in objects:
        for pod in _pod_specs(obj):
            for container in _containers(pod):
                name, tag, digest = _split_image(container.get("image", ""))
                if name != entry["name"]:
                    continue
                name = entry.get("newName", name)
                if "digest" in entry:
                    tag, digest = "", str(entry["digest"])
                elif "newTag" in entry:
                    tag, digest = str(entry["newTag"]), ""
                container["image"] = name + (f":{tag}" if tag else "") + (
                    f"@{digest}" if digest else "")


def _add_labels(objects: list[dict[str, Any]], labels: dict[str, str], *, selectors: bool,
                templates: bool) -> None:
    for obj in objects:
        obj["metadata"].setdefault("labels", {}).update(labels)
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            continue
        if templates and obj["kind"] in WORKLOADS:
            spec.setdefault("template", {}).setdefault("metadata", {}).setdefault(
                "labels", {}).update(labels)
        if selectors and obj["kind"] == "Service":
            spec.setdefault("selector", {}).update(labels)
        elif selectors and (obj["kind"] in WORKLOADS or obj["kind"] == "PodDisruptionBudget"):
            spec.setdefault("selector", {}).setdefault("matchLabels", {}).update(labels)


def config_map_hash(config_map: dict[str, Any]) -> str:
    """kustomize's name suffix: sha256 of the ConfigMap's Go JSON encoding, 10 characters."""
    encoded: dict[str, Any] = {"kind": "ConfigMap", "name": config_map["metadata"]["name"],
                               "data": config_map.get("data") or {}}
    text = json.dumps(encoded, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return digest.translate(str.maketrans("013ae", "ghkmt"))


def _finalize(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    renamed: dict[tuple[str | None, str], str] = {}
    for obj in objects:
        original = obj.pop(_GENERATED, None)
        if original is not None:
            obj["metadata"]["name"] = f"{original}-{config_map_hash(obj)}"
            renamed[(obj["metadata"].get("namespace"), original)] = obj["metadata"]["name"]
    for obj in objects:
        namespace = obj["metadata"].get("namespace")
        for pod in _pod_specs(obj):
            for ref in _config_map_refs(pod):
                ref["name"] = renamed.get((namespace, ref.get("name")), ref.get("name"))
    seen: set[tuple[str, str | None, str]] = set()
    for obj in objects:
        key = (obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"])
        if key in seen:
            raise ManifestError(f"two objects are {key[0]} {key[1] or ''}/{key[2]}")
        seen.add(key)
    return objects


def _config_map_refs(pod: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for volume in pod.get("volumes") or []:
        if "configMap" in volume:
            yield volume["configMap"]
        for source in (volume.get("projected") or {}).get("sources") or []:
            if "configMap" in source:
                yield source["configMap"]
    for container in _containers(pod):
        for env in container.get("env") or []:
            ref = (env.get("valueFrom") or {}).get("configMapKeyRef")
            if ref is not None:
                yield ref
        for env_from in container.get("envFrom") or []:
            if "configMapRef" in env_from:
                yield env_from["configMapRef"]


def to_yaml(objects: Iterable[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(list(objects), sort_keys=False, default_flow_style=False)


# ---------------------------------------------------------------------------------------------
# Checks: each returns a list of readable problems, empty when all is well.


def describe(obj: dict[str, Any]) -> str:
    namespace = obj.get("metadata", {}).get("namespace")
    name = obj.get("metadata", {}).get("name", "?")
    return f"{obj.get('kind', '?')} {namespace + '/' if namespace else ''}{name}"


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
    memory limit, probes on long-running containers, and a non-root, locked-down security
    context."""
    problems = []
    for obj in objects:
        for pod in _pod_specs(obj):
            where = describe(obj)
            pod_security = pod.get("securityContext") or {}
            if pod_security.get("runAsNonRoot") is not True:
                problems.append(f"{where}: spec.template.spec.securityContext.runAsNonRoot must "
                                "be true")
            init_names = {c.get("name") for c in pod.get("initContainers") or []}
            for container in _containers(pod):
                cname = f"{where} container {container.get('name')!r}"
                image = container.get("image") or ""
                _, tag, digest = _split_image(image)
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
                if container.get("name") not in init_names:
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


def _find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any] | None:
    def matches(obj: dict[str, Any]) -> bool:
        actual = obj["metadata"]["name"]
        # Generated ConfigMaps carry kustomize's hash suffix.
        return actual == name or (kind == "ConfigMap" and actual.startswith(f"{name}-"))

    found = [o for o in objects if o["kind"] == kind and matches(o)]
    return found[0] if len(found) == 1 else None


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
    deployment = _find(objects, "Deployment", SERVING_DEPLOYMENT)
    config_map = _find(objects, "ConfigMap", SERVING_CONFIG_MAP)
    env_map = _find(objects, "ConfigMap", SERVING_ENV_CONFIG_MAP)
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
                        "(pipelines.config.DEFAULT_MODEL_NAME)")
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
    expected_args = {"port": str(GRPC_PORT), "rest_api_port": str(REST_PORT)}
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
    if ports.get("http") != REST_PORT or ports.get("grpc") != GRPC_PORT:
        problems.append(f"{describe(deployment)}: tf-serving ports must be http={REST_PORT}, "
                        f"grpc={GRPC_PORT}, are {ports}")
    readiness = (server.get("readinessProbe") or {}).get("httpGet") or {}
    if readiness.get("path") != f"/v1/models/{model_name}" or \
            ports.get(readiness.get("port"), readiness.get("port")) != REST_PORT:
        problems.append(f"{describe(deployment)}: readinessProbe must GET /v1/models/{model_name}"
                        f" on port {REST_PORT}, is {readiness}")

    labels = deployment["spec"]["template"]["metadata"].get("labels") or {}
    service = _find(objects, "Service", SERVING_DEPLOYMENT)
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
        if not http or ports.get(http[0].get("targetPort"), http[0].get("targetPort")) != \
                REST_PORT:
            problems.append(f"{describe(service)}: port 'http' must target {REST_PORT}")
    hpa = _find(objects, "HorizontalPodAutoscaler", SERVING_DEPLOYMENT)
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
    account = _find(objects, "ServiceAccount", pod.get("serviceAccountName", ""))
    gsa = ((account or {}).get("metadata", {}).get("annotations") or {}).get(
        WORKLOAD_IDENTITY_ANNOTATION, "")
    if not re.fullmatch(r"[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]"
                        r"\.iam\.gserviceaccount\.com", gsa):
        problems.append(f"{describe(deployment)}: its serviceAccountName "
                        f"{pod.get('serviceAccountName')!r} must be a ServiceAccount annotated "
                        f"{WORKLOAD_IDENTITY_ANNOTATION}: NAME@PROJECT.iam.gserviceaccount.com "
                        f"(Workload Identity), has {gsa!r}")

    dashboard = _find(objects, "Deployment", DASHBOARD_DEPLOYMENT)
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


def check(directory: Path | str, model_name: str | None = None,
          version: str = KUBERNETES_VERSION) -> list[str]:
    """Every problem of one overlay: rendering, schema, policy, consistency."""
    if model_name is None:
        from pipelines.common.names import DEFAULT_MODEL_NAME as model_name
    try:
        objects = render(directory)
    except ManifestError as err:
        return [str(err)]
    return [*schema_problems(objects, version), *policy_problems(objects),
            *consistency_problems(objects, model_name)]


# ---------------------------------------------------------------------------------------------
# Release overlay: what the CD workflow applies.

IMAGE_RE = re.compile(r"[a-z0-9][a-z0-9.-]*(:[0-9]+)?(/[a-z0-9._-]+)+(:[A-Za-z0-9_.-]{1,128}|"
                      r"@sha256:[0-9a-f]{64})")
GSA_RE = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]"
                    r"\.iam\.gserviceaccount\.com")


def write_release(overlay: Path, output: Path, *, dashboard_image: str, model_base_path: str,
                  serving_gsa: str) -> Path:
    """Writes OUTPUT/kustomization.yaml: OVERLAY with the dashboard image, the model bucket and
    the Workload Identity service account of this release. Values are checked first."""
    if not IMAGE_RE.fullmatch(dashboard_image):
        raise ManifestError(f"--dashboard-image {dashboard_image!r} must be "
                            "REGISTRY/PATH:TAG or REGISTRY/PATH@sha256:DIGEST")
    if not GSA_RE.fullmatch(serving_gsa):
        raise ManifestError(f"--serving-gsa {serving_gsa!r} must be "
                            "NAME@PROJECT.iam.gserviceaccount.com")
    if not re.fullmatch(r"gs://[a-z0-9][a-z0-9._-]+[a-z0-9](/[A-Za-z0-9._=+@-]+)+",
                        model_base_path):
        raise ManifestError(f"--model-base-path {model_base_path!r} must be gs://BUCKET/PATH")
    overlay, output = overlay.resolve(), output.resolve()
    if not any((overlay / n).is_file() for n in KUSTOMIZATION_FILES):
        raise ManifestError(f"--overlay {overlay}: no kustomization.yaml there")
    # kustomize's images transformer matches the image as the overlay left it.
    dashboard = _find(render(overlay), "Deployment", DASHBOARD_DEPLOYMENT)
    if dashboard is None:
        raise ManifestError(f"--overlay {overlay}: no Deployment {DASHBOARD_DEPLOYMENT}")
    current = _split_image(dashboard["spec"]["template"]["spec"]["containers"][0]["image"])[0]
    name, tag, digest = _split_image(dashboard_image)
    image: dict[str, str] = {"name": current, "newName": name}
    image.update({"digest": digest} if digest else {"newTag": tag})
    output.mkdir(parents=True, exist_ok=True)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [_relative(overlay, output)],
        "configMapGenerator": [{"name": SERVING_ENV_CONFIG_MAP, "behavior": "merge",
                                "literals": [f"{BASE_PATH_KEY}={model_base_path}"]}],
        "images": [image],
        "patches": [{"patch": yaml.safe_dump({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": SERVING_DEPLOYMENT,
                         "annotations": {WORKLOAD_IDENTITY_ANNOTATION: serving_gsa}}},
            sort_keys=False)}],
    }
    path = output / "kustomization.yaml"
    path.write_text("# Written by python -m deployment.manifests release; do not edit.\n"
                    + yaml.safe_dump(kustomization, sort_keys=False))
    return path


def _relative(target: Path, start: Path) -> str:
    import os

    return os.path.relpath(target, start)


# ---------------------------------------------------------------------------------------------
# Command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deployment.manifests", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_render = sub.add_parser("render", help="print the rendered YAML of a kustomization")
    p_render.add_argument("directory", type=Path)
    p_check = sub.add_parser("check", help="schema, policy and consistency checks")
    p_check.add_argument("directories", type=Path, nargs="*",
                         help="kustomizations to check (default: every deployment/overlays/*)")
    p_check.add_argument("--kubernetes-version", default=KUBERNETES_VERSION)
    p_release = sub.add_parser("release", help="write the overlay the CD workflow applies")
    p_release.add_argument("--overlay", type=Path, required=True)
    p_release.add_argument("--output", type=Path, required=True)
    p_release.add_argument("--dashboard-image", required=True)
    p_release.add_argument("--model-base-path", required=True)
    p_release.add_argument("--serving-gsa", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "render":
            sys.stdout.write(to_yaml(render(args.directory)))
            return 0
        if args.command == "release":
            path = write_release(args.overlay, args.output, dashboard_image=args.dashboard_image,
                                 model_base_path=args.model_base_path,
                                 serving_gsa=args.serving_gsa)
            args.directories, args.kubernetes_version = [path.parent], KUBERNETES_VERSION
            print(f"wrote {path}")
        directories = args.directories or sorted(p for p in OVERLAYS.iterdir() if p.is_dir())
        failed = False
        for directory in directories:
            problems = check(directory, version=args.kubernetes_version)
            for problem in problems:
                print(f"{directory}: {problem}", file=sys.stderr)
            failed |= bool(problems)
            print(f"{directory}: {'FAILED' if problems else 'ok'}")
        return 1 if failed else 0
    except ManifestError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
