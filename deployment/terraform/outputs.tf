# What the rest of clickflow needs from this project, by where it goes:
#   cloud_config      -> configs/cloud.yaml     (terraform output -raw cloud_config_yaml)
#   github_variables  -> the repository's Actions variables that cd.yml reads
#   serving_*         -> deployment/overlays/*/ (kustomization.yaml, workload-identity-patch.yaml)

locals {
  emails = { for key, sa in google_service_account.accounts : key => sa.email }

  # Keys are CloudConfig settings (pipelines/cloud/config.py).
  cloud_config = {
    project                  = var.project_id
    region                   = var.region
    bucket                   = google_storage_bucket.clickflow.name
    bigquery_table           = "${var.project_id}.${google_bigquery_dataset.clickflow.dataset_id}.${google_bigquery_table.training_examples.table_id}"
    pipeline_image           = "${local.registry}/pipeline:0.1.0"
    model_name               = var.model_name
    serving_model_base_path  = local.serving_model_base_path
    service_account          = google_service_account.accounts["pipelines"].email
    dataflow_service_account = google_service_account.accounts["dataflow"].email
    trainer_service_account  = google_service_account.accounts["trainer"].email
  }

  # Keys are the vars.* names in .github/workflows/cd.yml (all but CLICKFLOW_CONFIG, which
  # names a file of the repository).
  github_variables = {
    GCP_PROJECT_ID                 = var.project_id
    GCP_REGION                     = var.region
    GCP_WORKLOAD_IDENTITY_PROVIDER = google_iam_workload_identity_pool_provider.github.name
    GCP_DEPLOY_SERVICE_ACCOUNT     = google_service_account.accounts["deployer"].email
    ARTIFACT_REGISTRY              = local.registry
    CLICKFLOW_BUCKET               = google_storage_bucket.clickflow.name
    CLICKFLOW_BIGQUERY_TABLE       = "${var.project_id}.${google_bigquery_dataset.clickflow.dataset_id}.${google_bigquery_table.training_examples.table_id}"
    PIPELINE_SERVICE_ACCOUNT       = google_service_account.accounts["pipelines"].email
    DATAFLOW_SERVICE_ACCOUNT       = google_service_account.accounts["dataflow"].email
    TRAINER_SERVICE_ACCOUNT        = google_service_account.accounts["trainer"].email
    GKE_CLUSTER                    = var.gke_cluster_name
    GKE_LOCATION                   = var.create_gke_cluster ? google_container_cluster.clickflow[0].location : var.region
    SERVING_SERVICE_ACCOUNT        = google_service_account.accounts["serving"].email
  }
}

output "service_accounts" {
  description = "E-mail of each service account, by role (pipelines, dataflow, trainer, serving, deployer, gke_nodes)."
  value       = local.emails
}

output "cloud_config" {
  description = "Settings for configs/cloud.yaml (CloudConfig keys); set pipeline_image to the tag or digest you push."
  value       = local.cloud_config
}

output "cloud_config_yaml" {
  description = "The same settings as YAML: terraform output -raw cloud_config_yaml > configs/cloud.yaml"
  value       = yamlencode(local.cloud_config)
}

output "github_variables" {
  description = "Repository (or production environment) variables for .github/workflows/cd.yml."
  value       = local.github_variables
}

output "workload_identity_provider" {
  description = "Full name of the GitHub OIDC provider (vars.GCP_WORKLOAD_IDENTITY_PROVIDER)."
  value       = google_iam_workload_identity_pool_provider.github.name
}

output "artifact_registry" {
  description = "Docker repository path: push REGISTRY/pipeline:TAG and REGISTRY/dashboard:TAG."
  value       = local.registry
}

output "bucket" {
  description = "Bucket name (CloudConfig.bucket)."
  value       = google_storage_bucket.clickflow.name
}

output "pipeline_root" {
  description = "Where TFX writes artifacts (CloudConfig.resolved_pipeline_root)."
  value       = local.pipeline_root
}

output "dataflow_temp_location" {
  description = "Dataflow's temp location (CloudConfig.resolved_temp_location); its files expire after dataflow_tmp_retention_days."
  value       = local.dataflow_temp_location
}

output "serving_model_base_path" {
  description = "Where the Pusher writes and TF Serving reads: the overlays' SERVING_MODEL_BASE_PATH."
  value       = local.serving_model_base_path
}

output "serving_service_account" {
  description = "Google service account for the overlays' workload-identity-patch.yaml (iam.gke.io/gcp-service-account)."
  value       = google_service_account.accounts["serving"].email
}

output "bigquery_table" {
  description = "Training table as project.dataset.table (CloudConfig.bigquery_table)."
  value       = local.cloud_config.bigquery_table
}

output "gke_cluster" {
  description = "GKE cluster name and location for `gcloud container clusters get-credentials`."
  value = {
    name     = var.gke_cluster_name
    location = local.github_variables.GKE_LOCATION
  }
}
