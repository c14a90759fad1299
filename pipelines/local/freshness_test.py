"""The up-to-date check covers every module a run imports, wherever it lives in the tree."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipelines.common import names
from pipelines.data import inputs
from pipelines.local import freshness, modules

SETTINGS = {"pipeline": "clickflow"}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the code a local run depends on (and the monitor and the demo beside it)."""
    root = tmp_path / "repo"
    for folder in ("models", "pipelines", "schema"):
        shutil.copytree(names.REPO_ROOT / folder, root / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*_test.py"))
    for name in ("local_runner.py", "requirements.txt", "constraints.txt"):
        shutil.copy(names.REPO_ROOT / name, root / name)
    return root


def _data(tmp_path: Path) -> inputs.ResolvedData:
    csv = tmp_path / "ads.csv"
    csv.write_text("x\n")
    return inputs.ResolvedData(str(tmp_path), csv.name, "csv", (str(csv),), False)


def _relative(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in freshness.code_files(root)}


def test_the_run_depends_on_its_imports_and_user_code_named_in_strings() -> None:
    files = _relative(names.REPO_ROOT)
    # imported, from subpackages, also inside functions
    assert {"local_runner.py", "pipelines/pipeline.py", "pipelines/components/gate.py",
            "pipelines/components/eval_sample.py", "pipelines/data/source.py",
            "pipelines/common/names.py", "pipelines/components/__init__.py"} <= files
    # TFX loads these by dotted path ("models.model.run_fn"), not by import
    assert {"models/model.py", "models/preprocessing.py", "models/tuner.py"} <= files
    # read at run time
    assert {"pipelines/data/sql/training_examples.sql", "schema/schema.pbtxt",
            "requirements.txt", "constraints.txt"} <= files
    # what a local run never loads does not make it stale
    assert not any(f.startswith(("pipelines/monitoring/", "pipelines/demo/", "deployment/",
                                 "dashboard/")) or f.endswith("_test.py") for f in files)


@pytest.mark.parametrize("edited", ["pipelines/components/gate.py", "pipelines/data/source.py",
                                    "models/preprocessing.py", "pipelines/common/errors.py",
                                    "pipelines/data/sql/training_examples.sql"])
def test_an_edit_in_a_subpackage_makes_the_next_run_not_up_to_date(
        tree: Path, tmp_path: Path, edited: str) -> None:
    data = _data(tmp_path)
    before = freshness.fingerprint(data, SETTINGS, root=tree)
    pipeline_root = tmp_path / "root"
    pipeline_root.mkdir()
    (pipeline_root / names.METADATA_FILE).write_bytes(b"")
    (pipeline_root / names.SUMMARY_FILE).write_text(json.dumps(
        {"fingerprint": before, "status": "succeeded", "run_id": "r1"}))
    metadata = names.metadata_path(pipeline_root)
    assert freshness.up_to_date(pipeline_root, metadata, before) is not None  # unchanged: skip

    path = tree / edited
    path.write_text(path.read_text() + "\n-- edited\n" if edited.endswith(".sql")
                    else path.read_text() + "\n# edited\n")
    after = freshness.fingerprint(data, SETTINGS, root=tree)
    assert after != before
    assert freshness.up_to_date(pipeline_root, metadata, after) is None  # the run goes ahead


def test_a_new_module_imported_from_a_subpackage_is_covered(tree: Path, tmp_path: Path) -> None:
    helper = tree / "pipelines" / "components" / "helpers" / "extra.py"
    helper.parent.mkdir()
    (helper.parent / "__init__.py").write_text("")
    helper.write_text("VALUE = 1\n")
    gate = tree / "pipelines" / "components" / "gate.py"
    gate.write_text(gate.read_text() + "\n\ndef _late():\n"
                    "    from pipelines.components.helpers import extra\n    return extra\n")
    data = _data(tmp_path)
    before = freshness.fingerprint(data, SETTINGS, root=tree)
    helper.write_text("VALUE = 2\n")
    assert freshness.fingerprint(data, SETTINGS, root=tree) != before


def test_edits_outside_the_run_keep_it_up_to_date(tree: Path, tmp_path: Path) -> None:
    data = _data(tmp_path)
    before = freshness.fingerprint(data, SETTINGS, root=tree)
    for path in (tree / "pipelines" / "monitoring" / "monitor.py",
                 tree / "pipelines" / "demo" / "steps.py"):
        path.write_text(path.read_text() + "\n# edited\n")
    assert freshness.fingerprint(data, SETTINGS, root=tree) == before


def test_relative_imports_and_missing_modules_are_read_not_guessed(tmp_path: Path) -> None:
    pkg = tmp_path / "pipelines" / "part"
    pkg.mkdir(parents=True)
    (tmp_path / "pipelines" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("from . import a\n")
    (pkg / "a.py").write_text("from .b import thing\nimport pipelines.nowhere\n")
    (pkg / "b.py").write_text("thing = 1\n")
    found = modules.project_modules(tmp_path, ["pipelines.part"])
    assert set(found) == {"pipelines", "pipelines.part", "pipelines.part.a", "pipelines.part.b"}


def test_a_package_getattr_is_followed_only_when_the_attribute_is_named(tmp_path: Path) -> None:
    """PEP 562: ``__getattr__``'s imports run when the attribute is asked for, not on import,
    so importing the package or a sibling does not need them (the server image, which has
    pipelines/__init__.py but not the TFX components behind ``pipelines.ModelCard``)."""
    root = tmp_path / "pipelines"
    (root / "lazy").mkdir(parents=True)
    (root / "__init__.py").write_text(
        "def __getattr__(name):\n    from pipelines.lazy import heavy\n    return heavy.Thing\n")
    (root / "lazy" / "__init__.py").write_text("")
    (root / "lazy" / "heavy.py").write_text("Thing = 1\n")
    (root / "light.py").write_text("import os\n")
    assert set(modules.project_modules(tmp_path, ["pipelines.light"])) == {
        "pipelines", "pipelines.light"}
    (root / "user.py").write_text("from pipelines.lazy import heavy\n")
    assert {"pipelines.lazy.heavy"} <= set(modules.project_modules(tmp_path, ["pipelines.user"]))
