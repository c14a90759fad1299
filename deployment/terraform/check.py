"""Offline checks of the Terraform configuration: no Terraform binary or provider is needed.

The ``.tf`` files are parsed with python-hcl2 (HashiCorp's own parser is Go, and no Terraform
with the google provider installs offline). ``grants()`` reads what the configuration grants
each service account, ``REQUIRED`` says what each use needs and why, and ``grant_gaps()`` compares
the two; terraform_test.py holds the rest (accounts named elsewhere, APIs, pins, inputs) to the
files that use them.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

TF_DIR = Path(__file__).resolve().parent
REPO = TF_DIR.parents[1]
EMAIL_RE = re.compile(r"([a-z][a-z0-9-]{4,28}[a-z0-9])@[A-Za-z0-9_-]+\.iam\.gserviceaccount\.com")
REF_RE = re.compile(r"\$\{([^{}]+)\}")
PRIMITIVE_ROLES = ("roles/owner", "roles/editor", "roles/viewer")
# Example values for the inputs without a default (terraform.tfvars.example has the same).
EXAMPLE_INPUTS = {"project_id": "my-project", "region": "europe-west4",
                  "github_repository": "my-org/clickflow"}
EXAMPLE_PROJECT_NUMBER = "123456789"


@dataclasses.dataclass(frozen=True)
class Grant:
    """``account`` (a key of local.service_accounts) holds ``role`` on ``scope``: project,
    bucket, dataset, repository, table (the labels table, when configured), or ``account:<key>``
    for a grant on another service account. The custom roles are ``bucket-metadata`` and
    ``object-writer`` (see CUSTOM_ROLES)."""

    account: str
    scope: str
    role: str


# The custom roles, by how the grants name them (local.<name>) -> their short name here and in
# the README's role table (by role_id).
CUSTOM_ROLES = {"${local.bucket_metadata_role}": "bucket-metadata",
                "${local.log_writer_role}": "log-writer",
                "${local.object_writer_role}": "object-writer"}
CUSTOM_ROLE_IDS = {"clickflowBucketMetadataReader": "bucket-metadata",
                   "clickflowLogWriter": "log-writer",
                   "clickflowObjectWriter": "object-writer"}

# The permissions of each custom role, and the calls that need each one. Cloud Storage JSON API,
# "IAM permissions for JSON methods" (cloud.google.com/storage/docs/access-control/iam-json):
# buckets.get needs storage.buckets.get; objects.insert storage.objects.create, plus
# storage.objects.delete when it replaces an existing object; objects.get (metadata or media)
# storage.objects.get; objects.list storage.objects.list; objects.delete storage.objects.delete.
CUSTOM_ROLE_PERMISSIONS: dict[str, dict[str, str]] = {
    "bucket-metadata": {
        "storage.buckets.get": "Beam's launcher and PipelineJob.submit read the bucket",
    },
    # The request-logging proxy under request_log/: no storage.objects.get, as no call of
    # deployment/server reads an object (a refused create-only upload is a 412, not a read).
    "log-writer": {
        "storage.objects.create":
            "objects.insert: log_writer._upload_run's storage.put_file(if_absent=True), "
            "create-only (ifGenerationMatch=0)",
        "storage.objects.delete":
            "objects.delete: log_retention.prune's storage.delete of the oldest files past "
            "--request-log-max-mb / --request-log-max-days",
        "storage.objects.list":
            "objects.list: log_retention._parts' storage.list_dir of the log and each day prefix",
    },
    # The monitor under monitoring/.
    "object-writer": {
        "storage.objects.create":
            "objects.insert: monitor.py's storage.write_text of the report, anomalies and plots; "
            "trigger.py's write_text of trigger_state.json",
        "storage.objects.delete":
            "objects.insert over an existing object: trigger.py rewrites trigger_state.json on "
            "every run that changes the cool-down state",
        "storage.objects.get":
            "objects.get: trigger.py's storage.read_text of trigger_state.json",
        "storage.objects.list":
            "objects.list: monitor.py's storage.is_dir while it picks a free report folder name",
    },
}

# Every grant and the use that needs it. problems() wants exactly these in the configuration: a
# missing one breaks that use, and one not listed here has no use to justify it.
REQUIRED: dict[Grant, str] = {
    Grant("pipelines", "project", "roles/aiplatform.user"):
        "Trainer/Tuner custom jobs, Vertex ML Metadata, RegisterModel (pipelines/cloud/compile.py)",
    Grant("pipelines", "project", "roles/dataflow.developer"):
        "the Beam components launch Dataflow jobs (compile.dataflow_beam_args --runner)",
    Grant("pipelines", "bucket", "roles/storage.objectUser"):
        "artifacts under pipeline_root, the Pusher's serving_model_base_path",
    Grant("pipelines", "bucket", "bucket-metadata"): "Beam's launcher reads temp_location's bucket",
    Grant("pipelines", "account:dataflow", "roles/iam.serviceAccountUser"):
        "Dataflow jobs run as dataflow_service_account (--service_account_email)",
    Grant("pipelines", "account:trainer", "roles/iam.serviceAccountUser"):
        "custom jobs run as trainer_service_account (job spec service_account)",
    Grant("dataflow", "project", "roles/dataflow.worker"): "what a Dataflow worker VM does",
    Grant("dataflow", "project", "roles/bigquery.user"):
        "ReadFromBigQuery runs the query job and makes its temporary dataset on a worker",
    Grant("dataflow", "dataset", "roles/bigquery.dataViewer"): "reads the training table",
    Grant("dataflow", "bucket", "roles/storage.objectUser"): "artifacts, staging, temp, BQ export",
    Grant("dataflow", "bucket", "bucket-metadata"): "Beam reads the temp bucket's metadata",
    Grant("dataflow", "repository", "roles/artifactregistry.reader"):
        "workers start from the pipeline image (--sdk_container_image)",
    Grant("trainer", "bucket", "roles/storage.objectUser"):
        "reads transformed examples, writes the model and Tuner trials",
    Grant("deployer", "project", "roles/aiplatform.user"):
        "cd.yml: kubeflow_runner submit/schedule",
    Grant("deployer", "account:pipelines", "roles/iam.serviceAccountUser"):
        "cd.yml submits runs and schedules as PIPELINE_SERVICE_ACCOUNT",
    Grant("deployer", "bucket", "bucket-metadata"): "PipelineJob.submit checks the root's bucket",
    Grant("deployer", "repository", "roles/artifactregistry.writer"): "cd.yml docker push",
    Grant("deployer", "project", "roles/container.developer"):
        "cd.yml get-credentials, kubectl apply",
    Grant("gke_nodes", "project", "roles/container.defaultNodeServiceAccount"):
        "node logs, metrics",
    Grant("gke_nodes", "repository", "roles/artifactregistry.reader"): "pulls the dashboard image",
    Grant("serving", "bucket", "roles/storage.objectViewer"): "TF Serving loads the pushed models",
    Grant("serving", "bucket", "log-writer"):
        "the request-logging proxy uploads Parquet files (deployment/server/log_writer.py) and "
        "prunes the oldest past its quota and age (deployment/server/log_retention.py)",
    Grant("monitor", "bucket", "roles/storage.objectViewer"):
        "python -m pipelines.monitoring run reads --log-dir and --labels-dir; the trigger's "
        "ingestion lists and checks the day's files (pipelines/cloud/ingest.py check_files)",
    Grant("monitor", "bucket", "object-writer"):
        "--out-dir: report, plots, anomalies, the cool-down state it reads and overwrites",
    Grant("monitor", "table", "roles/bigquery.dataViewer"):
        "--labels-table (when var.labels_table is set): labels_table.read_labels' query",
    Grant("monitor", "bucket", "roles/storage.objectCreator"):
        "the trigger stages labelled traffic under incoming/ (ingest.ingest_examples)",
    Grant("monitor", "bucket", "bucket-metadata"): "PipelineJob.submit checks the root's bucket",
    Grant("monitor", "project", "roles/bigquery.jobUser"): "the trigger's load job",
    Grant("monitor", "dataset", "roles/bigquery.dataEditor"):
        "the load job replaces the day's partition of the training table",
    Grant("monitor", "project", "roles/aiplatform.user"):
        "--trigger cloud: kubeflow_runner.py submit",
    Grant("monitor", "account:pipelines", "roles/iam.serviceAccountUser"):
        "the retraining run runs as the pipeline's service account",
    Grant("dashboard", "bucket", "roles/storage.objectViewer"):
        "CLICKFLOW_MONITORING_DIR and CLICKFLOW_REQUEST_LOG_DIR on gs:// (dashboard/monitoring.py "
        "lists and reads the reports, dashboard/request_history.py the request log)",
    Grant("ingest", "bucket", "roles/storage.objectViewer"):
        "python -m pipelines.cloud.ingest lists, checks and loads incoming/ files",
    Grant("ingest", "project", "roles/bigquery.jobUser"): "its load job",
    Grant("ingest", "dataset", "roles/bigquery.dataEditor"):
        "the load job replaces the day's partition of the training table",
}

# The bucket grants conditioned on object prefixes, (account, role) -> the prefixes the use needs
# (the manifests' gs://$(CLICKFLOW_BUCKET)/<prefix> paths, ingest_cli.DEFAULT_FOLDER, the Pusher's
# serving_model/). Each must be limited to exactly these.
PREFIXES: dict[tuple[str, str], frozenset[str]] = {
    ("serving", "roles/storage.objectViewer"): frozenset({"serving_model/"}),
    ("serving", "log-writer"): frozenset({"request_log/"}),
    ("monitor", "roles/storage.objectViewer"): frozenset({"request_log/", "labels/", "incoming/",
                                                          "serving_model/"}),
    ("monitor", "object-writer"): frozenset({"monitoring/"}),
    ("dashboard", "roles/storage.objectViewer"): frozenset({"monitoring/", "request_log/"}),
    ("monitor", "roles/storage.objectCreator"): frozenset({"incoming/"}),
    ("ingest", "roles/storage.objectViewer"): frozenset({"incoming/"}),
}

# Which API each resource type needs, and which the pipeline and CD need besides.
RESOURCE_APIS = {
    "google_project_service": "", "google_project_iam_member": "cloudresourcemanager",
    "google_project_iam_custom_role": "iam", "google_service_account": "iam",
    "google_service_account_iam_member": "iam", "google_iam_workload_identity_pool": "iam",
    "google_iam_workload_identity_pool_provider": "iam", "google_storage_bucket": "storage",
    "google_storage_bucket_iam_member": "storage", "google_bigquery_dataset": "bigquery",
    "google_bigquery_table": "bigquery", "google_bigquery_dataset_iam_member": "bigquery",
    "google_bigquery_table_iam_member": "bigquery",
    "google_artifact_registry_repository": "artifactregistry",
    "google_artifact_registry_repository_iam_member": "artifactregistry",
    "google_container_cluster": "container",
}
USED_APIS = {
    "aiplatform": "Vertex AI Pipelines, custom jobs, schedules (pipelines/cloud/vertex.py)",
    "dataflow": "DataflowRunner (pipelines/cloud/compile.py)",
    "compute": "Dataflow workers and custom-job machines are Compute Engine VMs",
    "sts": "google-github-actions/auth exchanges the OIDC token (cd.yml)",
    "iamcredentials": "google-github-actions/auth impersonates the deployer (cd.yml)",
}


@dataclasses.dataclass(frozen=True)
class Terraform:
    """The parsed ``*.tf`` files of one directory."""

    resources: dict[tuple[str, str], dict[str, Any]]
    locals: dict[str, Any]
    variables: dict[str, dict[str, Any]]
    outputs: dict[str, dict[str, Any]]
    settings: dict[str, Any]
    text: str


def load(directory: Path = TF_DIR) -> Terraform:
    import hcl2
    from hcl2.utils import SerializationOptions

    options = SerializationOptions(with_comments=False, explicit_blocks=False,
                                   strip_string_quotes=True)
    resources: dict[tuple[str, str], dict[str, Any]] = {}
    local_values: dict[str, Any] = {}
    variables: dict[str, dict[str, Any]] = {}
    outputs: dict[str, dict[str, Any]] = {}
    settings: dict[str, Any] = {}
    texts = []
    for path in sorted(directory.glob("*.tf")):
        text = path.read_text()
        texts.append(text)
        data = hcl2.loads(text, serialization_options=options)
        for block in data.get("resource", []):
            for kind, named in block.items():
                for name, body in named.items():
                    resources[(kind, name)] = body
        for block in data.get("locals", []):
            local_values.update(block)
        for block in data.get("variable", []):
            variables.update(block)
        for block in data.get("output", []):
            outputs.update(block)
        for block in data.get("terraform", []):
            settings.update(block)
    return Terraform(resources, local_values, variables, outputs, settings, "\n".join(texts))


def account_ids(tf: Terraform) -> dict[str, str]:
    """account_id by key of local.service_accounts."""
    return {key: sa["account_id"] for key, sa in tf.locals["service_accounts"].items()}


def inputs(tf: Terraform) -> dict[str, Any]:
    values = {name: v.get("default") for name, v in tf.variables.items()}
    values.update(EXAMPLE_INPUTS)
    return values


def resolve(tf: Terraform, value: str) -> str | None:
    """``value`` with its simple references (var.X, local.X, a resource's string attribute, a
    service account's e-mail) filled in from the example inputs; None if one cannot be."""
    ids, given = account_ids(tf), inputs(tf)
    project = given["project_id"]

    def one(ref: str) -> str | None:
        ref = ref.strip()
        if m := re.fullmatch(r'var\.(\w+) != "" \? var\.\1 : "(.*)"', ref):
            return str(given[m[1]]) if given.get(m[1]) else m[2]
        if m := re.fullmatch(r"var\.(\w+) \? (\S+) : (\S+)", ref):
            return one(m[2] if given.get(m[1]) else m[3])
        if m := re.fullmatch(r"var\.(\w+)", ref):
            return None if given.get(m[1]) is None else str(given[m[1]])
        if m := re.fullmatch(r"local\.(\w+)", ref):
            v = tf.locals.get(m[1])
            return resolve(tf, v) if isinstance(v, str) else None
        if m := re.fullmatch(r'google_service_account\.accounts\["(\w+)"\]\.(email|name)', ref):
            email = f"{ids[m[1]]}@{project}.iam.gserviceaccount.com"
            return email if m[2] == "email" else f"projects/{project}/serviceAccounts/{email}"
        if m := re.fullmatch(r"google_iam_workload_identity_pool(_provider)?\.(\w+)\.name", ref):
            pool = f"projects/{EXAMPLE_PROJECT_NUMBER}/locations/global/workloadIdentityPools/"
            pool += tf.resources[("google_iam_workload_identity_pool", m[2])][
                "workload_identity_pool_id"]
            if not m[1]:
                return pool
            body = tf.resources[("google_iam_workload_identity_pool_provider", m[2])]
            return f"{pool}/providers/{body['workload_identity_pool_provider_id']}"
        if m := re.fullmatch(r"(google_\w+)\.(\w+)(?:\[0\])?\.(\w+)", ref):
            v = tf.resources.get((m[1], m[2]), {}).get(m[3])
            return resolve(tf, v) if isinstance(v, str) else None
        return None

    # Innermost references first, until none is left: "${a ? b : "${c}-d"}" takes two rounds.
    while REF_RE.search(value):
        failed = False

        def fill(m: re.Match[str]) -> str:
            nonlocal failed
            done = one(m[1])
            failed = failed or done is None
            return done or ""

        value = REF_RE.sub(fill, value)
        if failed:
            return None
    return value


_MEMBER = 'serviceAccount:${google_service_account.accounts[each.value.sa].email}'
_SCOPES = {"project": "google_project_iam_member", "bucket": "google_storage_bucket_iam_member",
           "dataset": "google_bigquery_dataset_iam_member",
           "repository": "google_artifact_registry_repository_iam_member",
           "table": "google_bigquery_table_iam_member"}


def _wired(tf: Terraform, kind: str, local: str) -> bool:
    """Whether resource ``kind`` "grants" grants every entry of local ``local``."""
    body = tf.resources.get((kind, "grants"), {})
    return (body.get("for_each") == f"${{local.{local}_grants}}"
            and f"local.{local}_roles" in str(tf.locals.get(f"{local}_grants", ""))
            and body.get("role") == "${each.value.role}" and body.get("member") == _MEMBER)


def grants(tf: Terraform) -> set[Grant]:
    """What the configuration grants service accounts (bucket-metadata: the custom role)."""
    out: set[Grant] = set()
    for scope, kind in _SCOPES.items():
        if not _wired(tf, kind, scope):
            continue
        for sa, roles in tf.locals.get(f"{scope}_roles", {}).items():
            for role in roles:
                role = CUSTOM_ROLES.get(role, role)
                out.add(Grant(sa, scope, role))
    act_as = tf.resources.get(("google_service_account_iam_member", "act_as"), {})
    if (act_as.get("role") == "roles/iam.serviceAccountUser"
            and act_as.get("for_each") == "${local.act_as_grants}"
            and "[each.value.target].name" in act_as.get("service_account_id", "")
            and "[each.value.actor].email" in act_as.get("member", "")):
        for target, actors in tf.locals.get("act_as", {}).items():
            out |= {Grant(actor, f"account:{target}", "roles/iam.serviceAccountUser")
                    for actor in actors}
    for (kind, _), body in tf.resources.items():
        m = re.fullmatch(r'serviceAccount:\$\{google_service_account\.accounts\["(\w+)"\]\.email\}',
                         str(body.get("member", "")))
        scope = next((s for s, k in _SCOPES.items() if k == kind), None)
        if m and scope and "for_each" not in body:
            out.add(Grant(m[1], scope, CUSTOM_ROLES.get(body["role"], body["role"])))
    return out


def grant_gaps(tf: Terraform) -> tuple[set[Grant], set[Grant]]:
    """(REQUIRED grants the configuration lacks, grants it makes that REQUIRED does not list)."""
    made = grants(tf)
    return set(REQUIRED) - made, made - set(REQUIRED)


def bucket_condition(tf: Terraform, account: str) -> str | None:
    """The IAM condition of ``account``'s own (not for_each) bucket grant, resolved."""
    for (kind, _), body in tf.resources.items():
        own = f'["{account}"]' in body.get("member", "")
        if kind == "google_storage_bucket_iam_member" and own:
            condition = body.get("condition")
            if isinstance(condition, list):
                condition = condition[0]
            return resolve(tf, condition["expression"]) if condition else None
    return None


def prefix_grants(tf: Terraform) -> dict[tuple[str, str], frozenset[str] | None]:
    """(account, role) -> the object prefixes of each own (not for_each) bucket grant's condition;
    None for a grant without a condition, or one that is not a plain OR of prefixes (and,
    optionally, bucket-level calls)."""
    out: dict[tuple[str, str], frozenset[str] | None] = {}
    for (kind, _), body in tf.resources.items():
        m = re.fullmatch(r'serviceAccount:\$\{google_service_account\.accounts\["(\w+)"\]\.email\}',
                         str(body.get("member", "")))
        if kind != "google_storage_bucket_iam_member" or not m or "for_each" in body:
            continue
        condition = body.get("condition")
        condition = condition[0] if isinstance(condition, list) else condition
        expression = resolve(tf, condition["expression"]) if condition else None
        prefixes: frozenset[str] | None = None
        if expression:
            bucket = resolve(tf, "${local.bucket_name}")
            found = set()
            for term in expression.split(" || "):
                if term.strip() == 'resource.type == "storage.googleapis.com/Bucket"':
                    continue
                p = re.fullmatch(rf'resource\.name\.startsWith\("projects/_/buckets/'
                                 rf'{re.escape(str(bucket))}/objects/([^"]+/)"\)', term.strip())
                if not p:
                    found = set()
                    break
                found.add(p[1])
            prefixes = frozenset(found) or None
        out[(m[1], CUSTOM_ROLES.get(body["role"], body["role"]))] = prefixes
    return out


def schema_columns(directory: Path = TF_DIR) -> list[tuple[str, str]]:
    """(name, type) of the training table, in order, from the schema file the table reads."""
    return [(c["name"], c["type"])
            for c in json.loads((directory / "ad_clicks.schema.json").read_text())]


def custom_role_permissions(tf: Terraform) -> dict[str, set[str]]:
    """Short name (CUSTOM_ROLE_IDS) -> the permissions each google_project_iam_custom_role has."""
    out = {}
    for (kind, _), body in tf.resources.items():
        if kind == "google_project_iam_custom_role":
            role_id = resolve(tf, str(body["role_id"]))
            out[CUSTOM_ROLE_IDS.get(str(role_id), str(role_id))] = set(body["permissions"])
    return out
