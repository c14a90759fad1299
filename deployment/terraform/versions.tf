# Terraform and provider versions. The provider is pinned exactly: a new google provider release
# may change defaults (it has before: deletion_protection, soft delete), and `terraform apply` on
# an existing project must not pick that up unreviewed. Commit the .terraform.lock.hcl that the
# first `terraform init` writes, so every machine installs the same provider build.
terraform {
  required_version = ">= 1.5.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "6.14.1"
    }
  }

  # State is local by default (git-ignored). For a team, keep it in a bucket that this
  # configuration does not manage (it cannot store its state in a bucket it creates), e.g.:
  # backend "gcs" {
  #   bucket = "my-terraform-state"
  #   prefix = "clickflow"
  # }
}

provider "google" {
  project = var.project_id
  region  = var.region
  # Labels on everything this configuration creates, so its cost shows up under one label.
  default_labels = {
    app        = "clickflow"
    managed-by = "terraform"
  }
}
