# Inputs. Only project_id, region and github_repository have no default; the defaults match the
# names the rest of the repository uses (configs/cloud.example.yaml, deployment/overlays/*,
# .github/workflows/cd.yml), so the outputs drop in without renaming anything.

variable "project_id" {
  description = "Google Cloud project id to set up (it must exist, with billing enabled)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be 6-30 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "region" {
  description = "Region of the bucket, dataset, registry, Vertex AI, Dataflow and the GKE cluster (one region: no cross-region egress)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a Google Cloud region such as us-central1 or europe-west4."
  }
}

variable "github_repository" {
  description = "GitHub repository (OWNER/REPO) whose CD workflow may deploy; the Workload Identity Federation provider trusts no other."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be OWNER/REPO, e.g. my-org/clickflow."
  }
}

variable "github_ref" {
  description = "Git ref the CD workflow must run on to get Google Cloud credentials (cd.yml deploys main)."
  type        = string
  default     = "refs/heads/main"
}

variable "bucket_name" {
  description = "Bucket for the pipeline root, Dataflow staging/temp files and the served models. Empty: PROJECT_ID-clickflow."
  type        = string
  default     = ""
}

variable "model_name" {
  description = "Model name: the Pusher writes gs://BUCKET/serving_model/MODEL_NAME (CloudConfig.model_name, TF Serving's model)."
  type        = string
  default     = "clickflow"
}

variable "bigquery_dataset" {
  description = "BigQuery dataset of the training data."
  type        = string
  default     = "ads"
}

variable "bigquery_table" {
  description = "BigQuery table of the training data (columns: deployment/terraform/ad_clicks.schema.json)."
  type        = string
  default     = "ad_clicks"
}

variable "artifact_repository" {
  description = "Artifact Registry docker repository of the pipeline and dashboard images."
  type        = string
  default     = "clickflow"
}

variable "image_versions_kept" {
  description = "How many most recent versions of each image the registry's cleanup policy always keeps."
  type        = number
  default     = 10
}

variable "image_max_age_days" {
  description = "Images older than this (and not among the most recent kept) are deleted by the registry's cleanup policy."
  type        = number
  default     = 90
}

variable "dataflow_tmp_retention_days" {
  description = "Days Dataflow staging/temp files under gs://BUCKET/dataflow/ are kept (a job needs them only while it runs)."
  type        = number
  default     = 7
}

variable "noncurrent_version_retention_days" {
  description = "Days an overwritten or deleted object (e.g. a removed model version) stays recoverable as a noncurrent version."
  type        = number
  default     = 30
}

variable "create_gke_cluster" {
  description = "Create a GKE Autopilot cluster (Workload Identity on) for TF Serving and the dashboard; false to use a cluster you have."
  type        = bool
  default     = true
}

variable "gke_cluster_name" {
  description = "Name of the GKE cluster (created here, or yours when create_gke_cluster is false)."
  type        = string
  default     = "clickflow"
}

variable "gke_deletion_protection" {
  description = "Refuse `terraform destroy` of the cluster (set false, apply, then destroy to remove it)."
  type        = bool
  default     = true
}

variable "request_log_retention_days" {
  description = "Days the request log under gs://BUCKET/request_log/ is kept (the monitor's windows and label delays must fit)."
  type        = number
  default     = 14

  validation {
    condition     = var.request_log_retention_days >= 1
    error_message = "request_log_retention_days must be at least 1 (the monitor reads the last day's log)."
  }
}

variable "serving_namespaces" {
  description = "Kubernetes namespaces (the overlays') whose ServiceAccounts clickflow-serving, clickflow-monitor and clickflow-ingest may act as the Google service accounts of the same names."
  type        = list(string)
  default     = ["clickflow", "clickflow-dev"]
}

variable "kfp_kubernetes_service_accounts" {
  description = "For target kfp: NAMESPACE/KSA of the Kubeflow Pipelines pods that run as the pipelines service account via Workload Identity, e.g. [\"kubeflow/pipeline-runner\"]."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for ksa in var.kfp_kubernetes_service_accounts : can(regex("^[a-z0-9-]+/[a-z0-9-]+$", ksa))])
    error_message = "Each entry must be NAMESPACE/SERVICE_ACCOUNT, e.g. kubeflow/pipeline-runner."
  }
}
