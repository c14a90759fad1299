"""Render and check the GKE manifests offline: real kustomize (the one built into kubectl, pinned
in tools/kubectl), no cluster, no cloud.

    python -m deployment.manifests render deployment/overlays/prod      # kustomize's YAML
    python -m deployment.manifests check                                # every overlay: schema,
                                                                        # policy, consistency
    python -m deployment.manifests release --overlay deployment/overlays/prod \\
        --output build/release --dashboard-image REGISTRY/dashboard:SHA \\
        --model-base-path gs://B/serving_model/clickflow \\
        --serving-gsa SA@PROJECT.iam.gserviceaccount.com

`render` runs `kubectl kustomize` (what `kubectl apply -k` sends), `check` validates its output
against the Kubernetes schema, the pod policy and the pipeline (model name, Pusher layout, local
server config), `release` writes the overlay the CD workflow applies.

Modules: `render` (run kustomize, load the objects), `check` (schema, policy and consistency
problems), `sidecar` (the proxy in front of TF Serving), `cronjobs` (the monitor and ingestion
jobs), `release` (the CD overlay), `__main__` (the command line).
"""

from pipelines.common.errors import ClickflowError


class ManifestError(ClickflowError, ValueError):
    """A manifest, kustomization or tool problem; the message names the file, field or command."""

# The objects the consistency checks and the release overlay rely on (deployment/base).
SERVING_DEPLOYMENT = "clickflow-serving"
SERVING_CONTAINER = "tf-serving"
SERVING_CONFIG_MAP = "clickflow-serving-config"
SERVING_ENV_CONFIG_MAP = "clickflow-serving-env"
BASE_PATH_KEY = "SERVING_MODEL_BASE_PATH"
DASHBOARD_DEPLOYMENT = "clickflow-dashboard"
# What clients reach: the request-logging proxy's ports (TF Serving's usual ones)...
REST_PORT = 8501
GRPC_PORT = 8500
PROXY_CONTAINER = "request-logger"
# ...and TF Serving's own, behind it in the same pod.
BACKEND_REST_PORT = 8511
BACKEND_GRPC_PORT = 8510
BUCKET_KEY = "CLICKFLOW_BUCKET"
# The monitor and ingestion CronJobs and the cloud settings they read.
MONITOR_CRONJOB = "clickflow-monitor"
INGEST_CRONJOB = "clickflow-ingest"
CLOUD_CONFIG_MAP = "clickflow-cloud-config"
CLOUD_CONFIG_FILE = "/etc/clickflow/cloud.yaml"
WORKLOAD_IDENTITY_ANNOTATION = "iam.gke.io/gcp-service-account"
