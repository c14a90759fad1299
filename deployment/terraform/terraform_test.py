"""The Terraform configuration, checked offline against what uses it: the accounts every other
file names, the grants each use needs (and that a removed grant is noticed), the Workload
Identity bindings of the overlays, the APIs, the bucket, the training table, pins and inputs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import sqlglot
import yaml
from sqlglot import exp

from deployment.terraform import check as c
from deployment.terraform import provider_schema
from pipelines.cloud.config import load_cloud_config
from pipelines.data import source as data_source

REPO = c.REPO
DEPLOYMENT = REPO / "deployment"
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
OVERLAYS = sorted(p for p in (DEPLOYMENT / "overlays").iterdir() if p.is_dir())
# Files that name service accounts; every one they name must be created here.
NAMING_FILES = [REPO / "configs" / "cloud.example.yaml", *WORKFLOWS,
                *sorted((DEPLOYMENT / "base").glob("*.yaml")),
                *sorted((DEPLOYMENT / "overlays").glob("*/*.yaml")),
                DEPLOYMENT / "README.md", REPO / "README.md", c.TF_DIR / "README.md"]
# configs/cloud.example.yaml key -> local.service_accounts key of the account it must name.
CONFIG_ACCOUNTS = {"service_account": "pipelines", "dataflow_service_account": "dataflow",
                   "trainer_service_account": "trainer"}


@pytest.fixture(scope="session")
def tf() -> c.Terraform:
    return c.load()


@pytest.fixture(autouse=True, scope="session")
def _hcl2() -> None:
    try:
        import hcl2  # noqa: F401
    except ImportError:
        message = "python-hcl2 is not installed: run make setup (requirements.txt pins it)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI's make setup installs it: a skip there would hide a gap
        pytest.skip(message)


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A scratch copy of the configuration, to break."""
    shutil.copytree(c.TF_DIR, tmp_path / "terraform",
                    ignore=shutil.ignore_patterns("*.py", "__pycache__", ".terraform"))
    return tmp_path / "terraform"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not once in {path.name}"
    path.write_text(text.replace(old, new))


def _yaml_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _resolved(tf: c.Terraform, mapping: dict[str, str]) -> dict[str, str | None]:
    return {key: c.resolve(tf, value) for key, value in mapping.items()}


def test_every_file_parses_into_the_expected_resources(tf: c.Terraform) -> None:
    kinds = {kind for kind, _ in tf.resources}
    assert {"google_storage_bucket", "google_bigquery_dataset", "google_bigquery_table",
            "google_artifact_registry_repository", "google_container_cluster",
            "google_service_account", "google_iam_workload_identity_pool_provider"} <= kinds
    assert {p.name for p in c.TF_DIR.glob("*.tf")} == {
        "versions.tf", "variables.tf", "main.tf", "iam.tf", "outputs.tf"}
    assert (c.TF_DIR / "terraform.tfvars.example").is_file()


def test_provider_and_terraform_are_pinned(tf: c.Terraform) -> None:
    [providers] = tf.settings["required_providers"]
    assert providers["google"]["source"] == "hashicorp/google"
    assert re.fullmatch(r"=?\s*\d+\.\d+\.\d+", providers["google"]["version"]), \
        "pin the google provider to one version (a range lets apply pick up new defaults)"
    assert re.fullmatch(r">= 1\.\d+\.\d+", tf.settings["required_version"])


def test_every_input_and_output_is_typed_and_described(tf: c.Terraform) -> None:
    for name, variable in tf.variables.items():
        assert variable.get("description", "").strip(), f"variable {name} has no description"
        assert variable.get("type"), f"variable {name} has no type"
    for name, output in tf.outputs.items():
        assert output.get("description", "").strip(), f"output {name} has no description"
    assert set(c.EXAMPLE_INPUTS) == {n for n, v in tf.variables.items() if "default" not in v}
    example = (c.TF_DIR / "terraform.tfvars.example").read_text()
    for name in c.EXAMPLE_INPUTS:
        assert re.search(rf"^{name}\s*=", example, re.M), f"tfvars example lacks {name}"


def test_every_argument_and_block_is_in_the_pinned_providers_schema(tf: c.Terraform) -> None:
    schema = provider_schema.load()
    [providers] = tf.settings["required_providers"]
    assert schema["version"] == providers["google"]["version"].lstrip("= "), \
        "provider_schema.json is of another provider version: regenerate it"
    assert schema["provider"].endswith("/" + providers["google"]["source"])
    assert provider_schema.problems(tf, schema) == []


@pytest.mark.parametrize(("file", "old", "new", "problem"), [
    ("main.tf", "uniform_bucket_level_access = true", "uniform_bucket_level_acces = true",
     "'uniform_bucket_level_acces' is no argument"),
    ("main.tf", '      with_state                 = "ARCHIVED"\n      send_age_if_zero ',
     '      state                      = "ARCHIVED"\n      send_age_if_zero ',
     "lifecycle_rule.condition: 'state' is no argument"),
    ("main.tf", '  format        = "DOCKER"\n', "",
     "google_artifact_registry_repository.clickflow: required argument 'format'"),
    ("iam.tf", "    issuer_uri = ", "    issuer = ", "oidc: 'issuer' is no argument"),
])
def test_a_wrong_or_missing_argument_is_noticed(copy: Path, file: str, old: str, new: str,
                                                problem: str) -> None:
    text = (copy / file).read_text()
    assert text.count(old) >= 1, old
    (copy / file).write_text(text.replace(old, new, 1))
    found = provider_schema.problems(c.load(copy), provider_schema.load())
    assert any(problem in p for p in found), found


def test_no_primitive_roles_and_no_authoritative_iam(tf: c.Terraform) -> None:
    for role in c.PRIMITIVE_ROLES:
        assert not re.search(rf'"{role}"', tf.text), f"{role} is a primitive role"
    # *_iam_binding / *_iam_policy replace every other member of a role: applying this would
    # remove grants that others made in the project.
    assert not [k for k, _ in tf.resources if k.endswith(("_iam_binding", "_iam_policy"))]


def test_grants_are_exactly_the_ones_their_uses_need(tf: c.Terraform) -> None:
    missing, extra = c.grant_gaps(tf)
    assert not missing, f"uses without the grant they need: {sorted(map(str, missing))}"
    assert not extra, ("grants no use needs (add the use to check.REQUIRED): "
                       f"{sorted(map(str, extra))}")


@pytest.mark.parametrize(("file", "old", "new", "missing"), [
    ("iam.tf", '"roles/dataflow.developer",', "",
     c.Grant("pipelines", "project", "roles/dataflow.developer")),
    ("iam.tf", 'trainer = ["pipelines"]', "trainer = []",
     c.Grant("pipelines", "account:trainer", "roles/iam.serviceAccountUser")),
    ("iam.tf", 'dataflow = ["pipelines"]', "dataflow = []",
     c.Grant("pipelines", "account:dataflow", "roles/iam.serviceAccountUser")),
    ("iam.tf", '"serving_reads_models" {\n  bucket = google_storage_bucket.clickflow.name\n'
     '  role   = "roles/storage.objectViewer"',
     '"serving_reads_models" {\n  bucket = google_storage_bucket.clickflow.name\n'
     '  role   = "roles/storage.legacyObjectReader"',
     c.Grant("serving", "bucket", "roles/storage.objectViewer")),
    ("iam.tf", 'pipelines = ["deployer", "monitor"]', 'pipelines = ["deployer"]',
     c.Grant("monitor", "account:pipelines", "roles/iam.serviceAccountUser")),
    ("iam.tf", 'role   = local.log_writer_role\n  member = "serviceAccount:${google_'
     'service_account.accounts["serving"].email}"', 'role   = local.log_writer_role\n'
     '  member = "serviceAccount:${google_service_account.accounts["trainer"].email}"',
     c.Grant("serving", "bucket", "log-writer")),
    # The proxy back on create-only objectCreator: its pruning could no longer list or delete.
    ("iam.tf", 'role   = local.log_writer_role\n', 'role   = "roles/storage.objectCreator"\n',
     c.Grant("serving", "bucket", "log-writer")),
    ("iam.tf", 'resource "google_bigquery_table_iam_member" "monitor_reads_labels"',
     'resource "google_bigquery_dataset_iam_member" "monitor_reads_labels"',
     c.Grant("monitor", "table", "roles/bigquery.dataViewer")),
    ("iam.tf", 'accounts["dashboard"].email}"\n\n  condition {',
     'accounts["monitor"].email}"\n\n  condition {',
     c.Grant("dashboard", "bucket", "roles/storage.objectViewer")),
    ("iam.tf", '"roles/artifactregistry.writer",', "",
     c.Grant("deployer", "repository", "roles/artifactregistry.writer")),
    # The resource that grants the bucket roles, gone: its locals alone grant nothing.
    ("iam.tf", 'resource "google_storage_bucket_iam_member" "grants"',
     'resource "google_storage_bucket_iam_member" "unused"',
     c.Grant("trainer", "bucket", "roles/storage.objectUser")),
])
def test_a_removed_grant_is_noticed(copy: Path, file: str, old: str, new: str,
                                    missing: c.Grant) -> None:
    _edit(copy / file, old, new)
    assert missing in c.grant_gaps(c.load(copy))[0]


def test_an_unneeded_or_primitive_grant_is_noticed(copy: Path) -> None:
    _edit(copy / "iam.tf", '"roles/container.developer",',
          '"roles/container.developer",\n      "roles/editor",')
    broken = c.load(copy)
    assert c.Grant("deployer", "project", "roles/editor") in c.grant_gaps(broken)[1]
    with pytest.raises(AssertionError, match="primitive"):
        test_no_primitive_roles_and_no_authoritative_iam(broken)


def test_every_account_named_anywhere_is_created(tf: c.Terraform) -> None:
    ids = set(c.account_ids(tf).values())
    named = {(path.relative_to(REPO).as_posix(), account)
             for path in NAMING_FILES for account in c.EMAIL_RE.findall(path.read_text())}
    assert {f for f, _ in named} >= {"configs/cloud.example.yaml", "deployment/README.md",
                                     "deployment/base/serving-serviceaccount.yaml"}
    unknown = sorted((f, a) for f, a in named if a not in ids)
    assert not unknown, f"service accounts named but not created in Terraform: {unknown}"


def test_the_cloud_config_names_each_account_for_its_job(tf: c.Terraform) -> None:
    ids = c.account_ids(tf)
    text = (REPO / "configs" / "cloud.example.yaml").read_text()
    for key, account in CONFIG_ACCOUNTS.items():
        [email] = re.findall(rf"^#?\s*{key}:\s*(\S+)", text, re.M)
        assert email.split("@")[0] == ids[account], f"configs/cloud.example.yaml {key}"
        assert tf.locals["cloud_config"][key] == \
            f'${{google_service_account.accounts["{account}"].email}}'


def test_the_cloud_config_output_is_a_valid_config_with_the_same_paths(tf: c.Terraform) -> None:
    values = _resolved(tf, tf.locals["cloud_config"])
    assert None not in values.values(), values
    config = load_cloud_config(environ={}, **values)
    assert config.resolved_pipeline_root == c.resolve(tf, tf.locals["pipeline_root"])
    assert config.resolved_temp_location == c.resolve(tf, tf.locals["dataflow_temp_location"])
    assert config.resolved_serving_model_base_path == c.resolve(
        tf, tf.locals["serving_model_base_path"])
    # Without serving_model_base_path the config derives the same folder from bucket/model.
    values.pop("serving_model_base_path")
    assert load_cloud_config(environ={}, **values).resolved_serving_model_base_path == \
        config.resolved_serving_model_base_path


def _workflow_variables() -> set[str]:
    return set(re.findall(r"vars\.([A-Z0-9_]+)", "\n".join(p.read_text() for p in WORKFLOWS)))


def test_github_variables_output_covers_what_cd_reads(tf: c.Terraform) -> None:
    outputs = _resolved(tf, tf.locals["github_variables"])
    # CLICKFLOW_CONFIG names a file of the repository, not something in the project.
    assert set(outputs) == _workflow_variables() - {"CLICKFLOW_CONFIG"}
    assert None not in outputs.values(), outputs
    ids = set(c.account_ids(tf).values())
    examples = dict(re.findall(r"^\| `([A-Z0-9_]+)` \| `([^`]+)` \|",
                               (DEPLOYMENT / "README.md").read_text(), re.M))
    for name, value in outputs.items():
        if name.endswith("SERVICE_ACCOUNT"):
            account = str(value).split("@")[0]
            assert account in ids
            assert examples[name].split("@")[0] == account, f"deployment/README.md {name}"
    assert re.fullmatch(r"projects/\d+/locations/global/workloadIdentityPools/[\w-]+/providers/"
                        r"[\w-]+", str(outputs["GCP_WORKLOAD_IDENTITY_PROVIDER"]))


def test_cd_gets_in_only_from_this_repository_and_branch(tf: c.Terraform) -> None:
    cd = (REPO / ".github" / "workflows" / "cd.yml").read_text()
    assert "service_account: ${{ vars.GCP_DEPLOY_SERVICE_ACCOUNT }}" in cd
    assert "workload_identity_provider: ${{ vars.GCP_WORKLOAD_IDENTITY_PROVIDER }}" in cd
    provider = tf.resources[("google_iam_workload_identity_pool_provider", "github")]
    assert provider["oidc"][0]["issuer_uri"] == "https://token.actions.githubusercontent.com"
    assert c.resolve(tf, provider["attribute_condition"]) == (
        'assertion.repository == "my-org/clickflow" && assertion.ref == "refs/heads/main"')
    mapping = provider["attribute_mapping"]
    assert mapping["attribute.repository"] == "assertion.repository"
    binding = tf.resources[("google_service_account_iam_member", "deployer_from_github")]
    assert binding["role"] == "roles/iam.workloadIdentityUser"
    assert c.resolve(tf, binding["service_account_id"]).endswith(
        "/clickflow-deployer@my-project.iam.gserviceaccount.com")
    assert c.resolve(tf, binding["member"]) == (
        "principalSet://iam.googleapis.com/projects/123456789/locations/global/"
        "workloadIdentityPools/github/attribute.repository/my-org/clickflow")
    # What cd.yml does, and the REQUIRED grant that lets it.
    for step, grant in [
        ("docker push", c.Grant("deployer", "repository", "roles/artifactregistry.writer")),
        ("kubectl apply", c.Grant("deployer", "project", "roles/container.developer")),
        ("kubeflow_runner.py schedule",
         c.Grant("deployer", "account:pipelines", "roles/iam.serviceAccountUser")),
    ]:
        assert step in cd and grant in c.REQUIRED


def test_serving_workload_identity_matches_the_overlays(tf: c.Terraform) -> None:
    [ksa] = _yaml_docs(DEPLOYMENT / "base" / "serving-serviceaccount.yaml")
    assert ksa["metadata"]["name"] == tf.locals["serving_kubernetes_service_account"]
    namespaces = {yaml.safe_load((o / "kustomization.yaml").read_text())["namespace"]
                  for o in OVERLAYS}
    assert set(tf.variables["serving_namespaces"]["default"]) == namespaces
    binding = tf.resources[("google_service_account_iam_member", "serving_workload_identity")]
    assert binding["for_each"] == "${toset(var.serving_namespaces)}"
    assert binding["role"] == "roles/iam.workloadIdentityUser"
    for namespace in namespaces:
        member = c.resolve(tf, binding["member"].replace("${each.value}", namespace))
        assert member == f"serviceAccount:my-project.svc.id.goog[{namespace}/clickflow-serving]"
    [cluster_pool] = tf.resources[("google_container_cluster", "clickflow")][
        "workload_identity_config"]
    assert c.resolve(tf, cluster_pool["workload_pool"]) == "my-project.svc.id.goog"
    serving = c.account_ids(tf)["serving"]
    for overlay in OVERLAYS:
        [patch] = [d for d in _yaml_docs(overlay / "workload-identity-patch.yaml")
                   if d["metadata"]["name"] == ksa["metadata"]["name"]]
        gsa = patch["metadata"]["annotations"]["iam.gke.io/gcp-service-account"]
        assert gsa.split("@")[0] == serving, overlay.name


@pytest.mark.parametrize("account", ["monitor", "ingest", "dashboard"])
def test_cronjob_and_dashboard_workload_identity_matches_the_overlays(tf: c.Terraform,
                                                                      account: str) -> None:
    ksas = {d["metadata"]["name"]: d for name in ("jobs-serviceaccounts.yaml",
                                                  "dashboard-serviceaccount.yaml")
            for d in _yaml_docs(DEPLOYMENT / "base" / name)}
    name = tf.locals[f"{account}_kubernetes_service_account"]
    assert ksas[name]["automountServiceAccountToken"] is False
    binding = tf.resources[("google_service_account_iam_member", f"{account}_workload_identity")]
    assert binding["for_each"] == "${toset(var.serving_namespaces)}"
    assert binding["role"] == "roles/iam.workloadIdentityUser"
    assert binding["service_account_id"] == \
        f'${{google_service_account.accounts["{account}"].name}}'
    for namespace in tf.variables["serving_namespaces"]["default"]:
        member = c.resolve(tf, binding["member"].replace("${each.value}", namespace))
        assert member == f"serviceAccount:my-project.svc.id.goog[{namespace}/{name}]"
    for overlay in OVERLAYS:
        [patch] = [d for d in _yaml_docs(overlay / "workload-identity-patch.yaml")
                   if d["metadata"]["name"] == name]
        gsa = patch["metadata"]["annotations"]["iam.gke.io/gcp-service-account"]
        assert gsa.split("@")[0] == c.account_ids(tf)[account], overlay.name


def test_bucket_grants_are_limited_to_the_prefixes_their_uses_need(tf: c.Terraform) -> None:
    assert c.prefix_grants(tf) == c.PREFIXES


def test_the_prefixes_are_the_folders_the_manifests_and_commands_use() -> None:
    """The prefixes of PREFIXES are where the rendered manifests point the proxy and the monitor
    (gs://$(CLICKFLOW_BUCKET)/<folder>) and where ingestion reads (ingest_cli.DEFAULT_FOLDER)."""
    from deployment.manifests import BASE_PATH_KEY, check, cronjobs, sidecar
    from pipelines.cloud.ingest_cli import DEFAULT_FOLDER

    def folder(path: str) -> str:
        assert path.startswith("gs://$(CLICKFLOW_BUCKET)/"), path
        return path.split("/", 3)[3].rstrip("/") + "/"

    monitor = sidecar.flags(cronjobs.MONITOR_COMMAND[4:])
    assert c.PREFIXES[("serving", "log-writer")] == {folder(sidecar.REQUEST_LOG)}
    # The monitor's --serving-model-dir is the serving pods' model base path (the ConfigMap's
    # gs://BUCKET/serving_model/<model>): its first folder is what TF Serving reads.
    assert monitor["serving-model-dir"] == f"$({BASE_PATH_KEY})"
    [base_path] = [line.split("=", 1)[1] for line in
                   (DEPLOYMENT / "base" / "kustomization.yaml").read_text().split()
                   if line.startswith(f"{BASE_PATH_KEY}=")]
    serving_folder = base_path.split("/", 3)[3].split("/")[0] + "/"
    assert c.PREFIXES[("serving", "roles/storage.objectViewer")] == {serving_folder}
    assert c.PREFIXES[("monitor", "roles/storage.objectViewer")] == {
        folder(monitor["log-dir"]), folder(monitor["labels-dir"]), f"{DEFAULT_FOLDER}/",
        serving_folder}
    assert c.PREFIXES[("monitor", "object-writer")] == {folder(monitor["out-dir"])}
    assert c.PREFIXES[("dashboard", "roles/storage.objectViewer")] == {
        folder(v) for v in check.DASHBOARD_GCS_ENV.values()}
    assert c.PREFIXES[("monitor", "roles/storage.objectCreator")] == {f"{DEFAULT_FOLDER}/"}
    assert c.PREFIXES[("ingest", "roles/storage.objectViewer")] == {f"{DEFAULT_FOLDER}/"}


def test_a_widened_or_unconditioned_bucket_grant_is_noticed(copy: Path) -> None:
    _edit(copy / "iam.tf", r'startsWith(\"${local.objects}/monitoring/\")"' + "\n",
          r'startsWith(\"${local.objects}/\")"' + "\n")
    assert c.prefix_grants(c.load(copy))[("monitor", "object-writer")] is None
    log = r'resource.name.startsWith(\"${local.objects}/request_log/\")"'
    after = "\n  }\n\n  depends_on = [google_project_iam_custom_role.log_writer]"
    _edit(copy / "iam.tf", f"|| {log}{after}", f'|| {log[:-1]} || true"{after}')
    assert c.prefix_grants(c.load(copy))[("serving", "log-writer")] is None


def test_the_request_log_expires_and_nothing_else_the_loop_keeps(tf: c.Terraform) -> None:
    from deployment.server.config import build_parser

    bucket = tf.resources[("google_storage_bucket", "clickflow")]
    rules = [(r["condition"][0], r["action"][0]["type"]) for r in bucket["lifecycle_rule"]]
    [log_rule] = [cond for cond, action in rules
                  if action == "Delete" and cond.get("matches_prefix") == ["request_log/"]]
    assert log_rule["age"] == "${var.request_log_retention_days}"
    days = tf.variables["request_log_retention_days"]
    # The same default as the local server's on-disk retention (--request-log-max-days).
    assert days["default"] == build_parser().get_default("request_log_max_days")
    assert days["validation"][0]["condition"] == "${var.request_log_retention_days >= 1}"
    for cond, _ in rules:
        for prefix in cond.get("matches_prefix") or []:
            assert prefix not in ("labels/", "monitoring/", "incoming/"), prefix


def test_serving_reads_the_model_folder_and_nothing_else(tf: c.Terraform) -> None:
    condition = c.bucket_condition(tf, "serving")
    assert condition is not None
    models = load_cloud_config(environ={}, **_resolved(tf, tf.locals["cloud_config"]))
    prefix = re.search(r'startsWith\("projects/_/buckets/([^/]+)/objects/([^"]+)"\)', condition)
    assert prefix, condition
    assert models.resolved_serving_model_base_path.startswith(f"gs://{prefix[1]}/{prefix[2]}")
    assert prefix[2] != "" and not models.resolved_pipeline_root.startswith(
        f"gs://{prefix[1]}/{prefix[2]}")


def test_the_custom_roles_hold_exactly_the_permissions_their_calls_need(tf: c.Terraform) -> None:
    """check.CUSTOM_ROLE_PERMISSIONS names the storage call behind each permission (Cloud Storage
    JSON API, "IAM permissions for JSON methods",
    https://cloud.google.com/storage/docs/access-control/iam-json: objects.insert needs
    storage.objects.create, and storage.objects.delete when it overwrites; objects.get
    storage.objects.get; objects.list storage.objects.list; objects.delete storage.objects.delete).
    Those calls are really made, and the proxy's log writer reads nothing back."""
    assert c.custom_role_permissions(tf) == {
        name: set(perms) for name, perms in c.CUSTOM_ROLE_PERMISSIONS.items()}
    server = "\n".join(p.read_text() for p in (REPO / "deployment" / "server").glob("*.py")
                       if not p.name.endswith("_test.py") and p.name != "conftest.py")
    calls = set(re.findall(r"storage\.(\w+)\(", server))
    # put_file (create, if_absent: create-only), list_dir (list), delete (delete); is_gcs,
    # same, name_of, join, remove_empty_dir and location make no request.
    assert calls - {"is_gcs", "same", "name_of", "join", "remove_empty_dir", "location"} == {
        "put_file", "list_dir", "delete"}, calls
    assert "if_absent=True" in (REPO / "deployment/server/log_writer.py").read_text()
    trigger = (REPO / "pipelines/monitoring/trigger.py").read_text()
    assert "storage.read_text(path)" in trigger and "storage.write_text(" in trigger
    assert "storage.is_dir(path)" in (REPO / "pipelines/monitoring/monitor.py").read_text()


def test_a_custom_role_with_a_permission_more_or_less_is_noticed(copy: Path) -> None:
    _edit(copy / "iam.tf", '"storage.objects.delete", "storage.objects.list"]',
          '"storage.objects.delete", "storage.objects.get", "storage.objects.list"]')
    assert c.custom_role_permissions(c.load(copy))["log-writer"] != set(
        c.CUSTOM_ROLE_PERMISSIONS["log-writer"])
    with pytest.raises(AssertionError):
        test_the_custom_roles_hold_exactly_the_permissions_their_calls_need(c.load(copy))


def test_the_labels_table_grant_follows_the_variable(tf: c.Terraform) -> None:
    """One dataViewer grant on exactly the table the monitor's --labels-table names, and none
    while labels_table is empty (labels stay on gs://)."""
    from pipelines.monitoring.labels_table import TABLE_RE, check_table

    grant = tf.resources[("google_bigquery_table_iam_member", "monitor_reads_labels")]
    assert grant["count"] == '${var.labels_table == "" ? 0 : 1}'
    assert [grant[k] for k in ("project", "dataset_id", "table_id")] == [
        f'${{split(".", var.labels_table)[{i}]}}' for i in range(3)]
    variable = tf.variables["labels_table"]
    assert variable["default"] == ""
    pattern = re.search(r'regex\("([^"]+)"', variable["validation"][0]["condition"])[1]
    pattern = pattern.replace("\\\\", "\\")
    # Terraform refuses what the monitor's --labels-table refuses (labels_table.TABLE_RE).
    for text in ("my-project.ads.click_labels", "my-project.ads.labels$20260101", "ads.labels",
                 "my-project.ads", "My-Project.ads.t", "my-project.a-b.t", "my-project.ads.t.x"):
        assert bool(re.fullmatch(pattern, text)) == bool(TABLE_RE.match(text)), text
    assert check_table("my-project.ads.click_labels") == "my-project.ads.click_labels"


def test_the_dashboard_reads_the_reports_as_its_own_account(tf: c.Terraform) -> None:
    """The dashboard reads CLICKFLOW_MONITORING_DIR and CLICKFLOW_REQUEST_LOG_DIR from gs://
    (dashboard/config.py) as clickflow-dashboard, through Workload Identity; no key, no token."""
    from deployment.manifests.check import DASHBOARD_GCS_ENV
    from deployment.manifests.sidecar import env_from_config_map

    [ksa] = _yaml_docs(DEPLOYMENT / "base" / "dashboard-serviceaccount.yaml")
    assert ksa["automountServiceAccountToken"] is False
    [deployment] = _yaml_docs(DEPLOYMENT / "base" / "dashboard-deployment.yaml")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value", "") for e in container.get("env", [])}
    assert env["CLICKFLOW_SERVING_URL"].startswith("http://clickflow-serving:")
    assert {k: env.get(k) for k in DASHBOARD_GCS_ENV} == DASHBOARD_GCS_ENV
    assert env_from_config_map(container, "CLICKFLOW_BUCKET", "clickflow-serving-env")
    assert not [n for n in env if n.startswith("GOOGLE_")]
    assert c.account_ids(tf)["dashboard"] == ksa["metadata"]["name"]
    binding = tf.resources[("google_service_account_iam_member", "dashboard_workload_identity")]
    assert binding["member"].endswith("/${local.dashboard_kubernetes_service_account}]")
    assert tf.locals["dashboard_kubernetes_service_account"] == ksa["metadata"]["name"]


def test_apis_are_exactly_the_ones_used(tf: c.Terraform) -> None:
    apis = {a.removesuffix(".googleapis.com")
            for a in re.findall(r"[\w.]+\.googleapis\.com", tf.locals["apis"])}
    needed = {c.RESOURCE_APIS[kind] for kind, _ in tf.resources} - {""} | set(c.USED_APIS)
    assert apis == needed, f"missing: {sorted(needed - apis)}, unused: {sorted(apis - needed)}"
    # The uses behind USED_APIS are real.
    compile_py = (REPO / "pipelines" / "cloud" / "compile.py").read_text()
    assert "--runner=DataflowRunner" in compile_py
    assert "aiplatform.PipelineJob" in (REPO / "pipelines" / "cloud" / "vertex.py").read_text()
    assert "google-github-actions/auth" in (REPO / ".github" / "workflows" / "cd.yml").read_text()


def test_every_resource_waits_for_the_apis(tf: c.Terraform) -> None:
    """On an empty project the first apply races API enablement unless each resource waits for
    it: by depends_on, or by referring to a resource that does."""
    waits = {key for key, body in tf.resources.items()
             if "${google_project_service.enabled}" in body.get("depends_on", [])}
    for key, body in tf.resources.items():
        if key[0] == "google_project_service" or key in waits:
            continue
        refs = set(re.findall(r"(google_\w+)\.(\w+)", json.dumps(body)))
        assert refs & waits, f"{key[0]}.{key[1]} does not wait for google_project_service.enabled"


def test_a_resource_that_does_not_wait_is_noticed(copy: Path) -> None:
    _edit(copy / "main.tf", """  }

  depends_on = [google_project_service.enabled]
}

# Training data""", """  }
}

# Training data""")
    with pytest.raises(AssertionError, match=r"google_storage_bucket\.clickflow does not wait"):
        test_every_resource_waits_for_the_apis(c.load(copy))


def test_an_unknown_resource_type_needs_its_api_named(copy: Path) -> None:
    (copy / "extra.tf").write_text('resource "google_pubsub_topic" "t" {\n  name = "t"\n}\n')
    with pytest.raises(KeyError, match="google_pubsub_topic"):
        test_apis_are_exactly_the_ones_used(c.load(copy))


def test_bucket_is_private_versioned_and_expires_dataflow_files(tf: c.Terraform) -> None:
    bucket = tf.resources[("google_storage_bucket", "clickflow")]
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert bucket["versioning"][0]["enabled"] is True
    config = load_cloud_config(environ={}, **_resolved(tf, tf.locals["cloud_config"]))
    temp = config.resolved_temp_location.split("/", 3)[3] + "/"
    rules = [(r["condition"][0], r["action"][0]["type"]) for r in bucket["lifecycle_rule"]]
    expiring = [cond for cond, action in rules if action == "Delete" and "age" in cond]
    assert any(temp.startswith(p) for cond in expiring for p in cond["matches_prefix"]), \
        f"nothing expires Dataflow's temp files under {temp}"
    # Expiry never reaches the artifacts or the served models.
    for cond in expiring:
        for p in cond["matches_prefix"]:
            assert not config.resolved_pipeline_root.split("/", 3)[3].startswith(p)
            assert not config.resolved_serving_model_base_path.split("/", 3)[3].startswith(p)
    assert any("days_since_noncurrent_time" in cond and "matches_prefix" not in cond
               for cond, _ in rules), "noncurrent versions must not be kept forever"
    # A Delete rule without age must be unable to match a live object: some provider versions
    # send age 0 (every object) for a rule that sets none.
    for cond, action in rules:
        if action == "Delete" and "age" not in cond:
            assert cond.get("with_state") == "ARCHIVED", cond


def _query_columns() -> list[tuple[str, str]]:
    sql = data_source.render_query(data_source.QUERY_FILE.read_text(), "`p.d.t`")
    tree = sqlglot.parse_one(sql, read="bigquery")
    out = []
    for select in tree.expressions:
        cast = select.this
        assert isinstance(cast, exp.Cast), select.sql()
        out.append((cast.this.name, cast.to.sql(dialect="bigquery").upper()))
    return out


def test_the_training_table_has_the_columns_the_query_and_schema_read() -> None:
    assert c.schema_columns() == _query_columns()
    schema = (REPO / "schema" / "schema.pbtxt").read_text()
    features = re.findall(r'feature \{\s*name: "(\w+)"\s*type: (\w+)', schema)
    as_bigquery = {"FLOAT": "FLOAT64", "INT": "INT64", "BYTES": "STRING"}
    assert sorted((n, as_bigquery[t]) for n, t in features) == sorted(c.schema_columns())


def _role_table() -> set[c.Grant]:
    text = (c.TF_DIR / "README.md").read_text()
    by_id = {v: k for k, v in c.account_ids(c.load()).items()}
    rows = re.findall(r"^\| `([a-z0-9-]+)` \| ([^|]+?) \| `([^`]+)` \|", text, re.M)
    out = set()
    for account, scope, role in rows:
        scope = scope.strip()
        if m := re.fullmatch(r"acts as `([a-z0-9-]+)`", scope):
            scope = f"account:{by_id[m[1]]}"
        else:
            scope = scope.split()[0]
        role = c.CUSTOM_ROLE_IDS.get(role, role)
        out.add(c.Grant(by_id[account], scope, role))
    return out


def test_the_role_table_in_the_readme_is_what_terraform_grants(tf: c.Terraform) -> None:
    table = _role_table()
    assert table == c.grants(tf), (f"only in README: {sorted(map(str, table - c.grants(tf)))}; "
                                   f"only in Terraform: {sorted(map(str, c.grants(tf) - table))}")


@pytest.mark.skipif(not (shutil.which("terraform") or shutil.which("tofu")),
                    reason="no terraform or tofu binary (none installs offline: see README)")
def test_terraform_fmt_finds_nothing_to_change() -> None:
    binary = shutil.which("terraform") or shutil.which("tofu")
    result = subprocess.run([str(binary), "fmt", "-check", "-diff", str(c.TF_DIR)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
