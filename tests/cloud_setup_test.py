"""README's "From an empty Google Cloud project to the first scheduled run": its table of
cost-relevant defaults equals the files that set them, and its commands name real outputs,
targets, files and flags, so the section cannot drift from the code."""

from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.cloud.config import CloudConfig

REPO = Path(__file__).resolve().parents[1]
DEPLOYMENT = REPO / "deployment"
TITLE = "## From an empty Google Cloud project to the first scheduled run"


def _section() -> str:
    text = (REPO / "README.md").read_text()
    assert text.count(TITLE) == 1
    start = text.index(TITLE)
    end = text.find("\n## ", start + len(TITLE))
    return text[start:end if end > 0 else None]


def _table() -> dict[str, list[str]]:
    """The cost table: row label -> the backticked values of its default column."""
    rows = re.findall(r"^\| ([^|`]+?) \| ((?:`[^`]+` ?)+) \|", _section(), re.M)
    return {what: re.findall(r"`([^`]+)`", default) for what, default in rows}


def _yaml(relative: str) -> dict[str, Any]:
    [doc] = [d for d in yaml.safe_load_all((DEPLOYMENT / relative).read_text()) if d]
    return doc


def _container(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in doc["spec"]["template"]["spec"]["containers"] if c["name"] == name)


def _requests(relative: str, container: str) -> list[str]:
    requests = _container(_yaml(relative), container)["resources"]["requests"]
    return [str(requests["cpu"]), str(requests["memory"])]


def _hpa(relative: str) -> list[str]:
    spec = _yaml(relative)["spec"]
    return [str(spec["minReplicas"]), str(spec["maxReplicas"])]


def _terraform_defaults() -> dict[str, Any]:
    pytest.importorskip("hcl2")  # terraform_test.py fails on CI when it is missing
    from deployment.terraform import check

    return {name: v.get("default") for name, v in check.load().variables.items()}


CONFIG_ROWS = {
    "Dataflow machine type": ["dataflow_machine_type"],
    "Dataflow max workers": ["dataflow_max_workers"],
    "Dataflow disk per worker, GB": ["dataflow_disk_size_gb"],
    "Trainer/Tuner machine type": ["trainer_machine_type"],
    "Trainer/Tuner GPU type": ["accelerator_type"],
    "Trainer/Tuner GPU count": ["accelerator_count"],
    "Tuner trials in the weekly run": ["max_trials"],
    "Daily run, no tuning": ["daily_cron", "daily_time_zone"],
    "Weekly run, with the Tuner": ["weekly_cron", "weekly_time_zone"],
}
TERRAFORM_ROWS = {
    "Dataflow temp files kept, days": ["dataflow_tmp_retention_days"],
    "Deleted or overwritten objects kept, days": ["noncurrent_version_retention_days"],
    "Images kept (newest, then max age in days)": ["image_versions_kept", "image_max_age_days"],
}


def _manifest_rows() -> dict[str, list[str]]:
    dashboard = _yaml("base/dashboard-deployment.yaml")
    dashboard_requests = _container(dashboard, "dashboard")["resources"]["requests"]
    hpa = _yaml("base/serving-hpa.yaml")["spec"]
    [cpu] = [m["resource"]["target"]["averageUtilization"] for m in hpa["metrics"]]
    return {
        "TF Serving pods, prod (HPA min, max)": _hpa("overlays/prod/hpa-patch.yaml"),
        "TF Serving pods, dev (HPA min, max)": _hpa("overlays/dev/hpa-patch.yaml"),
        "TF Serving pods, base (HPA min, max)": _hpa("base/serving-hpa.yaml"),
        "TF Serving scale-out at CPU, %": [str(cpu)],
        "TF Serving requests per pod, prod (CPU, memory)":
            _requests("overlays/prod/serving-patch.yaml", "tf-serving"),
        "TF Serving requests per pod, dev (CPU, memory)":
            _requests("overlays/dev/serving-patch.yaml", "tf-serving"),
        "TF Serving requests per pod, base (CPU, memory)":
            _requests("base/serving-deployment.yaml", "tf-serving"),
        "Dashboard (replicas, CPU, memory)": [str(dashboard["spec"]["replicas"]),
                                              str(dashboard_requests["cpu"]),
                                              str(dashboard_requests["memory"])],
    }


def test_the_table_has_every_row_once() -> None:
    table = _table()
    expected = {*CONFIG_ROWS, *TERRAFORM_ROWS, *_manifest_rows(), "GKE cluster"}
    assert set(table) == expected, (f"unknown rows: {sorted(set(table) - expected)}; "
                                    f"missing: {sorted(expected - set(table))}")


def test_pipeline_defaults_equal_cloud_config_and_the_example() -> None:
    defaults = {f.name: f.default for f in dataclasses.fields(CloudConfig)}
    example = yaml.safe_load((REPO / "configs" / "cloud.example.yaml").read_text())
    table = _table()
    for row, keys in CONFIG_ROWS.items():
        assert table[row] == [str(defaults[k]) for k in keys], f"README row {row!r} vs CloudConfig"
        for key in keys:
            # A value the example sets is what a copied configs/cloud.yaml runs with.
            if key in example:
                assert str(example[key]) == str(defaults[key]), f"cloud.example.yaml {key}"


def test_manifest_defaults_equal_the_manifests() -> None:
    table = _table()
    for row, values in _manifest_rows().items():
        assert table[row] == values, f"README row {row!r}"


def test_terraform_defaults_equal_its_variables() -> None:
    defaults, table = _terraform_defaults(), _table()
    for row, names in TERRAFORM_ROWS.items():
        assert table[row] == [str(defaults[n]) for n in names], f"README row {row!r}"
    assert defaults["create_gke_cluster"] is True and table["GKE cluster"] == ["Autopilot"]
    main = (DEPLOYMENT / "terraform" / "main.tf").read_text()
    assert "enable_autopilot    = true" in main


def _commands(prefix: str) -> list[list[str]]:
    joined = re.sub(r"\\\n\s*", " ", _section())
    return [shlex.split(line.split("#")[0].strip()) for line in joined.splitlines()
            if line.strip().startswith(prefix)]


def test_the_steps_name_real_outputs_targets_files_and_flags() -> None:
    section = _section()
    outputs = set(re.findall(r'^output "(\w+)"',
                             (DEPLOYMENT / "terraform" / "outputs.tf").read_text(), re.M))
    named = set(re.findall(r"output (?:-raw|-json) (\w+)", section))
    assert named and named <= outputs, f"no such terraform output: {sorted(named - outputs)}"
    makefile = (REPO / "Makefile").read_text()
    for target in re.findall(r"^\s*make (\w[\w-]*)", section, re.M):
        assert re.search(rf"^{target}:", makefile, re.M), f"no make target {target}"
    for path in ("deployment/pipeline/Dockerfile", "deployment/overlays/prod",
                 "deployment/terraform/terraform.tfvars.example", "configs/cloud.example.yaml"):
        assert path.split("/")[-1] in section or path in section
        assert (REPO / path).exists(), path
    from pipelines.data.__main__ import build_parser

    [generate] = _commands(".venv/bin/python -m pipelines.data")
    build_parser().parse_args(generate[3:])
    # The tag the cloud_config output names is the one the section builds and pushes.
    outputs_tf = (DEPLOYMENT / "terraform" / "outputs.tf").read_text()
    [tag] = re.findall(r'pipeline_image\s*=\s*"\$\{local\.registry\}/pipeline:([\w.-]+)"',
                       outputs_tf)
    assert f'docker push "$REGISTRY/pipeline:{tag}"' in section
    # configs/cloud.yaml, where step 3 writes, stays out of git.
    assert "/configs/cloud.yaml" in (REPO / ".gitignore").read_text()
