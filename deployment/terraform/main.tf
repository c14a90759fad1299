# clickflow's Google Cloud project: APIs, storage, data, images and the cluster.
# Identities and their roles are in iam.tf; what to copy where is in outputs.tf.

locals {
  bucket_name = var.bucket_name != "" ? var.bucket_name : "${var.project_id}-clickflow"
  # The paths CloudConfig derives from `bucket` (pipelines/cloud/config.py resolved_*).
  pipeline_root           = "gs://${local.bucket_name}/pipeline_root"
  serving_model_base_path = "gs://${local.bucket_name}/serving_model/${var.model_name}"
  dataflow_temp_location  = "gs://${local.bucket_name}/dataflow/tmp"
  registry                = "${var.region}-docker.pkg.dev/${var.project_id}/${var.artifact_repository}"
  # GKE's Workload Identity pool is one per project: PROJECT_ID.svc.id.goog.
  workload_pool = "${var.project_id}.svc.id.goog"

  # Only the APIs something here or the pipeline calls.
  apis = toset([
    "aiplatform.googleapis.com",           # Vertex AI Pipelines, custom jobs (Trainer/Tuner), schedules, Model Registry
    "artifactregistry.googleapis.com",     # the pipeline and dashboard images
    "bigquery.googleapis.com",             # training data; BigQueryExampleGen's query and export jobs
    "cloudresourcemanager.googleapis.com", # project IAM bindings made by this configuration
    "compute.googleapis.com",              # Dataflow worker VMs, Vertex custom job machines, GKE nodes
    "container.googleapis.com",            # GKE: TF Serving and the dashboard (cd.yml deploys there)
    "dataflow.googleapis.com",             # ExampleGen, StatisticsGen, Transform, Evaluator on Dataflow
    "iam.googleapis.com",                  # service accounts, the custom role, the GitHub identity pool
    "iamcredentials.googleapis.com",       # GitHub Actions impersonating the deployer (generateAccessToken)
    "sts.googleapis.com",                  # GitHub's OIDC token exchanged for a federated token
    "storage.googleapis.com",              # the bucket
  ])
}

resource "google_project_service" "enabled" {
  for_each = local.apis
  project  = var.project_id
  service  = each.value
  # Destroying clickflow must not switch an API off for whatever else uses the project.
  disable_on_destroy = false
}

# One bucket, three prefixes: pipeline_root/ (TFX artifacts), dataflow/ (Beam staging and temp
# files) and serving_model/ (what the Pusher writes and TF Serving loads). One region with
# Vertex AI and Dataflow, so nothing pays for cross-region transfer.
resource "google_storage_bucket" "clickflow" {
  name                        = local.bucket_name
  project                     = var.project_id
  location                    = upper(var.region)
  uniform_bucket_level_access = true # IAM only, no object ACLs: the grants in iam.tf are the whole story
  public_access_prevention    = "enforced"
  force_destroy               = false

  # Versioning on: a model folder removed or overwritten by mistake (the rollback in
  # deployment/README.md deletes a version) stays recoverable for
  # noncurrent_version_retention_days. TFX writes each artifact once under a new URI, so
  # versioning adds little else; the rules below bound what it keeps.
  versioning {
    enabled = true
  }

  # Versioning already keeps deleted objects; soft delete would bill Dataflow's many short-lived
  # temp files a second time (Beam warns about a temp_location with soft delete on).
  soft_delete_policy {
    retention_duration_seconds = 0
  }

  # Dataflow staging and temp files: needed only while a job runs.
  lifecycle_rule {
    condition {
      age            = var.dataflow_tmp_retention_days
      matches_prefix = ["dataflow/"]
    }
    action {
      type = "Delete"
    }
  }

  # ...and their noncurrent copies (versioning keeps one for every temp file Dataflow deletes).
  # These rules set no age: send_age_if_zero = false keeps the provider from sending age 0
  # (every object), and with_state ARCHIVED keeps them off live objects even if it did.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 1
      with_state                 = "ARCHIVED"
      send_age_if_zero           = false
      matches_prefix             = ["dataflow/"]
    }
    action {
      type = "Delete"
    }
  }

  # The request log the serving pods' proxy writes: kept as long as the monitor's windows and
  # label delays need it (the local server's --request-log-max-days does the same on disk).
  lifecycle_rule {
    condition {
      age            = var.request_log_retention_days
      matches_prefix = ["request_log/"]
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_version_retention_days
      with_state                 = "ARCHIVED"
      send_age_if_zero           = false
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.enabled]
}

# Training data: BigQueryExampleGen runs pipelines/data/sql/training_examples.sql on this table.
resource "google_bigquery_dataset" "clickflow" {
  dataset_id  = var.bigquery_dataset
  project     = var.project_id
  location    = var.region
  description = "clickflow training data (ad clicks)."
  # Never drop the training data with `terraform destroy`.
  delete_contents_on_destroy = false

  depends_on = [google_project_service.enabled]
}

resource "google_bigquery_table" "training_examples" {
  dataset_id  = google_bigquery_dataset.clickflow.dataset_id
  table_id    = var.bigquery_table
  project     = var.project_id
  description = "Ad-click examples; the columns pipelines/data/sql/training_examples.sql reads."
  # The columns are in a file so a test can hold them to the query and to schema/schema.pbtxt.
  schema              = file("${path.module}/ad_clicks.schema.json")
  deletion_protection = true
}

resource "google_artifact_registry_repository" "clickflow" {
  repository_id = var.artifact_repository
  project       = var.project_id
  location      = var.region
  format        = "DOCKER"
  description   = "clickflow pipeline and dashboard images (cd.yml pushes one of each per merge)."

  # Every merge pushes a multi-GB pipeline image. Keep the newest ones (the schedules run the
  # newest by digest), delete the rest once they are old.
  cleanup_policies {
    id     = "keep-most-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = var.image_versions_kept
    }
  }

  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "${var.image_max_age_days * 86400}s"
    }
  }

  depends_on = [google_project_service.enabled]
}

# TF Serving and the dashboard. Autopilot: Google runs the nodes and bills the pods' requests
# (deployment/ sets them), Workload Identity is always on, and nodes use the GKE node account
# from iam.tf instead of the Compute Engine default account.
resource "google_container_cluster" "clickflow" {
  count               = var.create_gke_cluster ? 1 : 0
  name                = var.gke_cluster_name
  project             = var.project_id
  location            = var.region
  enable_autopilot    = true
  deletion_protection = var.gke_deletion_protection

  release_channel {
    channel = "REGULAR"
  }

  workload_identity_config {
    workload_pool = local.workload_pool
  }

  cluster_autoscaling {
    auto_provisioning_defaults {
      service_account = google_service_account.accounts["gke_nodes"].email
      oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
    }
  }

  depends_on = [google_project_service.enabled, google_project_iam_member.grants]
}
