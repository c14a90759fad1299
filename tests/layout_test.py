"""The import rules of the layout: dependencies point one way (README, "Layout").

Read from the source with ``ast`` (imports inside functions count too), for every module that
is not a test: a rule names who may not import what. A broken rule fails with the file, the
line and the import, so the fix is clear.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("models", "pipelines", "deployment", "dashboard", "experiments")
RUNNERS = ("local_runner", "kubeflow_runner")

# (importer prefix, forbidden import prefixes, why)
RULES = [
    ("models", ("pipelines", "deployment", "dashboard", *RUNNERS),
     "model code is the bottom layer: Transform, Tuner and Trainer load it alone"),
    ("pipelines", ("deployment", "dashboard", *RUNNERS),
     "the pipeline never depends on what serves or shows its models"),
    ("pipelines.common", ("pipelines.data", "pipelines.components", "pipelines.local",
                          "pipelines.metadata", "pipelines.cloud", "pipelines.monitoring",
                          "pipelines.demo", "pipelines.testing", "pipelines.pipeline",
                          "pipelines.config"),
     "shared pieces build on nothing else of the pipeline"),
    ("pipelines.components", ("pipelines.local", "pipelines.cloud", "pipelines.monitoring",
                              "pipelines.demo", "pipelines.testing"),
     "components run in the cloud image, which has none of these"),
    ("pipelines.data", ("pipelines.local", "pipelines.monitoring", "pipelines.demo",
                        "pipelines.cloud"),
     "data comes in below what consumes it"),
    ("pipelines.monitoring", ("pipelines.demo", "pipelines.local", "pipelines.testing"),
     "the monitor runs the local runner as a command, and the demo is built on the monitor"),
    ("pipelines.metadata", ("pipelines.local", "pipelines.cloud", "pipelines.monitoring",
                            "pipelines.demo"),
     "reading ML Metadata is shared by the runner, the monitor and the dashboard"),
    ("pipelines.cloud", ("pipelines.local", "pipelines.monitoring", "pipelines.demo"),
     "the cloud runner does not run the local one"),
    ("pipelines.predict", ("pipelines.local", "pipelines.pipeline", "pipelines.components",
                           "pipelines.metadata", "pipelines.cloud", "pipelines.monitoring",
                           "pipelines.demo"),
     "batch scoring needs a pushed model and the input checks, not a pipeline run"),
    ("deployment.server", ("pipelines.data", "pipelines.components", "pipelines.local",
                           "pipelines.metadata", "pipelines.cloud", "pipelines.monitoring",
                           "pipelines.demo", "pipelines.pipeline", "dashboard"),
     "the server shares only names and the request-log contract (pipelines.common)"),
    ("dashboard", ("pipelines.local", "pipelines.cloud", "pipelines.pipeline", "deployment",
                   *RUNNERS),
     "the dashboard reads public results, not runner internals"),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> list[Path]:
    files = [ROOT / f"{runner}.py" for runner in RUNNERS]
    for package in PACKAGES:
        files += sorted((ROOT / package).rglob("*.py"))
    return [f for f in files if not f.name.endswith("_test.py") and f.name != "conftest.py"]


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for each absolute import in ``path``, with ``from X import y``
    also read as ``X.y`` (y may be a submodule)."""
    found = []
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def broken_rules(sources: list[Path]) -> list[str]:
    """One line per import statement and broken rule: file:line, the import, the rule."""
    problems: dict[tuple[Path, int, str], str] = {}
    for path in sources:
        module = _module_name(path)
        for line, imported in imports_of(path):
            for importer, forbidden, why in RULES:
                if not _within(module, importer):
                    continue
                for prefix in forbidden:
                    if _within(imported, prefix) and not _within(module, prefix):
                        problems.setdefault((path, line, prefix), (
                            f"{path.relative_to(ROOT)}:{line} imports {imported} "
                            f"({importer} must not import {prefix}: {why})"))
    return sorted(problems.values())


def test_dependencies_point_one_way() -> None:
    sources = _sources()
    assert len(sources) > 60  # the rules read the real tree, not an empty one
    assert broken_rules(sources) == []


@pytest.mark.parametrize(("module", "code", "needle"), [
    ("models/leaky.py", "from pipelines.common import names\n", "models must not import pipelines"),
    ("pipelines/common/leaky.py", "def f():\n    from pipelines.local import summary\n",
     "pipelines.common must not import pipelines.local"),
    ("dashboard/leaky.py", "from pipelines.local.summary import read_summary\n",
     "dashboard must not import pipelines.local"),
    ("pipelines/monitoring/leaky.py", "import deployment.server.app\n",
     "pipelines must not import deployment"),
    ("deployment/server/leaky.py", "from pipelines import pipeline\n",
     "deployment.server must not import pipelines.pipeline"),
])
def test_a_forbidden_import_is_found_with_file_and_line(tmp_path: Path, monkeypatch, module: str,
                                                        code: str, needle: str) -> None:
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    path = tmp_path / module
    path.parent.mkdir(parents=True)
    path.write_text('"""A module breaking a rule."""\n' + code)
    (problem,) = broken_rules([path])
    assert problem.startswith(f"{module}:") and needle in problem


def test_allowed_imports_pass(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    path = tmp_path / "deployment" / "server" / "ok.py"
    path.parent.mkdir(parents=True)
    path.write_text("from pipelines.common import request_log\nfrom models import features\n")
    assert broken_rules([path]) == []
