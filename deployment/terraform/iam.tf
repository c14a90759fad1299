# Who runs what, and the least each identity needs. Every grant is on the narrowest resource
# that works (the bucket, the dataset, the repository, another service account) and only on the
# project where Google offers no smaller scope. deployment/terraform/README.md has the same
# grants as a table; terraform_test.py holds the two to each other and to their users.
#
# Service agents (Google-managed accounts) need no grant here: in a single project the Vertex
# AI custom-code agent already pulls images from this project's Artifact Registry, and the
# Dataflow agent gets roles/dataflow.serviceAgent when the API is enabled. Only a setup across
# projects (image or service accounts in another project) would need
# roles/iam.serviceAccountTokenCreator / artifactregistry.reader for those agents.

locals {
  service_accounts = {
    # Vertex AI PipelineJob (and its schedules) run as it: every TFX step's container, which
    # launches the Dataflow jobs and the Trainer/Tuner custom jobs. CloudConfig.service_account.
    pipelines = {
      account_id  = "clickflow-pipelines"
      description = "Runs the clickflow pipeline (Vertex AI PipelineJob / KFP pods)"
    }
    # Dataflow workers of ExampleGen, StatisticsGen, Transform and Evaluator.
    # CloudConfig.dataflow_service_account.
    dataflow = {
      account_id  = "clickflow-dataflow"
      description = "clickflow Dataflow workers"
    }
    # Trainer and Tuner Vertex custom jobs (job spec service_account).
    # CloudConfig.trainer_service_account.
    trainer = {
      account_id  = "clickflow-trainer"
      description = "clickflow Trainer/Tuner Vertex AI custom jobs"
    }
    # TF Serving pods on GKE and their request-logging proxy, through Workload Identity (KSA
    # clickflow-serving).
    serving = {
      account_id  = "clickflow-serving"
      description = "clickflow TF Serving and its request-logging proxy on GKE (Workload Identity)"
    }
    # The hourly monitor CronJob (KSA clickflow-monitor): reads the request log and labels,
    # writes its reports, ingests labelled traffic and submits retraining runs.
    monitor = {
      account_id  = "clickflow-monitor"
      description = "clickflow monitor CronJob on GKE (Workload Identity)"
    }
    # The dashboard (KSA clickflow-dashboard): reads the monitor's reports and the request log
    # (CLICKFLOW_MONITORING_DIR, CLICKFLOW_REQUEST_LOG_DIR on gs://), nothing else.
    dashboard = {
      account_id  = "clickflow-dashboard"
      description = "clickflow dashboard on GKE (Workload Identity): reads monitoring/ and request_log/"
    }
    # The daily ingestion CronJob (KSA clickflow-ingest): new files from incoming/ into BigQuery.
    ingest = {
      account_id  = "clickflow-ingest"
      description = "clickflow ingestion CronJob on GKE (Workload Identity)"
    }
    # GitHub Actions CD (.github/workflows/cd.yml), through Workload Identity Federation.
    deployer = {
      account_id  = "clickflow-deployer"
      description = "clickflow CD from GitHub Actions (Workload Identity Federation)"
    }
    # GKE nodes: pull images, write logs and metrics. Not the Compute Engine default account,
    # which new projects may give Editor.
    gke_nodes = {
      account_id  = "clickflow-gke-nodes"
      description = "clickflow GKE nodes"
    }
  }
  serving_kubernetes_service_account   = "clickflow-serving"
  monitor_kubernetes_service_account   = "clickflow-monitor"
  ingest_kubernetes_service_account    = "clickflow-ingest"
  dashboard_kubernetes_service_account = "clickflow-dashboard"
  bucket_metadata_role_id              = "clickflowBucketMetadataReader"
  bucket_metadata_role                 = "projects/${var.project_id}/roles/${local.bucket_metadata_role_id}"
  object_writer_role_id                = "clickflowObjectWriter"
  object_writer_role                   = "projects/${var.project_id}/roles/${local.object_writer_role_id}"
  log_writer_role_id                   = "clickflowLogWriter"
  log_writer_role                      = "projects/${var.project_id}/roles/${local.log_writer_role_id}"

  # Object names in the bucket, for the grants conditioned on a prefix.
  objects = "projects/_/buckets/${local.bucket_name}/objects"

  # Roles on the project: only where a role has no smaller scope.
  project_roles = {
    pipelines = [
      # Create and watch the Trainer/Tuner custom jobs, write Vertex ML Metadata (every step
      # records its artifacts), upload model versions (RegisterModel, register_model: true).
      "roles/aiplatform.user",
      # Launch and watch the Dataflow jobs of the Beam components (TFX waits for each).
      "roles/dataflow.developer",
    ]
    dataflow = [
      # What a Dataflow worker VM itself needs: report work items, write logs.
      "roles/dataflow.worker",
      # BigQueryExampleGen's read (Beam ReadFromBigQuery, EXPORT) runs the query as a job and
      # creates a temporary dataset for its result on the worker that splits the source.
      "roles/bigquery.user",
    ]
    deployer = [
      # kubeflow_runner.py submit/schedule: create PipelineJobs, list/create/delete schedules.
      "roles/aiplatform.user",
      # get-credentials and `kubectl apply` of the overlay (Namespace, Deployments, Services,
      # HPA, PDB, ConfigMaps, ServiceAccounts). GKE IAM has no per-cluster scope.
      "roles/container.developer",
    ]
    gke_nodes = [
      # Logging, monitoring and metadata writes of a GKE node (Google's role for node accounts).
      "roles/container.defaultNodeServiceAccount",
    ]
    monitor = [
      # The cloud trigger's load of labelled traffic (pipelines/cloud/ingest.py load_day) runs a
      # BigQuery load job; jobs have no dataset scope.
      "roles/bigquery.jobUser",
      # kubeflow_runner.py submit creates the retraining PipelineJob.
      "roles/aiplatform.user",
    ]
    ingest = [
      # Its load job (pipelines/cloud/ingest.py load_day).
      "roles/bigquery.jobUser",
    ]
  }

  # Roles on the bucket.
  bucket_roles = {
    pipelines = [
      # Read and write TFX artifacts under pipeline_root/, the Pusher's serving_model/ and Beam's
      # staging files (objectUser: objects only, no bucket settings or IAM).
      "roles/storage.objectUser",
      # Beam's launcher reads the temp bucket's metadata (its soft-delete check).
      local.bucket_metadata_role,
    ]
    dataflow = [
      # Workers read and write the steps' artifacts, staging and temp files, BigQuery's export.
      "roles/storage.objectUser",
      local.bucket_metadata_role,
    ]
    trainer = [
      # Read transformed examples and the transform graph, write the model, Tuner trials.
      "roles/storage.objectUser",
    ]
    deployer = [
      # aiplatform's PipelineJob.submit checks that the pipeline root's bucket exists.
      local.bucket_metadata_role,
    ]
    monitor = [
      # The same check when the monitor submits a retraining run.
      local.bucket_metadata_role,
    ]
  }

  # Roles on the training data's dataset.
  dataset_roles = {
    dataflow = [
      # Read the training table (the query runs on the workers).
      "roles/bigquery.dataViewer",
    ]
    monitor = [
      # Its load job replaces the day's partition of the training table (WRITE_TRUNCATE on
      # table$YYYYMMDD) and reads the table's load history for idempotence.
      "roles/bigquery.dataEditor",
    ]
    ingest = [
      "roles/bigquery.dataEditor",
    ]
  }

  # Roles on the Artifact Registry repository.
  repository_roles = {
    deployer = [
      # cd.yml pushes the pipeline and dashboard images.
      "roles/artifactregistry.writer",
    ]
    dataflow = [
      # Workers start from the pipeline image (--sdk_container_image).
      "roles/artifactregistry.reader",
    ]
    gke_nodes = [
      # Nodes pull the dashboard, server and jobs images (and the pipeline image for target kfp).
      "roles/artifactregistry.reader",
    ]
  }

  # roles/iam.serviceAccountUser (actAs) on an account, for the accounts that start work as it.
  act_as = {
    # The pipeline's steps start Dataflow jobs whose workers run as clickflow-dataflow...
    dataflow = ["pipelines"]
    # ...and Vertex custom jobs that run as clickflow-trainer.
    trainer = ["pipelines"]
    # CD submits runs and creates schedules that run as clickflow-pipelines, and so does the
    # monitor's retraining trigger.
    pipelines = ["deployer", "monitor"]
  }

  project_grants = {
    for g in flatten([for sa, roles in local.project_roles : [for role in roles : { sa = sa, role = role }]]) :
    "${g.sa} ${g.role}" => g
  }
  bucket_grants = {
    for g in flatten([for sa, roles in local.bucket_roles : [for role in roles : { sa = sa, role = role }]]) :
    "${g.sa} ${g.role}" => g
  }
  dataset_grants = {
    for g in flatten([for sa, roles in local.dataset_roles : [for role in roles : { sa = sa, role = role }]]) :
    "${g.sa} ${g.role}" => g
  }
  repository_grants = {
    for g in flatten([for sa, roles in local.repository_roles : [for role in roles : { sa = sa, role = role }]]) :
    "${g.sa} ${g.role}" => g
  }
  act_as_grants = {
    for g in flatten([for target, actors in local.act_as : [for actor in actors : { target = target, actor = actor }]]) :
    "${g.actor} as ${g.target}" => g
  }
}

resource "google_service_account" "accounts" {
  for_each     = local.service_accounts
  project      = var.project_id
  account_id   = each.value.account_id
  display_name = each.value.account_id
  description  = each.value.description

  depends_on = [google_project_service.enabled]
}

# storage.buckets.get alone: no predefined role has it without also listing or changing things.
resource "google_project_iam_custom_role" "bucket_metadata_reader" {
  project     = var.project_id
  role_id     = local.bucket_metadata_role_id
  title       = "clickflow bucket metadata reader"
  description = "Read a bucket's metadata (location, soft-delete policy), nothing in it."
  permissions = ["storage.buckets.get"]

  depends_on = [google_project_service.enabled]
}

# The object permissions our own writers call, and nothing else (objectUser would add update,
# restore, multipart uploads, managed folders). Cloud Storage JSON API, "IAM permissions for JSON
# methods" (cloud.google.com/storage/docs/access-control/iam-json): objects.insert needs
# storage.objects.create, and storage.objects.delete too when it replaces an existing object;
# objects.get (and the media download) storage.objects.get; objects.list storage.objects.list
# (checked on the bucket); objects.delete storage.objects.delete. check.CUSTOM_ROLE_PERMISSIONS
# names the call behind each.
#
# The request log's writer: create-only uploads, a listing and deletes to keep its bounds; it
# never reads an object back.
resource "google_project_iam_custom_role" "log_writer" {
  project     = var.project_id
  role_id     = local.log_writer_role_id
  title       = "clickflow request log writer"
  description = "Create, list and delete objects (an IAM condition limits the prefix); no reads, no metadata updates."
  permissions = ["storage.objects.create", "storage.objects.delete", "storage.objects.list"]

  depends_on = [google_project_service.enabled]
}

# The monitor's reports and its cool-down state, which it reads back and rewrites.
resource "google_project_iam_custom_role" "object_writer" {
  project     = var.project_id
  role_id     = local.object_writer_role_id
  title       = "clickflow object writer"
  description = "Create, read, list and delete objects (an IAM condition limits the prefix); no metadata updates."
  permissions = ["storage.objects.create", "storage.objects.delete", "storage.objects.get", "storage.objects.list"]

  depends_on = [google_project_service.enabled]
}

resource "google_project_iam_member" "grants" {
  for_each = local.project_grants
  project  = var.project_id
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.accounts[each.value.sa].email}"
}

resource "google_storage_bucket_iam_member" "grants" {
  for_each = local.bucket_grants
  bucket   = google_storage_bucket.clickflow.name
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.accounts[each.value.sa].email}"

  depends_on = [google_project_iam_custom_role.bucket_metadata_reader]
}

# TF Serving reads the models and nothing else in the bucket: object reads only under
# serving_model/ (listing is checked on the bucket, so the condition lets bucket-level calls
# through; that shows object names, not contents).
resource "google_storage_bucket_iam_member" "serving_reads_models" {
  bucket = google_storage_bucket.clickflow.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.accounts["serving"].email}"

  condition {
    title       = "serving-models-only"
    description = "Objects under serving_model/ (and bucket-level listing)."
    expression  = "resource.type == \"storage.googleapis.com/Bucket\" || resource.name.startsWith(\"projects/_/buckets/${local.bucket_name}/objects/serving_model/\")"
  }
}

# The request-logging proxy beside TF Serving uploads finished Parquet files under request_log/
# (create-only: ifGenerationMatch=0, so create alone would do for the upload) and keeps the log
# within --request-log-max-mb and --request-log-max-days itself: it lists the day prefixes and
# deletes the oldest files (deployment/server/log_retention.py). The bucket's lifecycle rule on
# request_log/ (main.tf) is a backstop for the age bound only.
resource "google_storage_bucket_iam_member" "serving_writes_request_log" {
  bucket = google_storage_bucket.clickflow.name
  role   = local.log_writer_role
  member = "serviceAccount:${google_service_account.accounts["serving"].email}"

  condition {
    title       = "serving-request-log-only"
    description = "Objects under request_log/ (and bucket-level listing)."
    expression  = "resource.type == \"storage.googleapis.com/Bucket\" || resource.name.startsWith(\"${local.objects}/request_log/\")"
  }

  depends_on = [google_project_iam_custom_role.log_writer]
}

# The monitor reads the request log, the delayed labels, the new day's files it checks before
# loading them, and the pushed versions' training statistics under serving_model/ (its skew
# reference; listing is checked on the bucket, so bucket-level calls pass, as for serving).
resource "google_storage_bucket_iam_member" "monitor_reads_traffic" {
  bucket = google_storage_bucket.clickflow.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.accounts["monitor"].email}"

  condition {
    title       = "monitor-reads-traffic"
    description = "Objects under request_log/, labels/, incoming/ and serving_model/ (and bucket-level listing)."
    expression  = "resource.type == \"storage.googleapis.com/Bucket\" || resource.name.startsWith(\"${local.objects}/request_log/\") || resource.name.startsWith(\"${local.objects}/labels/\") || resource.name.startsWith(\"${local.objects}/incoming/\") || resource.name.startsWith(\"${local.objects}/serving_model/\")"
  }
}

# ...writes its reports, plots and anomalies under monitoring/ (a report folder's name is taken
# after a listing shows it free) and reads and rewrites the cool-down state trigger_state.json
# there each run (an overwrite: create and delete)...
resource "google_storage_bucket_iam_member" "monitor_writes_reports" {
  bucket = google_storage_bucket.clickflow.name
  role   = local.object_writer_role
  member = "serviceAccount:${google_service_account.accounts["monitor"].email}"

  condition {
    title       = "monitor-writes-reports"
    description = "Objects under monitoring/ (and bucket-level listing)."
    expression  = "resource.type == \"storage.googleapis.com/Bucket\" || resource.name.startsWith(\"${local.objects}/monitoring/\")"
  }

  depends_on = [google_project_iam_custom_role.object_writer]
}

# ...and, with a labels table configured (the monitor's --labels-table), reads it. Its query job
# runs under roles/bigquery.jobUser (project_roles).
resource "google_bigquery_table_iam_member" "monitor_reads_labels" {
  count      = var.labels_table == "" ? 0 : 1
  project    = split(".", var.labels_table)[0]
  dataset_id = split(".", var.labels_table)[1]
  table_id   = split(".", var.labels_table)[2]
  role       = "roles/bigquery.dataViewer"
  member     = "serviceAccount:${google_service_account.accounts["monitor"].email}"
}

# ...and stages the labelled traffic it ingests as a new file under incoming/ (written once, with
# if_generation_match=0: create only).
resource "google_storage_bucket_iam_member" "monitor_stages_traffic" {
  bucket = google_storage_bucket.clickflow.name
  role   = "roles/storage.objectCreator"
  member = "serviceAccount:${google_service_account.accounts["monitor"].email}"

  condition {
    title       = "monitor-stages-traffic"
    description = "New objects under incoming/."
    expression  = "resource.name.startsWith(\"${local.objects}/incoming/\")"
  }
}

# The ingestion job lists, checks and loads the new files under incoming/ (a BigQuery load job
# reads its source objects as the caller).
resource "google_storage_bucket_iam_member" "ingest_reads_incoming" {
  bucket = google_storage_bucket.clickflow.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.accounts["ingest"].email}"

  condition {
    title       = "ingest-reads-incoming"
    description = "Objects under incoming/ (and bucket-level listing)."
    expression  = "resource.type == \"storage.googleapis.com/Bucket\" || resource.name.startsWith(\"${local.objects}/incoming/\")"
  }
}

# The dashboard reads the monitor's reports and the request log (dashboard/monitoring.py lists
# monitoring/ and reads each report; dashboard/request_history.py lists and reads request_log/).
resource "google_storage_bucket_iam_member" "dashboard_reads_reports" {
  bucket = google_storage_bucket.clickflow.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.accounts["dashboard"].email}"

  condition {
    title       = "dashboard-reads-reports"
    description = "Objects under monitoring/ and request_log/ (and bucket-level listing)."
    expression  = "resource.type == \"storage.googleapis.com/Bucket\" || resource.name.startsWith(\"${local.objects}/monitoring/\") || resource.name.startsWith(\"${local.objects}/request_log/\")"
  }
}

resource "google_bigquery_dataset_iam_member" "grants" {
  for_each   = local.dataset_grants
  project    = var.project_id
  dataset_id = google_bigquery_dataset.clickflow.dataset_id
  role       = each.value.role
  member     = "serviceAccount:${google_service_account.accounts[each.value.sa].email}"
}

resource "google_artifact_registry_repository_iam_member" "grants" {
  for_each   = local.repository_grants
  project    = var.project_id
  location   = google_artifact_registry_repository.clickflow.location
  repository = google_artifact_registry_repository.clickflow.name
  role       = each.value.role
  member     = "serviceAccount:${google_service_account.accounts[each.value.sa].email}"
}

resource "google_service_account_iam_member" "act_as" {
  for_each           = local.act_as_grants
  service_account_id = google_service_account.accounts[each.value.target].name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.accounts[each.value.actor].email}"
}

# TF Serving on GKE: the Kubernetes service account clickflow-serving of each overlay's
# namespace may act as clickflow-serving (its annotation iam.gke.io/gcp-service-account names
# it). The pool PROJECT_ID.svc.id.goog exists once a cluster with Workload Identity does.
resource "google_service_account_iam_member" "serving_workload_identity" {
  for_each           = toset(var.serving_namespaces)
  service_account_id = google_service_account.accounts["serving"].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${local.workload_pool}[${each.value}/${local.serving_kubernetes_service_account}]"

  depends_on = [google_container_cluster.clickflow]
}

# The monitor and ingestion CronJobs: their Kubernetes service accounts in each overlay's
# namespace act as their own Google service accounts.
resource "google_service_account_iam_member" "monitor_workload_identity" {
  for_each           = toset(var.serving_namespaces)
  service_account_id = google_service_account.accounts["monitor"].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${local.workload_pool}[${each.value}/${local.monitor_kubernetes_service_account}]"

  depends_on = [google_container_cluster.clickflow]
}

resource "google_service_account_iam_member" "ingest_workload_identity" {
  for_each           = toset(var.serving_namespaces)
  service_account_id = google_service_account.accounts["ingest"].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${local.workload_pool}[${each.value}/${local.ingest_kubernetes_service_account}]"

  depends_on = [google_container_cluster.clickflow]
}

resource "google_service_account_iam_member" "dashboard_workload_identity" {
  for_each           = toset(var.serving_namespaces)
  service_account_id = google_service_account.accounts["dashboard"].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${local.workload_pool}[${each.value}/${local.dashboard_kubernetes_service_account}]"

  depends_on = [google_container_cluster.clickflow]
}

# target kfp: the Kubeflow Pipelines pods' Kubernetes service accounts act as clickflow-pipelines.
resource "google_service_account_iam_member" "kfp_workload_identity" {
  for_each           = toset(var.kfp_kubernetes_service_accounts)
  service_account_id = google_service_account.accounts["pipelines"].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${local.workload_pool}[${each.value}]"

  depends_on = [google_container_cluster.clickflow]
}

# GitHub Actions: an OIDC token of a run of this repository on github_ref, exchanged for
# credentials of clickflow-deployer. No key exists anywhere.
resource "google_iam_workload_identity_pool" "github" {
  project                   = var.project_id
  workload_identity_pool_id = "github"
  display_name              = "GitHub Actions"
  description               = "OIDC tokens of GitHub Actions runs (clickflow CD)"

  depends_on = [google_project_service.enabled]
}

resource "google_iam_workload_identity_pool_provider" "github" {
  project                            = var.project_id
  workload_identity_pool_id          = google_iam_workload_identity_pool.github.workload_identity_pool_id
  workload_identity_pool_provider_id = "github"
  display_name                       = "GitHub Actions OIDC"

  attribute_mapping = {
    "google.subject"       = "assertion.sub"
    "attribute.repository" = "assertion.repository"
    "attribute.ref"        = "assertion.ref"
  }
  # Tokens of any other repository, or of another branch of this one, are refused here: without
  # a condition, every GitHub repository could present a token to this provider.
  attribute_condition = "assertion.repository == \"${var.github_repository}\" && assertion.ref == \"${var.github_ref}\""

  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

resource "google_service_account_iam_member" "deployer_from_github" {
  service_account_id = google_service_account.accounts["deployer"].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/attribute.repository/${var.github_repository}"
}
